"""Telemetry core: consent, the event schema, recording, delivery and local state.

Knows nothing of IPython or ipywidgets; imports only the shared ground (``config_file``,
``environment``), the standard library, traitlets for its settings, and ``posthog`` lazily in
the background. The IPython layer uses the names below; everything else is internal.
"""

from __future__ import annotations

from devscode_nb.telemetry.consent import Decision
from devscode_nb.telemetry.events import SCHEMA_VERSION
from devscode_nb.telemetry.session import Telemetry
from devscode_nb.telemetry.settings import DevscodeTelemetry

__all__ = ["SCHEMA_VERSION", "Decision", "DevscodeTelemetry", "Telemetry"]
