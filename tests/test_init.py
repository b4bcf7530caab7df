"""``import codings`` stays light, and every public name still loads on first use."""

import json
import os
import subprocess
import sys
from pathlib import Path

import codings

HEAVY = ("torch", "sklearn", "matplotlib")


def fresh_python(code: str) -> str:
    """Run ``code`` in a new interpreter that imports this tree's codings; return its stdout."""
    src = str(Path(codings.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_codings_loads_neither_torch_nor_sklearn_nor_matplotlib():
    out = fresh_python(
        "import sys, json, codings\n"
        "print(json.dumps([m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY!r}]))"
    )
    assert json.loads(out) == []


def test_every_public_name_loads_on_first_use():
    out = fresh_python(
        "import json, codings\n"
        "from codings import *  # noqa\n"
        "print(json.dumps({n: type(getattr(codings, n)).__name__ for n in codings.__all__}))"
    )
    kinds = json.loads(out)
    assert set(kinds) == set(codings.__all__)
    assert kinds["fit"] == "function" and kinds["metrics"] == "module"
    assert kinds["AutoencoderTransformer"] == "type" and kinds["MODELS"] == "dict"
    assert set(codings.__all__) <= set(dir(codings))


def test_the_registry_is_complete_before_any_name_is_looked_up():
    # A fresh process that never imports the modules defining vae or classifier by hand.
    out = fresh_python(
        "import json\n"
        "from codings.models import build\n"
        "vae = type(build('vae', n_features=4, latent_dim=2)).__name__\n"
        "import codings\n"
        "print(json.dumps({'vae': vae, 'names': sorted(codings.MODELS)}))"
    )
    r = json.loads(out)
    assert r["vae"] == "VariationalAutoencoder"
    assert {"linear", "stacked", "denoising", "vae", "aae", "classifier"} <= set(r["names"])


def test_the_command_line_parses_and_fails_on_arguments_without_torch_or_numpy():
    # --help, `train --help` and argument errors (a bad number, an empty layer size) all exit
    # from the parser; none of them may wait for torch, or even numpy, to load.
    out = fresh_python(
        "import json, sys, contextlib, io\n"
        "from codings.cli import build_parser, main\n"
        "build_parser()\n"
        "codes = []\n"
        "for argv in (['--help'], ['train', '--help'], ['train', 'vae', '--epochs', 'x'],\n"
        "             ['train', 'vae', '--dataset', 'd', '--out', 'o', '--hidden', '3,,1']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), "
        "contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit as e:\n"
        "            codes.append(e.code)\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY + ('numpy',)!r}]\n"
        "print(json.dumps({'codes': codes, 'heavy': heavy}))"
    )
    assert json.loads(out) == {"codes": [0, 0, 2, 2], "heavy": []}


def test_every_module_imports_first_in_a_fresh_process():
    # Nothing imports the modules in a fixed order any more, so each one must import cleanly as
    # the first thing a program asks for (no circular-import error; ~1 s each).
    package = Path(codings.__file__).parent
    src = str(package.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    failed = []
    for module in sorted(p.stem for p in package.glob("*.py") if not p.stem.startswith("__")):
        line = f"import codings.{module}"
        done = subprocess.run(
            [sys.executable, "-c", line], capture_output=True, text=True, env=env, timeout=300
        )
        if done.returncode:
            failed.append(f"{line}: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    assert failed == []
