"""Time one forward+backward step of tfseq vs keras.layers vs torch.nn for each cell.

    python benchmarks/cells.py                      # TensorFlow backend, both shapes
    KERAS_BACKEND=torch python benchmarks/cells.py  # torch backend (cuDNN on a GPU)
    python benchmarks/cells.py --shapes small --repeats 5

Prints seconds (``--ms``: milliseconds) per step and the ratio tfseq / keras (and tfseq /
torch.nn where torch is installed). 'masked' rows feed a right-padded mask (lengths from T down
to T/2). ``--paths`` adds which path each layer ran: ``fused`` (the backend's fused kernel,
cuDNN on a GPU) or ``loop`` (the step-by-step loop). benchmarks/gpu.sh runs it on a GPU.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import tfseq.layers as tl  # noqa: E402

SHAPES = {"small": (64, 100, 128, 256), "large": (256, 200, 512, 1024), "tiny": (4, 6, 3, 5)}
CELLS = {
    "rnn": (tl.SimpleRNN, keras.layers.SimpleRNN, "RNN"),
    "lstm": (tl.LSTM, keras.layers.LSTM, "LSTM"),
    "gru": (tl.GRU, keras.layers.GRU, "GRU"),
}


PATHS = {}  # id(layer) -> "fused" once a fused kernel has returned for it


def record_paths():
    """Wrap Keras' fused kernels (which tfseq's layers call too) to note the layers they served."""
    from keras.src import backend as keras_backend

    for name in ("lstm", "gru"):
        kernel = getattr(keras_backend, name)

        def recorded(*args, _kernel=kernel, **kwargs):
            result = _kernel(*args, **kwargs)  # NotImplementedError: no fused kernel, the loop runs
            PATHS[CURRENT[0]] = "fused"
            return result

        setattr(keras_backend, name, recorded)


CURRENT = [None]  # the layer whose step is being traced or run


def keras_step_timer(layer, x, mask):
    """Seconds per forward+backward step of one layer, compiled as model.fit would."""
    backend = keras.backend.backend()
    layer(x[:2])
    variables = layer.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=False)
        def step(x, mask):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x, mask=mask, training=True))
            return tape.gradient(loss, [v.value for v in variables])

        call = lambda: [g.numpy() for g in step(x, mask)]  # noqa: E731
    elif backend == "torch":
        import torch

        def call():
            for v in variables:
                v.value.grad = None
            loss = layer(x, mask=mask, training=True).sum()
            loss.backward()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
    else:
        import jax

        def loss_fn(values, x, mask):
            out, _ = layer.stateless_call(values, fixed, x, mask=mask, training=True)
            return out.sum()

        grad = jax.jit(jax.grad(loss_fn))
        values = [v.value for v in variables]
        fixed = [v.value for v in layer.non_trainable_variables]  # e.g. a dropout seed's state
        call = lambda: jax.block_until_ready(grad(values, x, mask))  # noqa: E731

    def traced():
        CURRENT[0] = id(layer)
        return call()

    return traced


def torch_step_timer(kind, x, lengths):
    import torch

    b, t, d = x.shape
    device = "cuda" if torch.cuda.is_available() else "cpu"
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        d, ARGS.units, batch_first=True
    ).to(device)
    xt = torch.from_numpy(ops.convert_to_numpy(x)).to(device)  # x may live on the GPU

    def call():
        module.zero_grad()
        out, _ = module(xt)
        out.sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()

    return call


def interleaved(calls, repeats):
    """Median seconds of each call, timed in turn (A B C A B C ...) so that a slow spell of a
    shared machine hits every contender alike instead of skewing one side's median."""
    for call in calls:  # compile / warm up
        call()
        call()
    times = [[] for _ in calls]
    for _ in range(repeats):
        for call, spent in zip(calls, times):
            start = time.perf_counter()
            call()
            spent.append(time.perf_counter() - start)
    return [float(np.median(spent)) for spent in times]


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--masked", action="store_true", help="also time a right-padded mask")
    parser.add_argument("--ms", action="store_true", help="milliseconds instead of seconds")
    parser.add_argument("--paths", action="store_true", help="show which path (fused or loop) each layer ran")
    ARGS = parser.parse_args()
    if ARGS.paths:
        record_paths()
    scale, unit = (1000.0, "ms") if ARGS.ms else (1.0, "s")
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
    print(
        f"backend={keras.backend.backend()}  keras={keras.__version__}  torch.nn peer={'yes' if have_torch else 'no'}"
    )
    print(
        f"{'shape (B,T,D,H)':<22}{'cell':<6}{'mask':<8}{'tfseq ' + unit:>10}{'keras ' + unit:>10}"
        f"{'torch ' + unit:>10}{'tfseq/keras':>13}{'tfseq/torch':>13}" + ("  paths (tfseq/keras)" if ARGS.paths else "")
    )
    rng = np.random.default_rng(0)
    for shape_name in ARGS.shapes:
        b, t, d, h = SHAPES[shape_name]
        ARGS.units = h
        x = ops.convert_to_tensor(rng.normal(size=(b, t, d)).astype("float32"))
        lengths = np.linspace(t, t // 2, b).astype(int)
        masks = [("none", None)]
        if ARGS.masked:
            masks.append(("padded", ops.convert_to_tensor(np.arange(t)[None] < lengths[:, None])))
        for kind in ARGS.cells:
            ours_cls, keras_cls, _ = CELLS[kind]
            for mask_name, mask in masks:
                layers = [ours_cls(h), keras_cls(h)]
                calls = [keras_step_timer(layer, x, mask) for layer in layers]
                if have_torch:  # torch.nn takes no mask: its unmasked time is the reference
                    calls.append(torch_step_timer(kind, x, lengths))
                ours, theirs, torch_s = (interleaved(calls, ARGS.repeats) + [float("nan")])[:3]
                paths = "/".join(PATHS.get(id(layer), "loop") for layer in layers)
                print(
                    f"{str((b, t, d, h)):<22}{kind:<6}{mask_name:<8}{ours * scale:>10.4f}{theirs * scale:>10.4f}"
                    f"{torch_s * scale:>10.4f}{ours / theirs:>12.2f}x{ours / torch_s:>12.2f}x"
                    + (f"  {paths}" if ARGS.paths else ""),
                    flush=True,
                )


if __name__ == "__main__":
    main()
