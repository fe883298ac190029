"""Continue's systemMessage and contextLength in the assistant core, against a loopback server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from model_servers import ModelServer

from devscode_nb.assistant.core import SYSTEM_PROMPT, Assistant
from devscode_nb.assistant.providers import estimate_tokens


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as s:
        yield s


def assistant(tmp_path: Path, server: ModelServer, top_level: dict | None = None,
              **entry: Any) -> tuple[Assistant, list]:
    """The real core reading a real config.json (``entry``: the model's; ``top_level``: more)."""
    config: dict[str, Any] = {
        **(top_level or {}),
        "models": [{"title": "Demo", "provider": "openai", "model": "demo",
                    "apiBase": server.base_url, **entry}],
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    recorded: list[tuple[str, dict]] = []
    return Assistant(record=lambda n, p: recorded.append((n, p)), config_path=path, env={}), (
        recorded
    )


def test_our_system_prompt_is_sent_when_the_config_has_none(tmp_path, server) -> None:
    helper, _ = assistant(tmp_path, server)
    assert helper.ask("ask", "Say hi.").error is None
    assert server.last.body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}


@pytest.mark.parametrize("where", ["model", "top"])
def test_systemMessage_replaces_our_system_prompt(tmp_path, server, where) -> None:
    message = "You are the ACME notebook helper. Answer in Python only."
    entry = {"systemMessage": message} if where == "model" else {
        "top_level": {"systemMessage": message}}
    helper, _ = assistant(tmp_path, server, **entry)
    assert helper.ask("ask", "Say hi.").error is None
    messages = server.last.body["messages"]
    assert messages[0] == {"role": "system", "content": message}
    assert [m["role"] for m in messages] == ["system", "user"]
    assert SYSTEM_PROMPT not in json.dumps(messages)


def cells(n: int, size: int = 400) -> list[str]:
    return [f"cell_{i} = {'x' * size!r}" for i in range(n)]


def test_contextLength_trims_the_oldest_earlier_cells_so_prompt_and_answer_fit(
    tmp_path, server
) -> None:
    context = cells(20)  # ~100 tokens each by the estimate
    helper, _ = assistant(tmp_path, server, contextLength=1000,
                          completionOptions={"maxTokens": 400})
    reply = helper.ask("ask", "Sum them.", context=context)
    assert reply.error is None
    sent = server.last.body["messages"]
    prompt = sum(estimate_tokens(m["content"]) + 4 for m in sent)
    assert prompt + 400 <= 1000
    user = sent[-1]["content"]
    kept = [i for i in range(20) if f"cell_{i} =" in user]
    assert kept and kept == list(range(20 - len(kept), 20))  # the newest, in order
    assert reply.cells_left_out == 20 - len(kept) > 0
    assert reply.notice is not None and "estimated" in reply.notice
    assert "contextLength 1000" in reply.notice and "Sum them." in user
    # One more cell of room keeps one more cell.
    helper2, _ = assistant(tmp_path, server, contextLength=1000 + 110,
                           completionOptions={"maxTokens": 400})
    assert helper2.ask("ask", "Sum them.", context=context).cells_left_out == (
        reply.cells_left_out - 1
    )


def test_without_maxTokens_a_quarter_of_the_context_is_kept_for_the_answer(
    tmp_path, server
) -> None:
    helper, _ = assistant(tmp_path, server, contextLength=2000)
    reply = helper.ask("ask", "Sum them.", context=cells(30))
    sent = server.last.body["messages"]
    assert sum(estimate_tokens(m["content"]) + 4 for m in sent) <= 1500
    assert reply.cells_left_out > 0


def test_without_contextLength_nothing_is_trimmed_and_nothing_is_said(tmp_path, server) -> None:
    helper, _ = assistant(tmp_path, server)
    reply = helper.ask("ask", "Sum them.", context=cells(50))
    assert reply.cells_left_out == 0 and reply.notice is None
    assert all(f"cell_{i} =" in server.last.body["messages"][-1]["content"] for i in range(50))


def test_a_cell_too_long_for_the_context_is_still_sent_whole(tmp_path, server) -> None:
    helper, _ = assistant(tmp_path, server, contextLength=100)
    long_prompt = "explain " * 200
    reply = helper.ask("ask", long_prompt, context=cells(3))
    assert reply.cells_left_out == 3
    assert long_prompt.strip() in server.last.body["messages"][-1]["content"]


def test_the_cell_says_how_many_earlier_cells_were_left_out(
    make_shell, server, global_dir, capsys
) -> None:
    """Through a real InteractiveShell: earlier cells from history, the notice in the output."""
    from conftest import write_config

    write_config(global_dir, json.dumps({"models": [{
        "title": "Small", "provider": "openai", "model": "demo", "apiBase": server.base_url,
        "contextLength": 600, "completionOptions": {"maxTokens": 200}}]}))
    shell = make_shell(DevscodeMagics={"context_cells": 10})
    for i in range(6):
        assert shell.run_cell(f"cell_{i} = {'y' * 400!r}", store_history=True).success
    assert shell.run_cell("%%devscode\nSum them.", store_history=True).success
    out = capsys.readouterr().out
    user = server.last.body["messages"][-1]["content"]
    kept = [i for i in range(6) if f"cell_{i} =" in user]
    assert kept and kept[-1] == 5 and len(kept) < 6
    left_out = 6 - len(kept)
    assert (f"Left out the {left_out} oldest earlier cell{'s' if left_out > 1 else ''} to fit "
            "contextLength 600 of 'Small'") in out
