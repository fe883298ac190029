"""The telemetry notice: what is collected, what is not, and how to turn it off.

Terminals get a short printed notice. Kernels get a :class:`Banner`: an ipywidgets banner with
one-click buttons, whose mimebundle also carries ``text/plain`` and ``text/html`` fallbacks (how
to opt out with ``%devscode telemetry off``) for frontends that cannot render widgets.

ipywidgets is imported only when a banner is shown in a kernel.

The buttons:

* **Opt out** — ``Telemetry.opt_out()``: off at once here, ``allowAnonymousTelemetry: false``
  saved in ``config.json`` (every other kernel stops through its re-read), the queue dropped,
  nothing sent about it. The banner becomes a confirmation with **Undo**. When the file cannot be
  parsed or written, the opt-out holds for this kernel and the banner says why and where.
* **Undo** — ``Telemetry.opt_in()``: an explicit choice to turn it back on, so it is saved as
  ``allowAnonymousTelemetry: true`` (the writer changes only that value) and counts as an informed
  acknowledgement. The banner then offers **Opt out** again.
* **Got it** — ``Telemetry.acknowledge("acknowledged")`` (kept in devscode_nb's own state file,
  never in ``config.json``): the banner is not shown again, until the schema version changes.
* Opt-in mode (``DevscodeTelemetry.consent = "opt-in"``): **Allow** is ``opt_in()``; **No thanks**
  is ``acknowledge("declined")`` and nothing is ever sent.

A button never raises into the kernel: a failure becomes a line in the banner.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devscode_nb.telemetry import Telemetry

DETAILS_URL = "https://github.com/devscode/devscode_nb#telemetry"

COLLECTED = (
    "whether you accept or reject suggestions",
    "model and command names",
    "token counts",
    "OS and notebook frontend names",
    "which devscode views you open (pageviews)",
)
NOT_COLLECTED = "never your code, prompts, outputs, file paths, or user and machine names"
OFF_COMMAND = "%devscode telemetry off"
ON_COMMAND = "%devscode telemetry on"

# Buttons, by the label a person sees.
OPT_OUT, GOT_IT, UNDO, ALLOW, NO_THANKS = "Opt out", "Got it", "Undo", "Allow", "No thanks"

# JupyterLab's theme variables, with fallbacks for VS Code and classic frontends.
_TEXT = "color: var(--jp-ui-font-color1, inherit)"
_FONT = "font-family: var(--jp-ui-font-family, inherit); font-size: var(--jp-ui-font-size1, 13px)"
_LINK = "color: var(--jp-content-link-color, #1976d2)"
_CODE = (
    "font-family: var(--jp-code-font-family, monospace); "
    "background: var(--jp-layout-color2, rgba(127, 127, 127, 0.15)); padding: 0 3px"
)
_BORDER = "1px solid var(--jp-border-color1, #bdbdbd)"
_BOX = (
    f"border: {_BORDER}; border-left: 4px solid var(--jp-brand-color1, #1976d2); "
    "padding: 8px 12px; margin: 4px 0; max-width: 780px"
)


def notice_text(opt_in: bool = False) -> str:
    """The short notice for terminals and frontends without widgets."""
    collected = "; ".join(COLLECTED)
    if opt_in:
        ask = f"Nothing is sent unless you allow it: {ON_COMMAND}"
    else:
        ask = f"Opt out any time: {OFF_COMMAND} (or DO_NOT_TRACK=1)"
    return (
        f"devscode_nb collects anonymous usage data: {collected} — {NOT_COLLECTED}.\n"
        f"{ask}. Details: %devscode telemetry status · {DETAILS_URL}"
    )


def _code(text: str) -> str:
    return f'<code style="{_CODE}">{html.escape(text)}</code>'


class Banner:
    """The consent banner of one session: its state, its words, its widgets and its buttons."""

    def __init__(self, telemetry: Telemetry, *, opt_in: bool = False, widgets: bool = True):
        self.telemetry = telemetry
        self.opt_in = opt_in
        self.widgets = widgets  # whether to offer the ipywidgets view (kernels)
        self.state = "notice"  # notice | off | off-unsaved | on | acknowledged | declined | error
        self.message = ""  # plain text of the current state (after the notice)
        self.problem = ""  # a line saying what went wrong, if anything
        self._widget: Any = None
        self._body: Any = None
        self._row: Any = None
        self._line: Any = None
        self._buttons: dict[str, Any] = {}

    # --- words ---------------------------------------------------------------------------------

    def _intro(self) -> str:
        if self.opt_in:
            return (
                "devscode_nb can send anonymous usage data to help improve Devscode — "
                "only if you allow it. Nothing has been sent."
            )
        return "devscode_nb sends anonymous usage data to help improve Devscode."

    def notice_html(self) -> str:
        items = "".join(f"<li>{html.escape(item)}</li>" for item in COLLECTED)
        return (
            f'<div style="{_TEXT}; {_FONT}; line-height: 1.45">'
            f"<div><strong>Devscode telemetry</strong> · {html.escape(self._intro())}</div>"
            f'<div style="margin-top: 4px">What is collected:</div>'
            f'<ul style="margin: 2px 0 4px 0; padding-left: 1.4em">{items}</ul>'
            f"<div>What is not: {html.escape(NOT_COLLECTED)}.</div>"
            f'<div style="margin-top: 4px"><a href="{DETAILS_URL}" target="_blank" '
            f'rel="noopener noreferrer" style="{_LINK}">Details: what is sent, and every way to '
            f"turn it off</a> · {_code('%devscode telemetry status')}</div></div>"
        )

    def text(self) -> str:
        """Plain text of the banner as it stands (``text/plain``, ``repr``)."""
        if self.state != "notice":
            return "\n".join(x for x in (f"Devscode telemetry: {self.message}", self.problem) if x)
        lines = [f"Devscode telemetry: {self._intro()}", "What is collected:"]
        lines += [f"  - {item}" for item in COLLECTED]
        lines.append(f"What is not: {NOT_COLLECTED}.")
        if self.opt_in:
            lines.append(f"To allow it: {ON_COMMAND}")
        else:
            lines.append(f"To opt out: {OFF_COMMAND}   (or set DO_NOT_TRACK=1)")
        lines.append(f"Details: %devscode telemetry status · {DETAILS_URL}")
        return "\n".join(lines)

    def html(self) -> str:
        """The static HTML fallback: the notice and the command, as there are no buttons."""
        if self.state != "notice":
            return f'<div style="{_TEXT}; {_FONT}">{html.escape(self.text())}</div>'
        command = ON_COMMAND if self.opt_in else OFF_COMMAND
        verb = "To allow it, run" if self.opt_in else "To opt out, run"
        return (
            f'<div style="{_BOX}">{self.notice_html()}'
            f'<div style="{_TEXT}; {_FONT}; margin-top: 6px">{verb} {_code(command)} '
            f"in a cell.</div></div>"
        )

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, Any]:
        bundle: dict[str, Any] = {}
        widget = self.widget() if self.widgets else None
        if widget is not None:
            bundle.update(widget._repr_mimebundle_())
        bundle["text/plain"] = self.text()
        bundle["text/html"] = self.html()
        return bundle

    # --- widgets -------------------------------------------------------------------------------

    def widget(self) -> Any:
        """The ipywidgets view (built once); ``None`` where ipywidgets cannot be imported."""
        if self._widget is None:
            try:
                import ipywidgets
            except Exception:
                self.widgets = False
                return None
            self._body = ipywidgets.HTML(self.notice_html())
            self._row = ipywidgets.HBox(layout=ipywidgets.Layout(margin="6px 0 0 0"))
            self._line = ipywidgets.HTML("")
            self._widget = ipywidgets.VBox(
                [self._body, self._row, self._line],
                layout=ipywidgets.Layout(
                    border_top=_BORDER,
                    border_right=_BORDER,
                    border_bottom=_BORDER,
                    border_left="4px solid var(--jp-brand-color1, #1976d2)",
                    padding="8px 12px",
                    margin="4px 0",
                    max_width="780px",
                ),
            )
            self._widget.add_class("devscode-nb-banner")
            self._render()
        return self._widget

    def _button(self, label: str) -> Any:
        if label not in self._buttons:
            import ipywidgets

            actions: dict[str, Callable[[], None]] = {
                OPT_OUT: self.opt_out,
                GOT_IT: self.got_it,
                UNDO: self.undo,
                ALLOW: self.allow,
                NO_THANKS: self.no_thanks,
            }
            action = actions[label]
            button = ipywidgets.Button(
                description=label, layout=ipywidgets.Layout(width="auto", margin="0 8px 0 0")
            )
            button.on_click(lambda _button: self._safely(action))
            self._buttons[label] = button
        return self._buttons[label]

    def _labels(self) -> tuple[str, ...]:
        if self.state == "notice":
            return (ALLOW, NO_THANKS) if self.opt_in else (OPT_OUT, GOT_IT)
        if self.state == "off":
            return (UNDO,)
        if self.state in ("on", "acknowledged"):
            return (OPT_OUT,)
        return ()

    def _render(self) -> None:
        """Bring the widgets in line with the state (nothing to do without widgets)."""
        if self._widget is None:
            return
        if self.state == "notice":
            self._body.value = self.notice_html()
        else:
            self._body.value = (
                f'<div style="{_TEXT}; {_FONT}; line-height: 1.45">{self._message_html()}</div>'
            )
        self._row.children = tuple(self._button(label) for label in self._labels())
        problem = html.escape(self.problem)
        self._line.value = (
            f'<div style="color: var(--jp-warn-color0, #b35c00); {_FONT}; line-height: 1.45">'
            f"{problem}</div>"
            if problem
            else ""
        )

    def _message_html(self) -> str:
        escaped = html.escape(self.message)
        path = str(self.telemetry.config_path)
        for command in (OFF_COMMAND, ON_COMMAND, "DO_NOT_TRACK=1", path):
            escaped = escaped.replace(command, _code(command))
        return f"<strong>Devscode telemetry</strong> · {escaped}"

    def _set(self, state: str, message: str, problem: str = "") -> None:
        self.state, self.message, self.problem = state, message, problem
        self._render()

    def _safely(self, action: Callable[[], None]) -> None:
        """Run a button's action; a failure becomes a line in the banner, never an exception."""
        try:
            action()
        except Exception as err:
            with contextlib.suppress(Exception):
                self.problem = f"Something went wrong: {type(err).__name__}: {err}"
                self._render()

    # --- what the buttons do -------------------------------------------------------------------

    def opt_out(self) -> None:
        path = self.telemetry.config_path
        error = self.telemetry.opt_out()
        if error is None:
            self._set(
                "off",
                f"Telemetry is off. Saved in {path}: every running kernel stops sending within "
                "2 seconds. Nothing was sent about this choice.",
            )
        else:
            self._set(
                "off-unsaved",
                "Telemetry is off in this kernel, but the choice could not be saved, so other "
                f"and new kernels do not know it. To turn it off everywhere, fix {path} or set "
                "DO_NOT_TRACK=1.",
                f"Why: {error}",
            )

    def undo(self) -> None:
        self._turn_on("Telemetry is on again")

    def allow(self) -> None:
        self._turn_on("Thank you: telemetry is on")

    def _turn_on(self, done: str) -> None:
        path = self.telemetry.config_path
        error = self.telemetry.opt_in()
        decision = self.telemetry.refresh()
        if error is not None:
            self._set(
                "error",
                f"Telemetry stays off: the choice could not be saved in {path}.",
                f"Why: {error}",
            )
        elif not decision.enabled:
            self._set("error", f"Saved in {path}, but telemetry stays off: {decision.reason}.")
        else:
            self._set("on", f"{done}. Saved in {path}. Opt out any time: {OFF_COMMAND}.")

    def got_it(self) -> None:
        done = f"Thanks, this notice will not be shown again. Opt out any time: {OFF_COMMAND}."
        self._acknowledge("acknowledged", done)

    def no_thanks(self) -> None:
        self._acknowledge("declined", f"Nothing will be sent. To allow it later: {ON_COMMAND}.")

    def _acknowledge(self, choice: str, done: str) -> None:
        error = self.telemetry.acknowledge(choice)
        self._set(choice, done, f"The notice may be shown again: {error}" if error else "")


def show_notice(session: Any) -> None:
    """Show the notice in this session; from then on a person could have seen it.

    Kernels get the banner (widgets, with text and HTML fallbacks); terminals a printed notice.
    """
    opt_in = session.settings.consent == "opt-in"
    if session.frontend.widgets:
        from IPython.display import display

        banner = Banner(session.telemetry, opt_in=opt_in)
        display(banner)
    else:
        print(notice_text(opt_in=opt_in))
    session.telemetry.mark_notice_shown()
    session.telemetry.record("$pageview", {"$current_url": "devscode-nb://banner"})
