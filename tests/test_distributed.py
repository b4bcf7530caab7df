"""Data-parallel training: two CPU processes (gloo, 127.0.0.1) against one process."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import codings

WORKER = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import torch.distributed as dist
    import codings
    import codings.checkpoint as ck

    out = sys.argv[1]
    rank = int(os.environ["RANK"])
    writes = []
    real = ck.atomic_write
    ck.atomic_write = lambda path, data: (writes.append(str(path)), real(path, data))
    dist.init_process_group("gloo")
    X = np.random.default_rng(0).random((96, 12), dtype=np.float32)
    m = codings.build("stacked", n_features=12, hidden=[8, 4], tied=True, seed=rank)
    h = codings.fit(m, X[:80], X_val=X[80:], epochs=3, batch_size=16, lr=1e-2, seed=0,
                    checkpoint=os.path.join(out, "state.safetensors"))
    if rank == 0:
        codings.save(m, os.path.join(out, "model.safetensors"))
    json.dump({"writes": writes, "history": h.records},
              open(os.path.join(out, f"rank{rank}.json"), "w"))
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args, cwd):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    (tmp_path / "worker.py").write_text(WORKER)
    r = _torchrun(str(tmp_path / "worker.py"), str(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    ddp = codings.load(tmp_path / "model.safetensors")

    X = np.random.default_rng(0).random((96, 12), dtype=np.float32)
    one = codings.build("stacked", n_features=12, hidden=[8, 4], tied=True, seed=0)
    h = codings.fit(one, X[:80], X_val=X[80:], epochs=3, batch_size=16, lr=1e-2, seed=0)
    # Same global batch of 16 = 2 x 8: the averaged gradients agree up to float rounding.
    for (k, a), b in zip(one.state_dict().items(), ddp.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), k
    assert not torch.equal(
        one.encoder[0][0].weight,
        codings.build("stacked", n_features=12, hidden=[8, 4], tied=True, seed=0)
        .encoder[0][0]
        .weight,
    )

    ranks = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in range(2)]
    # Only rank 0 wrote: three epoch checkpoints and the model, nothing from rank 1.
    assert ranks[0]["writes"] == [str(tmp_path / "state.safetensors")] * 3 + [
        str(tmp_path / "model.safetensors")
    ]
    assert ranks[1]["writes"] == []
    # Training losses are averaged across ranks, so both report the same history, and it
    # matches the single process up to rounding.
    for key in ("train_loss", "val_loss"):
        a = [r[key] for r in ranks[0]["history"]]
        assert a == [r[key] for r in ranks[1]["history"]]
        assert np.allclose(a, h[key], rtol=1e-4)


def test_torchrun_command_line_trains_and_only_rank_0_writes(tmp_path):
    out = tmp_path / "run"
    r = _torchrun(
        "-m",
        "codings",
        "train",
        "stacked",
        "--dataset",
        "digits",
        "--hidden",
        "16,4",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--out",
        str(out),
        "--no-progress",
        "--json",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    reports = [line for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == 1 and json.loads(reports[0])["epochs"] == 2
    assert (out / "model.safetensors").exists() and (out / "train_state.safetensors").exists()
    codings.load(out)


def test_batch_size_must_split_evenly(monkeypatch):
    monkeypatch.setattr(codings.train, "distributed_info", lambda: (0, 3))
    with pytest.raises(ValueError, match="divisible by the 3 processes"):
        codings.fit(
            codings.build("stacked", n_features=4, hidden=[2]),
            np.zeros((8, 4), np.float32),
            batch_size=16,
        )


def test_collectives_leave_no_tensor_held_by_gloo_threads(tmp_path):
    """After ``_released``, only the caller holds a collective's tensor: a gloo worker thread
    that still held one at interpreter exit could not take the GIL and aborted the process."""
    import time

    import torch.distributed as dist

    from codings.train import _released

    dist.init_process_group("gloo", init_method=(tmp_path / "store").as_uri(), rank=0, world_size=1)
    try:
        for i in range(50):
            flag = torch.tensor([float(i)])
            dist.broadcast(flag, 0)
            _released(flag)
            assert flag._use_count() == 1
            stacked = torch.arange(3.0)
            dist.all_reduce(stacked)
            _released(stacked)
            assert stacked._use_count() == 1
        # A reference the caller keeps elsewhere ends the wait at the bound, not never.
        view = flag.view(1)
        t0 = time.monotonic()
        _released(flag, timeout=0.05)
        assert flag._use_count() == 2 and time.monotonic() - t0 < 5
        del view
    finally:
        dist.destroy_process_group()
