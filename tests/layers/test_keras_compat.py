"""tfseq's recurrent layers as a drop-in for Keras': every argument, config and file, both ways."""

import inspect

import keras
import numpy as np
import pytest

import tfseq.layers as tl

PAIRS = [(keras.layers.LSTM, tl.LSTM), (keras.layers.GRU, tl.GRU), (keras.layers.SimpleRNN, tl.SimpleRNN)]
CELL_PAIRS = [
    (keras.layers.LSTMCell, tl.LSTMCell),
    (keras.layers.GRUCell, tl.GRUCell),
    (keras.layers.SimpleRNNCell, tl.SimpleRNNCell),
]


def every_argument(keras_class):
    """A value other than the default for every argument keras_class takes (name, dtype included)."""
    args = dict(
        activation="relu",
        use_bias=True,
        kernel_initializer=keras.initializers.HeNormal(seed=1),
        recurrent_initializer=keras.initializers.Orthogonal(gain=0.5, seed=2),
        bias_initializer=keras.initializers.Constant(0.1),
        kernel_regularizer=keras.regularizers.L1(0.01),
        recurrent_regularizer=keras.regularizers.L2(0.02),
        bias_regularizer=keras.regularizers.L1L2(0.01, 0.02),
        kernel_constraint=keras.constraints.MaxNorm(2.0),
        recurrent_constraint=keras.constraints.UnitNorm(),
        bias_constraint=keras.constraints.NonNeg(),
        dropout=0.1,
        recurrent_dropout=0.2,
        seed=3,
        return_sequences=True,
        return_state=True,
        go_backwards=True,
        # Keras 3.15.1's own layers fail unroll=True with a mask under torch ('tuple' has no shape).
        unroll=keras.backend.backend() != "torch",
        zero_output_for_mask=True,
        name="recurrent",
        dtype="float64",
        trainable=False,
    )
    parameters = inspect.signature(keras_class).parameters
    if "activity_regularizer" in parameters:
        args["activity_regularizer"] = keras.regularizers.L2(0.03)
    if "recurrent_activation" in parameters:
        args["recurrent_activation"] = "hard_sigmoid"
    if "unit_forget_bias" in parameters:
        args["unit_forget_bias"] = False
    if "reset_after" in parameters:
        args["reset_after"] = False
    if "use_cudnn" in parameters:
        args["use_cudnn"] = False
    for name in ("return_sequences", "return_state", "go_backwards", "unroll", "zero_output_for_mask"):
        if name not in parameters and not issubclass(keras_class, keras.layers.RNN):
            args.pop(name)
    if issubclass(keras_class, keras.layers.Layer) and not issubclass(keras_class, keras.layers.RNN):
        args.pop("name"), args.pop("dtype"), args.pop("trainable")
    return args


numpy = keras.ops.convert_to_numpy


def outputs(layer, x, mask):
    result = layer(x, mask=mask)
    return [keras.ops.convert_to_numpy(part) for part in (result if isinstance(result, (list, tuple)) else [result])]


@pytest.fixture
def batch(rng):
    x = rng.normal(size=(3, 5, 4))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0]], bool)
    return x, mask


@pytest.mark.parametrize("keras_class,tfseq_class", PAIRS)
def test_every_keras_argument_round_trips_through_tfseq_and_back_with_the_same_outputs(keras_class, tfseq_class, batch):
    x, mask = batch
    original = keras_class(4, **every_argument(keras_class))
    config = original.get_config()
    ours = tfseq_class.from_config(config)
    ours_config = ours.get_config()
    assert {key: ours_config.get(key, "<missing>") for key in config} == config
    # What tfseq adds are arguments of Keras' own constructor that its config leaves out
    # (use_cudnn; SimpleRNN's seed), so Keras reads them back.
    assert set(ours_config) - set(config) <= set(inspect.signature(keras_class).parameters)
    assert ours.dtype == "float64" and not ours.trainable and ours.cell.kernel_constraint is not None
    back = keras_class.from_config(ours_config)
    assert back.get_config() == config
    expected = outputs(original, x, mask)
    for layer in (ours, back):
        layer.build(x.shape)
        layer.set_weights(original.get_weights())
        for got, want in zip(outputs(layer, x, mask), expected, strict=True):
            np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("keras_class,tfseq_class", CELL_PAIRS)
def test_every_keras_cell_argument_round_trips(keras_class, tfseq_class, rng):
    args = every_argument(keras_class)
    original = keras_class(4, **args)
    config = original.get_config()
    ours = tfseq_class.from_config(config)
    assert ours.get_config() == config
    assert keras_class.from_config(ours.get_config()).get_config() == config
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    rnn_keras, rnn_ours = keras.layers.RNN(original), keras.layers.RNN(ours)
    rnn_keras.build(x.shape), rnn_ours.build(x.shape)
    rnn_ours.set_weights(rnn_keras.get_weights())
    np.testing.assert_allclose(numpy(rnn_ours(x)), numpy(rnn_keras(x)), atol=1e-6)


def test_zero_output_for_mask_survives_a_keras_file(tmp_path, batch):
    x, mask = batch
    inputs = keras.Input((5, 4))
    layer = tl.LSTM(3, return_sequences=True, zero_output_for_mask=True)
    model = keras.Model(inputs, layer(keras.layers.Masking(0.0)(inputs)))
    x = x.astype("float32") * mask[..., None]
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[-1].zero_output_for_mask
    np.testing.assert_allclose(numpy(loaded(x)), numpy(model(x)), atol=1e-6)
    assert np.all(numpy(loaded(x))[~mask] == 0)


def test_legacy_arguments_load_implementation_and_use_fused():
    layer = tl.GRU.from_config({**tl.GRU(3).get_config(), "implementation": 0})
    assert layer.cell.implementation == 0
    assert tl.LSTM(3, implementation=1).cell.implementation == 1
    assert tl.LSTM(3, recurrent_dropout=0.1).cell.implementation == 1  # as Keras
    old = {**tl.LSTM(3).get_config(), "use_fused": False}
    old.pop("use_cudnn")
    assert tl.LSTM.from_config(old).use_cudnn is False  # configs written by tfseq 0.1
    assert tl.SimpleRNN.from_config({**tl.SimpleRNN(3).get_config(), "use_fused": True}).units == 3
    with pytest.raises(ValueError, match="implementation must be 0, 1 or 2"):
        tl.LSTM(3, implementation=5)
    with pytest.raises(ValueError, match="use_cudnn must be 'auto', True or False"):
        tl.GRU(3, use_cudnn="yes")
    assert not hasattr(tl.SimpleRNN(3), "use_cudnn")  # as Keras: SimpleRNN has no fused kernel


def test_use_cudnn_true_is_an_error_where_the_fused_kernel_cannot_run():
    x = np.zeros((2, 3, 4), "float32")
    with pytest.raises(ValueError, match=r"use_cudnn=True.*use_cudnn='auto'"):
        tl.LSTM(3, use_cudnn=True, activation="relu")(x)  # cuDNN needs tanh
    assert tl.LSTM(3, use_cudnn="auto", activation="relu")(x).shape == (2, 3)


def test_weight_dropout_is_written_only_when_set():
    assert "weight_dropout" not in tl.LSTM(3).get_config()
    config = tl.LSTM(3, weight_dropout=0.25).get_config()
    assert config["weight_dropout"] == 0.25 and tl.LSTM.from_config(config).cell.weight_dropout == 0.25


def test_constraints_are_applied_after_each_step(rng):
    x, y = rng.normal(size=(16, 4, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    layer = tl.GRU(
        2, kernel_constraint="non_neg", recurrent_constraint=keras.constraints.MaxNorm(0.5), bias_constraint="non_neg"
    )
    model = keras.Sequential([keras.Input((4, 3)), layer])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=2, verbose=0)
    kernel, recurrent, bias = (numpy(w) for w in layer.weights)
    assert kernel.min() >= 0 and bias.min() >= 0
    assert np.sqrt((recurrent**2).sum(axis=0)).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("cell_class", [tl.LSTMCell, tl.GRUCell, tl.SimpleRNNCell])
@pytest.mark.parametrize("rate", ["dropout", "recurrent_dropout", "weight_dropout"])
def test_cells_apply_dropout_inside_keras_rnn_and_stacked_cells(cell_class, rate, rng):
    x = rng.normal(size=(8, 6, 5)).astype("float32")
    for rnn in (
        keras.layers.RNN(cell_class(4, **{rate: 0.5}, seed=1)),
        keras.layers.RNN([cell_class(4, **{rate: 0.5}, seed=1), cell_class(3, seed=2)]),
    ):
        inference = numpy(rnn(x, training=False))
        np.testing.assert_allclose(numpy(rnn(x, training=False)), inference)  # no mask outside training
        training = numpy(rnn(x, training=True))
        assert np.abs(training - inference).max() > 1e-3, f"{rate} was not applied in training"


def test_a_cell_in_keras_rnn_draws_one_mask_per_sequence(rng):
    """Variational dropout: the same input mask at every step, as Keras' cells and tfseq's layers."""
    x = np.ones((4, 6, 8), "float32")
    cell = tl.SimpleRNNCell(
        8, dropout=0.5, kernel_initializer="identity", recurrent_initializer="zeros", activation="linear", seed=0
    )
    steps = numpy(keras.layers.RNN(cell, return_sequences=True)(x, training=True))
    assert np.all(steps == steps[:, :1, :])
    assert (steps == 0).any() and (steps != 0).any()


@pytest.mark.parametrize("tfseq_class", [tl.LSTM, tl.GRU, tl.SimpleRNN, tl.LSTMCell, tl.GRUCell, tl.SimpleRNNCell])
def test_public_layers_have_explicit_signatures_and_args_docstrings(tfseq_class):
    keras_class = getattr(keras.layers, tfseq_class.__name__)
    ours = inspect.signature(tfseq_class).parameters
    for name, parameter in inspect.signature(keras_class).parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        assert name in ours, f"{tfseq_class.__name__} lacks Keras' argument {name}"
        assert ours[name].default == parameter.default, name
        assert f"{name}:" in tfseq_class.__doc__ or f"{name}," in tfseq_class.__doc__, f"{name} not in Args:"
    assert "Args:" in tfseq_class.__doc__ and "weight_dropout" in ours


@pytest.mark.parametrize("keras_class,tfseq_class", PAIRS)
def test_keras_files_open_with_the_other_libraries_layers(keras_class, tfseq_class, tmp_path, rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            keras_class(4, return_sequences=True),
            keras.layers.Bidirectional(keras_class(2)),
            keras.layers.Dense(1),
        ]
    )
    model.compile("adam", "mse")
    model.fit(x, np.ones((2, 1)), epochs=1, verbose=0)  # an optimizer state to carry
    model.save(tmp_path / "keras.keras")
    ours = tl.load_model(tmp_path / "keras.keras")
    assert type(ours.layers[0]) is tfseq_class and type(ours.layers[1].forward_layer) is tfseq_class
    np.testing.assert_allclose(numpy(ours(x)), numpy(model(x)), atol=1e-6)
    assert int(numpy(ours.optimizer.iterations)) == 1
    ours.save(tmp_path / "tfseq.keras")
    back = tl.load_model(tmp_path / "tfseq.keras", into="keras")
    assert type(back.layers[0]) is keras_class and type(back.layers[1].backward_layer) is keras_class
    np.testing.assert_allclose(numpy(back(x)), numpy(model(x)), atol=1e-6)


def test_a_tfseq_only_argument_names_itself_when_opened_with_keras(tmp_path):
    model = keras.Sequential([keras.Input((5, 3)), tl.LSTM(4, weight_dropout=0.3, name="dropped")])
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="'dropped' uses weight_dropout=0.3, which Keras' layers do not have"):
        tl.load_model(tmp_path / "m.keras", into="keras")
    with pytest.raises(ValueError, match="expected a .keras file"):
        tl.load_model(tmp_path / "missing.h5")
