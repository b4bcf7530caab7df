"""The seed's layer-wise figure: a tied 784-300-150-300-784 autoencoder trained greedily on MNIST.

Source: the seed's book prints a test per-pixel MSE of 0.00979 for this run (layer-wise
training, no fine-tuning). The protocol is ``benchmarks/layerwise.py``, run once per seed
through its ``main`` (this script only repeats it over seeds and writes the common row):

* data: MNIST, 55,000 training images, the 10,000 test images; pixels in [0, 1].
* architecture: 784-300-150-300-784, ELU, He initialisation, tied weights, L2 weight 1e-4
  (codings' per-example scale).
* training: two greedy phases (``codings.pretrain_layerwise``) of ``--epochs`` epochs each
  (default 4), Adam lr 1e-3, batch 150; no fine-tuning.
* metric: test per-pixel MSE of the whole stack after the last phase.
* seeds 0, 1, 2.

Budget: 2 phases x 4 epochs per seed; measured 290 s per seed on this 2-core machine while
other jobs ran (benchmarks/results/layerwise.json), so about 15 min for three seeds.

    python benchmarks/reproduce/seed_layerwise.py              # full budget, seeds 0,1,2
    python benchmarks/reproduce/seed_layerwise.py --quick      # smoke run (5,000 images)
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def main(argv=None) -> int:
    args = C.finish_args(C.parser(__doc__, epochs=4).parse_args(argv), quick_train=5000)
    import torch

    bench = C.load_benchmark("layerwise.py")
    total = C.Timer()
    values, seconds, runs = [], [], []
    extra = {}
    for seed in args.seeds:
        timer = C.Timer()
        with tempfile.TemporaryDirectory() as tmp:
            bench_argv = ["--seed", str(seed), "--phase-epochs", str(args.epochs), "--out", tmp]
            bench_argv += ["--threads", str(torch.get_num_threads())]
            if args.data_dir:
                bench_argv += ["--data-dir", args.data_dir]
            if args.quick:
                bench_argv.append("--quick")
            bench.main(bench_argv)
            stem = "layerwise_quick" if args.quick else "layerwise"
            run = json.loads((Path(tmp) / f"{stem}.json").read_text())
            if seed == args.seeds[0]:
                suffix = ".quick" if args.quick else ""
                fig = Path(args.out) / f"seed_layerwise_reconstructions{suffix}.png"
                fig.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(Path(tmp) / f"{stem}_reconstructions.png", fig)
                extra["figure"] = C.rel(fig)
        values.append(run["test_mse_before_finetune"])
        seconds.append(timer())
        runs.append({k: v for k, v in run.items() if k != "history"})
    extra["per_seed"] = runs
    C.write_result(
        args,
        name="seed_layerwise",
        title="Layer-wise tied 784-300-150-300-784 (ELU), MNIST, no fine-tuning",
        paper="the seed's book (layer-wise training)",
        paper_value=0.00979,
        metric="test per-pixel MSE",
        values=values,
        seconds=total(),
        seconds_per_seed=seconds,
        script=__file__,
        argv=argv,
        budget=f"2 phases x {runs[0]['phase_epochs']} epochs, {runs[0]['n_train']:,} images, "
        "batch 150, Adam lr 1e-3",
        full_command="python benchmarks/reproduce/seed_layerwise.py",
        notes="runs benchmarks/layerwise.py once per seed",
        estimate="5 min per seed, 15 min for seeds 0,1,2 (measured: 290 s per seed)",
        extra=extra,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
