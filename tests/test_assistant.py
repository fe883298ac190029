"""The assistant magics in a real InteractiveShell, against real loopback model servers, with
the events read back at a real capture server (SPEC §3, §5)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import telemetry_of, write_config
from model_servers import ModelServer

from devscode_nb.ipython.extension import session_for

HEX = set("0123456789abcdef")
CODE = "import math\n\nprint(math.sqrt(2))"


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as s:
        yield s


def models_config(global_dir: Path, *models: dict[str, Any], **extra: Any) -> Path:
    return write_config(global_dir, json.dumps({"models": list(models), **extra}, indent=2))


def demo(server: ModelServer, **kw: Any) -> dict[str, Any]:
    return {"title": "Demo", "provider": "openai", "model": "demo", "apiBase": server.base_url,
            **kw}


def run(shell: Any, source: str) -> Any:
    return shell.run_cell(source, store_history=True)


def events(shell: Any, capture: Any, name: str | None = None) -> list[dict[str, Any]]:
    assert telemetry_of(shell).flush()
    got = capture.events
    return [e for e in got if name is None or e["event"] == name]


def props(shell: Any, capture: Any, name: str) -> list[dict[str, Any]]:
    return [e["properties"] for e in events(shell, capture, name)]


def assistant_of(shell: Any) -> Any:
    session = session_for(shell)
    assert session is not None
    return session.assistant


# --- answering and what is recorded -------------------------------------------------------------


def test_a_cell_asks_streams_and_records_exact_counts(sending_shell, capture, server, global_dir,
                                                      capsys):
    models_config(global_dir, demo(server))
    result = run(sending_shell, "%%devscode\nPrint the square root of two.")
    assert result.success
    out = capsys.readouterr().out
    assert "print(math.sqrt(2))" in out and "Suggestion " in out
    assert server.last.body["stream"] is True
    assert "Print the square root of two." in server.last.body["messages"][-1]["content"]

    (command,) = props(sending_shell, capture, "useSlashCommand")
    assert (command["name"], command["model"], command["provider"]) == ("ask", "custom", "openai")
    (tokens,) = props(sending_shell, capture, "tokens_generated")
    assert tokens["promptTokens"] == server.prompt_tokens == 17
    assert tokens["generatedTokens"] == server.generated_tokens()
    assert tokens["tokensSource"] == "provider"
    (gen,) = props(sending_shell, capture, "$ai_generation")
    assert gen["$ai_input_tokens"] == 17 and gen["$ai_output_tokens"] == server.generated_tokens()
    assert gen["$ai_http_status"] == 200 and gen["$ai_is_error"] is False
    assert gen["$ai_stream"] is True and 0 <= gen["$ai_latency"] < 10
    assert set(gen["$ai_trace_id"]) <= HEX and len(gen["$ai_trace_id"]) == 32
    assert "$ai_input" not in gen and "$ai_output_choices" not in gen
    urls = [p["$current_url"] for p in props(sending_shell, capture, "$pageview")]
    assert "devscode-nb://suggestion" in urls


def test_anthropic_counts_and_estimates_when_the_server_reports_none(
    sending_shell, capture, server, global_dir
):
    models_config(
        global_dir,
        demo(server, title="Claude", provider="anthropic", model="claude-3-5-haiku-latest",
             apiKey="a-1"),
        demo(server, title="NoUsage"),
    )
    run(sending_shell, "%%devscode -m Claude\nsquare root of two")
    assert server.last.path.endswith("/messages")
    server.usage = False
    run(sending_shell, "%%devscode -m openai/demo\nsquare root of two")
    first, second = props(sending_shell, capture, "tokens_generated")
    assert (first["model"], first["provider"], first["tokensSource"]) == (
        "claude-3-5-haiku-latest", "anthropic", "provider")
    assert first["promptTokens"] == 17 and first["generatedTokens"] == server.generated_tokens()
    assert second["tokensSource"] == "estimate" and second["generatedTokens"] > 0


def test_default_model_trait_and_quoted_titles(make_shell, capture, server, global_dir):
    models_config(global_dir, demo(server), demo(server, title="My Model", model="other"))
    shell = make_shell(
        DevscodeTelemetry={"api_key": "phc_test", "host": capture.url},
        DevscodeMagics={"default_model": "My Model"},
    )
    run(shell, "%%devscode\nhi")
    assert server.last.body["model"] == "other"
    run(shell, "%%devscode -m 'Demo'\nhi")
    assert server.last.body["model"] == "demo"
    run(shell, "%devscode ask -m \"My Model\" what's $5 in cents, roughly")
    assert server.last.body["model"] == "other"
    assert "what's $5 in cents, roughly" in server.last.body["messages"][-1]["content"]


def test_variables_expand_and_earlier_cells_go_along(make_shell, capture, server, global_dir):
    models_config(global_dir, demo(server))
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_test", "host": capture.url},
                       DevscodeMagics={"context_cells": 2})
    run(shell, "df_name = 'sales'")
    run(shell, "rows = 3")
    run(shell, "%devscode models")
    run(shell, "cols = 4")
    run(shell, "%%devscode\nSummarise {df_name} with {rows} rows; keep {unknown} and {'a': 1}")
    prompt = server.last.body["messages"][-1]["content"]
    assert "Summarise sales with 3 rows; keep {unknown} and {'a': 1}" in prompt
    assert "rows = 3" in prompt and "cols = 4" in prompt
    assert "df_name = 'sales'" not in prompt  # only the last two cells
    assert "%devscode" not in prompt  # the assistant's own cells are not context
    shell.run_line_magic("config", "DevscodeMagics.context_cells = 0")
    run(shell, "%%devscode\nagain")
    assert "Earlier cells" not in server.last.body["messages"][-1]["content"]


def test_custom_and_builtin_slash_commands(sending_shell, capture, server, global_dir, capsys):
    models_config(
        global_dir, demo(server),
        customCommands=[{"name": "check", "description": "review",
                         "prompt": "Review this: {{{ input }}} -- be strict"}],
    )
    run(sending_shell, "%%devscode /check\nx = 1")
    assert "Review this: x = 1 -- be strict" in server.last.body["messages"][-1]["content"]
    run(sending_shell, "total = sum(range(10))")
    run(sending_shell, "%%devscode /edit\nmake it use a loop")
    edit = server.last.body["messages"][-1]["content"]
    assert "make it use a loop" in edit and "total = sum(range(10))" in edit
    capsys.readouterr()
    run(sending_shell, "%%devscode /nope\nx")
    err = capsys.readouterr().err
    assert "Unknown command /nope" in err and "/check" in err and "/edit" in err
    names = [p["name"] for p in props(sending_shell, capture, "useSlashCommand")]
    assert names == ["custom", "edit"]  # a customCommands name is the person's text
    outcomes = props(sending_shell, capture, "suggestion_outcome")
    assert [o["command"] for o in outcomes] == ["custom"]  # superseded by /edit's suggestion
    assert outcomes[0]["outcome"] == "ignored"


def test_fix_sends_the_failing_cell_and_its_traceback(sending_shell, capture, server, global_dir,
                                                      capsys):
    models_config(global_dir, demo(server))
    run(sending_shell, "%devscode fix")
    assert "No error to fix" in capsys.readouterr().err
    assert not server.requests
    run(sending_shell, "values = [1, 2]\nvalues[5]")
    run(sending_shell, "%devscode fix")
    prompt = server.last.body["messages"][-1]["content"]
    assert "values[5]" in prompt and "IndexError: list index out of range" in prompt
    assert "interactiveshell.py" not in prompt
    (command,) = props(sending_shell, capture, "useSlashCommand")
    assert command["name"] == "fix"


def test_explain_uses_the_previous_cell(sending_shell, server, global_dir):
    models_config(global_dir, demo(server))
    run(sending_shell, "squares = [n * n for n in range(5)]")
    run(sending_shell, "%devscode explain")
    prompt = server.last.body["messages"][-1]["content"]
    assert "Explain what this code does" in prompt and "squares = [n * n" in prompt


def test_models_lists_titles_default_and_never_keys(sending_shell, capture, server, global_dir,
                                                    capsys):
    key = "sk-canary-models-0123456789"
    models_config(global_dir, demo(server), demo(server, title="Keyed", apiKey=key),
                  {"title": "Cloud", "provider": "openai", "model": "gpt-4o"})
    run(sending_shell, "%devscode models")
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "openai/" in line]
    assert len(lines) == 3 and lines[0].lstrip().startswith("* 'Demo'")
    assert "key set" in lines[1] and "no key: add apiKey" in lines[2]
    assert key not in out
    urls = [p["$current_url"] for p in props(sending_shell, capture, "$pageview")]
    assert "devscode-nb://models" in urls


# --- suggestions and their outcomes ---------------------------------------------------------


def outcomes(shell: Any, capture: Any) -> list[dict[str, Any]]:
    return props(shell, capture, "suggestion_outcome")


def test_running_the_suggestion_as_is_is_accepted(sending_shell, capture, server, global_dir):
    models_config(global_dir, demo(server))
    run(sending_shell, "%%devscode\nroot two")
    (suggestion,) = assistant_of(sending_shell).tracker.open_suggestions
    run(sending_shell, "x = 1")  # an unrelated cell decides nothing
    assert not outcomes(sending_shell, capture)
    run(sending_shell, "\n" + CODE + "   \n\n")
    (o,) = outcomes(sending_shell, capture)
    assert o["completionId"] == suggestion.id and set(o["completionId"]) <= HEX
    assert (o["outcome"], o["accepted"], o["via"]) == ("accepted", True, "execution")
    assert (o["modelName"], o["modelProvider"], o["command"]) == ("custom", "openai", "ask")
    assert o["numLines"] == 3 and isinstance(o["timeMs"], int)


#: A code block whose lines carry an OSC 52 clipboard write, a screen clear and BELs.
HOSTILE_CODE = "import math\x1b]52;c;cm0gLXJmIH4=\x07\nprint(math.sqrt(2))\x1b[2J\x07\a"
CLEANED_CODE = "import math\nprint(math.sqrt(2))"


def test_control_sequences_in_suggested_code_reach_neither_the_next_input_nor_the_screen(
    make_shell, global_dir, capsys
):
    """Terminal IPython draws the next input itself: it gets the code as shown, and running
    that is still "accepted" (the kernel test checks the same through the capture server)."""
    from IPython.terminal.interactiveshell import TerminalInteractiveShell

    shell = make_shell(cls=TerminalInteractiveShell)
    assert session_for(shell).kind == "terminal"
    answer = f"Copy this:\n\n```python\n{HOSTILE_CODE}\n```\nDone\x1b[2J.\n"
    with ModelServer(answer=answer) as hostile:  # 8-character deltas split the sequences
        models_config(global_dir, demo(hostile))
        run(shell, "%%devscode\nroot two")
    out, err = capsys.readouterr()
    next_input = shell.rl_next_input
    assert next_input == CLEANED_CODE
    assert "print(math.sqrt(2))" in out and "Suggestion " in out and "(2 lines)" in out
    assert "It is in the next cell" in out
    for shown in (next_input, out, err):
        assert not {"\x1b", "\x07", "\x9b"} & set(shown), repr(shown)
        assert "52;c" not in shown and "[2J" not in shown
    (suggestion,) = assistant_of(shell).tracker.open_suggestions
    assert suggestion.code == next_input
    assert run(shell, next_input).success  # the person runs what they were given
    assert (suggestion.outcome, suggestion.via, suggestion.accepted) == (
        "accepted", "execution", True
    )
    assert suggestion.num_lines == 2 and not assistant_of(shell).tracker.open_suggestions


def test_running_it_edited_is_edited(sending_shell, capture, server, global_dir):
    models_config(global_dir, demo(server))
    run(sending_shell, "%%devscode\nroot two")
    run(sending_shell, "import math\n\nprint(math.sqrt(3))")
    (o,) = outcomes(sending_shell, capture)
    assert (o["outcome"], o["accepted"], o["via"]) == ("edited", True, "execution")


def test_a_prompt_holding_the_code_does_not_decide_its_own_suggestion(
    sending_shell, capture, server, global_dir
):
    models_config(global_dir, demo(server))
    run(sending_shell, f"%%devscode /edit\n{CODE}")
    assert not outcomes(sending_shell, capture)
    assert len(assistant_of(sending_shell).tracker) == 1


def test_accept_and_reject_magics(sending_shell, capture, server, global_dir, capsys):
    models_config(global_dir, demo(server))
    run(sending_shell, "%%devscode\nroot two")
    first = assistant_of(sending_shell).tracker.open_suggestions[0].id
    run(sending_shell, f"%devscode accept {first}")
    run(sending_shell, "%%devscode\nroot two")
    run(sending_shell, "%devscode reject")
    capsys.readouterr()
    run(sending_shell, "%devscode reject")
    assert "No open suggestion to decide" in capsys.readouterr().out
    a, r = outcomes(sending_shell, capture)
    assert (a["completionId"], a["outcome"], a["accepted"], a["via"]) == (
        first, "accepted", True, "magic")
    assert (r["outcome"], r["accepted"], r["via"]) == ("rejected", False, "magic")


def test_superseded_and_unloaded_suggestions_are_ignored(make_shell, capture, server, global_dir):
    models_config(global_dir, demo(server))
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_test", "host": capture.url})
    run(shell, "%%devscode\nroot two")
    run(shell, "%%devscode\nroot two again")
    telemetry_of(shell).flush()
    shell.run_line_magic("unload_ext", "devscode_nb")  # the last outcome goes to the outbox
    shell.run_line_magic("load_ext", "devscode_nb")  # the next session delivers it
    deadline = time.monotonic() + 10
    def outcomes() -> list[dict[str, Any]]:
        return [e["properties"] for e in capture.events if e["event"] == "suggestion_outcome"]

    while len(got := outcomes()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(o["outcome"], o["accepted"], o["via"]) for o in got] == [
        ("ignored", False, "timeout"), ("ignored", False, "timeout")]


def test_the_cell_hook_does_nothing_without_open_suggestions(sending_shell, server, global_dir):
    models_config(global_dir, demo(server))
    assistant = assistant_of(sending_shell)
    assert len(assistant.tracker) == 0
    for _ in range(3):
        assert run(sending_shell, CODE).success
    assert len(assistant.tracker) == 0 and assistant.last_error is None


# --- errors: one line each, never a traceback -------------------------------------------------


def one_error_line(capsys: Any) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured
    assert "Traceback" not in captured.out + captured.err
    assert lines[0].startswith("devscode: ")
    return lines[0]


def test_no_model_configured(sending_shell, capture, capsys, global_dir):
    assert run(sending_shell, "%%devscode\nhello").success
    line = one_error_line(capsys)
    assert "No model configured" in line and str(global_dir / "config.json") in line
    assert '"models"' in line


def test_unknown_model_lists_the_configured_ones(sending_shell, server, global_dir, capsys):
    models_config(global_dir, demo(server), demo(server, title="Other"))
    run(sending_shell, "%%devscode -m Nope\nhello")
    line = one_error_line(capsys)
    assert 'Unknown model "Nope"' in line and '"Demo"' in line and '"Other"' in line


def test_missing_key(sending_shell, global_dir, capsys):
    models_config(global_dir, {"title": "GPT", "provider": "openai", "model": "gpt-4o"})
    run(sending_shell, "%%devscode\nhello")
    line = one_error_line(capsys)
    assert "Missing API key" in line and "OPENAI_API_KEY" in line


def test_unreachable(sending_shell, capture, global_dir, capsys):
    from capture_server import refused_url

    models_config(global_dir, {"title": "Gone", "provider": "openai", "model": "demo",
                               "apiBase": refused_url() + "/v1"})
    run(sending_shell, "%%devscode\nhello")
    line = one_error_line(capsys)
    assert "127.0.0.1" in line
    (gen,) = props(sending_shell, capture, "$ai_generation")
    assert gen["$ai_is_error"] is True and "$ai_http_status" not in gen


def test_an_apiBase_that_is_not_a_url_breaks_no_cell(sending_shell, global_dir, capsys):
    models_config(global_dir, {"title": "Typo", "provider": "openai", "model": "demo",
                               "apiBase": "http://bob:s3cret@localhost:11434O/v1"})
    assert run(sending_shell, "%devscode models").success
    listed = capsys.readouterr()
    assert "'Typo'" in listed.out and "(not a valid URL)" in listed.out
    assert "s3cret" not in listed.out + listed.err and listed.err == ""
    assert run(sending_shell, "%%devscode\nhello").success
    line = one_error_line(capsys)
    assert 'apiBase of model "Typo" is not an http(s) URL' in line and "s3cret" not in line


@pytest.mark.parametrize(
    ("fault", "status", "says"),
    [
        ("auth", 401, "Incorrect API key provided"),
        ("not_found", 404, "does not exist"),
        ("server_error", 500, "The server had an error"),
    ],
)
def test_http_errors_carry_the_servers_message(
    sending_shell, capture, server, global_dir, capsys, fault, status, says
):
    key = "sk-canary-http-0123456789abcdef"
    models_config(global_dir, demo(server, apiKey=key))
    server.fault = fault
    run(sending_shell, "%%devscode\nhello")
    line = one_error_line(capsys)
    assert says in line and str(status) in line and key not in line
    (gen,) = props(sending_shell, capture, "$ai_generation")
    assert (gen["$ai_http_status"], gen["$ai_is_error"]) == (status, True)
    assert not props(sending_shell, capture, "tokens_generated")
    assert key.encode() not in capture.all_bytes()


def test_timeout(make_shell, capture, server, global_dir, capsys):
    models_config(global_dir, demo(server))
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_test", "host": capture.url},
                       DevscodeMagics={"request_timeout": 0.3})
    server.fault = "hang"
    run(shell, "%%devscode\nhello")
    line = one_error_line(capsys)
    assert "timeout" in line and "request_timeout" in line
    (gen,) = props(shell, capture, "$ai_generation")
    assert gen["$ai_is_error"] is True


def test_an_interrupt_stops_the_request_and_the_shell_stays_usable(
    sending_shell, capture, server, global_dir, capsys
):
    models_config(global_dir, demo(server))
    server.fault = "hang_after_first"

    def interrupt() -> None:
        server.wait_for_requests(1)
        threading.Event().wait(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Thread(target=interrupt)
    timer.start()
    result = run(sending_shell, "%%devscode\nhello")
    timer.join()
    assert result.success
    captured = capsys.readouterr()
    assert "Here is" in captured.out  # the part that arrived stays
    line = one_error_line_from(captured)
    assert "Interrupted" in line
    assert server.last.client_gone.wait(5)  # the connection was closed
    assert run(sending_shell, "41 + 1").result == 42
    (gen,) = props(sending_shell, capture, "$ai_generation")
    assert gen["$ai_is_error"] is True
    assert not assistant_of(sending_shell).tracker.open_suggestions  # no half suggestion


def one_error_line_from(captured: Any) -> str:
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.out + captured.err, captured
    return lines[0]


def test_usage_errors_are_one_line(sending_shell, capsys):
    """Mistakes in the magic line are one line on stdout, like every %devscode usage error."""
    for source, says in (
        ("%%devscode -x\nhello", "usage: %%devscode"),
        ("%%devscode edit\nhello", "Commands start with a slash"),
        ("%devscode ask", "Nothing to ask"),
        ("%devscode accept 0123456789abcdef", "No open suggestion '0123456789abcdef'"),
    ):
        assert run(sending_shell, source).success
        captured = capsys.readouterr()
        assert captured.out.startswith("devscode: ") and says in captured.out
        assert captured.out.strip().count("\n") == 0 and "Traceback" not in captured.err


# --- privacy ------------------------------------------------------------------------------------


def test_no_canary_leaves(make_shell, capture, tmp_path, monkeypatch, capsys):
    canaries = {
        "prompt": "CanaryPrompt7f3a",
        "var": "CanaryVariable19bd",
        "code": "canary_code_5e21",
        "answer": "CanaryAnswer4c88",
        "key": "sk-canary-key-9d0e1f2a3b4c5d6e",
        "path": "canarypath8a7b",
    }
    directory = tmp_path / canaries["path"] / ".devscode"
    monkeypatch.setenv("DEVSCODE_GLOBAL_DIR", str(directory))
    answer = (f"{canaries['answer']} says:\n\n```python\n{canaries['code']} = 1\n"
              f"print({canaries['code']})\n```\n")
    with ModelServer(answer=answer, api_key=canaries["key"]) as srv:
        models_config(directory, demo(srv, apiKey=canaries["key"]),
                      demo(srv, title="Claude", provider="anthropic", apiKey=canaries["key"]))
        shell = make_shell(DevscodeTelemetry={"api_key": "phc_test", "host": capture.url})
        run(shell, f"secret = '{canaries['var']}'")
        run(shell, f"%%devscode\n{canaries['prompt']} uses {{secret}}")
        assert canaries["var"] in srv.last.body["messages"][-1]["content"]
        run(shell, f"{canaries['code']} = 2\nprint({canaries['code']})")  # edited
        run(shell, f"%%devscode -m Claude /test\n{canaries['prompt']}")
        run(shell, f"%devscode ask {canaries['prompt']}")
        run(shell, "%devscode reject")
        run(shell, "%devscode models")
        srv.fault = "auth"
        run(shell, f"%%devscode\n{canaries['prompt']}")
        run(shell, f"raise ValueError('{canaries['prompt']}')")
        srv.fault = None
        run(shell, "%devscode fix")
        run(shell, "%devscode telemetry log")
        got = events(shell, capture)
    kinds = {e["event"] for e in got}
    assert {"useSlashCommand", "tokens_generated", "$ai_generation", "suggestion_outcome",
            "$pageview"} <= kinds
    assert {o["properties"]["outcome"] for o in got if o["event"] == "suggestion_outcome"} == {
        "edited", "rejected", "ignored"}
    sent = capture.all_bytes()
    for name, canary in canaries.items():
        assert canary.encode() not in sent, name
        assert canary.lower().encode() not in sent.lower(), name
    log = capsys.readouterr().out
    assert canaries["key"] not in log


def test_nothing_is_recorded_when_telemetry_is_off(make_shell, capture, server, global_dir,
                                                   monkeypatch, capsys):
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    models_config(global_dir, demo(server))
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_test", "host": capture.url})
    run(shell, "%%devscode\nroot two")
    run(shell, CODE)
    assert "print(math.sqrt(2))" in capsys.readouterr().out  # the assistant still works
    telemetry_of(shell).flush(timeout=0.5)
    shell.run_line_magic("unload_ext", "devscode_nb")
    assert capture.wait_for(1, timeout=0.5) == []
    shell.run_line_magic("load_ext", "devscode_nb")
