"""The thread policy: a pure function of work, CPUs, load and caps; set per call, restored after."""

import numpy as np
import pytest
import torch

import codings
from codings import threads
from codings.estimators import AutoencoderTransformer
from codings.metrics import encode
from codings.threads import environment_cap, policy, thread_count
from codings.train import evaluate, fit

BIG = 1e12  # operations per step: enough work for any number of threads


@pytest.fixture
def two_threads():
    """Start each test from 2 threads (the suite runs under OMP_NUM_THREADS=1) and put back."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def small_model():
    return codings.build("stacked", n_features=8, hidden=(6,), latent_dim=3, seed=0)


def X8(n=64):
    return np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)


# --- the pure policy --------------------------------------------------------------------------


def test_small_work_runs_on_one_thread():
    # A 64-64-32 autoencoder at batch 256: about 2e7 operations per training step.
    assert policy(2e7, cpus=8, load=0.0) == 1
    assert policy(0.0, cpus=8, load=0.0) == 1


def test_large_work_on_an_idle_machine_uses_the_free_cpus():
    assert policy(BIG, cpus=8, load=0.0) == 8
    assert policy(3.5 * threads.FLOPS_PER_THREAD, cpus=8, load=0.0) == 3


def test_a_load_that_fills_the_cores_gives_one_thread():
    assert policy(BIG, cpus=2, load=2.0) == 1
    assert policy(BIG, cpus=2, load=5.7) == 1
    assert policy(BIG, cpus=8, load=8.0) == 1
    # Part of the machine busy: this process may take what is left.
    assert policy(BIG, cpus=8, load=4.2) == 5  # 3.2 cores busy elsewhere, 4.8 free
    assert policy(BIG, cpus=8, load=4.6) == 4
    assert policy(BIG, cpus=2, load=0.5) == 2


def test_this_processs_own_load_is_not_counted_against_it():
    # A quiet 2-core machine while this process trains on 2 threads: the load is its own.
    assert policy(BIG, cpus=2, load=2.1, own=2.0) == 2
    assert policy(BIG, cpus=2, load=2.1, own=1.0) == 1
    # A busy machine stays busy whatever this process does.
    assert policy(BIG, cpus=2, load=6.0, own=2.0) == 1


def test_own_load_is_cpu_seconds_per_second(monkeypatch):
    monkeypatch.setattr(threads, "_samples", [])
    assert threads.own_load(3.0, now=100.0, cpu=5.0) == 1.0  # no window yet: one thread
    assert threads.own_load(0.4, now=100.1, cpu=5.0) == 0.4  # never more than the load
    assert threads.own_load(3.0, now=110.0, cpu=25.0) == pytest.approx(2.0)  # 20 s CPU in 10 s
    assert threads.own_load(3.0, now=130.0, cpu=25.0) == pytest.approx(20 / 30)
    # After a minute, the window starts at the newest sample at least a minute old.
    assert threads.own_load(3.0, now=175.0, cpu=25.0) == pytest.approx(0.0)


def test_a_cap_bounds_the_count():
    assert policy(BIG, cpus=8, load=0.0, cap=3) == 3
    assert policy(BIG, cpus=8, load=0.0, cap=0) == 1


def test_environment_cap_reads_what_joblib_sets():
    assert environment_cap({"OMP_NUM_THREADS": "3"}) == 3
    assert environment_cap({"OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "2"}) == 2
    assert environment_cap({"OMP_NUM_THREADS": ""}) is None
    assert environment_cap({"OMP_NUM_THREADS": "auto"}) is None
    assert environment_cap({}) is None


def test_the_environment_cap_applies_to_auto(monkeypatch, two_threads):
    monkeypatch.setattr(threads, "usable_cpus", lambda: 8)
    monkeypatch.setattr(threads, "load_average", lambda: 0.0)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.choose(None, BIG) == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    # Without a cap in the environment, auto still never exceeds torch's current count.
    assert threads.choose(None, BIG) == 2
    assert threads.choose(5) == 5  # an explicit count is taken as given


def test_joblib_workers_get_a_cap_the_policy_respects(monkeypatch):
    joblib = pytest.importorskip("joblib")
    # joblib gives each of n_jobs loky workers OMP_NUM_THREADS = cpu_count // n_jobs, unless
    # the parent's environment already has the variable.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    caps = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(environment_cap)() for _ in range(2)
    )
    expected = max(joblib.cpu_count() // 2, 1)
    assert caps == [expected, expected]
    assert policy(BIG, cpus=joblib.cpu_count(), load=0.0, cap=caps[0]) == expected


def test_bad_threads_are_refused():
    for bad in (0, -1, 1.5, "two", True):
        with pytest.raises(ValueError, match="threads="):
            threads.check(bad)
    with pytest.raises(ValueError, match="threads=0"):
        fit(small_model(), X8(), epochs=1, threads=0, device="cpu")


# --- set once per call and restored -----------------------------------------------------------


def test_thread_count_restores_after_an_exception(two_threads):
    with pytest.raises(RuntimeError), thread_count(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError
    assert torch.get_num_threads() == 2


def test_fit_honours_threads_and_restores_the_count(two_threads):
    seen = []
    record = lambda epoch, rec, model: seen.append(torch.get_num_threads())  # noqa: E731
    fit(small_model(), X8(), epochs=2, threads=1, callbacks=[record], device="cpu")
    assert seen == [1, 1]
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    fit(small_model(), X8(), epochs=1, threads=2, callbacks=[record], device="cpu")
    assert seen[-1] == 2
    assert torch.get_num_threads() == 1


def test_fit_auto_gives_small_models_one_thread(two_threads):
    seen = []
    record = lambda epoch, rec, model: seen.append(torch.get_num_threads())  # noqa: E731
    fit(small_model(), X8(), epochs=1, callbacks=[record], device="cpu")
    assert seen == [1]
    assert torch.get_num_threads() == 2


def test_fit_restores_the_count_after_an_exception(two_threads):
    def boom(epoch, rec, model):
        assert torch.get_num_threads() == 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(small_model(), X8(), epochs=3, threads=1, callbacks=[boom], device="cpu")
    assert torch.get_num_threads() == 2


def test_evaluate_inside_fit_keeps_fits_count(two_threads, monkeypatch):
    seen = []
    real = torch.Tensor.square

    def spy(t):
        seen.append(torch.get_num_threads())
        return real(t)

    # evaluate computes the squared error with Tensor.square; fit's step does not.
    monkeypatch.setattr(torch.Tensor, "square", spy)
    X = X8()
    fit(small_model(), X, X_val=X, epochs=1, threads=2, device="cpu")
    assert seen and set(seen) == {2}


def test_evaluate_and_encode_restore_the_count(two_threads):
    model = small_model()
    evaluate(model, X8(), threads=1)
    assert torch.get_num_threads() == 2
    encode(model, X8(), threads=1)
    assert torch.get_num_threads() == 2
    encode(model, X8())  # auto: a small model runs on one thread, then 2 again
    assert torch.get_num_threads() == 2


def test_estimator_threads_hold_in_fit_and_inference(two_threads, monkeypatch):
    seen = []
    real = threads.enter

    def spy(t=None, flops=0.0):
        state = real(t, flops)
        seen.append(torch.get_num_threads())
        return state

    monkeypatch.setattr(threads, "enter", spy)
    est = AutoencoderTransformer(hidden=(6,), latent_dim=3, epochs=1, threads=1, device="cpu")
    est.fit(X8()).transform(X8())
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="threads=0"):
        AutoencoderTransformer(epochs=1, threads=0).fit(X8())


# --- flush-denormal -----------------------------------------------------------------------------


def test_fit_puts_flush_denormal_back():
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush denormals")
    assert threads.flush_denormal_enabled() is False
    fit(small_model(), X8(), epochs=1, device="cpu")
    assert threads.flush_denormal_enabled() is False
    assert float(torch.tensor(1e-40) * 1) != 0.0
    torch.set_flush_denormal(True)
    try:
        fit(small_model(), X8(), epochs=1, device="cpu")
        assert threads.flush_denormal_enabled() is True
    finally:
        torch.set_flush_denormal(False)


# --- the command line -------------------------------------------------------------------------


def test_train_threads_flag_reaches_fit(capsys, tmp_path, monkeypatch, two_threads):
    from codings.cli import main

    asked = []
    real = threads.enter
    monkeypatch.setattr(threads, "enter", lambda t=None, f=0.0: asked.append(t) or real(t, f))
    argv = ["train", "stacked", "--dataset", "digits", "--hidden", "8", "--epochs", "1"]
    assert main([*argv, "--threads", "1", "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    assert 1 in asked
    assert torch.get_num_threads() == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:  # refused while parsing, before any work
        main([*argv, "--threads", "0", "--out", str(tmp_path / "b"), "--no-progress"])
    assert exit_.value.code == 2
    assert "argument --threads: at least 1 (got '0')" in capsys.readouterr().err
