"""The seed's stacked autoencoder: a tied 784-300-150-300-784 (ELU) trained end to end on MNIST.

Source: the seed's stacked autoencoder (the model ``benchmarks/train_speed.py`` times); the seed
prints no test number for it, so the row has no paper value and serves as the reference for
the layer-wise row (``seed_layerwise.py``), which trains the same network greedily.

* data: MNIST, 55,000 training images (the 5,000 validation images monitored), the 10,000 test
  images; pixels in [0, 1].
* architecture: ``codings.build("stacked", hidden=(300, 150), tied=True, l2=1e-4)``: ELU, He
  initialisation, tied decoder, L2 weight 1e-4 in codings' per-example scale.
* training: ``codings.fit`` end to end, ``--epochs`` epochs (default 10), Adam lr 1e-3,
  batch 150.
* metric: test per-pixel MSE.
* seeds 0, 1, 2.

Budget: 10 epochs per seed; about 35 s per epoch on this 2-core machine while other jobs ran
(half that idle), so about 6 min per seed and 15-20 min for three seeds.

    python benchmarks/reproduce/seed_stacked.py                # full budget, seeds 0,1,2
    python benchmarks/reproduce/seed_stacked.py --quick        # smoke run: 2,000 images, 1 epoch
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def main(argv=None) -> int:
    args = C.finish_args(C.parser(__doc__, epochs=10).parse_args(argv))
    import codings
    from codings.plots import reconstructions

    total = C.Timer()
    train, val, test = C.mnist(args)
    values, seconds, extra = [], [], {}
    for seed in args.seeds:
        timer = C.Timer()
        model = codings.build(
            "stacked", seed=seed, n_features=784, hidden=(300, 150), tied=True, l2=1e-4
        )
        codings.fit(
            model,
            train.X,
            X_val=val.X,
            epochs=args.epochs,
            batch_size=150,
            lr=1e-3,
            seed=seed,
            device=args.device,
        )
        values.append(codings.evaluate(model, test.X)["mse"])
        seconds.append(timer())
        if seed == args.seeds[0]:
            from codings.metrics import reconstruct

            suffix = ".quick" if args.quick else ""
            fig = reconstructions(
                test.X,
                reconstruct(model, test.X[:10]),
                (28, 28),
                Path(args.out) / f"seed_stacked_reconstructions{suffix}.png",
            )
            extra["figure"] = C.rel(fig)
    C.write_result(
        args,
        name="seed_stacked",
        title="Stacked tied 784-300-150-300-784 (ELU), end to end, MNIST",
        paper="the seed's stacked autoencoder (no printed number)",
        paper_value=None,
        metric="test per-pixel MSE",
        values=values,
        seconds=total(),
        seconds_per_seed=seconds,
        script=__file__,
        argv=argv,
        budget=f"{args.epochs} epochs, {len(train.X):,} images, batch 150, Adam lr 1e-3",
        full_command="python benchmarks/reproduce/seed_stacked.py",
        estimate="3-6 min per seed, 10-20 min for seeds 0,1,2",
        extra=extra,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
