"""The classifier on codings: a layer-wise pretrained encoder under a softmax head, trained on
1,000 labels (frozen codings, fine-tuned, or the same network from scratch); MNIST accuracy.

Source: the seed's unsupervised-pretraining figure (an encoder trained without labels helps a
classifier that has few), as ``benchmarks/pretraining.py`` establishes it; no published number,
so the rows have no paper value and compare the three modes with each other. The protocol is
``benchmarks/pretraining.py`` with one label count, run through its ``main``:

* data: MNIST; the autoencoder sees all 55,000 training images without labels; the classifier
  a seeded stratified subset of ``--labels`` (default 1,000) labelled training images,
  repeated to 2,000 rows per epoch; the 5,000 validation images for early stopping; the
  10,000 test images for the accuracy.
* autoencoder: tied 784-300-150-300-784, ELU, L2 1e-4, 4 epochs per layer-wise phase, seed 0
  (one autoencoder for all classifier seeds).
* classifier: 100-50-10 head, Adam lr 1e-3, batch 32, at most ``--epochs`` epochs (default 30),
  patience 4, then up to 3 epochs at lr 1e-4 (the script's own defaults).
* metric: test accuracy in %.
* seeds 0, 1, 2 (label subset, head initialisation, shuffling).

Budget: about 5 min for the autoencoder and 1-2 min per classifier on an idle 2-core CPU
(9 classifiers), so 15-25 min in all.

    python benchmarks/reproduce/seed_classifier.py             # full budget, seeds 0,1,2
    python benchmarks/reproduce/seed_classifier.py --quick     # smoke run (benchmark's --quick)
    python benchmarks/reproduce/seed_classifier.py --recipe denoising  # BENCHMARKS.md's 3b

``--recipe denoising`` pretrains a denoising autoencoder instead (masking noise 0.3 in every
phase, Bernoulli outer output, L2 0.0784, 8 epochs per phase) and puts dropout 0.3 in the head
of every mode: the recipe under which pretraining helps at 1,000 labels in BENCHMARKS.md. Its
rows are named ``seed_classifier_denoising_<mode>``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

MODES = ("frozen", "finetune", "scratch")
# --recipe denoising: BENCHMARKS.md's recipe 3b, under which pretraining pays at 1,000 labels.
RECIPES = {
    "plain": [],
    "denoising": [
        "--noise", "masking", "--noise-level", "0.3", "--ae-l2", "0.0784",
        "--ae-output", "bernoulli", "--phase-epochs", "8", "--dropout", "0.3",
    ],
}  # fmt: skip


def main(argv=None) -> int:
    p = C.parser(__doc__, epochs=30)
    p.add_argument("--labels", type=int, default=1000)
    p.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default="plain",
        help="plain: the benchmark's defaults; denoising: masking-noise autoencoder, dropout 0.3",
    )
    args = C.finish_args(p.parse_args(argv))
    bench = C.load_benchmark("pretraining.py")
    total = C.Timer()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pretraining.json"
        bench_argv = ["--labels", str(args.labels), "--seeds", ",".join(map(str, args.seeds))]
        bench_argv += ["--max-epochs-small", str(args.epochs), "--out", str(out)]
        bench_argv += RECIPES[args.recipe]
        if args.data_dir:
            bench_argv += ["--data-dir", args.data_dir]
        if args.quick:
            bench_argv.append("--quick")  # the benchmark's own smoke settings (2 label counts)
        bench.main(bench_argv)
        result = json.loads(out.read_text())
    seconds = total()
    runs = [r for r in result["runs"] if r["labels"] == args.labels]
    if not runs:
        raise SystemExit(
            f"--labels {args.labels}: the benchmark ran no classifier with that many labels "
            "(its --quick runs 100 and 1000); leave --labels at 1000 with --quick"
        )
    tag = "" if args.recipe == "plain" else f"{args.recipe}_"
    kind = "pretrained" if args.recipe == "plain" else f"{args.recipe} pretrained"
    for mode in MODES:
        mine = sorted((r for r in runs if r["mode"] == mode), key=lambda r: r["seed"])
        seeds_args = type(args)(**{**vars(args), "seeds": [r["seed"] for r in mine]})
        C.write_result(
            seeds_args,
            name=f"seed_classifier_{tag}{mode}",
            title=f"Classifier on a {kind} encoder, {args.labels:,} labels, {mode}, MNIST",
            paper="the seed's pretraining figure (no printed number)",
            paper_value=None,
            metric=f"MNIST test accuracy (%), {args.labels:,} labels",
            unit="%",
            better="higher",
            values=[100 * r["test_accuracy"] for r in mine],
            seconds=seconds,
            seconds_per_seed=[r["seconds"] for r in mine],
            script=__file__,
            argv=argv,
            budget=f"autoencoder {result.get('autoencoder_seconds', 0):.0f} s (shared by the "
            f"three modes), then at most {mine[0]['epochs']} epochs per classifier",
            full_command="python benchmarks/reproduce/seed_classifier.py"
            + ("" if args.recipe == "plain" else f" --recipe {args.recipe}"),
            notes="runs benchmarks/pretraining.py; the wall-clock covers all three modes",
            estimate="15-25 min for the three modes and seeds 0,1,2",
            extra={"per_seed": mine, "autoencoder_test_mse": result.get("autoencoder_test_mse")},
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
