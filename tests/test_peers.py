"""The peer comparison's scripts (benchmarks/peers/): what they measure is what they say.

pyod and pythae live in their own environments (``make peers``); the tests that need one skip
elsewhere and run with that environment's Python (``.venv-pythae/bin/python -m pytest``).
"""

import importlib.util
from pathlib import Path

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
