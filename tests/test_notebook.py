"""The chapter notebook: its paired source, its saved form, and the run that CI makes of it.

`make test` executes notebooks/autoencoders.ipynb itself (pytest --nbmake); these tests check
what that run relies on.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
IPYNB = NOTEBOOKS / "autoencoders.ipynb"
SOURCE = NOTEBOOKS / "autoencoders.py"


def _cells(nb: dict) -> list[tuple[str, str]]:
    return [
        (c["cell_type"], c["source"] if isinstance(c["source"], str) else "".join(c["source"]))
        for c in nb["cells"]
    ]


@pytest.fixture(scope="module")
def saved() -> dict:
    return json.loads(IPYNB.read_text(encoding="utf-8"))


def test_percent_source_and_notebook_hold_the_same_cells(saved):
    jupytext = pytest.importorskip("jupytext", reason="pip install -e '.[notebook]'")
    from_source = json.loads(jupytext.writes(jupytext.read(SOURCE), fmt="ipynb"))
    assert _cells(from_source) == _cells(saved), (
        "notebooks/autoencoders.py and .ipynb differ: run "
        "`jupytext --sync notebooks/autoencoders.py` after editing either"
    )


def test_notebook_is_saved_without_outputs(saved):
    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    assert code
    with_outputs = [i for i, c in enumerate(code) if c["outputs"] or c["execution_count"]]
    assert with_outputs == [], "clear the outputs (make notebook writes them to notebooks/out/)"


def test_notebook_is_quick_by_default_and_switches_by_one_variable(saved):
    first_code = next(src for kind, src in _cells(saved) if kind == "code")
    assert 'DATASET = "digits"' in first_code
    everything = "\n".join(src for kind, src in _cells(saved) if kind == "code")
    assert everything.count("load_dataset(DATASET") == 3  # train, validation, test


@pytest.mark.parametrize(
    "call",
    [
        'build("linear"',
        "metrics.align(",
        "tied=True",
        "pretrain_layerwise(",
        "train_classifier(",
        '"denoising"',
        '"sparse"',
        "mean_activations(",
        '"vae"',
        "interpolate(",
        "latent_plane(",
        '"contractive"',
        '"conv"',
        '"wta"',
        '"aae"',
        "sample_chain(",
    ],
)
def test_notebook_covers_the_chapter(saved, call):
    code = "\n".join(src for kind, src in _cells(saved) if kind == "code")
    assert call in code


def test_a_cell_that_raises_fails_the_ci_run(tmp_path):
    """The same command as `make test` (nbmake, a real kernel) fails on a raising cell."""
    pytest.importorskip("nbmake", reason="pip install -e '.[notebook]'")
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('broken cell ' + str(x))"),
    ]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--nbmake",
        "--nbmake-timeout=120",
        "-p",
        "no:cacheprovider",
    ]
    run = subprocess.run(
        [*cmd, str(path)], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "ValueError" in run.stdout and "broken cell 1" in run.stdout
    assert "1 failed" in run.stdout
