"""The package's architecture: every module placed in a layer, no import circle, a light import.

`make lint` runs the layer contract itself (lint-imports, configured in pyproject.toml); these
tests keep the contract complete and check what it cannot: cycles through function-level
imports, and which third-party libraries an import pulls in.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "codings"


def _contract_layers() -> list[list[str]]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = config["tool"]["importlinter"]["contracts"]
    assert contract["type"] == "layers" and contract["containers"] == ["codings"]
    return [[m.strip() for m in layer.split("|")] for layer in contract["layers"]]


def test_every_module_of_the_package_has_a_layer():
    listed = [m for layer in _contract_layers() for m in layer]
    assert len(listed) == len(set(listed)), "a module is listed twice"
    present = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    present |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert present - set(listed) == set(), "place the new module in pyproject's layers"
    assert set(listed) - present == set(), "a listed module no longer exists"


def test_no_import_circle_even_through_imports_inside_functions():
    grimp = pytest.importorskip("grimp")  # installed with import-linter (the dev extra)
    graph = grimp.build_graph("codings")
    # A package's modules importing their parent's siblings is fine; a chain back is a circle.
    modules = sorted(m for m in graph.modules if m != "codings")
    circles = []
    for a in modules:
        for b in graph.find_modules_directly_imported_by(a):
            if b != "codings" and not b.startswith(a + ".") and graph.chain_exists(b, a):
                circles.append((a, b))
    assert circles == []


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {m.split(".")[0] for m in out.split()}


@pytest.mark.parametrize(
    "code",
    [
        "import codings",
        "import codings; codings.MODELS",  # every builder registered
        "import codings; m = codings.build('vae', n_features=8, hidden=(4,), latent_dim=2);"
        " import numpy as np; codings.fit(m, np.random.rand(16, 8), epochs=1, progress=False);"
        " X = np.random.rand(4, 8); codings.metrics.encode(m, X); codings.evaluate(m, X)",
        "import codings.tour",
        "import codings.cli",
    ],
)
def test_the_library_loads_neither_scikit_learn_nor_matplotlib_until_used(code):
    loaded = _modules_after(code)
    assert "sklearn" not in loaded and "matplotlib" not in loaded
