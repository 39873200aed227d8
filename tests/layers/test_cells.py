"""Cells and sequence layers: Keras parity, the fused path, masks, serialization, errors."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops
from keras.src import backend as keras_backend

from tfseq.layers import GRU, LSTM, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell, fused_ok

B, T, D, H = 4, 7, 5, 6

PAIRS = [
    ("lstm", LSTM, keras.layers.LSTM, {}),
    ("gru", GRU, keras.layers.GRU, {}),
    ("gru-reset-before", GRU, keras.layers.GRU, {"reset_after": False}),
    ("rnn", SimpleRNN, keras.layers.SimpleRNN, {}),
    ("rnn-relu", SimpleRNN, keras.layers.SimpleRNN, {"activation": "relu"}),
]


def right_padded_mask(lengths, steps=T):
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


MASKS = {
    "none": None,
    "right-padded": right_padded_mask([7, 5, 3, 1]),
    "arbitrary": np.array(
        [[1, 0, 1, 1, 0, 1, 0], [0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1], [0, 1, 0, 0, 0, 0, 1]],
        dtype=bool,
    ),
    "fully-masked-row": right_padded_mask([7, 0, 3, 2]),
}


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def run(layer, x, mask=None, initial_state=None, training=False):
    kwargs = {}
    if mask is not None:
        kwargs["mask"] = ops.convert_to_tensor(mask)
    if initial_state is not None:
        kwargs["initial_state"] = initial_state
    return [np.asarray(o) for o in as_list(layer(x, training=training, **kwargs))]


@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("name,ours,theirs,extra", PAIRS, ids=[p[0] for p in PAIRS])
def test_weights_move_both_ways_with_equal_outputs(name, ours, theirs, extra, go_backwards, mask_name, rng):
    x = rng.normal(size=(B, T, D)).astype("float32")
    mask = MASKS[mask_name]
    args = dict(return_sequences=True, return_state=True, go_backwards=go_backwards, **extra)
    a, b = ours(H, **args), theirs(H, **args)
    run(a, x), run(b, x)
    assert [w.shape for w in a.get_weights()] == [w.shape for w in b.get_weights()]
    # tfseq -> keras
    b.set_weights(a.get_weights())
    for got, want in zip(run(a, x, mask), run(b, x, mask)):
        np.testing.assert_allclose(got, want, atol=1e-5)
    # keras -> tfseq
    b.set_weights([w + 0.1 for w in b.get_weights()])
    a.set_weights(b.get_weights())
    for got, want in zip(run(a, x, mask), run(b, x, mask)):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_variables_have_keras_names_and_forget_bias():
    layer = LSTM(H)
    layer(np.zeros((1, 2, D), "float32"))
    names = [v.path.split("/")[-1] for v in layer.weights]
    assert names == ["kernel", "recurrent_kernel", "bias"]
    bias = np.asarray(layer.cell.bias)
    np.testing.assert_array_equal(bias[H : 2 * H], 1.0)
    np.testing.assert_array_equal(bias[:H], 0.0)


@pytest.mark.parametrize(
    "cell,kwargs,unroll,expected",
    [
        (LSTMCell, {}, False, True),
        (GRUCell, {}, False, True),
        (GRUCell, {"reset_after": False}, False, False),
        (LSTMCell, {"recurrent_dropout": 0.1}, False, False),
        (LSTMCell, {"dropout": 0.1}, False, True),
        (LSTMCell, {"activation": "relu"}, False, False),
        (LSTMCell, {"recurrent_activation": "hard_sigmoid"}, False, False),
        (LSTMCell, {"use_bias": False}, False, False),
        (LSTMCell, {}, True, False),
        (SimpleRNNCell, {}, False, False),
    ],
)
def test_fused_ok_decides_per_configuration(cell, kwargs, unroll, expected):
    assert fused_ok(cell(H, **kwargs), unroll=unroll) is expected


def reference_kernel(cell_class):
    """A stand-in for backend.lstm/gru on CPU: Keras' unmasked generic loop over the cell's math.

    TensorFlow has no fused kernel on a CPU, so this lets the CPU tests exercise the fused path's
    own logic (mask compaction, held state, output gather) against the masked generic loop."""
    from types import SimpleNamespace

    def kernel_fn(
        inputs,
        *states_and_mask,
        kernel,
        recurrent_kernel,
        bias,
        activation,
        recurrent_activation,
        return_sequences,
        go_backwards,
        unroll,
        **extra,
    ):
        *states, mask = states_and_mask
        assert mask is None, "fused kernels are always called without a mask"
        weights = SimpleNamespace(
            kernel=kernel,
            recurrent_kernel=recurrent_kernel,
            bias=bias,
            use_bias=True,
            units=recurrent_kernel.shape[0],
            activation=activation,
            recurrent_activation=recurrent_activation,
            reset_after=extra.get("reset_after"),
        )
        input_bias = bias[0] if cell_class is GRUCell else bias

        def step(x, s):
            return cell_class.step(weights, ops.matmul(x, kernel) + input_bias, list(s), recurrent_kernel)

        return keras_backend.rnn(
            step, inputs, list(states), go_backwards=go_backwards, return_all_outputs=return_sequences
        )

    return kernel_fn


@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("layer_class,kernel_name", [(LSTM, "lstm"), (GRU, "gru")])
def test_fused_path_matches_loop(layer_class, kernel_name, go_backwards, mask_name, rng, monkeypatch):
    cell_class = layer_class.cell_class
    monkeypatch.setattr(
        keras_backend,
        kernel_name,
        reference_kernel(cell_class),
    )
    x = rng.normal(size=(B, T, D)).astype("float32")
    h0 = [rng.normal(size=(B, H)).astype("float32") for _ in range(len(layer_class(H).state_size))]
    args = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    fused, loop = layer_class(H, **args), layer_class(H, use_cudnn=False, **args)
    run(fused, x), run(loop, x)
    loop.set_weights(fused.get_weights())
    calls = []
    original = fused.fused_loop
    monkeypatch.setattr(fused, "fused_loop", lambda *a: calls.append(1) or original(*a))
    mask = MASKS[mask_name]
    for got, want in zip(run(fused, x, mask, h0), run(loop, x, mask, h0)):
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert calls, "the fused path was not taken"

    # Gradients through the held state match too (no leak through padded steps).
    import tensorflow as tf

    def grads(layer):
        with tf.GradientTape() as tape:
            out = run_tensors(layer, x, mask, h0)
            loss = sum(tf.reduce_sum(o * o) for o in out)
        return [g.numpy() for g in tape.gradient(loss, layer.trainable_variables)]

    for got, want in zip(grads(fused), grads(loop)):
        np.testing.assert_allclose(got, want, atol=1e-4)


def run_tensors(layer, x, mask, h0):
    kwargs = {"initial_state": h0}
    if mask is not None:
        kwargs["mask"] = ops.convert_to_tensor(mask)
    return as_list(layer(x, **kwargs))


def test_embedding_mask_and_stacked_bidirectional(rng):
    tokens = np.array([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0]])
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 8, mask_zero=True)(inputs)
    x = keras.layers.Bidirectional(LSTM(6, return_sequences=True))(x)
    x = keras.layers.Bidirectional(GRU(5))(x)
    model = keras.Model(inputs, x)
    out = model.predict(tokens, verbose=0)
    assert out.shape == (2, 10)
    # Padding does not change the answer: the same tokens with more padding give the same output.
    longer = np.pad(tokens, ((0, 0), (0, 3)))
    np.testing.assert_allclose(model.predict(longer, verbose=0), out, atol=1e-5)


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_dropout_unroll_and_stateful(layer_class, rng):
    x = rng.normal(size=(2, 5, D)).astype("float32")
    layer = layer_class(H, dropout=0.5, recurrent_dropout=0.5, seed=1)
    inference = run(layer, x)[0]
    np.testing.assert_allclose(run(layer, x)[0], inference)  # no dropout at inference
    assert not np.allclose(run(layer, x, training=True)[0], inference)

    unrolled = layer_class(H, unroll=True)
    looped = layer_class(H, use_cudnn=False)
    run(unrolled, x), run(looped, x)
    looped.set_weights(unrolled.get_weights())
    np.testing.assert_allclose(run(unrolled, x)[0], run(looped, x)[0], atol=1e-5)

    stateful = layer_class(H, stateful=True)
    whole = layer_class(H)
    run(stateful, x[:, :2]), run(whole, x)
    whole.set_weights(stateful.get_weights())
    stateful.reset_state()
    run(stateful, x[:, :2])
    np.testing.assert_allclose(run(stateful, x[:, 2:])[0], run(whole, x)[0], atol=1e-5)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_weight_dropout_drops_recurrent_weights_once_per_batch(layer_class, fused, rng, monkeypatch):
    import tensorflow as tf

    if fused:
        if layer_class is SimpleRNN:
            pytest.skip("no fused kernel for the simple RNN")
        monkeypatch.setattr(
            keras_backend, layer_class.cell_class.fused_kernel, reference_kernel(layer_class.cell_class)
        )
    x = rng.normal(size=(B, T, D)).astype("float32")
    mask = ops.convert_to_tensor(MASKS["arbitrary"])
    dropped, plain = layer_class(H, weight_dropout=0.5, seed=3), layer_class(H)
    run(dropped, x), run(plain, x)
    plain.set_weights(dropped.get_weights())
    np.testing.assert_allclose(
        run(dropped, x, MASKS["arbitrary"])[0], run(plain, x, MASKS["arbitrary"])[0], atol=1e-6
    )  # inference drops nothing

    def recurrent_gradient(layer):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, mask=mask, training=True) ** 2)
        return tape.gradient(loss, layer.cell.recurrent_kernel).numpy()

    # One mask for the whole batch and every step: a dropped weight gets no gradient at all.
    zeros = np.mean(recurrent_gradient(dropped) == 0)
    assert 0.3 < zeros < 0.7 and np.mean(recurrent_gradient(plain) == 0) < 0.05
    assert dropped.get_config()["weight_dropout"] == 0.5
    assert layer_class.from_config(dropped.get_config()).cell.weight_dropout == 0.5
    with pytest.raises(ValueError, match="weight_dropout"):
        layer_class(H, weight_dropout=1.0)


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_keras_file_round_trip(layer_class, tmp_path, rng):
    inputs = keras.Input((None, D))
    outputs = keras.layers.Bidirectional(layer_class(H, return_sequences=True, dropout=0.1))(inputs)
    outputs = layer_class(H, go_backwards=True)(outputs)
    model = keras.Model(inputs, outputs)
    x = rng.normal(size=(3, 4, D)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(restored.layers[-1]) is layer_class
    config = layer_class(H, activation="relu", recurrent_dropout=0.2).get_config()
    assert layer_class.from_config(config).get_config() == config


def test_cells_work_inside_keras_rnn(rng):
    x = rng.normal(size=(2, 5, D)).astype("float32")
    for ours, theirs in [
        (LSTMCell, keras.layers.LSTMCell),
        (GRUCell, keras.layers.GRUCell),
        (SimpleRNNCell, keras.layers.SimpleRNNCell),
    ]:
        a, b = keras.layers.RNN(ours(H)), keras.layers.RNN(theirs(H))
        a(x), b(x)
        b.set_weights(a.get_weights())
        np.testing.assert_allclose(np.asarray(a(x)), np.asarray(b(x)), atol=1e-5)


def test_bad_input_names_what_was_expected():
    with pytest.raises(ValueError, match=r"rank 3.*\(2, 5\)"):
        LSTM(H)(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match=r"initial_state\[1\].*\(batch=2, 6\).*\(2, 3\)"):
        LSTM(H)(
            np.zeros((2, 5, D), "float32"), initial_state=[np.zeros((2, H), "float32"), np.zeros((2, 3), "float32")]
        )
    with pytest.raises(ValueError, match=r"2 state.*received initial_state with 1"):
        LSTM(H)(np.zeros((2, 5, D), "float32"), initial_state=[np.zeros((2, H), "float32")])
    with pytest.raises(ValueError, match=r"activation='swish-ish'.*expected one of"):
        SimpleRNN(H, activation="swish-ish")
    with pytest.raises(ValueError, match=r"units must be a positive integer.*-3"):
        GRU(-3)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\).*1.5"):
        GRU(3, dropout=1.5)


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("layer_class", [LSTM, GRU])
def test_torch_conversion_matches_forward_and_gradients(layer_class, rng):
    torch = _torch()
    import tensorflow as tf

    from tfseq.layers import from_torch, to_torch

    x = rng.normal(size=(B, T, D)).astype("float32")
    layer = layer_class(H, return_sequences=True)
    run(layer, x)
    layer.set_weights([w + rng.normal(scale=0.1, size=w.shape).astype("float32") for w in layer.get_weights()])
    module = (torch.nn.LSTM if layer_class is LSTM else torch.nn.GRU)(D, H, batch_first=True)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch(layer).items()})

    xt = torch.from_numpy(x).requires_grad_(True)
    out_t, _ = module(xt)
    (out_t**2).sum().backward()
    xk = tf.Variable(x)
    with tf.GradientTape() as tape:
        out_k = layer(xk)
        loss = tf.reduce_sum(out_k**2)
    g_x, g_kernel, g_recurrent = tape.gradient(loss, [xk, layer.cell.kernel, layer.cell.recurrent_kernel])
    np.testing.assert_allclose(out_k.numpy(), out_t.detach().numpy(), atol=1e-4)
    np.testing.assert_allclose(g_x.numpy(), xt.grad.numpy(), atol=1e-4)
    torch_grads = from_torch(
        layer,
        {
            "weight_ih_l0": module.weight_ih_l0.grad,
            "weight_hh_l0": module.weight_hh_l0.grad,
            "bias_ih_l0": module.bias_ih_l0.grad,
            "bias_hh_l0": module.bias_hh_l0.grad,
        },
    )
    np.testing.assert_allclose(g_kernel.numpy(), torch_grads[0], atol=1e-4)
    np.testing.assert_allclose(g_recurrent.numpy(), torch_grads[1], atol=1e-4)
    # And back: torch -> tfseq reproduces the same weights.
    for got, want in zip(from_torch(layer, module.state_dict()), layer.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-6)


def _backend_available(name):
    module = {"torch": "torch", "jax": "jax"}[name]
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_forward_parity_under_another_backend(backend, tmp_path):
    if not _backend_available(backend):
        pytest.skip(f"{backend} is not installed")
    script = textwrap.dedent(
        """
        import keras, numpy as np
        from keras import ops
        from tfseq.layers import GRU, LSTM, SimpleRNN
        assert keras.backend.backend() == BACKEND
        rng = np.random.default_rng(0)
        x = rng.normal(size=(3, 6, 4)).astype("float32")
        mask = ops.convert_to_tensor(np.arange(6)[None] < np.array([[6], [4], [2]]))
        for ours, theirs in [(LSTM, keras.layers.LSTM), (GRU, keras.layers.GRU),
                             (SimpleRNN, keras.layers.SimpleRNN)]:
            for kwargs in [{}, {"go_backwards": True}]:
                for m in [None, mask]:
                    a = ours(5, return_sequences=True, return_state=True, **kwargs)
                    b = theirs(5, return_sequences=True, return_state=True, **kwargs)
                    a(x), b(x)
                    b.set_weights(a.get_weights())
                    for p, q in zip(a(x, mask=m), b(x, mask=m)):
                        np.testing.assert_allclose(ops.convert_to_numpy(p),
                                                   ops.convert_to_numpy(q), atol=1e-5)
        print("parity ok")
        """
    ).replace("BACKEND", repr(backend))
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "parity ok" in result.stdout


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("masked", [True, False])
def test_graph_with_static_batch_and_unknown_length(layer_class, masked, rng):
    # What Keras' predict/fit trace once input lengths vary: shape (B, None, D).
    import tensorflow as tf

    x = rng.normal(size=(2, 5, D)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool) if masked else np.ones((2, 5), bool)
    for go_backwards in (False, True):
        layer = layer_class(H, return_sequences=True, go_backwards=go_backwards, use_cudnn=False)
        eager = np.asarray(layer(x, mask=mask))
        traced = tf.function(
            lambda a, m: layer(a, mask=m),
            autograph=False,
            input_signature=[tf.TensorSpec((2, None, D)), tf.TensorSpec((2, None), tf.bool)],
        )
        np.testing.assert_allclose(traced(x, mask), eager, atol=1e-6)


def test_gpu_benchmark_script_smoke_runs_on_the_cpu():
    """benchmarks/gpu.sh --cpu: the GPU benchmark's code path (torch backend, path report) on
    tiny shapes, so the script is known to run when a GPU is lent."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    out = subprocess.run(
        ["bash", "benchmarks/gpu.sh", "--cpu"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    torch_section = out.stdout.split("== KERAS_BACKEND=torch", 1)[1].split("== KERAS_BACKEND=", 1)[0]
    rows = [line.split() for line in torch_section.splitlines() if line.startswith("(4, 6, 3, 5)")]
    assert len(rows) >= 6  # rnn, lstm, gru; unmasked and right-padded
    paths = {(row[4], row[5]): row[-1] for row in rows}
    # A right-padded mask keeps tfseq on the fused kernel; Keras' own layer falls back to its loop.
    assert paths[("lstm", "padded")] == "fused/loop" and paths[("gru", "padded")] == "fused/loop"
