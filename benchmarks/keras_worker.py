"""Keras 3 on TensorFlow, timed the way ``train_speed.py`` times every contender.

Runs in the benchmark's own Keras environment (``make bench`` makes ``.venv-keras``; Keras and
TensorFlow are never dependencies of codings), as a child process of ``train_speed.py``:

    .venv-keras/bin/python benchmarks/keras_worker.py X.npy --batch-size 256 --epochs 2 [--xla]
    .venv-keras/bin/python benchmarks/keras_worker.py X.npy --batch-size 256 --serve [--xla]

The model is the seed's stacked autoencoder as a Keras user writes it: Dense layers with ELU
and He initialisation, a ``DenseTranspose`` layer for the tied decoder (the usual recipe),
Adam at 1e-3 and the mean squared error, ``model.fit`` on NumPy arrays with shuffling. One
warm-up epoch (graph tracing, XLA compilation), then ``--epochs`` timed epochs. Prints one JSON
line: the epoch times and the last training loss. With ``--serve`` it prints ``ready`` after
the warm-up, then trains one epoch for every line read from stdin and answers each with a JSON
line (the epoch time and loss), until stdin closes: ``train_speed.py`` interleaves its epochs
with the other contenders'.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help=".npy file of float32 rows")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--xla", action="store_true", help="compile the train step with XLA")
    p.add_argument("--serve", action="store_true", help="one epoch per line read from stdin")
    args = p.parse_args(argv)

    import keras
    import numpy as np
    from keras import layers, ops

    X = np.load(args.data)

    class DenseTranspose(layers.Layer):
        """The decoder layer that reuses an encoder Dense layer's kernel, transposed."""

        def __init__(self, dense, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.dense = dense
            self.activation = keras.activations.get(activation)

        def build(self, input_shape):
            self.bias = self.add_weight(
                name="bias", shape=(self.dense.kernel.shape[0],), initializer="zeros"
            )

        def call(self, inputs):
            z = ops.matmul(inputs, ops.transpose(self.dense.kernel))
            return self.activation(z + self.bias)

    keras.utils.set_random_seed(0)
    d1 = layers.Dense(300, activation="elu", kernel_initializer="he_normal")
    d2 = layers.Dense(150, activation="elu", kernel_initializer="he_normal")
    inputs = keras.Input((X.shape[1],))
    h = d2(d1(inputs))
    h = DenseTranspose(d2, activation="elu")(h)
    outputs = DenseTranspose(d1)(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=bool(args.xla))

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    timer = Timer()
    if args.serve:
        model.fit(X, X, batch_size=args.batch_size, epochs=1, shuffle=True, verbose=0)
        print("ready", flush=True)
        for _ in sys.stdin:
            hist = model.fit(
                X, X, batch_size=args.batch_size, epochs=1, shuffle=True, verbose=0,
                callbacks=[timer],
            )  # fmt: skip
            loss = float(hist.history["loss"][-1])
            print(json.dumps({"time": timer.times[-1], "loss": loss}), flush=True)
        return 0
    hist = model.fit(
        X,
        X,
        batch_size=args.batch_size,
        epochs=args.epochs + 1,
        shuffle=True,
        verbose=0,
        callbacks=[timer],
    )
    print(json.dumps({"times": timer.times[1:], "loss": float(hist.history["loss"][-1])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
