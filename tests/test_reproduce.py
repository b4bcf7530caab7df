"""The reproduction scripts' result files and the RESULTS.md generator."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPRODUCE = Path(__file__).resolve().parents[1] / "benchmarks" / "reproduce"
sys.path.insert(0, str(REPRODUCE))

import _common  # noqa: E402
import hinton2006  # noqa: E402
import make_results  # noqa: E402


def result(name, values, *, quick=False, paper_value=3.00, target=3.00, **kw):
    r = {
        "name": name,
        "title": f"title of {name}",
        "paper": "Someone 2006",
        "paper_value": paper_value,
        "metric": "error",
        "unit": "",
        "better": "lower",
        "target": target,
        **_common.summary(values),
        "seeds": list(range(len(values))),
        "values": values,
        "seconds": 9000.0,
        "command": f"python benchmarks/reproduce/{name}.py",
        "full_command": f"python benchmarks/reproduce/{name}.py",
        "budget": "200 epochs",
        "quick": quick,
    }
    r.update(kw)
    return r


def write(folder, r):
    path = folder / f"{r['name']}{'.quick' if r['quick'] else ''}.json"
    path.write_text(json.dumps(r))


def test_summary_is_mean_and_sample_std():
    s = _common.summary([1.0, 2.0, 3.0])
    assert s == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    assert _common.summary([4.0])["std"] == 0.0


def test_generator_rows_from_fake_result_files(tmp_path):
    write(tmp_path, result("hinton2006_autoencoder", [2.9, 3.0, 2.95]))
    # A smoke run of the same result must not replace the full run.
    write(tmp_path, result("hinton2006_autoencoder", [51.13], quick=True))
    write(
        tmp_path,
        result(
            "vincent2010_sdae",
            [1.4],
            quick=True,
            paper_value=1.28,
            target=1.28,
            unit="%",
            seconds=10.0,
        ),
    )
    write(tmp_path, result("vincent2010_sae", [1.5, 1.3, 1.4], paper_value=1.40, target=1.28))
    rows = make_results.load(tmp_path)
    assert [r["name"] for r in rows] == [
        "hinton2006_autoencoder",
        "vincent2010_sdae",
        "vincent2010_sae",
    ]
    page = make_results.render(rows)
    lines = page.splitlines()
    assert (
        "| title of hinton2006_autoencoder | Someone 2006 | error | 3.00 "
        "| 2.95 ± 0.05 (3 seeds, 2.90–3.00) | met (target 3.00) | 2.5 h "
        "| `python benchmarks/reproduce/hinton2006_autoencoder.py` |"
    ) in lines
    assert (
        "| title of vincent2010_sdae *(smoke run)* | Someone 2006 | error | 1.28 "
        "| 1.40 (1 seed) | **smoke run, not a result** | 10 s "
        "| `python benchmarks/reproduce/vincent2010_sdae.py` |"
    ) in lines
    # mean 1.40 against the target 1.28, lower is better: missed by 0.12
    assert "| 1.40 ± 0.1 (3 seeds, 1.30–1.50) | missed by 0.12 (target 1.28) |" in page
    assert "**1 of 3 rows are smoke runs**" in page
    assert "### title of vincent2010_sdae — smoke run, not a result" in page


def test_generator_judges_higher_is_better_and_reference_rows(tmp_path):
    acc = result("wta", [98.9, 98.7], paper_value=98.8, target=98.8, better="higher", unit="%")
    assert make_results.verdict(acc) == "met (target 98.80)"
    acc["mean"] = 98.5
    assert make_results.verdict(acc) == "missed by 0.3% (target 98.80)"
    ref = result("seed_stacked", [0.01], paper_value=None, target=None)
    assert make_results.verdict(ref) == "reference (no target)"
    assert "| — |" in make_results.row(ref)
    assert make_results.number(0.00979) == "0.00979"
    assert make_results.duration(59) == "59 s" and make_results.duration(600) == "10 min"


def test_generator_flags_a_run_with_fewer_epochs_than_the_full_budget(tmp_path):
    r = result("wta", [98.6, 98.4, 98.5], target=98.8, better="higher", epochs=10, full_epochs=30)
    r["command"] += " --epochs 10"
    assert make_results.verdict(r) == "missed by 0.3 (target 98.80); **10 of 30 epochs**"
    page = make_results.render([r])
    assert "- full budget: `python benchmarks/reproduce/wta.py`" in page
    full = result("wta", [98.9], target=98.8, better="higher", epochs=30, full_epochs=30)
    assert make_results.verdict(full) == "met (target 98.80)"
    assert "- full budget:" not in make_results.render([full])


def test_squared_error_per_image_and_exact_pca():
    X = np.zeros((2, 4))
    R = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]])
    assert hinton2006.squared_error_per_image(X, R) == pytest.approx((2.0 + 4.0) / 2)
    rng = np.random.default_rng(0)
    low_rank = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 20)) + 5.0  # rank 3 + offset
    R = hinton2006.pca_reconstruction(low_rank[:150], low_rank[150:], k=3)
    assert hinton2006.squared_error_per_image(low_rank[150:], R) < 1e-8


def test_quick_run_writes_a_marked_smoke_row(tmp_path, data_dir):
    argv = ["--quick", "--train-size", "300", "--test-size", "200", "--threads", "1"]
    argv += ["--pretrain-epochs", "1", "--data-dir", str(data_dir), "--out", str(tmp_path)]
    assert hinton2006.main(argv) == 0
    ae = json.loads((tmp_path / "hinton2006_autoencoder.quick.json").read_text())
    pca = json.loads((tmp_path / "hinton2006_pca.quick.json").read_text())
    assert not (tmp_path / "hinton2006_autoencoder.json").exists()  # never a full result
    for r in (ae, pca):
        assert set(_common.SCHEMA_KEYS) <= set(r)
        assert r["quick"] is True and r["seeds"] == [0] and len(r["values"]) == 1
        assert r["train_size"] == 300 and r["test_size"] == 200
    assert pca["deterministic"] and "(deterministic)" in make_results.spread(pca)
    # Squared error per image of 784 pixels in [0, 1]: finite, and PCA below an untrained net's
    assert 0 < pca["mean"] < ae["mean"] < 784
    assert Path(ae["extra"]["figure"]).exists()
    page = make_results.render(make_results.load(tmp_path))
    assert page.count("**smoke run, not a result**") == 2
