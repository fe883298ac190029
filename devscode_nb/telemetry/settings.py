"""The traitlets override: ``c.DevscodeTelemetry.*`` in ``ipython_config.py`` or ``%config``."""

from __future__ import annotations

from traitlets import Bool, CaselessStrEnum, Float, Unicode
from traitlets.config import Configurable

DEFAULT_HOST = "https://us.i.posthog.com"


class DevscodeTelemetry(Configurable):
    """Anonymous usage telemetry of devscode_nb (SPEC §2). Any explicit "off" wins."""

    enabled = Bool(
        None,
        allow_none=True,
        help="False turns telemetry off; None defers to the environment and config.json. "
        "True never overrides an opt-out made elsewhere.",
    ).tag(config=True)

    consent = CaselessStrEnum(
        ["opt-out", "opt-in"],
        default_value="opt-out",
        help='"opt-in": nothing is sent until the person allows it (for organisations).',
    ).tag(config=True)

    debug = Bool(False, help="Record payloads in the local log only; send nothing.").tag(
        config=True
    )

    api_key = Unicode(
        "", help="PostHog project key. Without one, events stay in the local log."
    ).tag(config=True)

    host = Unicode(DEFAULT_HOST, help="PostHog host to send events to.").tag(config=True)

    flush_interval = Float(
        0.5, help="Seconds between background sends; the notebook thread never waits on them."
    ).tag(config=True)
