"""How many CPU threads torch gets for one call of ``fit``, ``evaluate`` or an inference verb.

torch starts with one intra-op thread per core. For small models that is a loss twice over:
a 64-64-32 autoencoder's matrix products are too small to split, so extra threads only add
synchronisation; and on a machine whose cores are already busy, OpenMP's threads spin-wait on
siblings the kernel has descheduled, which made such a model 10-20x slower with 2 threads than
with 1 on a loaded 2-core machine. So the policy gives one thread to small work and to a busy
machine, and more only to steps large enough to share and cores that are free.

The number is set once per call and the previous one restored afterwards; ``threads=<int>``
overrides the policy. Under joblib (``GridSearchCV(n_jobs=...)``) each worker process gets
``OMP_NUM_THREADS = cpus // n_jobs`` in its environment; the policy never goes above it, nor
above the count torch already has (a user's ``torch.set_num_threads(1)`` stays in force).
"""

from __future__ import annotations

import math
import numbers
import os
import time
from contextlib import contextmanager
from contextvars import ContextVar

#: Floating-point operations one step must have per thread before a further thread pays off.
#: A 64-64-32 autoencoder at batch 256 does about 2e7 per training step (1 thread); a
#: 784-300-150 one about 9e8 (2 threads where 2 cores are free).
FLOPS_PER_THREAD = 1e8

#: Environment variables that cap the threads of OpenMP, the BLAS libraries and joblib workers.
CAP_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def policy(
    flops: float,
    *,
    cpus: int,
    load: float,
    cap: int | None = None,
    own: float = 1.0,
    per_thread=FLOPS_PER_THREAD,
) -> int:
    """Threads for a step of ``flops`` operations on ``cpus`` usable CPUs at a ``load`` average.

    A pure function (every input is an argument): one thread for every ``per_thread``
    operations, no more than the CPUs that other processes leave free, and no more than ``cap``.
    ``own`` is this process's share of ``load`` (its threads that ran, on average): the rest,
    ``load - own``, is the other processes' load. So a load of ``cpus`` or more, with this
    process running one thread, leaves one.
    """
    by_work = max(1, int(flops // per_thread))
    others = max(0.0, load - own)
    free = max(1, math.floor(cpus - others + 0.5))  # a core less than half taken counts free
    n = min(by_work, free, max(1, cpus))
    if cap is not None:
        n = min(n, max(1, cap))
    return n


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under ``taskset`` or a cgroup)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def load_average() -> float:
    """The 1-minute load average (runnable tasks), 0.0 where the system does not report it."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


# (monotonic seconds, this process's CPU seconds) at import and at each call of own_load.
_samples: list[tuple[float, float]] = []


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def own_load(load: float, *, now: float | None = None, cpu: float | None = None) -> float:
    """This process's part of the 1-minute ``load``: its CPU seconds per second lately.

    A long training run keeps the load average at its own thread count; without this, the
    policy would read its own work as other work and give itself one thread on a free machine.
    The window reaches back up to a minute (the load average's time constant); a window under
    half a second, as in the first call right after import, counts this process as one running
    thread. Never more than ``load``.
    """
    now = time.monotonic() if now is None else now
    cpu = _cpu_seconds() if cpu is None else cpu
    while len(_samples) > 1 and _samples[1][0] <= now - 60.0:
        _samples.pop(0)  # keep one sample at least a minute old as the window's start
    start = _samples[0] if _samples else None
    if not _samples or now - _samples[-1][0] >= 1.0:  # at most one sample a second
        _samples.append((now, cpu))
    if start is None or now - start[0] < 0.5:
        rate = 1.0
    else:
        rate = (cpu - start[1]) / (now - start[0])
    return min(max(rate, 0.0), max(load, 0.0))


def environment_cap(environ=None) -> int | None:
    """The smallest positive whole number among ``CAP_VARIABLES`` (joblib sets them), or None."""
    environ = os.environ if environ is None else environ
    caps = []
    for name in CAP_VARIABLES:
        value = environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            caps.append(int(value))
    return min(caps) if caps else None


def step_flops(model, batch_size: int, *, training: bool = True) -> float:
    """Operations of one step: 2 per weight and row forward, 4 more for the backward pass."""
    params = sum(p.numel() for p in model.parameters() if p.requires_grad or not training)
    return (6.0 if training else 2.0) * params * batch_size


def choose(threads=None, flops: float = 0.0) -> int:
    """The thread count for ``threads`` (None or "auto": the policy; an int: that count)."""
    import torch

    check(threads)
    if threads is None or threads == "auto":
        cap = environment_cap()
        current = torch.get_num_threads()
        cap = current if cap is None else min(cap, current)
        load = load_average()
        return policy(flops, cpus=usable_cpus(), load=load, cap=cap, own=own_load(load))
    return int(threads)


def check(threads) -> None:
    """Raise a ValueError unless ``threads`` is None, "auto" or a positive whole number."""
    if threads is None or (isinstance(threads, str) and threads == "auto"):
        return
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise ValueError(
            f"threads={threads!r} must be a positive whole number, or None / 'auto' to choose "
            "from the work's size and the machine's load"
        )


# The count chosen by the outermost call in progress: a ``fit`` inside an estimator's ``fit``,
# or the ``evaluate`` inside ``fit``, keeps it rather than choosing again.
_chosen: ContextVar[int | None] = ContextVar("codings_threads", default=None)


def enter(threads=None, flops: float = 0.0) -> tuple:
    """Set torch's thread count for ``threads``; returns what :func:`restore` needs.

    With ``threads=None`` inside another call that has already chosen, the count stays as that
    call set it; an explicit count always applies.
    """
    import torch

    check(threads)
    previous = torch.get_num_threads()
    if threads in (None, "auto") and _chosen.get() is not None:
        n = previous
    else:
        n = choose(threads, flops)
    if n != previous:
        torch.set_num_threads(n)
    return previous, _chosen.set(n)


def restore(state: tuple) -> None:
    """Put back the thread count that :func:`enter` found."""
    import torch

    previous, token = state
    _chosen.reset(token)
    if torch.get_num_threads() != previous:
        torch.set_num_threads(previous)


@contextmanager
def thread_count(threads=None, flops: float = 0.0):
    """Run the block with :func:`choose`'s thread count; the previous count comes back after."""
    state = enter(threads, flops)
    try:
        yield
    finally:
        restore(state)


def flush_denormal_enabled() -> bool:
    """Whether the CPU flushes denormal floats to zero now (torch has no getter for it)."""
    import torch

    return bool(torch.tensor(1e-40) * 1 == 0)


_samples.append((time.monotonic(), _cpu_seconds()))
