"""The shared machinery of tfseq's recurrent layers.

A *cell* holds the weights and the math of one time step; it never loops. It splits its step in
two, the input part and the recurrent part:

* ``project_inputs(x)`` -> ``x @ kernel + input_bias`` over any leading axes (the fused path
  projects the whole sequence at once; the generic loop one step at a time, which is faster
  under TensorFlow's while loop on a CPU),
* ``step(projected_t, states, recurrent_kernel, recurrent_mask)`` -> ``(output, new_states)``,
  the recurrent part (the kernel passed in: the cell's own, or its weight-dropped copy).

``cell.call(inputs, states)`` chains both, so every cell also works one step at a time inside
``keras.layers.RNN``.

A *sequence layer* (:class:`Recurrent`) runs a cell over time. It has two paths and one function,
:func:`fused_ok`, that picks between them:

* the **fused path** hands the whole sequence to the backend's fused kernel
  (``keras.src.backend.lstm/gru``: cuDNN on a GPU under TensorFlow, torch and JAX). Those kernels
  take no mask, so a masked batch is first *compacted*: each row's valid steps are moved to the
  front, and a constant extra input column marks the padded tail; the cell's ``hold_row`` (one
  extra kernel row) saturates the gates on that column so the carried state passes the padding
  unchanged (LSTM: forget=1, input=0; GRU: update=1). Outputs are then gathered back to their time
  positions. This is exact for any mask (right-padded, left-padded or holes) and either direction.
* the **loop path** runs ``step`` in Keras' generic ``backend.rnn`` loop over the pre-projected
  inputs; it handles everything (recurrent dropout, relu/other activations, unroll, no bias).

Both paths take ``weight_dropout`` (DropConnect on the recurrent kernel: Wan et al. 2013, the
weight drop of Merity et al. 2018's AWD-LSTM): in training, one mask over ``recurrent_kernel``
per batch, shared by every time step, so the recurrence stays one matrix and cuDNN still runs.

When a backend has no fused kernel for the arguments (for example TensorFlow on a CPU) it raises
``NotImplementedError`` and the loop path runs.
"""

from __future__ import annotations

import keras
from keras import ops
from keras.src import backend as keras_backend  # backend.rnn / lstm / gru: pinned keras 3.15
from keras.src import tree
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell  # Keras' cached masks

# Pre-activation added to a gate on masked steps: sigmoid(+-1e4) is exactly 1 or 0 in float16,
# bfloat16 and float32, so the state is carried bit for bit and no gradient leaks through.
HOLD = 1e4


def get_activation(value, argument: str):
    """``keras.activations.get`` with an error that names the argument."""
    try:
        return keras.activations.get(value)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Unknown {argument}={value!r}: expected one of 'tanh', 'relu', 'sigmoid' "
            "(or any keras.activations name or callable)."
        ) from error


def fused_ok(cell, unroll: bool = False) -> bool:
    """Whether a sequence layer may hand ``cell`` to the backend's fused (cuDNN) kernel.

    The rule is cuDNN's: tanh activation, sigmoid recurrent activation, a bias, no recurrent
    dropout (its mask changes the recurrence), not unrolled, and for the GRU ``reset_after=True``.
    Masks are not part of the rule: any mask is compacted into a right-padded one (see module doc).
    """
    return bool(
        getattr(cell, "fused_kernel", None) is not None
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        and cell.use_bias
        and not cell.recurrent_dropout
        and not unroll
        and getattr(cell, "reset_after", True)
    )


# The cell arguments every Keras recurrent cell takes, in Keras' order; each cell's docstring
# describes them under "Args:" with CELL_ARGS_DOC.
CELL_ARGS_DOC = """
        units: size of the hidden state (a positive integer).
        activation: the activation of the candidate/output (``"tanh"``; ``"relu"``, ``"sigmoid"``
            or any ``keras.activations`` name or callable).
        use_bias: whether the cell has a bias vector.
        kernel_initializer, recurrent_initializer, bias_initializer: initializers of the input
            kernel, the recurrent kernel and the bias (Keras' defaults: Glorot uniform,
            orthogonal, zeros).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: regularizers of the same.
        kernel_constraint, recurrent_constraint, bias_constraint: constraints applied to the
            same after each optimizer step.
        dropout: fraction of the inputs dropped in training, one mask per sequence.
        recurrent_dropout: fraction of the carried state dropped in training, one mask per
            sequence (it keeps the fused kernel from running).
        weight_dropout: tfseq's DropConnect on the recurrent kernel (Wan et al. 2013; AWD-LSTM's
            weight drop): in training, one mask over the kernel per batch (fused kernels still run).
            Written into the config only when set, so a config without it is Keras' own.
        seed: seed of the dropout masks."""


class RecurrentCell(keras.layers.Layer, DropoutRNNCell):
    """Base of tfseq's cells: weights, dropout settings and the split step API.

    Subclasses set ``gates`` (number of gate blocks in the kernel), build ``kernel``,
    ``recurrent_kernel`` and ``bias`` in Keras' layout, and implement :meth:`step`.

    Dropout is Keras' (``DropoutRNNCell``): a mask drawn once per sequence and cached by the
    cell, which ``keras.layers.RNN`` (and so tfseq's sequence layers, built on it) draws before
    the loop and clears after it. A lone cell inside ``keras.layers.RNN`` or
    ``keras.layers.StackedRNNCells`` therefore applies ``dropout``, ``recurrent_dropout`` and
    ``weight_dropout`` in training exactly as the tfseq sequence layer does.
    """

    gates = 1
    fused_kernel = None  # name of keras.src.backend function, or None

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        weight_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"units must be a positive integer, received units={units!r}.")
        for name, rate in (
            ("dropout", dropout),
            ("recurrent_dropout", recurrent_dropout),
            ("weight_dropout", weight_dropout),
        ):
            if not 0.0 <= float(rate) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), received {name}={rate!r}.")
        self.units = units
        self.activation = get_activation(activation, "activation")
        self.recurrent_activation = get_activation(recurrent_activation, "recurrent_activation")
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.weight_dropout = float(weight_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.state_size = units
        self.output_size = units

    # -- weights ---------------------------------------------------------------------------
    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"{type(self).__name__} needs a known feature size, received input shape {tuple(input_shape)}."
            )
        self.kernel = self.add_weight(
            shape=(input_dim, self.units * self.gates),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units * self.gates),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self.bias_shape(),
                name="bias",
                initializer=self.make_bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def bias_shape(self):
        return (self.units * self.gates,)

    def make_bias_initializer(self):
        return self.bias_initializer

    def input_bias(self):
        return self.bias

    # -- dropout masks (Keras' DropoutRNNCell, plus the weight-dropped kernel) -----------------
    def get_recurrent_dropout_mask(self, step_input):
        # keras.layers.RNN draws a cell's masks through this method (and get_dropout_mask)
        # before its loop, outside any traced step: the weight-dropout mask is drawn with them.
        if self.weight_dropout and getattr(self, "_weight_dropout_mask", None) is None:
            self._weight_dropout_mask = keras.random.dropout(
                ops.ones_like(ops.convert_to_tensor(self.recurrent_kernel)),
                self.weight_dropout,
                seed=self.seed_generator,
            )
        return super().get_recurrent_dropout_mask(step_input)

    def reset_recurrent_dropout_mask(self):
        super().reset_recurrent_dropout_mask()
        self._weight_dropout_mask = None

    def dropped_recurrent_kernel(self, state, training):
        """The recurrent kernel of this batch: with its weight-dropout mask in training."""
        if not (training and self.weight_dropout):
            return self.recurrent_kernel
        self.get_recurrent_dropout_mask(state)
        return ops.convert_to_tensor(self.recurrent_kernel) * self._weight_dropout_mask

    # -- the split step --------------------------------------------------------------------
    def project_inputs(self, inputs):
        """``inputs @ kernel + input_bias`` over any leading axes (all time steps at once)."""
        projected = ops.matmul(inputs, self.kernel)
        bias = self.input_bias() if self.use_bias else None
        # ops.add, not `+`: TensorFlow lowers it to BiasAdd, whose gradient is one fused
        # reduction (the LSTM loop runs ~10% faster fwd+bwd on the CPU than with AddV2).
        return projected if bias is None else ops.add(projected, bias)

    def step(self, projected, states, recurrent_kernel, recurrent_mask=None):  # pragma: no cover
        """One step; ``recurrent_kernel`` is ``self.recurrent_kernel``, or its weight-dropped copy."""
        raise NotImplementedError

    def call(self, inputs, states, training=False):
        """One time step, for use inside ``keras.layers.RNN`` (dropout as Keras' cells)."""
        single = not tree.is_nested(states)
        states = [states] if single else list(states)
        recurrent_mask = None
        if training and self.dropout:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout:
            recurrent_mask = self.get_recurrent_dropout_mask(states[0])
        recurrent_kernel = self.dropped_recurrent_kernel(states[0], training)
        output, new_states = self.step(self.project_inputs(inputs), states, recurrent_kernel, recurrent_mask)
        return output, (new_states[0] if single else new_states)

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    def hold_row(self):  # pragma: no cover - only fused cells need it
        raise NotImplementedError

    def get_config(self):
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": keras.constraints.serialize(self.recurrent_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        if self.weight_dropout:  # tfseq's own key: absent at its default, so Keras reads the config
            config["weight_dropout"] = self.weight_dropout
        return {**super().get_config(), **config}


def check_implementation(implementation):
    """Keras' legacy ``implementation`` argument (0, 1 or 2): accepted and recorded, as Keras
    records it; tfseq computes every mode the same way (one fused matmul per step)."""
    if implementation not in (0, 1, 2):
        raise ValueError(f"implementation must be 0, 1 or 2 (Keras' modes), received {implementation!r}.")
    return implementation


# The sequence-layer arguments of Keras' LSTM/GRU/SimpleRNN, described once for every layer's
# "Args:" (after its cell's).
LAYER_ARGS_DOC = """
        activity_regularizer: regularizer of the layer's output.
        return_sequences: return the output of every step (``(batch, time, units)``), not only
            the last (``(batch, units)``).
        return_state: also return the last state(s).
        go_backwards: read the sequence backwards (and return the reversed outputs).
        stateful: carry the last state of each row of a batch into the same row of the next.
        unroll: unroll the loop (faster for short sequences, more memory; never fused).
        zero_output_for_mask: zeros, not the last valid output, at masked steps of the outputs
            (``keras.layers.Bidirectional`` sets it when ``return_sequences``)."""

USE_CUDNN_DOC = """
        use_cudnn: ``"auto"`` (default) runs the backend's fused kernel (cuDNN on a GPU) when the
            arguments allow, else the loop; ``True`` requires it (an error where it cannot run);
            ``False`` always loops. Unlike Keras, tfseq's fused path also takes masks."""


class Recurrent(keras.layers.RNN):
    """Runs a tfseq cell over time; the base of :class:`SimpleRNN`, :class:`LSTM`, :class:`GRU`.

    Built on ``keras.layers.RNN``, so ``return_sequences``, ``return_state``, ``go_backwards``,
    ``initial_state``, masks, ``stateful``, ``unroll`` and ``keras.layers.Bidirectional`` behave as
    in Keras. What differs is :meth:`inner_loop`: fused kernel when :func:`fused_ok`, else the
    generic loop over inputs projected once for all time steps.

    The configuration is Keras' (the layer's keys, then the cell's), plus ``use_cudnn`` on the
    fused layers and ``weight_dropout`` when set: ``keras.layers.LSTM(...).get_config()`` loads
    into ``tfseq.layers.LSTM.from_config`` and back.
    """

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        activity_regularizer=None,
        use_cudnn="auto",
        **kwargs,
    ):
        legacy = kwargs.pop("use_fused", None)  # tfseq <= 0.1's name, in saved configs
        if legacy is not None:
            use_cudnn = "auto" if legacy else False
        if use_cudnn not in ("auto", True, False):
            raise ValueError(f"use_cudnn must be 'auto', True or False, received use_cudnn={use_cudnn!r}.")
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        self._use_cudnn = use_cudnn
        if keras.backend.backend() == "tensorflow" and self.fused_allowed and fused_ok(cell, unroll):
            # As Keras' LSTM/GRU: TensorFlow's cuDNN kernels do not compile with XLA, so a model
            # holding a layer that may take them is not jit-compiled (jit_compile="auto").
            self.supports_jit = False

    @property
    def fused_allowed(self):
        """Whether this layer may take the fused path (``use_cudnn`` is not ``False``)."""
        return self.cell.fused_kernel is not None and self._use_cudnn in ("auto", True)

    # -- checks with clear messages --------------------------------------------------------
    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank 3 (batch, time, features), "
                f"received inputs with shape {tuple(sequences_shape)}."
            )
        super().build(sequences_shape, initial_state_shape)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if len(sequences.shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank 3 (batch, time, features), "
                f"received inputs with shape {tuple(sequences.shape)}."
            )
        if initial_state is not None:
            self._check_initial_state(initial_state, sequences)
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def _check_initial_state(self, initial_state, sequences):
        states = list(initial_state) if tree.is_nested(initial_state) else [initial_state]
        sizes = self.state_size
        if len(states) != len(sizes):
            raise ValueError(
                f"{type(self).__name__} has {len(sizes)} state(s) of size {sizes}; received "
                f"initial_state with {len(states)} tensor(s)."
            )
        batch = sequences.shape[0]
        for index, (state, size) in enumerate(zip(states, sizes)):
            shape = tuple(state.shape)
            if (
                len(shape) != 2
                or shape[-1] != size
                or (batch is not None and shape[0] is not None and shape[0] != batch)
            ):
                raise ValueError(
                    f"initial_state[{index}] of {type(self).__name__} must have shape "
                    f"(batch={batch}, {size}), received shape {shape}."
                )

    # -- the two paths ---------------------------------------------------------------------
    def inner_loop(self, sequences, initial_state, mask, training=False):
        if tree.is_nested(mask):
            mask = mask[0]
        cell = self.cell
        if training and cell.dropout:
            # Variational dropout: the cell's one mask per sequence, shared by all time steps
            # (keras.layers.RNN drew it before this loop; Keras' LSTM does the same).
            sequences = sequences * ops.expand_dims(cell.get_dropout_mask(sequences[:, 0, :]), 1)
        recurrent_kernel = cell.dropped_recurrent_kernel(initial_state[0], training)
        if self.fused_allowed and fused_ok(cell, self.unroll):
            try:
                return self.fused_loop(sequences, initial_state, mask, recurrent_kernel)
            except NotImplementedError:
                pass  # this backend/device has no fused kernel: use the loop
        if self._use_cudnn is True:
            raise ValueError(
                f"{type(self).__name__}(use_cudnn=True): the fused (cuDNN) kernel cannot run for "
                f"these arguments on this backend and device; pass use_cudnn='auto' to fall back "
                "to the loop (cuDNN needs a GPU, tanh/sigmoid activations, a bias, no recurrent "
                "dropout, no unroll, and reset_after=True for a GRU)."
            )
        return self.generic_loop(sequences, initial_state, mask, training, recurrent_kernel)

    def generic_loop(self, sequences, initial_state, mask, training, recurrent_kernel):
        cell = self.cell
        recurrent_mask = None
        if training and cell.recurrent_dropout:
            recurrent_mask = cell.get_recurrent_dropout_mask(initial_state[0])

        def step(inputs, states):
            # The input projection stays inside the step: on the CPU, TensorFlow's loop runs
            # 1.4x faster fwd+bwd than over inputs projected for all steps at once (LSTM,
            # B=64, T=100, D=128, H=256), because the per-step (B, 4H) gate slices and their
            # gradients never become a (T, B, 4H) tensor array. Fused kernels project up front.
            return cell.step(cell.project_inputs(inputs), list(states), recurrent_kernel, recurrent_mask)

        return keras_backend.rnn(
            step,
            sequences,
            list(initial_state),
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=self.unroll,
            input_length=sequences.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )

    def fused_loop(self, sequences, initial_state, mask, recurrent_kernel):
        """The backend's fused kernel; masks handled by compaction + held state (module doc)."""
        cell = self.cell
        kernel_fn = getattr(keras_backend, cell.fused_kernel)
        if mask is None:
            return self._call_kernel(
                kernel_fn,
                sequences,
                initial_state,
                cell.kernel,
                recurrent_kernel,
                self.return_sequences,
                self.go_backwards,
            )
        mask = ops.cast(mask, "bool")
        if self.go_backwards:
            sequences, mask = ops.flip(sequences, axis=1), ops.flip(mask, axis=1)
        steps = ops.shape(sequences)[1]
        positions = ops.expand_dims(ops.arange(steps, dtype="int32"), 0)
        # Valid steps first, in time order, then the masked ones: a right-padded batch.
        order = ops.argsort(ops.where(mask, positions, positions + steps), axis=1)
        compact = ops.take_along_axis(sequences, ops.expand_dims(order, -1), axis=1)
        padded = ops.cast(ops.logical_not(ops.take_along_axis(mask, order, axis=1)), compact.dtype)
        compact = ops.concatenate([compact, ops.expand_dims(padded, -1)], axis=-1)
        kernel = ops.concatenate([ops.convert_to_tensor(cell.kernel), ops.expand_dims(cell.hold_row(), 0)], axis=0)
        _, compact_outputs, states = self._call_kernel(
            kernel_fn, compact, initial_state, kernel, recurrent_kernel, True, False
        )
        # Time step t shows the output of the last valid step at or before t (zeros before any):
        # the semantics of Keras' masked loop.
        seen = ops.cumsum(ops.cast(mask, "int32"), axis=1)
        source = ops.expand_dims(ops.maximum(seen - 1, 0), -1)
        outputs = ops.take_along_axis(compact_outputs, source, axis=1)
        keep = ops.expand_dims(seen > 0, -1)
        if self.zero_output_for_mask:
            keep = ops.logical_and(keep, ops.expand_dims(mask, -1))
        outputs = ops.where(keep, outputs, ops.zeros_like(outputs))
        last_output = outputs[:, -1]
        # The hidden state is the last valid output; held states (LSTM c, GRU h) come out exact.
        any_valid = ops.expand_dims(seen[:, -1] > 0, -1)
        states = [ops.where(any_valid, last_output, initial_state[0])] + list(states[1:])
        if not self.return_sequences:
            outputs = ops.expand_dims(last_output, 1)
        return last_output, outputs, states

    def _call_kernel(self, kernel_fn, inputs, initial_state, kernel, recurrent_kernel, return_sequences, backwards):
        cell = self.cell
        return kernel_fn(
            inputs,
            *initial_state,
            None,
            kernel=kernel,
            recurrent_kernel=recurrent_kernel,
            bias=cell.bias,
            activation=cell.activation,
            recurrent_activation=cell.recurrent_activation,
            return_sequences=return_sequences,
            go_backwards=backwards,
            unroll=False,
            **cell.fused_kwargs(),
        )

    # -- Keras' accessors: the layer answers for its cell (as keras.layers.LSTM) --------------
    units = property(lambda self: self.cell.units)
    activation = property(lambda self: self.cell.activation)
    recurrent_activation = property(lambda self: self.cell.recurrent_activation)
    use_bias = property(lambda self: self.cell.use_bias)
    kernel_initializer = property(lambda self: self.cell.kernel_initializer)
    recurrent_initializer = property(lambda self: self.cell.recurrent_initializer)
    bias_initializer = property(lambda self: self.cell.bias_initializer)
    kernel_regularizer = property(lambda self: self.cell.kernel_regularizer)
    recurrent_regularizer = property(lambda self: self.cell.recurrent_regularizer)
    bias_regularizer = property(lambda self: self.cell.bias_regularizer)
    kernel_constraint = property(lambda self: self.cell.kernel_constraint)
    recurrent_constraint = property(lambda self: self.cell.recurrent_constraint)
    bias_constraint = property(lambda self: self.cell.bias_constraint)
    dropout = property(lambda self: self.cell.dropout)
    recurrent_dropout = property(lambda self: self.cell.recurrent_dropout)
    weight_dropout = property(lambda self: self.cell.weight_dropout)

    # -- config ----------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()  # Keras' RNN keys (zero_output_for_mask among them)
        del config["cell"]  # the cell's arguments are the layer's, as in keras.layers.LSTM
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        config.update(cell_config)
        config["activity_regularizer"] = keras.regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class FusedRecurrent(Recurrent):
    """A sequence layer whose cell has a fused (cuDNN) kernel: LSTM and GRU. Adds Keras'
    ``use_cudnn`` attribute and key (SimpleRNN has neither, in Keras as here)."""

    @property
    def use_cudnn(self):
        return self._use_cudnn

    @use_cudnn.setter
    def use_cudnn(self, value):
        if value not in ("auto", True, False):
            raise ValueError(f"use_cudnn must be 'auto', True or False, received use_cudnn={value!r}.")
        self._use_cudnn = value

    def get_config(self):
        return {**super().get_config(), "use_cudnn": self.use_cudnn}
