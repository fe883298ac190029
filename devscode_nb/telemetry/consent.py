"""Consent: every source of SPEC §2 read into one decision that knows its reason.

Telemetry is on only when no source says off. Then, whether events actually leave depends on
things that are not consent but circumstance: a person could have seen the notice, a project key
is configured, this is not a headless run, debug is off. Otherwise events stay in the local log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from devscode_nb.config_file import ConfigRead
from devscode_nb.environment import is_falsy, is_truthy
from devscode_nb.telemetry.vscode_settings import VSCodeSettings

CONFIG_KEY = "allowAnonymousTelemetry"
VSCODE_SOURCE = "VS Code settings"
VSCODE_PLACES = "user, profile, remote, workspace and policy settings of VS Code and its forks"


@dataclass(frozen=True)
class Reading:
    """One source as it stands: its value, where that came from, and whether it says off."""

    source: str
    value: str
    origin: str
    says_off: bool = False
    reason: str = ""  # the decision's reason when this reading says off (default: per source)


@dataclass(frozen=True)
class Notice:
    """What the person could have seen: this session's notice, or a stored acknowledgement."""

    version: int  # the current schema version
    shown_this_session: bool = False
    acknowledged_version: int | None = None
    choice: str | None = None  # "acknowledged" (opt-out mode) or "allowed" (explicit consent)

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_version == self.version

    @property
    def allowed(self) -> bool:
        return self.acknowledged and self.choice == "allowed"


@dataclass(frozen=True)
class Inputs:
    """Everything a decision depends on, read by the caller (pure data: easy to test)."""

    env: Mapping[str, str]
    enabled: bool | None  # DevscodeTelemetry.enabled
    enabled_origin: str
    config: ConfigRead
    notice: Notice
    consent_mode: str = "opt-out"  # or "opt-in"
    session_off: bool = False  # an opt-out in this kernel that could not be saved
    headless: bool = False
    debug: bool = False
    debug_origin: str = "default"
    api_key: str = ""
    host: str = ""
    vscode: VSCodeSettings = field(default_factory=VSCodeSettings)


@dataclass(frozen=True)
class Decision:
    """Whether to record (``enabled``), whether to send (``sending``), and why."""

    enabled: bool
    sending: bool
    reason: str
    destination: str
    readings: tuple[Reading, ...]


def _readings(inputs: Inputs) -> list[Reading]:
    env = inputs.env
    dnt = env.get("DO_NOT_TRACK")
    dev = env.get("DEVSCODE_TELEMETRY")
    config = inputs.config
    if config.error:
        config_reading = Reading(CONFIG_KEY, "unreadable", config.error, says_off=True)
    elif not config.exists:
        config_reading = Reading(CONFIG_KEY, "(no file)", str(config.path))
    else:
        value = config.get(CONFIG_KEY)
        shown = "(not set)" if value is None else _json_literal(value)
        config_reading = Reading(CONFIG_KEY, shown, str(config.path), says_off=value is False)
    notice = inputs.notice
    if notice.acknowledged:
        notice_value = f"{notice.choice} (v{notice.version})"
    elif notice.shown_this_session:
        notice_value = f"shown in this session (v{notice.version})"
    else:
        notice_value = "not yet shown"
    return [
        Reading(
            "DO_NOT_TRACK",
            "(unset)" if dnt is None else dnt,
            "environment",
            says_off=is_truthy(dnt),
        ),
        Reading(
            "DEVSCODE_TELEMETRY",
            "(unset)" if dev is None else dev,
            "environment",
            says_off=is_falsy(dev),
        ),
        Reading(
            "DevscodeTelemetry.enabled",
            repr(inputs.enabled),
            inputs.enabled_origin,
            says_off=inputs.enabled is False,
        ),
        config_reading,
        *_vscode_readings(inputs.vscode),
        Reading(
            "this session",
            "off" if inputs.session_off else "(no override)",
            "%devscode telemetry off / banner",
            says_off=inputs.session_off,
        ),
        Reading("DevscodeTelemetry.consent", inputs.consent_mode, "traitlets", says_off=False),
        Reading("notice", notice_value, "devscode_nb state in the global dir"),
    ]


def _vscode_readings(vscode: VSCodeSettings) -> list[Reading]:
    """One row per VS Code settings file found; an unreadable one is shown, not counted as off."""
    if not vscode.files:
        return [Reading(VSCODE_SOURCE, "(none found)", VSCODE_PLACES)]
    rows = []
    for found in vscode.files:
        if found.error:
            rows.append(Reading(VSCODE_SOURCE, "could not be read", found.error))
        elif found.off:
            setting, literal = found.off
            shown = f"{setting} = {literal}"
            rows.append(Reading(VSCODE_SOURCE, shown, str(found.path), True, found.reason))
        else:
            shown = ", ".join(f"{k} = {v}" for k, v in found.settings) or "(no telemetry setting)"
            rows.append(Reading(VSCODE_SOURCE, shown, str(found.path)))
    return rows


def _json_literal(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return repr(value)


_OFF_REASONS = {
    "DO_NOT_TRACK": "DO_NOT_TRACK is set in the environment",
    "DEVSCODE_TELEMETRY": "DEVSCODE_TELEMETRY says off in the environment",
    "DevscodeTelemetry.enabled": "DevscodeTelemetry.enabled is False",
    CONFIG_KEY: "allowAnonymousTelemetry is false in config.json",
    "this session": "turned off in this session",
}


def decide(inputs: Inputs) -> Decision:
    """Resolve the sources; the first explicit "off" is the reason."""
    readings = tuple(_readings(inputs))
    for reading in readings:
        if reading.says_off:
            reason = reading.reason or _OFF_REASONS[reading.source]
            if reading.source == CONFIG_KEY and inputs.config.error:
                reason = f"config.json could not be used ({inputs.config.error})"
            return Decision(False, False, reason, "nowhere: nothing is recorded", readings)

    local = "local log only (%devscode telemetry log)"
    notice = inputs.notice
    if inputs.consent_mode == "opt-in" and not notice.allowed:
        why = "opt-in is required and has not been given (%devscode telemetry on)"
        return Decision(True, False, why, local, readings)
    if inputs.debug:
        return Decision(True, False, f"debug mode ({inputs.debug_origin})", local, readings)
    if inputs.headless:
        return Decision(True, False, "headless run: nobody could see the notice", local, readings)
    if not (notice.acknowledged or notice.shown_this_session):
        return Decision(True, False, "the notice has not been shown yet", local, readings)
    if not inputs.api_key:
        why = "no PostHog project key configured (DevscodeTelemetry.api_key)"
        return Decision(True, False, why, local, readings)
    return Decision(True, True, "no source says off", f"PostHog at {inputs.host}", readings)
