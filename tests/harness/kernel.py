"""Drive a REAL Jupyter kernel (ipykernel, started by ``jupyter_client``) from a test.

Usage::

    from harness.kernel import KernelHarness, isolated_env

    env = isolated_env(tmp_path, {"DEVSCODE_TELEMETRY": "0"})
    with KernelHarness(env, cwd=tmp_path) as k:
        r = k.execute("import ipywidgets as w; b = w.Button(description='Press me'); b")
        r.raise_for_error()
        button = k.button("Press me")          # found through the comm_open messages
        msgs = k.click(button.model_id)       # the exact comm_msg a browser sends
        print(k.widgets[button.model_id].state)

Everything the kernel publishes on IOPub is kept in ``KernelHarness.messages`` (in order),
``comm_open`` messages in ``comm_opens`` and widget models (with their state kept current from
``update`` / ``echo_update`` messages) in ``widgets``.

The kernel's environment is exactly the mapping given (nothing is inherited from the test
process); :func:`isolated_env` builds one with a temporary HOME, IPYTHONDIR and JUPYTER_* dirs.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import REPO_ROOT

WIDGET_TARGET = "jupyter.widget"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"

# Variables copied from the test process into an isolated env (if set). Everything else,
# notably HOME, CI, JUPYTER_*, IPYTHONDIR, PYTHONPATH and proxy settings, is NOT inherited.
_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")


def isolated_env(
    base_dir: str | os.PathLike[str],
    extra: Mapping[str, str | None] | None = None,
    *,
    pythonpath: Iterable[str | os.PathLike[str]] = (REPO_ROOT,),
    python: str = sys.executable,
) -> dict[str, str]:
    """Build a clean environment for a kernel or a Jupyter server.

    Creates ``base_dir/{home,ipython,jupyter/config,jupyter/data,jupyter/runtime}`` and returns
    a dict with HOME, IPYTHONDIR, JUPYTER_CONFIG_DIR, JUPYTER_DATA_DIR, JUPYTER_RUNTIME_DIR
    pointing there, PATH (with the interpreter's bin dir first), locale vars, and PYTHONPATH
    (``pythonpath``; the repo root by default so that ``import devscode_nb`` works without an
    install). ``extra`` is applied last; a value of ``None`` removes the variable.
    ``CI`` is never inherited (add it through ``extra`` to simulate CI).
    """
    base = Path(base_dir)
    dirs = {
        "HOME": base / "home",
        "IPYTHONDIR": base / "ipython",
        "JUPYTER_CONFIG_DIR": base / "jupyter" / "config",
        "JUPYTER_DATA_DIR": base / "jupyter" / "data",
        "JUPYTER_RUNTIME_DIR": base / "jupyter" / "runtime",
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    env = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
    bindir = str(Path(python).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
    env.setdefault("LANG", "C.UTF-8")
    env.update({k: str(v) for k, v in dirs.items()})
    env["XDG_CONFIG_HOME"] = str(dirs["HOME"] / ".config")
    env["XDG_CACHE_HOME"] = str(dirs["HOME"] / ".cache")
    env["XDG_DATA_HOME"] = str(dirs["HOME"] / ".local" / "share")
    env["MPLCONFIGDIR"] = str(dirs["HOME"] / ".config" / "matplotlib")
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # silence debugpy's frozen-modules warning
    env["PYTHONUNBUFFERED"] = "1"
    pp = [str(p) for p in pythonpath]
    if pp:
        env["PYTHONPATH"] = os.pathsep.join(pp)
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


@dataclass
class WidgetModel:
    """A widget model the kernel opened (``comm_open`` on the ``jupyter.widget`` target)."""

    model_id: str
    model_name: str
    model_module: str
    state: dict[str, Any]
    open_msg: dict[str, Any]
    updates: list[dict[str, Any]] = field(default_factory=list)  # update/echo_update data
    custom: list[dict[str, Any]] = field(default_factory=list)  # kernel->frontend custom msgs
    closed: bool = False

    @property
    def description(self) -> str | None:
        return self.state.get("description")


@dataclass
class ExecResult:
    """What one ``execute_request`` produced."""

    msg_id: str
    status: str  # "ok" | "error" | "aborted"
    reply: dict[str, Any]  # execute_reply content
    messages: list[dict[str, Any]]  # every IOPub message whose parent is this request
    outputs: list[dict[str, Any]]  # nbformat-style outputs, in order
    stdout: str = ""
    stderr: str = ""
    error: dict[str, Any] | None = None  # {"ename", "evalue", "traceback"}
    execute_result: dict[str, Any] | None = None  # mimebundle of the Out[] value
    stdin_requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def displays(self) -> list[dict[str, Any]]:
        """Every mimebundle shown (display_data, update_display_data, execute_result)."""
        return [o["data"] for o in self.outputs if "data" in o]

    @property
    def comm_opens(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] == "comm_open"]

    @property
    def widget_view_ids(self) -> list[str]:
        """model_ids of widgets displayed by this execution."""
        return [d[VIEW_MIME]["model_id"] for d in self.displays if VIEW_MIME in d]

    @property
    def text(self) -> str:
        """stdout + every text/plain shown, joined by newlines."""
        parts = [self.stdout] if self.stdout else []
        parts += [d["text/plain"] for d in self.displays if "text/plain" in d]
        return "\n".join(parts)

    def mime(self, mimetype: str) -> list[Any]:
        return [d[mimetype] for d in self.displays if mimetype in d]

    def raise_for_error(self) -> ExecResult:
        if self.status != "ok":
            tb = "\n".join((self.error or {}).get("traceback", []))
            raise AssertionError(
                f"kernel execution {self.status}: {self.error and self.error.get('ename')}: "
                f"{self.error and self.error.get('evalue')}\n{tb}\nstderr:\n{self.stderr}"
            )
        return self


class KernelHarness:
    """A python3 kernel (``python -m ipykernel_launcher``) with a blocking client."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        python: str = sys.executable,
        startup_timeout: float = 60,
        extra_args: Iterable[str] = (),
    ) -> None:
        self.env = dict(env)
        self.cwd = str(cwd) if cwd is not None else self.env.get("HOME", os.getcwd())
        self.python = python
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        self.messages: list[dict[str, Any]] = []  # all IOPub messages, in arrival order
        self.comm_opens: list[dict[str, Any]] = []
        self.widgets: dict[str, WidgetModel] = {}
        self._replies: dict[str, dict[str, Any]] = {}  # shell replies by parent msg_id
        self._idle: set[str] = set()  # parent msg_ids that reached status idle
        self.km: Any = None
        self.kc: Any = None
        self.log_path: Path | None = None
        self._log: Any = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> KernelHarness:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        runtime = Path(self.env.get("JUPYTER_RUNTIME_DIR") or self.env.get("HOME", "."))
        runtime.mkdir(parents=True, exist_ok=True)
        spec_dir = runtime / "harness-kernels" / "harness-python3"
        spec_dir.mkdir(parents=True, exist_ok=True)
        argv = [self.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec_dir / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": argv + self.extra_args,
                    "display_name": "Python 3 (harness)",
                    "language": "python",
                }
            )
        )
        ksm = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)], ensure_native_kernel=False)
        self.km = KernelManager(
            kernel_name="harness-python3",
            kernel_spec_manager=ksm,
            connection_file=str(runtime / f"kernel-harness-{uuid.uuid4().hex}.json"),
        )
        self.log_path = runtime / f"{Path(self.km.connection_file).stem}.log"
        # The kernel process's own stdout/stderr (fd level, not IOPub); see .log().
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.km.start_kernel(env=dict(self.env), cwd=self.cwd, stdout=self._log, stderr=self._log)
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=self.startup_timeout)
        except Exception:
            self.shutdown()
            raise
        self.drain(0.2)
        return self

    def __enter__(self) -> KernelHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def shutdown(self, timeout: float = 10) -> None:
        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
            self.kc = None
        if self.km is not None:
            try:
                if self.km.is_alive():
                    self.km.shutdown_wait_time = timeout
                    self.km.shutdown_kernel(now=False)
            except Exception:
                with contextlib.suppress(Exception):
                    self.km.shutdown_kernel(now=True)
            self.km = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        """What the kernel process wrote to its real stdout/stderr (not IOPub)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    @property
    def pid(self) -> int | None:
        prov = getattr(self.km, "provisioner", None)
        proc = getattr(prov, "process", None)
        return getattr(proc, "pid", None)

    # ------------------------------------------------------------------ message plumbing
    def _record(self, msg: dict[str, Any]) -> None:
        self.messages.append(msg)
        mt = msg["msg_type"]
        content = msg.get("content", {})
        parent = msg.get("parent_header", {}).get("msg_id")
        if mt == "status" and content.get("execution_state") == "idle" and parent:
            self._idle.add(parent)
        elif mt == "comm_open":
            self.comm_opens.append(msg)
            if content.get("target_name") == WIDGET_TARGET:
                state = dict(content.get("data", {}).get("state", {}))
                cid = content["comm_id"]
                self.widgets[cid] = WidgetModel(
                    model_id=cid,
                    model_name=state.get("_model_name", ""),
                    model_module=state.get("_model_module", ""),
                    state=state,
                    open_msg=msg,
                )
        elif mt == "comm_msg":
            w = self.widgets.get(content.get("comm_id", ""))
            data = content.get("data", {})
            if w is not None:
                if data.get("method") in ("update", "echo_update"):
                    w.state.update(data.get("state", {}))
                    w.updates.append(data)
                elif data.get("method") == "custom":
                    w.custom.append(data)
        elif mt == "comm_close":
            w = self.widgets.get(content.get("comm_id", ""))
            if w is not None:
                w.closed = True

    def _poll_shell(self) -> None:
        while True:
            try:
                msg = self.kc.shell_channel.get_msg(timeout=0)
            except queue.Empty:
                return
            self._replies[msg["parent_header"].get("msg_id", "")] = msg

    def drain(self, timeout: float = 0.1) -> list[dict[str, Any]]:
        """Collect IOPub messages until none arrives for ``timeout`` seconds."""
        got: list[dict[str, Any]] = []
        while True:
            try:
                msg = self.kc.iopub_channel.get_msg(timeout=timeout)
            except queue.Empty:
                break
            self._record(msg)
            got.append(msg)
        self._poll_shell()
        return got

    def _wait(
        self,
        msg_id: str,
        *,
        timeout: float,
        want_reply: bool,
        stdin_reply: str | Callable[[str, bool], str] | None = None,
        stdin_log: list[dict[str, Any]] | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if msg_id in self._idle and (not want_reply or msg_id in self._replies):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"kernel did not finish request {msg_id} within {timeout}s "
                    f"(idle={msg_id in self._idle}, reply={msg_id in self._replies})"
                )
            try:
                msg = self.kc.iopub_channel.get_msg(timeout=0.05)
                self._record(msg)
            except queue.Empty:
                pass
            self._poll_shell()
            if stdin_reply is not None:
                while self.kc.stdin_channel.msg_ready():
                    req = self.kc.stdin_channel.get_msg(timeout=0)
                    if stdin_log is not None:
                        stdin_log.append(req)
                    c = req["content"]
                    value = (
                        stdin_reply(c.get("prompt", ""), bool(c.get("password")))
                        if callable(stdin_reply)
                        else stdin_reply
                    )
                    self.kc.input(value)

    # ------------------------------------------------------------------ execute
    def execute(
        self,
        code: str,
        *,
        allow_stdin: bool = False,
        stdin_reply: str | Callable[[str, bool], str] = "",
        silent: bool = False,
        store_history: bool = True,
        user_expressions: Mapping[str, str] | None = None,
        stop_on_error: bool = True,
        timeout: float = 60,
    ) -> ExecResult:
        """Run ``code``; wait for the reply and for the kernel to go idle.

        ``allow_stdin=True`` is what JupyterLab sends; nbclient sends ``False`` (the default
        here). With ``allow_stdin=True``, ``input()`` requests are answered with
        ``stdin_reply`` (a string, or ``f(prompt, password) -> str``).
        """
        start = len(self.messages)
        msg_id = self.kc.execute(
            code,
            silent=silent,
            store_history=store_history,
            user_expressions=dict(user_expressions or {}),
            allow_stdin=allow_stdin,
            stop_on_error=stop_on_error,
        )
        stdin_log: list[dict[str, Any]] = []
        self._wait(
            msg_id,
            timeout=timeout,
            want_reply=True,
            stdin_reply=stdin_reply if allow_stdin else None,
            stdin_log=stdin_log,
        )
        mine = [
            m for m in self.messages[start:] if m.get("parent_header", {}).get("msg_id") == msg_id
        ]
        reply = self._replies.pop(msg_id)["content"]
        res = ExecResult(
            msg_id=msg_id,
            status=reply.get("status", "?"),
            reply=reply,
            messages=mine,
            outputs=[],
            stdin_requests=stdin_log,
        )
        for m in mine:
            mt, c = m["msg_type"], m["content"]
            if mt == "stream":
                res.outputs.append({"output_type": "stream", "name": c["name"], "text": c["text"]})
                if c["name"] == "stdout":
                    res.stdout += c["text"]
                else:
                    res.stderr += c["text"]
            elif mt in ("display_data", "update_display_data"):
                res.outputs.append(
                    {
                        "output_type": mt,
                        "data": c.get("data", {}),
                        "metadata": c.get("metadata", {}),
                        "transient": c.get("transient", {}),
                    }
                )
            elif mt == "execute_result":
                res.execute_result = c.get("data", {})
                res.outputs.append(
                    {
                        "output_type": mt,
                        "data": c.get("data", {}),
                        "metadata": c.get("metadata", {}),
                        "execution_count": c.get("execution_count"),
                    }
                )
            elif mt == "error":
                res.error = {
                    "ename": c.get("ename"),
                    "evalue": c.get("evalue"),
                    "traceback": c.get("traceback", []),
                }
                res.outputs.append({"output_type": "error", **res.error})
            elif mt == "clear_output":
                res.outputs.append({"output_type": "clear_output", "wait": c.get("wait")})
        if res.error is None and reply.get("status") == "error":
            res.error = {
                "ename": reply.get("ename"),
                "evalue": reply.get("evalue"),
                "traceback": reply.get("traceback", []),
            }
        return res

    # ------------------------------------------------------------------ widgets / comms
    def find_widgets(self, model_name: str | None = None, **state: Any) -> list[WidgetModel]:
        """Open widget models, optionally filtered by ``_model_name`` and state values."""
        return [
            w
            for w in self.widgets.values()
            if not w.closed
            and (model_name is None or w.model_name == model_name)
            and all(w.state.get(k) == v for k, v in state.items())
        ]

    def button(self, description: str) -> WidgetModel:
        """The single open ButtonModel with this description (AssertionError otherwise)."""
        found = self.find_widgets("ButtonModel", description=description)
        if len(found) != 1:
            seen = [(w.model_name, w.description) for w in self.widgets.values()]
            raise AssertionError(
                f"expected exactly one Button {description!r}, found {len(found)}; "
                f"widgets seen: {seen}"
            )
        return found[0]

    def send_comm_msg(
        self,
        comm_id: str,
        data: dict[str, Any],
        *,
        metadata: dict[str, Any] | None = None,
        timeout: float = 30,
    ) -> list[dict[str, Any]]:
        """Send a frontend->kernel ``comm_msg`` on the shell channel; wait until the kernel is
        idle again; return the IOPub messages produced while handling it (in order)."""
        msg = self.kc.session.msg(
            "comm_msg", content={"comm_id": comm_id, "data": data}, metadata=metadata or {}
        )
        start = len(self.messages)
        self.kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        self._wait(msg_id, timeout=timeout, want_reply=False)
        # Let messages from threads/callbacks that finished just after idle arrive too.
        self.drain(0.05)
        return self.messages[start:]

    def click(self, model_id: str, *, timeout: float = 30) -> list[dict[str, Any]]:
        """Click a Button exactly like ipywidgets 8's frontend (@jupyter-widgets/controls)."""
        return self.send_comm_msg(
            model_id, {"method": "custom", "content": {"event": "click"}}, timeout=timeout
        )

    def set_state(
        self, model_id: str, state: dict[str, Any], *, timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Change widget state as the frontend does (``method: update``), e.g. a Checkbox."""
        return self.send_comm_msg(
            model_id,
            {"method": "update", "state": state, "buffer_paths": []},
            metadata={"version": "2.1.0"},
            timeout=timeout,
        )

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 10
    ) -> dict[str, Any]:
        """Wait for an IOPub message (already received or future) matching ``predicate``."""
        for m in self.messages:
            if predicate(m):
                return m
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = self.kc.iopub_channel.get_msg(timeout=0.05)
            except queue.Empty:
                continue
            self._record(m)
            if predicate(m):
                return m
        raise TimeoutError(f"no matching IOPub message within {timeout}s")
