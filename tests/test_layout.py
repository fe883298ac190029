"""The architecture (SPEC §7) is in the folder names, and the imports keep to it.

Every module's imports are read with ``ast`` (also those inside functions and under
``TYPE_CHECKING``), so a later change that breaks a rule fails here instead of silently.
"""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "devscode_nb"

#: What each part may not import (prefixes of module names).
FRONTENDS = ("IPython", "ipywidgets", "ipykernel", "devscode_nb.ipython")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "telemetry": (*FRONTENDS, "devscode_nb.assistant"),
    "assistant": (*FRONTENDS, "devscode_nb.telemetry"),
    "shared": (
        "IPython",
        "ipywidgets",
        "ipykernel",
        "posthog",
        "traitlets",
        "devscode_nb.ipython",
        "devscode_nb.telemetry",
        "devscode_nb.assistant",
    ),
}
SHARED = ("config_file.py", "environment.py", "_version.py")


def part_of(path: Path, root: Path) -> str | None:
    relative = path.relative_to(root)
    if relative.parts[0] in ("telemetry", "assistant"):
        return relative.parts[0]
    if len(relative.parts) == 1 and relative.name in SHARED:
        return "shared"
    return None


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """Absolute names of everything ``path`` imports, relative imports resolved."""
    package = ".".join(("devscode_nb", *path.relative_to(root).parent.parts)).rstrip(".")
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def violations(root: Path) -> list[str]:
    broken = []
    for path in sorted(root.rglob("*.py")):
        part = part_of(path, root)
        if part is None:
            continue
        for line, module in imported_modules(path, root):
            for prefix in FORBIDDEN[part]:
                if module == prefix or module.startswith(prefix + "."):
                    broken.append(f"{path.relative_to(root)}:{line} imports {module} ({part})")
    return broken


def test_the_folders_show_the_architecture() -> None:
    for folder in ("telemetry", "assistant", "assistant/providers", "ipython"):
        assert (PACKAGE / folder / "__init__.py").is_file(), folder
    top_level = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top_level == ["__init__.py", "_version.py", "config_file.py", "environment.py"]


def test_cores_and_shared_ground_keep_their_import_rules() -> None:
    assert violations(PACKAGE) == []


def test_every_module_was_read() -> None:
    """The rule test must not pass by reading nothing."""
    cores = [p for p in PACKAGE.rglob("*.py") if part_of(p, PACKAGE) in ("telemetry", "assistant")]
    assert len(cores) >= 12
    assert any(m == "devscode_nb.config_file" for m in
               (name for p in cores for _, name in imported_modules(p, PACKAGE)))


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("telemetry/consent.py", "import IPython"),
        ("telemetry/recorder.py", "from ipywidgets import Button"),
        ("assistant/suggestions.py", "from devscode_nb.telemetry.events import EVENTS"),
        ("assistant/providers/base.py", "from ...telemetry import Telemetry"),
        ("assistant/core.py", "    from IPython.display import display  # lazily: still a breach"),
        ("environment.py", "from devscode_nb.ipython import extension"),
    ],
)
def test_a_core_that_imports_upward_is_caught(tmp_path: Path, module: str, line: str) -> None:
    """In a scratch copy, one bad import makes the rule test fail."""
    copy = tmp_path / "devscode_nb"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    text = target.read_text(encoding="utf-8")
    if line.startswith(" "):
        text += "\n\ndef _sneaky() -> None:\n" + line + "\n"
    else:
        text += "\n" + line + "\n"
    target.write_text(text, encoding="utf-8")
    broken = violations(copy)
    assert len(broken) >= 1
    assert all(v.startswith(module + ":") for v in broken), broken


def test_the_ipython_layer_uses_the_cores_through_their_packages() -> None:
    """The layer above imports the few names each core exposes, not its internals."""
    for path in (PACKAGE / "ipython").glob("*.py"):
        for line, module in imported_modules(path, PACKAGE):
            for core in ("devscode_nb.telemetry", "devscode_nb.assistant"):
                if module.startswith(core + "."):
                    name = module[len(core) + 1 :]
                    exposed = importlib.import_module(core).__all__
                    assert name in exposed, f"{path.name}:{line} reaches into {module}"


def test_importing_the_cores_pulls_in_no_ipython() -> None:
    code = (
        "import sys, devscode_nb.telemetry, devscode_nb.assistant\n"
        "bad = [m for m in ('IPython', 'ipywidgets', 'posthog') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
