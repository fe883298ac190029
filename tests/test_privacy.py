"""Privacy is the product: canaries placed everywhere must appear in no byte that leaves."""

from __future__ import annotations

import json
import uuid

import pytest
from conftest import telemetry_of, write_config
from model_servers import ModelServer

from devscode_nb.telemetry.public_names import public_model_name
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
        ("meta-llama/Llama-3-8B-Instruct", "meta-llama/Llama-3-8B-Instruct"),
        ("/home/someone/models/mistral-7b.gguf", "custom"),
        ("C:\\Users\\someone\\m.gguf", "custom"),
        (f"{USER}-finetune", "custom"),
        (f"/home/x/{HOST}-model", "custom"),
        (EMAIL, "custom"),
        ("https://user:pw@host/model", "custom"),
        (SECRET, "custom"),
        ("hf_abcdefghijklmnopqrstuvwxyz123456", "custom"),
        ("a" * 200, "custom"),
        ("", None),
        (42, None),
    ],
)
def test_model_names_leave_only_as_public_names(canary_env, name, expected):
    assert public_model_name(name) == expected


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


FINE_TUNED = "ft:gpt-4o-mini-2024-07-18:acme-corp:merger-memos:9xYzAbC1"
PUBLIC = ["gpt-4o-mini", "llama3.1:8b", "meta-llama/Llama-3.1-8B-Instruct"]


def test_only_public_names_reach_the_capture_server(sending_shell, capture, global_dir):
    """The real assistant, a loopback model server on each wire protocol, the real posthog."""
    with ModelServer() as server:
        models = [
            {"title": t, "provider": "openai", "model": m, "apiBase": server.base_url}
            for t, m in [
                ("Tuned", FINE_TUNED),
                ("Private", "acme-merger-7b"),
                *[(m, m) for m in PUBLIC],
            ]
        ]
        models.append(
            {
                "title": "Claude",
                "provider": "anthropic",
                "apiKey": "a-1",
                "model": "claude-3-5-sonnet-20241022",
                "apiBase": server.base_url,
            }
        )
        custom = {"name": "summarize-patient-record", "prompt": "Summarise: {{{ input }}}"}
        write_config(global_dir, json.dumps({"models": models, "customCommands": [custom]}))
        for title in ["Tuned", "Private", *PUBLIC, "Claude"]:
            sending_shell.run_cell(f"%%devscode -m {title} /summarize-patient-record\nx = 1")
            sending_shell.run_cell(f"%%devscode -m {title} /edit\nx = 1")
        sending_shell.run_cell("%devscode reject")
        assert len(server.requests) == 12
    telemetry = telemetry_of(sending_shell)
    assert telemetry.flush()
    sent = [e for e in capture.events if e["event"] != "$pageview"]
    models_sent = [
        p[key]
        for p in (e["properties"] for e in sent)
        for key in ("model", "$ai_model", "modelName")
        if key in p
    ]
    assert models_sent.count("ft:gpt-4o-mini-2024-07-18") == 8  # 2 commands x 3 events + outcomes
    assert models_sent.count("custom") >= 6
    for public in [*PUBLIC, "claude-3-5-sonnet-20241022"]:
        assert public in models_sent
    commands = [e["properties"]["name"] for e in sent if e["event"] == "useSlashCommand"]
    assert commands == ["custom", "edit"] * 6
    payload = capture.all_bytes().lower()
    for private in ("acme", "merger", "9xyzabc1", "summarize", "patient"):
        assert private.encode() not in payload
