import numpy as np
import pytest

from codings import build, fit
from codings.metrics import align, pca_comparison, principal_angles


def test_principal_angles_known_answer():
    A = np.array([[1.0, 0], [0, 1], [0, 0]])
    t = np.radians(30)
    B = np.array([[1.0, 0], [0, np.cos(t)], [0, np.sin(t)]])
    assert np.allclose(principal_angles(A, B), [0.0, 30.0], atol=1e-6)
    assert np.allclose(principal_angles(A, A @ np.array([[2.0, 1], [0, 3]])), 0, atol=1e-6)


def test_align_recovers_an_affine_map(rng):
    Z = rng.normal(size=(50, 2))
    T = Z @ np.array([[0.0, 2], [-1, 0]]) + 3
    assert np.allclose(align(Z, T), T)


def test_linear_autoencoder_finds_the_pca_subspace(rng):
    # A known spectrum (3 > 2 > 1.5 > 0.5 > ...) in a random rotation of 6 dimensions.
    X = rng.normal(size=(300, 6)) * [3, 2, 1.5, 0.5, 0.3, 0.2]
    X = (X @ np.linalg.qr(rng.normal(size=(6, 6)))[0]).astype(np.float32)
    m = build("linear", n_features=6, latent_dim=3, seed=0)
    fit(m, X, epochs=500, batch_size=300, lr=3e-2, seed=0)
    r = pca_comparison(m, X, 3)
    assert r["mse_ratio"] == pytest.approx(1.0, abs=1e-3)
    assert r["max_principal_angle_deg"] < 0.5
    assert r["ae_explained_variance"] == pytest.approx(r["pca_explained_variance"], abs=1e-3)


def test_encode_to_npy_refuses_complex_rows(tmp_path):
    from codings.metrics import encode_to_npy

    model = build("stacked", n_features=4, hidden=(2,))
    X = np.ones((3, 4), dtype=np.complex64)
    with pytest.raises(ValueError, match="complex numbers"):
        encode_to_npy(model, X, tmp_path / "z.npy")
    assert not list(tmp_path.iterdir())
