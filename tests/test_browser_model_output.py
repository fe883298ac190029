"""A hostile answer in JupyterLab, in headless Debian Chromium: nothing the model wrote runs.

The model answers with ``<img onerror>``, ``<script>``, ``javascript:`` links (HTML and
Markdown), an ``<iframe srcdoc>`` and an ``onmouseover`` smuggled into a code fence's info
string; each would set ``window.__pwned``. The flag stays unset in the live page (after hovering
and clicking), the answer's text is visible, the fenced code renders as code; the saved notebook
and its ``nbconvert --to html`` export carry no live markup either (the export is loaded in the
browser too). Never skips: a missing part fails and says how to fix it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from harness.browser import lab_session, write_notebook
from harness.kernel import isolated_env
from model_servers import ModelServer
from test_model_output import assert_inert

pytestmark = pytest.mark.browser

MARK = "END-OF-ANSWER"
ANSWER = f"""Here is the answer <img src=x onerror="window.__pwned='img'">.

<script>window.__pwned='script'</script>

A <a href="javascript:window.__pwned='anchor'">raw link</a> and a
[markdown link](javascript:window.__pwned='md') and an
<iframe srcdoc="<script>parent.__pwned='iframe'</script>"></iframe>

```python" onmouseover="window.__pwned='fence'
print("fenced code")
```

{MARK}
"""
PWNED = "() => window.__pwned === undefined ? null : String(window.__pwned)"


class Live(HTMLParser):
    """Records anything in an HTML document that carries the payload as live markup."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if "__pwned" in (value or ""):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and "__pwned" in data:
            self.found.append(f"<script>{data}")


def live_markup(html: str) -> list[str]:
    parser = Live()
    parser.feed(html)
    return parser.found


def test_a_hostile_answer_stays_text_in_jupyterlab_the_saved_file_and_the_export(
    tmp_path: Path,
) -> None:
    with ModelServer(answer=ANSWER, delay=0.002) as server:
        env = isolated_env(tmp_path / "env", {"DO_NOT_TRACK": "1"})
        config = Path(env["HOME"]) / ".devscode" / "config.json"
        config.parent.mkdir()
        config.write_text(json.dumps({"models": [
            {"title": "Demo", "provider": "openai", "model": "demo", "apiBase": server.base_url}
        ]}))
        with lab_session(tmp_path / "lab", env=env, failure_screenshot="model-output") as lab:
            notebook = lab.root_dir / "hostile.ipynb"
            write_notebook(notebook, ["%load_ext devscode_nb", "%%devscode\nshow me"])
            lab.open_notebook("hostile.ipynb")
            lab.run_all_cells()
            output = lab.wait_for_output(MARK)
            lab.page.locator(".devscode-nb-answer pre code").hover()
            output.get_by_text("javascript:window.__pwned='md'", exact=False).click()
            output.get_by_text("raw link", exact=False).click()
            lab.page.wait_for_timeout(1500)  # an <img src=x> fails to load within this
            assert lab.page.evaluate(PWNED) is None
            # the control: in this very page, the same markup made live does run
            lab.page.evaluate("""() => { const d = document.createElement('div');
                d.innerHTML = '<img src=x onerror="window.__control=1">';
                document.body.appendChild(d); }""")
            lab.page.wait_for_function("() => window.__control === 1", timeout=10_000)

            shown = output.inner_text()
            assert "<img src=x onerror=" in shown and "<script>" in shown  # tags as text
            assert "<iframe srcdoc=" in shown
            code = lab.page.locator(".devscode-nb-answer pre code")
            assert code.inner_text().strip() == 'print("fenced code")'
            assert lab.page.locator(".devscode-nb-answer a").count() == 0
            assert lab.page.locator(".jp-OutputArea img, .jp-OutputArea iframe").count() == 0
            lab.screenshot("model-output-hostile.png", locator=output)

            lab.command("docmanager:save")
            lab.page.wait_for_function(
                "() => !window.jupyterapp.shell.currentWidget.context.model.dirty"
            )
            saved = json.loads(notebook.read_text())
            outputs = saved["cells"][1]["outputs"]
            htmls = ["".join(o["data"]["text/html"]) for o in outputs
                     if "text/html" in o.get("data", {})]  # nbformat keeps lines as a list
            assert len(htmls) == 1 and MARK in htmls[0]
            for o in outputs:
                assert "text/markdown" not in o.get("data", {})
            for html in htmls:
                assert_inert(html)
                assert live_markup(html) == []

            done = subprocess.run(
                [sys.executable, "-m", "nbconvert", "--to", "html", str(notebook)],
                capture_output=True, text=True, timeout=120,
            )
            assert done.returncode == 0, done.stderr
            exported = notebook.with_suffix(".html").read_text()
            assert MARK in exported and live_markup(exported) == []
            lab.page.set_content(exported)
            lab.page.get_by_text(MARK).wait_for(state="visible")
            lab.page.locator("pre code").filter(has_text="fenced code").hover()
            lab.page.wait_for_timeout(1000)
            assert lab.page.evaluate(PWNED) is None
            assert lab.external_let_through == [], lab.external_let_through
