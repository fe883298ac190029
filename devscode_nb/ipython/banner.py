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

After each choice the shown output is replaced (display id + ``update_display``), so its text
and HTML fallbacks — what a notebook reopened without its kernel shows — tell the choice rather
than the notice. A banner left from a closed session (after ``%reload_ext`` or ``%unload_ext``)
does nothing but say so: no write, no thread. A button never raises into the kernel: a failure
becomes a line in the banner.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devscode_nb.telemetry import Decision, Telemetry

DETAILS_URL = "https://github.com/devscode/devscode_nb#telemetry"

COLLECTED = (
    "whether you accept or reject suggestions",
    "model and command names",
    "token counts",
    "OS and notebook frontend names",
    "which devscode views you open (pageviews)",
)
NEVER_COLLECTED = (
    "your code, prompts, outputs, file paths, or the names of people, machines and organisations"
)
OFF_COMMAND = "%devscode telemetry off"
ON_COMMAND = "%devscode telemetry on"
STATUS_COMMAND = "%devscode telemetry status"

# Buttons, by the label a person sees.
OPT_OUT, GOT_IT, UNDO, ALLOW, NO_THANKS = "Opt out", "Got it", "Undo", "Allow", "No thanks"

# JupyterLab's theme variables, with fallbacks for VS Code and classic frontends. Every text may
# wrap anywhere it must (a long path has no break point), so nothing is cut off at 600 px, 200 %
# zoom or a large font.
_WRAP = "overflow-wrap: anywhere; white-space: normal"
_TEXT = f"color: var(--jp-ui-font-color1, inherit); {_WRAP}"
_FONT = "font-family: var(--jp-ui-font-family, inherit); font-size: var(--jp-ui-font-size1, 13px)"
_LINK = "color: var(--jp-content-link-color, #1976d2)"
_CODE = (
    "font-family: var(--jp-code-font-family, monospace); "
    f"background: var(--jp-layout-color2, rgba(127, 127, 127, 0.15)); padding: 0 3px; {_WRAP}"
)
_BORDER = "1px solid var(--jp-border-color1, #bdbdbd)"
_ACCENT = "4px solid var(--jp-brand-color1, #1976d2)"
_BOX = (
    f"border: {_BORDER}; border-left: {_ACCENT}; padding: 8px 12px; margin: 4px 0; "
    "max-width: 780px; box-sizing: border-box"
)
# ipywidgets gives buttons a fixed 28 px height and line height; these grow with the font.
_BUTTON_CSS = (
    "<style>.devscode-nb-banner .jupyter-button { height: auto; "
    "min-height: var(--jp-widgets-inline-height, 28px); line-height: 1.3; "
    "padding: 0.3em 0.9em; white-space: normal; max-width: 100%; }</style>"
)


def notice_text(opt_in: bool = False) -> str:
    """The short notice for terminals and frontends without widgets."""
    collected = "; ".join(COLLECTED)
    if opt_in:
        head = f"devscode_nb can send anonymous usage data, only if you allow it: {collected}"
        ask = f"Nothing is sent unless you allow it: {ON_COMMAND}"
    else:
        head = f"devscode_nb sends anonymous usage data: {collected}"
        ask = f"Opt out any time: {OFF_COMMAND} (or DO_NOT_TRACK=1)"
    return (
        f"{head}. Never collected: {NEVER_COLLECTED}.\n"
        f"{ask}. Details: {STATUS_COMMAND} · {DETAILS_URL}"
    )


def on_words(decision: Decision, lead: str = "Telemetry is on") -> str:
    """What "on" means now: events are sent, or (debug, no project key, headless…) they are
    recorded but stay on this machine, and why — never "on" alone when nothing would leave."""
    if decision.sending:
        return f"{lead} ({decision.destination})"
    return f"{lead}, but events stay on this machine: {decision.reason}"


def opt_in_unsaved(decision: Decision, error: str) -> str:
    """One line for an opt-in that could not be saved: nothing changed, and what that means."""
    if decision.sending:  # opt-out mode, already on (a read-only config.json without the key)
        now = on_words(decision, "telemetry is on in this kernel as before")
        return f"The opt-in could not be saved, so nothing changed: {now}. Why: {error}"
    return (
        f"Telemetry stays off in this kernel, nothing is sent ({decision.reason}), because the "
        f"opt-in could not be saved: {error}"
    )


def _code(text: str) -> str:
    return f'<code style="{_CODE}">{html.escape(text)}</code>'


def _never_closed() -> str:
    return ""


class Banner:
    """The consent banner of one session: its state, its words, its widgets and its buttons.

    ``closed`` says how the session that showed it ended (``"reloaded"``, ``"unloaded"``) or
    ``""`` while it is live: a banner left from a closed session does nothing but say so.
    """

    def __init__(
        self,
        telemetry: Telemetry,
        *,
        opt_in: bool = False,
        widgets: bool = True,
        closed: Callable[[], str] = _never_closed,
    ):
        self.telemetry = telemetry
        self.opt_in = opt_in
        self.widgets = widgets  # whether to offer the ipywidgets view (kernels)
        self.closed = closed
        # notice | off | off-unsaved | on | acknowledged | declined | error | stale
        self.state = "notice"
        self.message = ""  # plain text of the current state (after the notice)
        self.problem = ""  # a line saying what went wrong, if anything
        self.display_handle: Any = None  # set when shown: a choice updates the saved output
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

    def _collected_heading(self) -> str:
        return "What would be collected" if self.opt_in else "What is collected"

    def notice_html(self) -> str:
        items = "".join(f"<li>{html.escape(item)}</li>" for item in COLLECTED)
        details = "what would be sent" if self.opt_in else "what is sent and how to turn it off"
        return (
            f'<div style="{_TEXT}; {_FONT}; line-height: 1.45">'
            f"<div><strong>Devscode telemetry</strong> · {html.escape(self._intro())}</div>"
            f'<div style="margin-top: 4px">{self._collected_heading()}:</div>'
            f'<ul style="margin: 2px 0 4px 0; padding-left: 1.4em">{items}</ul>'
            f"<div>Never collected: {html.escape(NEVER_COLLECTED)}.</div>"
            f'<div style="margin-top: 4px"><a href="{DETAILS_URL}" target="_blank" '
            f'rel="noopener noreferrer" style="{_LINK}">Details: {details}</a> · '
            f"{_code(STATUS_COMMAND)}</div></div>"
        )

    def text(self) -> str:
        """Plain text of the banner as it stands (``text/plain``, ``repr``)."""
        if self.state != "notice":
            lines = [f"Devscode telemetry: {self.message}", self.problem]
            lines.append(f"To see the setting as it is now: {STATUS_COMMAND}")
            return "\n".join(x for x in lines if x)
        lines = [f"Devscode telemetry: {self._intro()}", f"{self._collected_heading()}:"]
        lines += [f"  - {item}" for item in COLLECTED]
        lines.append(f"Never collected: {NEVER_COLLECTED}.")
        if self.opt_in:
            lines.append(f"To allow it: {ON_COMMAND}")
        else:
            lines.append(f"To opt out: {OFF_COMMAND}   (or set DO_NOT_TRACK=1)")
        lines.append(f"Details: {STATUS_COMMAND} · {DETAILS_URL}")
        return "\n".join(lines)

    def html(self) -> str:
        """The static HTML fallback, kept up to date: what a reopened notebook shows."""
        if self.state != "notice":
            return (
                f'<div style="{_BOX}"><div style="{_TEXT}; {_FONT}; line-height: 1.45">'
                f"{self._message_html()}{self._problem_html()}"
                f"<div>To see the setting as it is now: {_code(STATUS_COMMAND)}</div></div></div>"
            )
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
            # Buttons wrap onto a new line rather than run off a narrow output area.
            self._row = ipywidgets.HBox(
                layout=ipywidgets.Layout(margin="6px 0 0 0", flex_flow="row wrap")
            )
            self._line = ipywidgets.HTML("")
            self._widget = ipywidgets.VBox(
                [self._body, self._row, self._line],
                layout=ipywidgets.Layout(
                    border_top=_BORDER,
                    border_right=_BORDER,
                    border_bottom=_BORDER,
                    border_left=_ACCENT,
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
                description=label,
                layout=ipywidgets.Layout(width="auto", height="auto", margin="0 8px 4px 0"),
            )
            button.on_click(lambda clicked: self._click(clicked, action))
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
            self._body.value = _BUTTON_CSS + self.notice_html()
        else:
            self._body.value = (
                f'{_BUTTON_CSS}<div style="{_TEXT}; {_FONT}; line-height: 1.45">'
                f"{self._message_html()}</div>"
            )
        self._row.children = tuple(self._button(label) for label in self._labels())
        self._line.value = self._problem_html()

    def _problem_html(self) -> str:
        if not self.problem:
            return ""
        return (
            f'<div style="color: var(--jp-warn-color0, #b35c00); {_FONT}; line-height: 1.45; '
            f'{_WRAP}">{html.escape(self.problem)}</div>'
        )

    def _message_html(self) -> str:
        escaped = html.escape(self.message)
        commands = (OFF_COMMAND, ON_COMMAND, STATUS_COMMAND, "%load_ext devscode_nb")
        for literal in (*commands, "DO_NOT_TRACK=1", str(self.telemetry.config_path)):
            escaped = escaped.replace(html.escape(literal), _code(literal))
        return f"<div><strong>Devscode telemetry</strong> · {escaped}</div>"

    def _set(self, state: str, message: str, problem: str = "") -> None:
        self.state, self.message, self.problem = state, message, problem
        self._render()
        self._publish()

    def _publish(self) -> None:
        """Replace the shown output (its text and HTML fallbacks) so a saved notebook, reopened
        without the kernel, tells what was decided rather than the notice."""
        if self.display_handle is not None:
            with contextlib.suppress(Exception):
                self.display_handle.update(self)

    def _safely(self, action: Callable[[], None]) -> None:
        """Run a button's action; a failure becomes a line in the banner, never an exception.

        A banner of a closed session (``%reload_ext``, ``%unload_ext``) runs nothing: its
        telemetry is closed, and acting on it would write files and restart its thread.
        """
        try:
            how = self.closed()
            if how:
                self._stale(how)
            else:
                action()
        except Exception as err:
            with contextlib.suppress(Exception):
                self.problem = f"Something went wrong: {type(err).__name__}: {err}"
                self._render()
                self._publish()

    def _click(self, button: Any, action: Callable[[], None]) -> None:
        """A button's action; where it took that button away ("Opt out" becomes "Undo"), the
        focus goes to the first button shown now, so someone on a keyboard keeps their place
        (the browser would otherwise drop it on the page)."""
        self._safely(action)
        row = self._row
        if row is not None and row.children and button not in row.children:
            with contextlib.suppress(Exception):
                row.children[0].focus()

    def _stale(self, how: str) -> None:
        then = (
            f"run {OFF_COMMAND} or {ON_COMMAND} in a cell"
            if how == "reloaded"
            else "load it again: %load_ext devscode_nb"
        )
        self._set(
            "stale",
            f"devscode_nb was {how} after this banner was shown, so its buttons do nothing now "
            f"and nothing was changed. To decide, {then}.",
        )

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
        """Say what the decision is after the click, whether or not the choice was saved."""
        path = self.telemetry.config_path
        error = self.telemetry.opt_in()
        decision = self.telemetry.refresh()
        if error is not None:  # opt_in changed nothing: the decision is what it was (off)
            self._set(
                "error",
                f"Telemetry stays off: the choice could not be saved in {path} "
                f"({decision.reason}).",
                f"Why: {error}",
            )
        elif decision.enabled:
            now = on_words(decision, done)
            self._set("on", f"{now}. Saved in {path}. Opt out any time: {OFF_COMMAND}.")
        else:
            self._set("error", f"Saved in {path}, but telemetry stays off: {decision.reason}.")

    def got_it(self) -> None:
        done = f"Thanks, this notice will not be shown again. Opt out any time: {OFF_COMMAND}."
        self._acknowledge("acknowledged", done)

    def no_thanks(self) -> None:
        self._acknowledge("declined", f"Nothing will be sent. To allow it later: {ON_COMMAND}.")

    def _acknowledge(self, choice: str, done: str) -> None:
        error = self.telemetry.acknowledge(choice)
        self._set(choice, done, f"The notice may be shown again: {error}" if error else "")


def _how_closed(session: Any) -> str:
    """How ``session`` ended, or ``""`` while it is the shell's live session."""
    from devscode_nb.ipython.extension import session_for

    current = session_for(session.shell)
    if current is session:
        return ""
    return "unloaded" if current is None else "reloaded"


def show_notice(session: Any) -> None:
    """Show the notice in this session; from then on a person could have seen it.

    Kernels get the banner (widgets, with text and HTML fallbacks, under a display id so a
    choice replaces the saved fallback); terminals a printed notice.
    """
    opt_in = session.settings.consent == "opt-in"
    if session.frontend.widgets:
        from IPython.display import display

        banner = Banner(session.telemetry, opt_in=opt_in, closed=lambda: _how_closed(session))
        banner.display_handle = display(banner, display_id=True)
    else:
        print(notice_text(opt_in=opt_in))
    session.telemetry.mark_notice_shown()
    session.telemetry.record("$pageview", {"$current_url": "devscode-nb://banner"})
