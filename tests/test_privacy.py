"""Privacy is the product: canaries placed everywhere must appear in no byte that leaves."""

from __future__ import annotations

import uuid

import pytest
from conftest import telemetry_of

from devscode_nb.telemetry.events import sanitize_name
from devscode_nb.telemetry.state import LocalState

USER = "canaryuserzq"
HOST = "canaryhostzq"
SECRET = "sk-canarySECRETzq0123456789abcdef"
EMAIL = "canary.person@example.org"
PROMPT = "CANARY_PROMPT_zq: my salary is 123"
CODE = "canary_code_zq = open('/home/canaryuserzq/secret.txt').read()"


@pytest.fixture
def canary_env(monkeypatch, isolated_home):
    monkeypatch.setenv("USER", USER)
    monkeypatch.setenv("LOGNAME", USER)
    monkeypatch.setenv("HOSTNAME", HOST)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("gpt-4o", "gpt-4o"),
        ("llama3.1:8b", "llama3.1:8b"),
        ("meta-llama/Llama-3-8B-Instruct", "Llama-3-8B-Instruct"),
        ("/home/someone/models/mistral-7b.gguf", "mistral-7b.gguf"),
        ("C:\\Users\\someone\\m.gguf", "m.gguf"),
        (f"{USER}-finetune", None),
        (f"/home/x/{HOST}-model", None),
        (EMAIL, None),
        ("https://user:pw@host/model", None),
        (SECRET, None),
        ("hf_abcdefghijklmnopqrstuvwxyz123456", None),
        ("a" * 200, None),
        ("", None),
        (42, None),
    ],
)
def test_model_names_are_sanitised(canary_env, name, expected):
    assert sanitize_name(name) == expected


def test_no_canary_reaches_the_capture_server(canary_env, sending_shell, capture):
    telemetry = telemetry_of(sending_shell)
    sending_shell.user_ns["prompt"] = PROMPT
    sending_shell.run_cell(CODE)
    for model in (f"/home/{USER}/models/{USER}-tuned.gguf", EMAIL, SECRET, f"{HOST}-llm"):
        telemetry.record(
            "tokens_generated",
            {
                "model": model,
                "provider": "openai",
                "promptTokens": 1,
                "generatedTokens": 2,
                "tokensSource": "provider",
                "prompt": PROMPT,
                "code": CODE,
            },
        )
        telemetry.record("useSlashCommand", {"name": PROMPT, "model": model, "provider": USER})
        telemetry.record(
            "$ai_generation",
            {
                "$ai_model": model,
                "$ai_provider": "openai",
                "$ai_input": PROMPT,
                "$ai_output_choices": [CODE],
                "$ai_trace_id": SECRET,
            },
        )
        telemetry.record("$pageview", {"$current_url": f"file:///home/{USER}/nb.ipynb"})
    assert telemetry.flush()
    events = capture.wait_for(17)
    assert len(events) == 17  # every event arrived, stripped of what it may not carry
    payload = capture.all_bytes().lower()
    for canary in (USER, HOST, SECRET, EMAIL, PROMPT, CODE, "canary", "/home/"):
        assert canary.lower().encode() not in payload
    for event in events:
        assert "$ai_input" not in event["properties"]
        assert "$ai_output_choices" not in event["properties"]


def test_the_local_log_holds_no_canary_either(canary_env, make_shell, global_dir):
    shell = make_shell()  # no key: everything goes to the local log
    telemetry = telemetry_of(shell)
    telemetry.record("useSlashCommand", {"name": PROMPT, "model": SECRET, "provider": "openai"})
    telemetry.flush()
    text = (global_dir / "devscode_nb-telemetry-log.jsonl").read_text().lower()
    assert "useslashcommand" in text
    for canary in (PROMPT, SECRET, USER, "canary"):
        assert canary.lower() not in text


def test_the_anonymous_id_is_a_random_uuid_kept_in_the_global_dir(canary_env, tmp_path):
    first = LocalState(tmp_path / "a").anonymous_id()
    assert uuid.UUID(first).version == 4
    assert LocalState(tmp_path / "a").anonymous_id() == first  # kept
    assert LocalState(tmp_path / "b").anonymous_id() != first  # not derived from the machine
