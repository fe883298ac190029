"""devscode_nb: Devscode's notebook assistant and its anonymous usage telemetry for IPython.

``%load_ext devscode_nb`` loads it. Importing the package is cheap: everything heavy is imported
when the extension is loaded, and posthog only when an event may actually be sent.
"""

from __future__ import annotations

from typing import Any

from devscode_nb._version import __version__

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    from devscode_nb.ipython import extension

    extension.load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from devscode_nb.ipython import extension

    extension.unload(ipython)
