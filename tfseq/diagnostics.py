"""Gradient-flow diagnostics: how much gradient backpropagation through time carries back.

The notes' vanishing/exploding gradient problem, measured: for a recurrent layer,
``||d h_T / d x_t||`` (the gradient of the last output with respect to the input t steps
earlier) shows how far back a loss at the end of a sequence can still teach the layer. A
vanilla RNN's falls geometrically with distance (it vanishes, or with large recurrent weights
explodes); LSTM and GRU gates keep paths along which it survives.

    python -m tfseq.diagnostics --cells rnn lstm gru --steps 100 --plot gradient_flow.png

Gradients need the backend's autodiff, so this module is an edge like export: it has a
TensorFlow and a torch path.
"""

from __future__ import annotations

import argparse

import keras
import numpy as np

from tfseq import choices


def gradient_flow(layer, steps: int = 100, batch: int = 16, features: int = 8, seed: int = 0) -> np.ndarray:
    """``||d h_T / d x_t||`` for ``t = 0 .. steps - 1``, the mean over a batch of random inputs.

    ``layer`` is a recurrent layer returning its last output (``return_sequences=False``), for
    example ``tfseq.layers.LSTM(32)``. The gradient of ``sum(h_T)`` is taken, so each entry is
    the norm of a row-sum of the Jacobian: a scale, comparable across steps and cells.
    """
    inputs = np.random.default_rng(seed).normal(size=(batch, steps, features)).astype("float32")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(layer(x))
        grads = tape.gradient(total, x).numpy()
    elif backend == "torch":
        import torch

        x = torch.tensor(inputs, requires_grad=True)
        layer(x).sum().backward()
        grads = x.grad.detach().cpu().numpy()
    elif backend == "jax":
        import jax

        layer(inputs)  # build
        variables = [v.value for v in layer.trainable_variables + layer.non_trainable_variables]

        def total(x):
            return layer.stateless_call(
                variables[: len(layer.trainable_variables)], variables[len(layer.trainable_variables) :], x
            )[0].sum()

        grads = np.asarray(jax.grad(total)(inputs))
    else:  # pragma: no cover
        raise NotImplementedError(f"gradient_flow has no path for the {backend!r} backend")
    return np.linalg.norm(grads, axis=-1).mean(axis=0)


def half_life(flow: np.ndarray) -> float:
    """Steps back from the end over which the gradient norm halves, from a log-linear fit over
    the last quarter to the start (``inf`` if it does not fall)."""
    distance = np.arange(len(flow))[::-1]  # 0 at the last step
    keep = (flow > 0) & (distance >= 1)
    slope = np.polyfit(distance[keep], np.log(flow[keep]), 1)[0]
    return float(np.log(0.5) / slope) if slope < 0 else float("inf")


def main(argv=None):
    from tfseq.layers import CELLS

    parser = argparse.ArgumentParser(prog="python -m tfseq.diagnostics", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", default=list(choices.CELLS), choices=sorted(CELLS))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--activations", nargs="+", default=["tanh"], help="for rnn: tanh relu sigmoid")
    parser.add_argument("--plot", help="save a PNG of gradient norm against distance")
    args = parser.parse_args(argv)
    rows = []
    for cell in args.cells:
        for activation in args.activations if cell == "rnn" else ["tanh"]:
            keras.utils.set_random_seed(0)
            layer = CELLS[cell](args.units, activation=activation)
            flow = gradient_flow(layer, steps=args.steps)
            rows.append((f"{cell}" + (f" ({activation})" if cell == "rnn" else ""), flow))
    print(f"||d h_T / d x_t|| at initialisation (units {args.units}, {args.steps} steps, mean of 16 sequences)")
    print("| layer | t = T | T - 10 | T - 50 | first step | halves every |")
    print("|---|---|---|---|---|---|")
    for name, flow in rows:
        at = [flow[-1], flow[-11] if len(flow) > 10 else np.nan, flow[-51] if len(flow) > 50 else np.nan, flow[0]]
        print(f"| {name} | " + " | ".join(f"{v:.3g}" for v in at) + f" | {half_life(flow):.1f} steps |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(6, 4))
        for name, flow in rows:
            axis.semilogy(np.arange(len(flow))[::-1], np.maximum(flow, 1e-30), label=name)
        axis.set_xlabel("steps back from the last output (T - t)")
        axis.set_ylabel("||d h_T / d x_t||")
        axis.set_title("Gradient flow through time at initialisation")
        axis.legend()
        figure.tight_layout()
        figure.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
