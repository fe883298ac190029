"""The thin IPython layer: one session per shell (hooks, magics, configurables), the magics and
the consent banner.

May import everything below it (``telemetry``, ``assistant``, the shared ground) and IPython;
ipywidgets only lazily, when a banner or suggestion is shown. ``devscode_nb.load_ipython_extension``
is the entry point.
"""
