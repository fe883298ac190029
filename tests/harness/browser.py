"""JupyterLab (a real server from the venv) driven by Playwright in headless Debian Chromium.

Usage::

    from harness.browser import lab_session, write_notebook

    def test_x(tmp_path):
        with lab_session(tmp_path, extra_env={"DEVSCODE_GLOBAL_DIR": str(tmp_path / "g")}) as lab:
            write_notebook(lab.root_dir / "t.ipynb", ["import ipywidgets as w",
                                                      "w.Button(description='Go')"])
            lab.open_notebook("t.ipynb")
            lab.run_all_cells()
            lab.click_button("Go")                 # a real mouse click
            lab.screenshot("x-light.png")          # -> test-artifacts/x-light.png
            lab.set_theme("dark"); lab.screenshot("x-dark.png")
            assert lab.external_let_through == []  # nothing left the machine
            print(lab.blocked)                     # external requests aborted by the route

* The server runs ``python -m jupyterlab`` (or, with ``app="notebook"``, Notebook 7's
  ``python -m notebook``) on 127.0.0.1:<free port>, token auth, with an
  environment that is exactly ``env`` (default: :func:`harness.kernel.isolated_env`, i.e. a
  temporary HOME / IPYTHONDIR / JUPYTER_* dirs and no ``CI``) plus ``extra_env``. Kernels it
  starts inherit that environment.
* News, update checks and language-server autodetection are off; ``window.jupyterapp`` is
  exposed (``expose_app_in_browser``) so commands can be run directly.
* Chromium is ``/usr/bin/chromium`` (``scripts/install-browser.sh``), headless, with a fresh
  user-data dir. ``viewport`` and ``device_scale_factor`` set the window: a 1280×800 window at
  200 % zoom is ``viewport=(640, 400), device_scale_factor=2``. Every request/websocket whose
  host is not loopback is aborted and recorded in ``blocked``; DNS for anything but localhost
  is also mapped to NOTFOUND so the browser's own background traffic cannot leave either.
* :meth:`LabBrowser.clipped` lists what inside an output is cut off or sticks out of it.
* Teardown (browser, then kernels, then the server's process group) always runs; on an
  exception inside the ``with`` block a ``FAILED-*.png`` screenshot and the server log path are
  kept in ``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import ARTIFACTS_DIR
from .kernel import isolated_env

CHROMIUM = "/usr/bin/chromium"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome", "chrome-extension", "devtools"})
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-default-browser-check",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    # Belt and braces for traffic the page route cannot see (browser-internal requests):
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
# The server applications a harness can run: module, and the URL a notebook opens at.
APPS = {"lab": ("jupyterlab", "/lab/tree/"), "notebook": ("notebook", "/notebooks/")}

# What overflows (for LabBrowser.clipped): every element under the roots whose content is wider
# or taller than its box, or whose boxes reach past the output area, the notebook or the window.
_CLIPPED_JS = """(selector) => {
    const found = [];
    const describe = (el) => {
        const cls = typeof el.className === 'string' && el.className
            ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
        return `${el.tagName.toLowerCase()}${cls} "${(el.textContent || '').trim().slice(0, 40)}"`;
    };
    for (const root of document.querySelectorAll(selector)) {
        const edges = [document.documentElement.clientWidth];
        for (const sel of ['.jp-OutputArea-output', '.jp-Notebook', '.jp-WindowedPanel-outer']) {
            const box = root.closest(sel);
            if (box) edges.push(box.getBoundingClientRect().right);
        }
        const limit = Math.min(...edges);
        for (const el of [root, ...root.querySelectorAll('*')]) {
            if (['STYLE', 'SCRIPT'].includes(el.tagName)) continue;
            const what = describe(el);
            if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
                found.push(`${what}: content ${el.scrollWidth}px wide, box ${el.clientWidth}px`);
            if (el.clientHeight > 0 && el.scrollHeight > el.clientHeight + 1)
                found.push(`${what}: content ${el.scrollHeight}px high, box ${el.clientHeight}px`);
            for (const r of el.getClientRects())
                if (r.width > 0 && r.right > limit + 1)
                    found.push(`${what}: right ${Math.round(r.right)} > ${Math.round(limit)}`);
        }
    }
    return found;
}"""

# Settings every harness server starts with (<JUPYTER_CONFIG_DIR>/labconfig/
# default_setting_overrides.json).
LAB_SETTING_OVERRIDES: dict[str, Any] = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def is_external(url: str) -> bool:
    """True for http(s)/ws(s)/other URLs whose host is not loopback."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return False
    return (parts.hostname or "") not in LOOPBACK_HOSTS


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_notebook(
    path: str | os.PathLike[str],
    cells: Sequence[str | Mapping[str, Any]],
    *,
    kernel_name: str = "python3",
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a v4 notebook. A cell is source code (str) or an nbformat cell dict (e.g.
    ``nbformat.v4.new_markdown_cell(...)``). The kernelspec metadata is set so JupyterLab
    starts the kernel without asking."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": kernel_name,
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata.update(dict(metadata or {}))
    for c in cells:
        nb.cells.append(
            nbformat.v4.new_code_cell(c) if isinstance(c, str) else nbformat.from_dict(c)
        )
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, p)
    return p


def _pids_mentioning(needle: str) -> list[int]:
    """PIDs (not ours) whose command line contains ``needle`` (Linux /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd:
            out.append(int(d.name))
    return out


class JupyterLabServer:
    """A ``jupyter lab`` process. Prefer :func:`lab_session` in tests."""

    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str | None] | None = None,
        root_dir: str | os.PathLike[str] | None = None,
        token: str | None = None,
        extra_args: Iterable[str] = (),
        setting_overrides: Mapping[str, Any] | None = None,
        startup_timeout: float = 90,
        python: str = sys.executable,
        app: str = "lab",
    ) -> None:
        if app not in APPS:
            raise ValueError(f"app must be one of {sorted(APPS)}, not {app!r}")
        self.app = app
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(env) if env is not None else isolated_env(self.base_dir / "lab-env")
        for k, v in (extra_env or {}).items():
            if v is None:
                self.env.pop(k, None)
            else:
                self.env[k] = str(v)
        if "CI" in self.env:
            raise ValueError("the server/kernel env must not contain CI (headless detection)")
        homes = {os.path.expanduser("~"), pwd.getpwuid(os.getuid()).pw_dir, ""}
        if self.env.get("HOME", "") in homes:
            raise ValueError(f"the server env must have its own HOME, not one of {homes}")
        for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
            if not self.env.get(var):
                raise ValueError(f"the server env must set {var}")
            Path(self.env[var]).mkdir(parents=True, exist_ok=True)
        self.root_dir = Path(root_dir) if root_dir else self.base_dir / "root"
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.token = token or secrets.token_hex(16)
        self.extra_args = list(extra_args)
        self.setting_overrides = {**LAB_SETTING_OVERRIDES, **dict(setting_overrides or {})}
        self.startup_timeout = startup_timeout
        self.python = python
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.base_dir / "jupyter-server.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        cfg = Path(self.env["JUPYTER_CONFIG_DIR"])
        server_cfg = {
            "ServerApp": {"terminals_enabled": False},
            "LabApp": {
                "news_url": None,
                "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
                "expose_app_in_browser": True,
                "extension_manager": "readonly",  # no PyPI queries from the server
            },
            "JupyterNotebookApp": {"expose_app_in_browser": True},
            "LanguageServerManager": {"autodetect": False},
        }
        (cfg / "jupyter_server_config.json").write_text(json.dumps(server_cfg, indent=1))
        (cfg / "labconfig").mkdir(parents=True, exist_ok=True)
        (cfg / "labconfig" / "default_setting_overrides.json").write_text(
            json.dumps(self.setting_overrides, indent=1)
        )

    def start(self) -> JupyterLabServer:
        module = APPS[self.app][0]
        try:
            __import__(module)
        except ImportError as e:
            raise RuntimeError(
                f"{module} is not installed in {sys.prefix}: run scripts/install-browser.sh"
            ) from e
        self._write_config()
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = free_port()
            cmd = [
                self.python,
                "-m",
                module,
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                "--ServerApp.allow_root=True",
                f"--ServerApp.root_dir={self.root_dir}",
                "--LanguageServerManager.autodetect=False",
                *self.extra_args,
            ]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    cmd,
                    env=self.env,
                    cwd=self.root_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: killpg on teardown
                )
            ok, last_error = self._wait_ready()
            if ok:
                return self
            self.stop()
        raise RuntimeError(f"JupyterLab did not start: {last_error}\n{self.log_tail()}")

    def _wait_ready(self) -> tuple[bool, str]:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        err = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False, f"server exited with {self.proc.returncode}"
            try:
                self.api("GET", "/api/status", timeout=2)
                return True, ""
            except (OSError, urllib.error.URLError) as e:
                err = repr(e)
            time.sleep(0.2)
        return False, f"not ready after {self.startup_timeout}s ({err})"

    def api(self, method: str, path: str, body: Any = None, *, timeout: float = 10) -> Any:
        """Call the server's REST API with the token; returns parsed JSON (or None)."""
        req = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=timeout) as r:
            data = r.read()
        return json.loads(data) if data else None

    def kernels(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "/api/kernels"))

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def stop(self, timeout: float = 10) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(Exception):
                for k in self.api("GET", "/api/kernels", timeout=3):
                    self.api("DELETE", f"/api/kernels/{k['id']}", timeout=timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        # Kernels run in their own sessions (jupyter_client start_new_session=True); any
        # survivor has our runtime dir (its connection file) on its command line.
        for pid in _pids_mentioning(self.env["JUPYTER_RUNTIME_DIR"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class LabBrowser:
    """Headless Chromium (Playwright) on a :class:`JupyterLabServer`."""

    def __init__(
        self,
        server: JupyterLabServer,
        *,
        headless: bool = True,
        viewport: tuple[int, int] = (1280, 800),
        executable_path: str = CHROMIUM,
        extra_args: Iterable[str] = (),
        default_timeout_ms: float = 30_000,
        device_scale_factor: float = 1,
    ) -> None:
        self.server = server
        self.headless = headless
        self.viewport = viewport
        self.device_scale_factor = device_scale_factor
        self.executable_path = executable_path
        self.extra_args = list(extra_args)
        self.default_timeout_ms = default_timeout_ms
        self.blocked: list[str] = []  # external URLs aborted (requests and websockets)
        self.external_let_through: list[str] = []  # external requests that got a response
        self.requests: list[str] = []  # every URL the pages requested
        self.console: list[str] = []  # console messages and page errors
        self._pw: Any = None
        self.context: Any = None
        self.page: Any = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LabBrowser:
        if not Path(self.executable_path).exists():
            raise RuntimeError(f"{self.executable_path} is missing: run scripts/install-browser.sh")
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as e:
            raise RuntimeError(
                f"playwright is not installed in {sys.prefix}: run scripts/install-browser.sh"
            ) from e
        profile = self.server.base_dir / "chromium-profile"
        shutil.rmtree(profile, ignore_errors=True)
        profile.mkdir(parents=True)
        home = self.server.base_dir / "chromium-home"
        home.mkdir(parents=True, exist_ok=True)
        browser_env = {
            k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
        }
        browser_env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_CACHE_HOME=str(home / ".cache"),
        )
        self._pw = sync_playwright().start()
        try:
            self.context = self._pw.chromium.launch_persistent_context(
                str(profile),
                executable_path=self.executable_path,
                headless=self.headless,
                args=[*CHROMIUM_ARGS, *self.extra_args],
                env=browser_env,
                viewport={"width": self.viewport[0], "height": self.viewport[1]},
                device_scale_factor=self.device_scale_factor,
                service_workers="block",
                locale="en-US",
                timezone_id="UTC",
            )
        except Exception:
            self.stop()
            raise
        self.context.set_default_timeout(self.default_timeout_ms)
        self.context.route(lambda url: is_external(url), self._block)
        self.context.route_web_socket(lambda url: is_external(url), self._block_ws)
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.context.on("requestfinished", self._finished)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self._watch(self.page)
        self.context.on("page", self._watch)
        return self

    @property
    def blocked_count(self) -> int:
        """How many non-loopback requests/websockets were aborted."""
        return len(self.blocked)

    def _watch(self, page: Any) -> None:
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def _block(self, route: Any) -> None:
        self.blocked.append(route.request.url)
        route.abort("blockedbyclient")

    def _block_ws(self, ws: Any) -> None:
        self.blocked.append(ws.url)
        ws.close()

    def _finished(self, request: Any) -> None:
        if is_external(request.url):
            self.external_let_through.append(request.url)

    def stop(self) -> None:
        ctx, self.context = self.context, None
        pw, self._pw = self._pw, None
        if ctx is not None:
            with contextlib.suppress(Exception):
                ctx.close()
        if pw is not None:
            with contextlib.suppress(Exception):
                pw.stop()

    # ------------------------------------------------------------------ JupyterLab helpers
    def goto(self, path: str = "/lab") -> Any:
        sep = "&" if "?" in path else "?"
        self.page.goto(f"{self.server.base_url}{path}{sep}token={self.server.token}")
        self.wait_for_app()
        return self.page

    def wait_for_app(self, timeout_ms: float = 60_000) -> None:
        self.page.wait_for_function("() => !!window.jupyterapp", timeout=timeout_ms)
        self.page.evaluate(
            "async () => { await window.jupyterapp.started; await window.jupyterapp.restored; }"
        )

    def command(self, command_id: str, args: Mapping[str, Any] | None = None) -> Any:
        """Run a JupyterLab command (``app.commands.execute``); returns its JSON-able result."""
        return self.page.evaluate(
            "async ([id, args]) => { const r = await window.jupyterapp.commands.execute(id, args);"
            " try { return JSON.parse(JSON.stringify(r ?? null)); } catch { return null; } }",
            [command_id, dict(args or {})],
        )

    def open_notebook(self, relpath: str, *, timeout_ms: float = 60_000) -> Any:
        """Open ``root_dir/relpath`` and wait until its kernel is idle."""
        self.goto(APPS[self.server.app][1] + relpath)
        self.page.locator(".jp-NotebookPanel").first.wait_for(state="visible", timeout=timeout_ms)
        self.page.wait_for_function(
            """(p) => { const w = window.jupyterapp.shell.currentWidget;
                return !!w && w.context && w.context.path === p && w.context.isReady; }""",
            arg=relpath,
            timeout=timeout_ms,
        )
        self.wait_for_kernel_idle(timeout_ms=timeout_ms)
        return self.page

    def kernel_status(self) -> str | None:
        return self.page.evaluate(
            """() => { const w = window.jupyterapp.shell.currentWidget;
                const k = w && w.sessionContext && w.sessionContext.session
                    && w.sessionContext.session.kernel;
                return k ? k.status : null; }"""
        )

    def wait_for_kernel_idle(self, *, timeout_ms: float = 60_000) -> None:
        self.page.wait_for_function(
            """() => { const w = window.jupyterapp.shell.currentWidget;
                const k = w && w.sessionContext && w.sessionContext.session
                    && w.sessionContext.session.kernel;
                return !!k && k.status === 'idle' && !w.sessionContext.pendingInput; }""",
            timeout=timeout_ms,
        )

    def run_all_cells(self, *, via: str = "command", timeout_ms: float = 60_000) -> None:
        """Run every cell of the current notebook and wait until every non-empty code cell has
        an execution count and the kernel is idle. ``via="keyboard"`` presses Shift+Enter once
        per cell instead (which, like in a real session, appends an empty cell at the end)."""
        n = self.page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.model.cells.length"
        )
        if via == "command":
            self.command("notebook:run-all-cells")
        elif via == "keyboard":
            self.page.locator(".jp-Notebook .jp-Cell").first.click()
            self.page.keyboard.press("Escape")
            for _ in range(n):
                self.page.keyboard.press("Shift+Enter")
        else:
            raise ValueError(via)
        self.page.wait_for_function(
            """() => { const nb = window.jupyterapp.shell.currentWidget.content;
                const cells = Array.from(nb.model.cells).filter(
                    c => c.type === 'code' && c.sharedModel.getSource().trim() !== '');
                return cells.every(c => c.executionCount !== null && c.executionCount > 0); }""",
            timeout=timeout_ms,
        )
        self.wait_for_kernel_idle(timeout_ms=timeout_ms)

    def wait_for_output(self, text: str, *, timeout_ms: float = 30_000) -> Any:
        """Wait for a visible cell output containing ``text``; return its Locator."""
        loc = self.page.locator(".jp-OutputArea-output").filter(has_text=text).first
        loc.wait_for(state="visible", timeout=timeout_ms)
        return loc

    def button(self, name: str, *, exact: bool = True) -> Any:
        """Locator of a (widget) button by its accessible name / visible text."""
        return self.page.get_by_role("button", name=name, exact=exact)

    def click_button(self, name: str, *, exact: bool = True, timeout_ms: float = 30_000) -> None:
        """Wait for the button and click it with a real (trusted) mouse click."""
        loc = self.button(name, exact=exact)
        loc.wait_for(state="visible", timeout=timeout_ms)
        loc.click(timeout=timeout_ms)

    def set_theme(self, theme: str, *, timeout_ms: float = 30_000) -> None:
        """``"light"``/``"dark"`` (or a full theme name) through ``apputils:change-theme``."""
        name = THEMES.get(theme, theme)
        self.command("apputils:change-theme", {"theme": name})
        self.page.wait_for_function(
            "(n) => document.body.dataset.jpThemeName === n", arg=name, timeout=timeout_ms
        )
        dark = self.page.evaluate("() => document.body.dataset.jpThemeLight === 'false'")
        # The theme CSS is swapped asynchronously: wait until the layout colour variable has
        # the expected lightness.
        self.page.wait_for_function(
            """(dark) => {
                const v = getComputedStyle(document.body).getPropertyValue('--jp-layout-color1');
                const probe = document.createElement('div');
                probe.style.color = v; document.body.appendChild(probe);
                const m = getComputedStyle(probe).color.match(/\\d+(\\.\\d+)?/g);
                probe.remove();
                if (!v.trim() || !m) return false;
                const lum = (0.299 * +m[0] + 0.587 * +m[1] + 0.114 * +m[2]) / 255;
                return dark ? lum < 0.5 : lum >= 0.5;
            }""",
            arg=dark,
            timeout=timeout_ms,
        )
        self.page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )

    def clipped(self, selector: str) -> list[str]:
        """What under ``selector`` is cut off: content wider or taller than its box, or boxes
        reaching past the output area, the notebook or the window (empty when nothing is)."""
        return list(self.page.evaluate(_CLIPPED_JS, selector))

    def save_notebook(self, *, timeout_ms: float = 30_000) -> None:
        """Save the current notebook (``docmanager:save``) and wait until it is not dirty."""
        self.command("docmanager:save")
        self.page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty",
            timeout=timeout_ms,
        )

    def screenshot(self, name: str, *, full_page: bool = False, locator: Any = None) -> Path:
        """Save a PNG into ``test-artifacts/`` (gitignored) and return its path."""
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS_DIR / (name if name.endswith(".png") else f"{name}.png")
        # JupyterLab shows its splash animation over the page while it (re)applies a theme.
        self.page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=15_000)
        if locator is not None:
            locator.screenshot(path=str(path))
        else:
            self.page.screenshot(path=str(path), full_page=full_page)
        return path


class LabSession(LabBrowser):
    """A :class:`LabBrowser` that owns its :class:`JupyterLabServer` (see :func:`lab_session`)."""

    @property
    def root_dir(self) -> Path:
        return self.server.root_dir

    @property
    def env(self) -> dict[str, str]:
        return self.server.env


@contextlib.contextmanager
def lab_session(
    base_dir: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str | None] | None = None,
    server_args: Iterable[str] = (),
    setting_overrides: Mapping[str, Any] | None = None,
    browser_args: Iterable[str] = (),
    viewport: tuple[int, int] = (1280, 800),
    failure_screenshot: str | None = None,
    app: str = "lab",
    device_scale_factor: float = 1,
) -> Iterator[LabSession]:
    """Start JupyterLab + headless Chromium; always tear both down.

    ``env`` replaces the default isolated environment (it must have its own HOME and JUPYTER_*
    dirs and no CI); ``extra_env`` is merged on top (``None`` removes a variable). On an
    exception a screenshot ``FAILED-<failure_screenshot or base_dir name>.png`` is saved.
    ``app="notebook"`` runs Notebook 7 instead of JupyterLab; ``device_scale_factor=2`` with half
    the viewport is a browser zoomed to 200 %.
    """
    server = JupyterLabServer(
        base_dir,
        env=env,
        extra_env=extra_env,
        extra_args=server_args,
        setting_overrides=setting_overrides,
        app=app,
    )
    lab: LabSession | None = None
    try:
        server.start()
        lab = LabSession(
            server,
            extra_args=browser_args,
            viewport=viewport,
            device_scale_factor=device_scale_factor,
        )
        lab.start()
        yield lab
    except BaseException:
        if lab is not None and lab.page is not None:
            with contextlib.suppress(Exception):
                p = lab.screenshot(f"FAILED-{failure_screenshot or Path(base_dir).name}")
                sys.stderr.write(f"\n[harness] failure screenshot: {p}\n")
        sys.stderr.write(
            f"[harness] jupyter server log: {server.log_path}\n{server.log_tail(30)}\n"
        )
        if lab is not None and lab.console:
            sys.stderr.write("[harness] browser console:\n" + "\n".join(lab.console[-30:]) + "\n")
        raise
    finally:
        if lab is not None:
            lab.stop()
        server.stop()
