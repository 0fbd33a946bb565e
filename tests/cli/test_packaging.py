"""What `pip install .` gives: the library and `lottery` work without the book's dependencies, and the
light commands do not import the heavy ones (issue 20: one room per layer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

#: A Python prelude that makes `yaml` (and the book's other dependencies) impossible to import, as in an
#: environment where only `pip install .` ran.
BLOCK = """
import sys
class _Blocked:
    names = ("yaml", "papermill", "nbformat", "jupytext", "jupyter_book")
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ImportError(f"{name} is not installed (blocked by the test)")
        return None
sys.meta_path.insert(0, _Blocked())
"""


def _python(code: str, *, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(SRC), "LOTTERY_PROGRESS": "0", **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ,
                          cwd=cwd or ROOT, timeout=600)


def test_importing_the_library_loads_no_book_dependency():
    proc = _python("import sys, concave_lottery, concave_lottery.runs.config, concave_lottery.cli\n"
                   "from concave_lottery.cli import build_parser\n"
                   "build_parser(['presets'])\n"
                   "print(sorted(m for m in ('yaml', 'papermill', 'nbformat', 'concave_lottery.book', 'torch', "
                   "'pandas') if m in sys.modules))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_lottery_results_loads_neither_torch_nor_pandas(tmp_path):
    """``lottery results`` on a folder answers from JSON alone (its table is plain text)."""
    proc = _python("import sys\nfrom concave_lottery.cli import main\n"
                   f"code = main(['results', {str(tmp_path)!r}])\n"
                   "print(code, sorted(m for m in ('torch', 'pandas', 'concave_lottery.book') if m in sys.modules))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "0 []"
    assert "no finished run under" in proc.stdout


def test_the_public_api_is_importable_from_the_top_level():
    proc = _python("import concave_lottery as cl\n"
                   "from concave_lottery import RunConfig, get_regularizer, run_lottery\n"
                   "print(all(getattr(cl, n) is not None for n in cl.__all__), RunConfig().run_name()[:4])")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "soft"]


def test_lottery_presets_works_without_yaml():
    proc = _python(BLOCK + "from concave_lottery.cli import main\nsys.exit(main(['presets']))")
    assert proc.returncode == 0, proc.stderr
    assert "lenet300-mnist" in proc.stdout and "resnet20-cifar10" in proc.stdout


@pytest.mark.skipif(not os.environ.get("LOTTERY_DATA_MIRROR") and not (ROOT / "data" / "MNIST").exists(),
                    reason="needs MNIST: set LOTTERY_DATA_MIRROR to a folder of the official files")
def test_a_tiny_lottery_run_works_without_yaml(tmp_path):
    proc = _python(BLOCK + "from concave_lottery.cli import main\n"
                   "sys.exit(main(['run', 'lenet300-mnist', 'rounds=1', 'epochs=1', 'train_subset=256', "
                   f"'test_subset=128', '--out', {str(tmp_path)!r}, '--device', 'cpu', '--quiet']))")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(Path(proc.stdout.strip().splitlines()[-1]).read_text())
    assert len(result["rounds"]) == 1 and 0.0 <= result["rounds"][0]["test_accuracy"] <= 1.0


def test_the_book_command_says_what_to_install_without_yaml():
    proc = _python(BLOCK + "from concave_lottery.cli import main\nsys.exit(main(['book', 'status']))")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "pip install" in proc.stderr and "[book]" in proc.stderr


def test_pyproject_declares_what_the_package_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip().lower()
             for dep in project["dependencies"]}
    assert {"torch", "torchvision", "numpy", "pandas", "tqdm", "matplotlib", "seaborn"} <= names
    extras = project["optional-dependencies"]
    assert any(dep.lower().startswith("pyyaml") for dep in extras["book"])
    assert any(dep.lower().startswith("papermill") for dep in extras["book"])
    assert any(dep.lower().startswith("pytest") for dep in extras["test"])
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for pattern in package_data["concave_lottery"]:  # no phantom package data
        assert list((SRC / "concave_lottery").glob(pattern)), pattern


def test_a_closed_pipe_ends_the_output_quietly():
    """`lottery presets | head -1`: no error paragraph when the reader stops early."""
    proc = subprocess.run(f"{sys.executable} -m concave_lottery.cli presets --keys | head -1", shell=True,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)}, cwd=ROOT,
                          timeout=120)
    assert proc.stdout.strip() == "lenet300-mnist"
    assert "error" not in proc.stderr.lower(), proc.stderr
