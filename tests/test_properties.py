"""Property tests: whatever goes in, only the schema comes out, and config edits touch one value."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devscode_nb.config_file import parse_jsonc, set_top_level_value
from devscode_nb.telemetry.events import COMMON, EVENTS, TRANSPORT, build_properties, filter_message

KEY = "allowAnonymousTelemetry"
CANARY = "zq canary"  # prompts and code have spaces; no declared property admits one

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
any_property_value = json_values | st.text().map(lambda s: f"{s}{CANARY}{s}")
property_names = st.sampled_from(
    sorted({k for schema in EVENTS.values() for k in schema} | set(COMMON) | {"prompt", "code"})
) | st.text(max_size=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    event=st.sampled_from(sorted(EVENTS)) | st.text(max_size=10),
    props=st.dictionaries(property_names, any_property_value, max_size=12),
    common=st.dictionaries(st.sampled_from(sorted(COMMON)), any_property_value),
)
def test_no_input_produces_a_payload_outside_the_schema(event, props, common):
    built = build_properties(event, props, common)
    if event not in EVENTS:
        assert built is None
        return
    assert built is not None
    allowed = {**COMMON, **EVENTS[event]}
    for key, value in built.items():
        assert key in allowed
        assert allowed[key](value) == value  # the value fits its declared type
        assert CANARY not in json.dumps(value)
    message = filter_message({"event": event, "properties": {**props, **built}, "extra": props})
    assert message is not None
    assert set(message) <= {"event", "properties"}
    assert set(message["properties"]) <= {*allowed, *TRANSPORT}
    assert CANARY not in json.dumps(message)


def _render(value: Any, indent: int, draw_comment: Any) -> str:
    """JSON text with comments and trailing commas sprinkled where JSONC allows them."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{pad}  {draw_comment()}{json.dumps(k)}: {_render(v, indent + 2, draw_comment)}"
            for k, v in value.items()
        ]
        trailing = "," if draw_comment() else ""
        return "{\n" + ",\n".join(items) + trailing + f"\n{pad}}}"
    if isinstance(value, list):
        inner = ", ".join(_render(v, indent + 2, draw_comment) for v in value)
        return f"[{inner}]"
    return json.dumps(value)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=st.dictionaries(st.text(max_size=8).filter(lambda k: k != KEY), json_values, max_size=6),
    existing=st.none() | st.booleans(),
    new_value=st.booleans(),
    data=st.data(),
)
def test_a_jsonc_edit_keeps_every_other_byte(config, existing, new_value, data):
    if existing is not None:
        config = {**config, KEY: existing}

    def draw_comment() -> str:
        return data.draw(st.sampled_from(["", "", "/* c */ ", "// line\n    "]))

    text = (
        data.draw(st.sampled_from(["", "// head\n", "/* head */ "]))
        + _render(config, 0, draw_comment)
        + "\n"
    )
    assert parse_jsonc(text) == config
    edited = set_top_level_value(text, KEY, new_value)
    assert parse_jsonc(edited) == {**config, KEY: new_value}
    if existing is not None:
        assert _only_value_changed(text, edited, json.dumps(existing), json.dumps(new_value))
    else:
        assert _is_subsequence(text, edited)  # nothing removed, only the entry inserted


def _only_value_changed(before: str, after: str, old: str, new: str) -> bool:
    prefix = 0
    while prefix < min(len(before), len(after)) and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(before), len(after)) - prefix and before[-1 - suffix] == after[-1 - suffix]
    ):
        suffix += 1
    return (
        before[prefix : len(before) - suffix] in old and after[prefix : len(after) - suffix] in new
    )


def _is_subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)
