"""Known answers for the windows over time series, the way back, and aeon's series."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from codings.series import (
    as_series,
    load_series,
    step_errors,
    unwindow,
    window_stack,
    window_starts,
)


def test_window_starts_known_answers_and_the_tail_rule():
    assert window_starts(5, 3, 1).tolist() == [0, 1, 2]
    assert window_starts(6, 3, 3).tolist() == [0, 3]  # (6 - 3) % 3 == 0: no extra window
    assert window_starts(7, 3, 3).tolist() == [0, 3, 4]  # the tail: one window ends at step 6
    assert window_starts(3, 3, 5).tolist() == [0]


def test_window_stack_on_a_tiny_series():
    x = np.arange(5, dtype=np.float32)
    W = window_stack(as_series(x), 3, 2)
    assert W.shape == (2, 3, 1)
    assert W[..., 0].tolist() == [[0, 1, 2], [2, 3, 4]]


def test_unwindow_means_over_the_covering_windows():
    # T=4, length 2, stride 1: windows [0,1], [1,2], [2,3]; step 1 is covered by windows 0 and 1.
    assert unwindow(np.array([1.0, 3.0, 5.0]), 4, 2).tolist() == [1.0, 2.0, 4.0, 5.0]
    per_step = np.array([[1.0, 2.0], [4.0, 6.0], [8.0, 10.0]])  # (n_windows, length)
    assert unwindow(per_step, 4, 2).tolist() == [1.0, 3.0, 7.0, 10.0]
    # The tail: T=5, length 2, stride 2 -> starts 0, 2, 3; step 3 from windows 1 and 2.
    assert unwindow(np.array([2.0, 4.0, 8.0]), 5, 2, stride=2).tolist() == [2, 2, 4, 6, 8]


@pytest.mark.parametrize("length,stride", [(1, 1), (4, 1), (4, 3), (7, 2), (10, 10)])
def test_unwindow_of_a_perfect_reconstruction_is_the_series(length, stride):
    rng = np.random.default_rng(length * 10 + stride)
    parts = [rng.normal(size=(10, 2)).astype(np.float32), rng.normal(size=(13, 2))]
    W = window_stack(as_series(parts), length, stride)
    back = unwindow(W, [10, 13], length, stride)
    for a, b in zip(parts, back, strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)


def test_several_series_never_share_a_window():
    a, b = np.zeros(4, np.float32), np.ones(5, np.float32)
    W = window_stack(as_series([a, b]), 3, 1)
    assert W.shape == (2 + 3, 3, 1)
    assert set(W[:2].ravel()) == {0.0} and set(W[2:].ravel()) == {1.0}


def test_step_errors_average_channels_then_windows():
    # 2 channels, windows of 2 steps, stride 1, over a 3-step series: windows [0,1] and [1,2].
    # Window 0: step 0 errors (1, 3) -> 2, step 1 (2, 4) -> 3; window 1: step 1 (6, 8) -> 7,
    # step 2 (0, 2) -> 1. Step 1 is covered twice: (3 + 7) / 2 = 5.
    err = np.array([[1.0, 3.0, 2.0, 4.0], [6.0, 8.0, 0.0, 2.0]])
    np.testing.assert_array_equal(step_errors(err, 2, 2), [[2.0, 3.0], [7.0, 1.0]])
    np.testing.assert_array_equal(step_errors(err, 2, 2, n_steps=3), [2.0, 5.0, 1.0])
    with pytest.raises(ValueError, match="rows of 4 values"):
        step_errors(err[:, :3], 2, 2)


def test_refusals_name_the_value_and_the_fix():
    with pytest.raises(ValueError, match=r"length=6 is longer than the series \(5 steps\)"):
        window_starts(5, 6)
    with pytest.raises(ValueError, match="stride=0 must be a whole number >= 1"):
        window_starts(5, 2, 0)
    with pytest.raises(ValueError, match="stride=-1"):
        window_starts(5, 2, -1)
    with pytest.raises(ValueError, match="length=2.5"):
        window_starts(5, 2.5)
    x = np.arange(6, dtype=float)
    x[3] = np.nan
    with pytest.raises(ValueError, match="nan at step 3, channel 0.*interpolate"):
        as_series(x)
    with pytest.raises(ValueError, match=r"series\[1\] has 2 channels but series\[0\] has 1"):
        as_series([np.zeros(4), np.zeros((4, 2))])
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\).*\(n, T, C\)"):
        as_series(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="3 windows of 2 steps"):
        unwindow(np.zeros(2), 4, 2)


def test_load_series_names_the_choices():
    with pytest.raises(ValueError, match="did you mean 'GunPoint'"):
        load_series("Gunpoint")


def test_kdd_tsad_135_from_aeon_files_matches_aeon():
    from aeon.datasets import load_kdd_tsad_135

    X, y = load_series("KDD-TSAD_135")
    Xa, ya = load_kdd_tsad_135()
    assert X.shape == (7501, 1) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:, 0], Xa.astype(np.float32))
    np.testing.assert_array_equal(y, ya)
    assert y.sum() == 12 and np.flatnonzero(y)[[0, -1]].tolist() == [4187, 4198]
    train, ytrain = load_series("KDD-TSAD_135", "train")
    assert train.shape == (1200, 1) and ytrain.sum() == 0
    np.testing.assert_array_equal(train, X[:1200])  # the normal start of the same series
    from aeon.datasets import load_basic_motions, load_gunpoint

    for ours, theirs in [
        (load_series("GunPoint", "test"), load_gunpoint(split="test")),
        (load_series("BasicMotions", "train"), load_basic_motions(split="train")),
    ]:
        np.testing.assert_allclose(ours[0], theirs[0].transpose(0, 2, 1), rtol=1e-6)  # (n, T, C)
        np.testing.assert_array_equal(np.char.lower(ours[1]), theirs[1])  # aeon lowercases


def test_daphnet_and_gunpoint_shapes():
    X, y = load_series("Daphnet_S06R02E0")
    assert X.shape == (7040, 9) and y.shape == (7040,) and y.sum() == 0  # no labelled episode
    with pytest.raises(ValueError, match="has the splits 'test'"):
        load_series("Daphnet_S06R02E0", "train")
    X, y = load_series("GunPoint", "train")
    assert X.shape == (50, 150, 1) and sorted(set(y)) == ["1", "2"]
    X, y = load_series("BasicMotions", "test")
    assert X.shape == (40, 100, 6) and len(y) == 40


def test_load_series_without_aeon_names_the_extra(monkeypatch):
    import codings.series as series

    monkeypatch.setattr(series, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install 'codings\[series\]'"):
        load_series("KDD-TSAD_135")


# --- the outlier detector on sequences -----------------------------------------------------------


def _sine(n: int, seed: int = 0, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] + 7 * np.arange(channels)
    return (np.sin(2 * np.pi * t / 25) + 0.05 * rng.normal(size=(n, channels))).astype(np.float32)


@pytest.fixture(scope="module")
def detector():
    from codings import AutoencoderOutlierDetector

    det = AutoencoderOutlierDetector(
        window=25, stride=2, hidden=(16,), latent_dim=3, epochs=15, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fit's findings on a tiny model are not tested here
        det.fit(_sine(600, channels=2))
    return det


def test_a_series_is_scored_as_its_windows(detector):
    test = _sine(300, seed=1, channels=2)
    W = window_stack(as_series(test), 25, 2)
    assert detector.sequence_shape_ == (25, 2) and detector.n_features_in_ == 2
    scores = detector.score_samples(test)
    np.testing.assert_array_equal(scores, detector.score_samples(W))  # windows cut by hand
    assert scores.shape == (len(window_starts(300, 25, 2)),)
    assert set(detector.predict(test)) <= {-1, 1}
    # Per step: the window's score is the mean of its steps'; the series' steps are unwindowed.
    steps = detector.score_steps(W)
    assert steps.shape == (len(W), 25)
    np.testing.assert_allclose(steps.mean(1), scores, rtol=1e-5)
    np.testing.assert_allclose(detector.score_steps(test), unwindow(steps, 300, 25, 2), rtol=1e-12)
    two = detector.score_steps([test, test[:100]])
    np.testing.assert_array_equal(two[0], detector.score_steps(test))
    assert two[1].shape == (100,)


def test_the_scaling_is_per_channel(detector):
    # Fitted on every step of the training windows: one mean per channel, repeated per step.
    W = window_stack(as_series(_sine(600, channels=2)), 25, 2)
    mean = detector.scaling_.mean.reshape(25, 2)
    np.testing.assert_allclose(mean, np.broadcast_to(W.reshape(-1, 2).mean(0), (25, 2)), atol=1e-6)


def test_an_injected_anomaly_has_the_lowest_step_scores(detector):
    test = _sine(400, seed=2, channels=2)
    test[200:215, 0] += 2.0  # a level shift on one channel
    steps = detector.score_steps(test)
    assert set(np.argsort(steps)[:10]) <= set(range(200, 215))
    assert detector.predict(test)[np.searchsorted(window_starts(400, 25, 2), 200)] == -1


def test_save_and_load_score_steps_bit_identically(detector, tmp_path):
    from codings import AutoencoderOutlierDetector

    detector.save(tmp_path / "d.safetensors")
    again = AutoencoderOutlierDetector.load(tmp_path / "d.safetensors")
    test = _sine(120, seed=3, channels=2)
    np.testing.assert_array_equal(again.score_steps(test), detector.score_steps(test))


def test_sequence_refusals(detector):
    from codings import AutoencoderOutlierDetector

    with pytest.raises(ValueError, match="X has 10 steps, fewer than window=25"):
        detector.score_samples(_sine(10, channels=2))
    with pytest.raises(ValueError, match=r"windows of 25 steps and 1 channels.*\(25, 2\)"):
        detector.score_samples(_sine(100))
    bad = _sine(100, channels=2)
    bad[40, 1] = np.nan
    with pytest.raises(ValueError, match="nan at step 40, channel 1"):
        detector.score_samples(bad)
    with pytest.raises(ValueError, match="stride=0 must be a whole number >= 1"):
        AutoencoderOutlierDetector(window=5, stride=0).fit(_sine(50))
    with pytest.raises(ValueError, match="X holds windows of 8 steps but window=5"):
        AutoencoderOutlierDetector(window=5).fit(np.zeros((4, 8, 1)))
    table = AutoencoderOutlierDetector(hidden=(2,), epochs=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch of a tiny model: its findings are not tested
        table.fit(_sine(50, channels=3))
    with pytest.raises(ValueError, match="score_steps needs a detector fitted on sequences"):
        table.score_steps(_sine(50, channels=3))


@pytest.mark.parametrize("model", ["recurrent", "conv1d"])
def test_sequence_models_get_the_windows_shape(model):
    from codings import AutoencoderOutlierDetector

    params = {"hidden": [4]} if model == "recurrent" else {}
    det = AutoencoderOutlierDetector(
        model, window=12, latent_dim=2, epochs=1, random_state=0, **params
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det.fit(_sine(60, channels=3))
    assert det.model_.sequence_shape == (12, 3)
    assert det.score_steps(_sine(40, channels=3)).shape == (40,)


def test_fitting_on_several_series_is_fitting_on_their_windows():
    from codings import AutoencoderOutlierDetector

    a, b = _sine(70, seed=4, channels=2), _sine(50, seed=5, channels=2)
    kw = {"hidden": (6,), "latent_dim": 2, "epochs": 2, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_series = AutoencoderOutlierDetector(window=10, stride=3, **kw).fit([a, b])
        on_windows = AutoencoderOutlierDetector(**kw).fit(window_stack([a, b], 10, 3))
    W = window_stack([b], 10, 3)
    np.testing.assert_array_equal(on_series.score_samples(W), on_windows.score_samples(W))
    assert on_series.offset_ == on_windows.offset_


def test_windows_refuse_what_cannot_be_cut():
    from codings.datasets import windows

    with pytest.raises(ValueError, match=r"length=9 is longer than the series \(8 steps\)"):
        windows(np.zeros(8), 9)
    with pytest.raises(ValueError, match="stride=0 must be a whole number >= 1"):
        windows(np.zeros(8), 4, 0)
    with pytest.raises(ValueError, match="inf at step 2, channel 1"):
        windows(np.array([[0, 0], [1, 1], [2, np.inf]]), 2)
    with pytest.raises(ValueError, match="scaling='zscore'"):
        windows(np.zeros(8), 4, scaling="zscore")
