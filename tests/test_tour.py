import json
from pathlib import Path

from codings.cli import main


def test_the_tour_runs_every_step_and_writes_its_figures(tmp_path, capsys):
    assert main(["tour", "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = {(r["step"], r["measure"]): r["value"] for r in result["rows"]}
    assert rows[("linear AE vs PCA (iris)", "MSE ratio")] <= 1.01
    assert rows[("linear AE vs PCA (iris)", "max angle (deg)")] <= 1.0
    # The stacked autoencoder beats PCA with as many components on the digits.
    stacked = next(r for r in result["rows"] if r["step"].startswith("tied stacked AE"))
    assert stacked["value"] < float(stacked["reference"].split(":")[1])
    assert len(result["figures"]) >= 10
    for f in result["figures"]:
        assert Path(f).stat().st_size > 1000, f
