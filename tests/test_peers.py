"""The peer comparison's scripts (benchmarks/peers/): what they measure is what they say.

pyod and pythae live in their own environments (``make peers``); the tests that need one skip
elsewhere and run with that environment's Python (``.venv-pythae/bin/python -m pytest``).
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

PEERS = Path(__file__).parents[1] / "benchmarks" / "peers"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"peers_{name}", PEERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux /proc only")
def test_measured_reports_the_peak_memory_of_a_fit_that_freed_it():
    # In a fresh process, as the benchmark measures every detector: in a long-lived one the
    # allocator may serve the array from memory it already holds, and the peak cannot rise.
    import subprocess
    import sys

    code = f"""
import importlib.util, numpy as np
spec = importlib.util.spec_from_file_location("p", {str(PEERS / "pyod_anomaly.py")!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
def fit():
    a = np.ones(40 * 2**20 // 8)  # 40 MiB, touched, then freed before scoring
    return float(a.sum())
scores, fit_s, score_s, peak_mb = m.measured(fit, lambda total: [total, -total])
assert scores == [40 * 2**20 // 8, -(40 * 2**20 // 8)] and fit_s >= 0 and score_s >= 0
print(peak_mb)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 35 <= float(out.stdout) < 200


def test_the_table_shows_each_detector_with_its_means():
    pyod_anomaly = load("pyod_anomaly")
    suite = {
        "summary": [
            {"detector": "a", "roc_auc": 0.91234, "ap": 0.5, "fit_s": 12.34,
             "score_s": 0.123, "peak_mb": 7.6},
        ]
    }  # fmt: skip
    rows = pyod_anomaly.table(suite).splitlines()
    assert rows[2] == "| a | 0.9123 | 0.5000 | 12.3 | 0.12 | 8 |"


def test_pythae_trains_the_very_network_codings_evaluates():
    pytest.importorskip("pythae")
    from pythae.models import VAE, VAEConfig

    import codings

    pythae_vae = load("pythae_vae")
    model = codings.build("vae", n_features=12, hidden=[8], latent_dim=3, seed=0)
    enc, dec = pythae_vae.CodingsEncoder(model), pythae_vae.CodingsDecoder(model)
    peer = VAE(
        VAEConfig(input_dim=(12,), latent_dim=3, reconstruction_loss="bce"),
        encoder=enc,
        decoder=dec,
    )
    # The wrappers share the parameters: training pythae trains the codings model.
    assert {id(p) for p in peer.parameters()} == {id(p) for p in model.parameters()}
    x = torch.bernoulli(torch.full((5, 12), 0.3), generator=torch.Generator().manual_seed(1))
    from pythae.data.datasets import DatasetOutput

    torch.manual_seed(0)
    theirs = peer(DatasetOutput(data=x)).loss  # mean over the batch of (BCE sum + KL)
    torch.manual_seed(0)
    ours, _ = model.loss(x)  # the same noise draw: one randn_like of the same shape
    assert float(theirs) == pytest.approx(float(ours), rel=1e-4)


def test_dynamic_binarisation_draws_fresh_binary_images():
    pytest.importorskip("pythae")
    pythae_vae = load("pythae_vae")
    grey = torch.tensor([[0.0, 1.0, 0.5]]).repeat(4000, 1)
    data = pythae_vae.DynamicBinarized(grey, torch.zeros(len(grey)))
    torch.manual_seed(0)
    draws = torch.stack([data[i]["data"] for i in range(len(grey))])
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    assert draws[:, 0].sum() == 0 and draws[:, 1].sum() == len(grey)
    assert abs(float(draws[:, 2].mean()) - 0.5) < 0.03


# --- the floor: the training's matrix products and update alone ------------------------------


def test_floor_layers_of_the_compared_networks():
    floor = load("floor")
    assert floor.mlp_layers([784, 300, 150, 300, 784], 32) == [
        (784, 300, 32), (300, 150, 32), (150, 300, 32), (300, 784, 32)
    ]  # fmt: skip
    # a VAE: the encoder to mean and log-variance, the decoder on k draws per image
    assert floor.vae_layers(784, [500, 500], 20, 100, k=5) == [
        (784, 500, 100), (500, 500, 100), (500, 40, 100),
        (20, 500, 500), (500, 500, 500), (500, 784, 500),
    ]  # fmt: skip


def test_floor_does_the_matrix_products_of_an_autograd_training_step():
    """The floor's products are those torch counts for a real forward and backward of the same
    layers (the first layer's input is data: no gradient for it), no more and no fewer."""
    from torch.utils.flop_counter import FlopCounterMode

    floor = load("floor")
    layers = floor.mlp_layers([20, 12, 5, 12, 20], 8)
    net = torch.nn.Sequential(
        *[m for i, o, _ in layers for m in (torch.nn.Linear(i, o), torch.nn.ELU())]
    )
    x = torch.randn(8, 20)
    with FlopCounterMode(display=False) as real:
        net(x).square().sum().backward()
    matmuls, _ = floor.floor_step(layers)
    with FlopCounterMode(display=False) as ours:
        matmuls()
    assert ours.get_total_flops() == real.get_total_flops() == floor.flops(layers)
    times = floor.time_floor(layers, 3)
    assert times["floor_s"] == times["matmul_s"] + times["update_s"]


def test_floor_matmuls_compute_the_gradients_they_stand_for():
    floor = load("floor")
    layers = [(6, 4, 3), (4, 2, 3)]
    matmuls, update = floor.floor_step(layers, seed=1)
    matmuls()
    ws, xs, gs = matmuls.weights, matmuls.inputs, matmuls.out_grads
    for w, x, g in zip(ws, xs, gs, strict=True):  # (o, B) x (B, i): dL/dW of each layer
        assert torch.allclose(w.grad, g.t() @ x)
    assert xs[1].shape == (3, 4) and gs[1].shape == (3, 2)
    before = ws[0].detach().clone()
    update()
    assert not torch.equal(before, ws[0])  # the update moves the weights


# --- the speed rounds' table and codings with torch's own NAdam --------------------------------


def test_speed_table_lists_each_contender_with_pyods_time_over_it():
    pyod_anomaly = load("pyod_anomaly")
    sp = {
        "median_s": {"codings": 2.0, "pyod": 4.0, "codings (adam)": 1.5,
                     "codings (torch's NAdam)": 3.0, "floor": 1.0},
        "pyod_over_codings": 2.01, "pyod_over_codings_adam": 2.6,
        "pyod_over_codings_torch_nadam": 1.3, "pyod_over_floor": 4.2,
        "floor_matmul_s": 0.8, "floor_update_s": 0.2,
    }  # fmt: skip
    rows = pyod_anomaly.speed_table(sp).splitlines()
    assert rows[2] == "| codings | 2.00 | 2.01x |"
    assert rows[3] == "| pyod | 4.00 | 1.00x |"
    assert rows[6] == "| floor | 1.00 | 4.20x |"
    assert rows[7] == "| (floor: matrix products / fused Adam update) | 0.80 / 0.20 | |"


def test_the_unfused_contender_trains_with_torchs_nadam_and_puts_the_default_back():

    import codings.train as train
    from codings.optimizers import FusedNAdam

    pyod_anomaly = load("pyod_anomaly")
    X = np.random.default_rng(0).random((64, 10), dtype=np.float32)
    seen = []
    real = torch.optim.NAdam.step

    def step(self, *a, **k):
        seen.append(type(self))
        return real(self, *a, **k)

    torch.optim.NAdam.step = step
    try:
        kw = dict(hidden=(6, 3), epochs=2, random_state=0, device="cpu")
        unfused = pyod_anomaly.torch_nadam()(**kw).fit(X)
        assert seen and set(seen) == {torch.optim.NAdam}  # torch's step, torch's class
        seen.clear()
        foreach = pyod_anomaly.torch_nadam(foreach=True)(**kw).fit(X)
        assert seen and set(seen) == {torch.optim.NAdam}
        seen.clear()
        fused = pyod_anomaly.AutoencoderOutlierDetector(**kw).fit(X)
        assert not seen  # FusedNAdam's own step: torch's is never called
    finally:
        torch.optim.NAdam.step = real
    assert train.FusedNAdam is FusedNAdam
    # the same maths: the same scores within float32 rounding
    np.testing.assert_allclose(unfused.score_samples(X), fused.score_samples(X), rtol=1e-4)
    np.testing.assert_allclose(foreach.score_samples(X), fused.score_samples(X), rtol=1e-4)


# --- tables and series: pyod's detectors on the suites' own data ---------------------------------


def test_pyod_gets_the_rows_the_tables_baselines_get():
    pd = pytest.importorskip("pandas")

    ts = load("pyod_tables_series")
    df = pd.DataFrame(
        {"x": [1.0, 3.0, np.nan, 2.0], "c": pd.Series(["a", "b", "a", None], dtype=object)}
    )
    A = ts.numeric_rows(df)
    sd = np.std([1.0, 3.0, 2.0])
    expected = np.array(
        [[(1 - 2) / sd, 1, 0], [(3 - 2) / sd, 0, 1], [0, 1, 0], [0, 0, 0]]
    )  # a missing number at the mean (0), a missing category all zeros
    np.testing.assert_allclose(A, expected)


def test_tables_series_metrics_summary_and_table():

    ts = load("pyod_tables_series")
    m = ts.metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert m == {"roc_auc": 1.0, "ap": 1.0}
    m = ts.metrics(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4]))
    # ranked: 0.4 outlier, 0.3 inlier, 0.2 outlier: precision 1 and 2/3 at the two outliers
    assert m["roc_auc"] == 0.75 and m["ap"] == pytest.approx((1 + 2 / 3) / 2)
    # a detector whose scores are not finite (pyod's PCA on one-hot rows) fails, visibly
    m = ts.metrics(np.array([0, 1, 0, 1]), np.array([0.1, np.inf, np.nan, 0.4]))
    assert np.isnan(m["roc_auc"]) and np.isnan(m["ap"]) and m["nonfinite_scores"] == 2
    rows = [
        {"suite": "tables", "detector": "a", "roc_auc": 0.8, "ap": 0.4, "fit_s": 1.0,
         "score_s": 0.1},
        {"suite": "tables", "detector": "a", "roc_auc": 0.6, "ap": 0.2, "fit_s": 3.0,
         "score_s": 0.3},
        {"suite": "tables", "detector": "b", "roc_auc": 0.75, "ap": 0.5, "fit_s": 0.5,
         "score_s": 0.0},
        {"suite": "series", "detector": "a", "roc_auc": 0.9, "ap": 0.1, "fit_s": 2.0,
         "score_s": 0.2},
        {"suite": "tables", "detector": "c", "roc_auc": float("nan"), "ap": float("nan"),
         "fit_s": 0.1, "score_s": 0.1},
    ]  # fmt: skip
    summ = ts.summary(rows)
    assert [(s["suite"], s["detector"], s["runs"]) for s in summ] == [
        ("tables", "a", 2), ("tables", "b", 1), ("series", "a", 1), ("tables", "c", 1)
    ]  # fmt: skip
    assert summ[0]["roc_auc"] == pytest.approx(0.7) and summ[0]["fit_s"] == 2.0
    lines = ts.table(summ, "tables").splitlines()
    assert lines[2] == "| a | 0.700 | 0.300 | 2.00 | 0.20 |"
    assert lines[3] == "| b | **0.750** | 0.500 | 0.50 | 0.00 |"  # the best mean ROC AUC
    assert lines[4] == "| c | fails | fails | 0.10 | 0.10 |"
    assert len(lines) == 5  # the series row is not in the tables' table


def test_the_tables_run_reproduces_the_tables_suites_own_codings_numbers():
    """The peers' script imports the suite's data and corruption: its codings row on wine,
    seed 0, is the suite's own (the same detector at its defaults), to the last digit."""
    pytest.importorskip("pandas")
    ts = load("pyod_tables_series")
    (row,) = ts.table_runs(["wine"], [0], detectors=["codings"])  # pyod is not imported
    suite = ts.bench_module("tables")
    own = [
        r
        for r in suite.run_outliers("wine", suite.load_table("wine"), [0])
        if r["method"] == "codings"
    ]
    assert row["auc_swapped"] == own[0]["auc_swapped"]
    assert row["auc_extreme"] == own[0]["auc_extreme"]
    assert 0 < row["roc_auc"] < 1 and 0 < row["ap"] < 1


def test_the_series_run_reproduces_the_series_suites_own_codings_numbers():
    pytest.importorskip("pandas")
    import argparse

    ts = load("pyod_tables_series")
    (row,) = ts.series_runs(["KDD-TSAD_135"], 64, 0, detectors=["codings"])
    suite = ts.bench_module("series_anomaly")
    args = argparse.Namespace(window=64, seed=0, epochs=20, models="stacked:auto")
    own = suite.run_series("KDD-TSAD_135", args)["detectors"]
    (label,) = [k for k in own if k.startswith("codings stacked")]
    assert row["roc_auc"] == own[label]["roc_auc"]
    assert row["best_f1"] == own[label]["best_f1"]


def test_injected_segments_are_where_inject_puts_its_labels():
    ts = load("pyod_tables_series")
    suite = ts.bench_module("series_anomaly")
    X = np.random.default_rng(0).normal(size=(3000, 3)).astype(np.float32)
    _, y = suite.inject(X, 1500, seed=4)
    segments = suite.injected_segments(len(X), 1500)
    assert [k for k, _ in segments] == list(suite.KINDS)
    marked = np.zeros(len(X), dtype=bool)
    for _, seg in segments:
        marked[seg] = True
    assert np.array_equal(marked, y == 1)


def test_the_codings_window_error_row_shares_the_fit_and_spreads_window_errors():
    pytest.importorskip("pandas")
    ts = load("pyod_tables_series")
    step, window = ts.series_runs(
        ["KDD-TSAD_135"], 64, 0, detectors=["codings", "codings (window errors)"]
    )
    assert step["fit_s"] == window["fit_s"]  # one fit, timed once
    assert step["roc_auc"] != window["roc_auc"] or step["ap"] != window["ap"]
    assert not any(k.startswith("auc_") for k in step)  # a labelled anomaly: no kinds
    rows = [{"suite": "series", "data": "d", "detector": "x", "auc_spike": 0.5, "auc_level": 1}]
    assert ts.kinds_table(rows).splitlines()[2] == "| d | x | 0.500 | 1.000 |"


def test_fit_parts_times_every_part_of_the_same_training(monkeypatch):
    parts = load("fit_parts")
    monkeypatch.setattr(parts, "EPOCHS", 2)
    X = np.random.default_rng(0).random((70, 20)).astype(np.float32)  # 3 batches an epoch
    runs = parts.contenders(X)
    assert list(runs) == [
        "floor", "fused step only", "+ fused Adam", "+ FusedNAdam", "codings.fit", "detector"
    ]  # fmt: skip
    floor = runs["floor"]()
    assert floor["floor_s"] == floor["matmul_s"] + floor["update_s"] > 0
    for name in ("fused step only", "+ FusedNAdam"):
        runs[name]()
    assert len(runs["codings.fit"]()) == 2  # its history: two epochs
    assert len(runs["detector"]().history_) == 2
