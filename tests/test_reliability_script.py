"""The reliability table's script runs its rows and exits 0 only when each is as wanted."""

import os
import subprocess
import sys
from pathlib import Path

import codings

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "reliability.py"


def test_the_reliability_script_tries_the_same_file_rows(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(codings.__file__).parents[1])}
    out = tmp_path / "table.md"
    cmd = [sys.executable, SCRIPT, "--only", "3", "--out", out]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| 3")]
    assert len(rows) == 2 and all("bytes, mtime, mode unchanged" in r for r in rows)
    assert all(r.endswith("| yes |") for r in rows)
    assert "every outcome as the issue wants" in out.read_text()
