"""The telemetry notice: what is collected, what is not, and how to turn it off.

Plain text everywhere; the widget banner with one-click buttons builds on these words.
"""

from __future__ import annotations

from typing import Any

DETAILS_URL = "https://github.com/devscode/devscode_nb#telemetry"

COLLECTED = (
    "whether you accept or reject suggestions",
    "model and command names",
    "token counts",
    "OS and notebook frontend names",
    "which devscode views you open (pageviews)",
)
NOT_COLLECTED = "never your code, prompts, outputs, file paths, or user and machine names"


def notice_text(opt_in: bool = False) -> str:
    """The short notice for terminals and frontends without widgets."""
    collected = "; ".join(COLLECTED)
    if opt_in:
        ask = "Nothing is sent unless you allow it: %devscode telemetry on"
    else:
        ask = "Opt out any time: %devscode telemetry off (or DO_NOT_TRACK=1)"
    return (
        f"devscode_nb collects anonymous usage data: {collected} — {NOT_COLLECTED}.\n"
        f"{ask}. Details: %devscode telemetry status · {DETAILS_URL}"
    )


def show_notice(session: Any) -> None:
    """Show the notice in this session; from then on a person could have seen it."""
    print(notice_text(opt_in=session.settings.consent == "opt-in"))
    session.telemetry.mark_notice_shown()
    session.telemetry.record("$pageview", {"$current_url": "devscode-nb://banner"})
