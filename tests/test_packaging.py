"""A wheel built from a clean checkout holds every subpackage and works on its own.

Built without build isolation (with the test environment's setuptools), installed into an empty
venv with only the runtime dependencies from the package index, then loaded into a real
``InteractiveShell`` there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("telemetry", "assistant", "assistant/providers", "ipython")


def clean_checkout(target: Path) -> Path:
    """What a clean clone would hold: the files git tracks (or would track), nothing built."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.split("\0")
        for name in filter(None, listed):
            source = ROOT / name
            if source.is_file():  # a file moved in the working tree is listed at its old path
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
        return target
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__"))
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    checkout = clean_checkout(base / "checkout")
    outdir = str(base / "dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", outdir],
        cwd=checkout, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # setuptools' warning that a license table stops building on 2027-02-18
    assert "license" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
    (built,) = (base / "dist").glob("devscode_nb-*.whl")
    return built


def test_the_wheel_holds_every_subpackage_and_its_metadata(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("", *SUBPACKAGES):
        assert f"devscode_nb/{package}/__init__.py".replace("//", "/") in names, package
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "devscode_nb").rglob("*.py")}
    assert sources <= set(names)
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text
    assert "Classifier: Framework :: IPython" in text
    assert "Classifier: Framework :: Jupyter" in text
    assert "Project-URL: Source," in text


LOAD = """
import sys
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
config = Config()
config.HistoryManager.hist_file = ":memory:"
shell = InteractiveShell.instance(config=config)
shell.run_line_magic("load_ext", "devscode_nb")
assert "devscode" in shell.magics_manager.magics["line"], "no %devscode"
assert "devscode" in shell.magics_manager.magics["cell"], "no %%devscode"
shell.run_line_magic("devscode", "version")
shell.run_line_magic("reload_ext", "devscode_nb")
shell.run_line_magic("unload_ext", "devscode_nb")
assert "devscode" not in shell.magics_manager.magics["line"]
import devscode_nb
print("loaded from", devscode_nb.__file__)
for absent in ("ipykernel", "nbclient", "pytest"):
    try:
        __import__(absent)
    except ImportError:
        continue
    raise SystemExit(absent + " is installed: not an empty venv")
"""


@pytest.mark.timeout(600)
def test_the_wheel_installs_alone_and_loads(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    run = subprocess.run(
        [str(python), "-c", LOAD], capture_output=True, text=True, cwd=tmp_path,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "DEVSCODE_TELEMETRY": "0"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert str(venv) in run.stdout
    assert "devscode_nb" in run.stdout
