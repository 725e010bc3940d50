"""The import graph keeps its layers (orchestration, publishing, store, recipe, steps, runtime, basics: each
imports only those below it) and has no cycles: import-linter's contracts in pyproject.toml, checked on this
package and, to show they can fail, on a copy of it with one import that breaks each."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint(package_parent: Path) -> subprocess.CompletedProcess:
    """lint-imports over the `refinery` package found first under `package_parent`."""
    return subprocess.run(
        [Path(sys.executable).parent / "lint-imports", "--config", ROOT / "pyproject.toml", "--no-cache"],
        cwd=package_parent,
        env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_graph_keeps_its_layers_and_has_no_cycles():
    linted = _lint(ROOT)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "2 kept, 0 broken" in linted.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        ("clean/stage.py", "from refinery.recipe import Recipe", "refinery.clean.stage -> refinery.recipe"),
        ("catalog.py", "from refinery.publish import stage", "refinery.catalog -> refinery.publish"),
        ("runtime/engine.py", "from refinery.runtime import shards", ".shards -> .engine"),
    ],
)
def test_an_import_up_a_layer_or_round_a_cycle_breaks_a_contract(tmp_path, module, bad_import, broken):
    shutil.copytree(ROOT / "refinery", tmp_path / "refinery", ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "refinery" / module, "a") as fh:
        fh.write(f"\n{bad_import}  # noqa\n")
    linted = _lint(tmp_path)
    assert linted.returncode == 1, linted.stdout
    assert broken in linted.stdout
