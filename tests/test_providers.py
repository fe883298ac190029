"""The assistant's model layer, against real loopback servers speaking the real protocols."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devscode_nb.assistant.providers import (
    DEFAULT_BASES,
    Answer,
    ModelConfig,
    ProviderError,
    chat,
    estimate_tokens,
    find_model,
    resolve_models,
)

sys.path.insert(0, str(Path(__file__).parent))
from model_servers import DEFAULT_ANSWER, ModelServer

ASK = [{"role": "user", "content": "Print the square root of two."}]
KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as s:
        yield s


def model_at(server: ModelServer, provider: str = "openai", **kw: object) -> ModelConfig:
    args: dict = {"title": "Test", "provider": provider, "model": "demo", "api_key": KEY}
    args.update(kw)
    return ModelConfig(api_base=server.base_url, **args)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- models from config.json ----------------------------------------------------------------


CONFIG = {
    "models": [
        {"title": "GPT", "provider": "openai", "model": "gpt-4o-mini"},
        {"title": "Claude", "provider": "anthropic", "model": "claude-3-5-sonnet", "apiKey": "a1"},
        {"title": "Local", "provider": "llama.cpp", "model": "qwen", "apiBase": "http://h:1/v1"},
        {"provider": "ollama", "model": "llama3.1", "completionOptions": {"temperature": 0.1}},
        {"title": "broken, no model", "provider": "openai"},
        "not an object",
    ]
}


def test_resolve_models_reads_entries_and_skips_broken_ones() -> None:
    models = resolve_models(CONFIG, {})
    assert [m.title for m in models] == ["GPT", "Claude", "Local", "llama3.1"]
    local = models[2]
    assert (local.provider, local.model, local.api_base) == ("llamacpp", "qwen", "http://h:1/v1")
    assert models[3].completion_options == {"temperature": 0.1}
    assert resolve_models({}, {}) == []
    assert resolve_models({"models": "nonsense"}, {}) == []


def test_keys_come_from_the_usual_environment_variables_when_the_entry_has_none() -> None:
    env = {"OPENAI_API_KEY": "from-env", "ANTHROPIC_API_KEY": "not-used"}
    gpt, claude, local, ollama = resolve_models(CONFIG, env)
    assert gpt.api_key == "from-env"
    assert claude.api_key == "a1"  # the entry's own key wins
    assert local.api_key is None and ollama.api_key is None
    groq = resolve_models({"models": [{"provider": "groq", "model": "x"}]}, {"GROQ_API_KEY": "g"})
    assert groq[0].api_key == "g"


def test_api_keys_are_not_in_the_repr() -> None:
    (claude,) = [m for m in resolve_models(CONFIG, {}) if m.title == "Claude"]
    assert "a1" not in repr(claude)


def test_find_model_by_title_or_provider_slash_model() -> None:
    models = resolve_models(CONFIG, {})
    assert find_model(models, "Claude", None).title == "Claude"
    assert find_model(models, "claude", None).title == "Claude"
    assert find_model(models, "ollama/llama3.1", None).title == "llama3.1"
    assert find_model(models, "llama.cpp/qwen", None).title == "Local"
    assert find_model(models, None, "GPT").title == "GPT"
    assert find_model(models, None, None).title == "GPT"  # the first one
    assert find_model(models, "Local", "GPT").title == "Local"  # the name beats the default


def test_find_model_errors_say_what_to_do() -> None:
    with pytest.raises(ProviderError) as none:
        find_model([], None, None)
    assert none.value.kind == "no_model"
    assert '"models"' in str(none.value) and "~/.devscode/config.json" in str(none.value)
    with pytest.raises(ProviderError) as unknown:
        find_model(resolve_models(CONFIG, {}), "gpt5", None)
    assert unknown.value.kind == "unknown_model"
    message = str(unknown.value)
    assert '"gpt5"' in message and '"GPT"' in message and '"Claude"' in message
    assert "\n" not in message


def test_default_bases() -> None:
    assert DEFAULT_BASES["openai"] == "https://api.openai.com/v1"
    assert DEFAULT_BASES["anthropic"] == "https://api.anthropic.com/v1"
    assert DEFAULT_BASES["ollama"] == "http://localhost:11434/v1"
    assert DEFAULT_BASES["lmstudio"] == "http://localhost:1234/v1"
    assert DEFAULT_BASES["vllm"] == "http://localhost:8000/v1"
    assert DEFAULT_BASES["llamacpp"] == "http://localhost:8080/v1"
    for hosted in ("openrouter", "groq", "together", "deepseek", "mistral"):
        assert DEFAULT_BASES[hosted].startswith("https://")


# -- OpenAI-compatible ----------------------------------------------------------------------


def test_openai_streams_deltas_and_reads_usage_from_the_final_chunk(
    server: ModelServer,
) -> None:
    deltas: list[str] = []
    answer = chat(model_at(server), ASK, on_text=deltas.append, timeout=5)
    assert isinstance(answer, Answer)
    assert deltas == server.answer_pieces()
    assert answer.text == DEFAULT_ANSWER
    assert answer.usage.source == "provider"
    assert (answer.usage.prompt_tokens, answer.usage.generated_tokens) == (
        server.prompt_tokens,
        server.generated_tokens(),
    )
    assert (answer.stream, answer.http_status, answer.model, answer.provider) == (
        True,
        200,
        "demo",
        "openai",
    )
    assert answer.latency_s > 0 and answer.first_text_s is not None
    sent = server.last
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["model"] == "demo" and sent.body["messages"] == ASK


def test_openai_without_usage_estimates_four_characters_per_token(server: ModelServer) -> None:
    server.usage = False
    answer = chat(model_at(server), ASK, timeout=5)
    assert answer.text == DEFAULT_ANSWER
    assert answer.usage.source == "estimate"
    assert answer.usage.generated_tokens == estimate_tokens(DEFAULT_ANSWER)
    assert answer.usage.generated_tokens == -(-len(DEFAULT_ANSWER) // 4)
    assert answer.usage.prompt_tokens == estimate_tokens(ASK[0]["content"]) + 4


@pytest.mark.parametrize("usage", [True, False])
def test_openai_without_streaming(server: ModelServer, usage: bool) -> None:
    server.usage = usage
    deltas: list[str] = []
    answer = chat(model_at(server), ASK, on_text=deltas.append, stream=False, timeout=5)
    assert answer.text == DEFAULT_ANSWER and deltas == [DEFAULT_ANSWER]
    assert answer.stream is False
    assert answer.usage.source == ("provider" if usage else "estimate")
    assert server.last.body["stream"] is False
    assert "stream_options" not in server.last.body


def test_completion_options_and_system_message_are_sent(server: ModelServer) -> None:
    model = model_at(
        server,
        completion_options={"temperature": 0.2, "maxTokens": 100, "topP": 0.9, "stop": ["##"]},
        system_message="You write Python.",
    )
    chat(model, ASK, timeout=5)
    body = server.last.body
    assert body["messages"][0] == {"role": "system", "content": "You write Python."}
    assert body["messages"][1:] == ASK
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["stop"]) == (
        0.2,
        100,
        0.9,
        ["##"],
    )


def test_local_servers_need_no_key_and_get_v1_added_to_a_bare_base(server: ModelServer) -> None:
    ollama = ModelConfig(title="Llama", provider="ollama", model="llama3.1", api_base=server.url)
    answer = chat(ollama, ASK, timeout=5)
    assert answer.text == DEFAULT_ANSWER and answer.provider == "ollama"
    assert server.last.path == "/v1/chat/completions"
    assert "authorization" not in server.last.headers


def test_a_server_that_rejects_stream_options_is_asked_again_without(
    server: ModelServer,
) -> None:
    server.fault = "reject_stream_options"
    answer = chat(model_at(server), ASK, timeout=5)
    assert answer.text == DEFAULT_ANSWER
    assert answer.usage.source == "estimate"
    first, second = server.requests
    assert "stream_options" in first.body and "stream_options" not in second.body


# -- Anthropic ------------------------------------------------------------------------------


def test_anthropic_streams_and_reads_usage_from_message_start_and_message_delta(
    server: ModelServer,
) -> None:
    deltas: list[str] = []
    messages = [{"role": "system", "content": "Be brief."}, *ASK]
    answer = chat(model_at(server, "anthropic"), messages, on_text=deltas.append, timeout=5)
    assert deltas == server.answer_pieces() and answer.text == DEFAULT_ANSWER
    assert answer.usage.source == "provider"
    assert answer.usage.prompt_tokens == server.prompt_tokens
    assert answer.usage.generated_tokens == server.generated_tokens()
    assert answer.stream is True and answer.provider == "anthropic"
    sent = server.last
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body["system"] == "Be brief."
    assert sent.body["messages"] == ASK
    assert sent.body["max_tokens"] == 4096 and sent.body["stream"] is True


@pytest.mark.parametrize("usage", [True, False])
def test_anthropic_without_streaming(server: ModelServer, usage: bool) -> None:
    server.usage = usage
    answer = chat(model_at(server, "anthropic"), ASK, stream=False, timeout=5)
    assert answer.text == DEFAULT_ANSWER and answer.stream is False
    assert answer.usage.source == ("provider" if usage else "estimate")
    if not usage:
        assert answer.usage.generated_tokens == estimate_tokens(DEFAULT_ANSWER)


def test_anthropic_streaming_without_usage_is_estimated(server: ModelServer) -> None:
    server.usage = False
    answer = chat(model_at(server, "anthropic"), ASK, timeout=5)
    assert answer.usage.source == "estimate"


def test_an_anthropic_error_event_mid_stream_is_an_http_error(server: ModelServer) -> None:
    server.fault = "error_event"
    with pytest.raises(ProviderError) as err:
        chat(model_at(server, "anthropic"), ASK, timeout=5)
    assert err.value.kind == "http" and err.value.http_status == 529
    assert "Overloaded" in str(err.value)
    assert err.value.partial_text == server.answer_pieces()[0]


# -- errors: one actionable line each -------------------------------------------------------


def test_missing_key_fails_before_any_request(server: ModelServer) -> None:
    for provider, env in (("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")):
        model = ModelConfig(title="Hosted", provider=provider, model="m")
        with pytest.raises(ProviderError) as err:
            chat(model, ASK, timeout=1)
        assert err.value.kind == "missing_key"
        message = str(err.value)
        assert '"Hosted"' in message and "apiKey" in message and env in message
    assert server.requests == []


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_401_names_the_model_and_never_the_key(server: ModelServer, provider: str) -> None:
    server.api_key = "the-right-key"
    with pytest.raises(ProviderError) as err:
        chat(model_at(server, provider, title="Claude"), ASK, timeout=5)
    error = err.value
    assert (error.kind, error.http_status) == ("http", 401)
    message = str(error)
    assert message.startswith(f"HTTP 401 from {provider}")
    assert 'apiKey" for model "Claude"' in message and "config.json" in message
    if provider == "anthropic":
        assert "invalid x-api-key" in message
    else:
        assert "Incorrect API key provided" in message
    # OpenAI's real 401 echoes a fragment of the key: neither it nor the key may show.
    assert KEY not in message and KEY[:5] not in message and KEY[-4:] not in message
    assert "\n" not in message


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_404_unknown_model(server: ModelServer, provider: str) -> None:
    server.known_models = {"other"}
    with pytest.raises(ProviderError) as err:
        chat(model_at(server, provider), ASK, timeout=5)
    assert (err.value.kind, err.value.http_status) == ("http", 404)
    assert "demo" in str(err.value) and '"model"' in str(err.value)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_500_includes_the_servers_message(server: ModelServer, provider: str) -> None:
    server.fault = "server_error"
    with pytest.raises(ProviderError) as err:
        chat(model_at(server, provider), ASK, timeout=5)
    assert (err.value.kind, err.value.http_status) == ("http", 500)
    expected = "The server had an error" if provider == "openai" else "Internal server error"
    assert expected in str(err.value) and "try again later" in str(err.value)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_hanging_server_times_out_after_about_the_timeout(
    server: ModelServer, provider: str
) -> None:
    server.fault = "hang"
    started = time.monotonic()
    with pytest.raises(ProviderError) as err:
        chat(model_at(server, provider), ASK, timeout=0.5)
    elapsed = time.monotonic() - started
    assert err.value.kind == "timeout"
    assert 0.4 < elapsed < 2.5
    assert str(err.value) == (
        f"No answer from {server.base_url} within 0.5 s (timeout): raise "
        "DevscodeMagics.request_timeout or check the server"
    )
    assert server.last.client_gone.wait(2), "the connection was left open"


def test_the_timeout_applies_to_each_wait_mid_stream(server: ModelServer) -> None:
    server.fault = "hang_after_first"
    deltas: list[str] = []
    with pytest.raises(ProviderError) as err:
        chat(model_at(server), ASK, on_text=deltas.append, timeout=0.5)
    assert err.value.kind == "timeout"
    assert err.value.partial_text == "".join(deltas) == server.answer_pieces()[0]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_connection_refused_is_unreachable(provider: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    model = ModelConfig(title="Gone", provider=provider, model="m", api_key=KEY, api_base=base)
    with pytest.raises(ProviderError) as err:
        chat(model, ASK, timeout=2)
    assert err.value.kind == "unreachable"
    assert str(err.value) == (
        f"Model server at http://127.0.0.1:{port}/v1 is unreachable (connection refused): "
        "is it running?"
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_stream_dropped_half_way_is_a_protocol_error_with_the_partial_text(
    server: ModelServer, provider: str
) -> None:
    """A cut-off answer is not returned as if whole; what arrived is in ``partial_text``."""
    server.fault = "drop"
    deltas: list[str] = []
    with pytest.raises(ProviderError) as err:
        chat(model_at(server, provider), ASK, on_text=deltas.append, timeout=5)
    assert err.value.kind == "protocol"
    assert err.value.partial_text == "".join(deltas)
    assert 0 < len(err.value.partial_text) < len(DEFAULT_ANSWER)
    assert DEFAULT_ANSWER.startswith(err.value.partial_text)
    assert "try again" in str(err.value)


def test_an_unknown_provider_without_api_base_asks_for_one() -> None:
    model = ModelConfig(title="X", provider="custom", model="m")
    with pytest.raises(ProviderError) as err:
        chat(model, ASK, timeout=1)
    assert err.value.kind == "unreachable" and "apiBase" in str(err.value)


# -- interrupts -----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_interrupt_mid_stream_closes_the_connection_and_the_next_request_works(
    server: ModelServer, provider: str
) -> None:
    server.delay = 0.02  # 28 pieces: the stream is still going when we stop

    def stop_after_first(text: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(ProviderError) as err:
        chat(model_at(server, provider), ASK, on_text=stop_after_first, timeout=5)
    assert err.value.kind == "interrupted"
    assert err.value.partial_text == server.answer_pieces()[0]
    assert server.last.client_gone.wait(3), "the server did not see the connection close"

    server.delay = 0.0
    assert chat(model_at(server, provider), ASK, timeout=5).text == DEFAULT_ANSWER


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_a_real_sigint_lands_promptly_while_waiting_for_a_silent_server(
    server: ModelServer,
) -> None:
    """A kernel interrupt is SIGINT; it must not wait for the (long) timeout."""
    server.fault = "hang"
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(ProviderError) as err:
            chat(model_at(server), ASK, timeout=30)
    finally:
        timer.cancel()
    assert err.value.kind == "interrupted"
    assert time.monotonic() - started < 3
    assert server.last.client_gone.wait(3)


# -- cost -----------------------------------------------------------------------------------


def test_importing_the_package_does_not_load_the_wire_protocols() -> None:
    code = (
        "import sys, devscode_nb.assistant.providers as p; "
        "print(any(m in sys.modules for m in "
        "('devscode_nb.assistant.providers.http', 'devscode_nb.assistant.providers.openai_compat', "
        "'devscode_nb.assistant.providers.anthropic')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    assert out.stdout.strip() == "False"


def test_a_short_placeholder_key_does_not_mangle_messages() -> None:
    from devscode_nb.assistant.providers.base import scrub

    assert scrub("the server broke off", "k") == "the server broke off"
    assert scrub("bad key sk-abcdef123", "sk-abcdef123") == "bad key <key>"
