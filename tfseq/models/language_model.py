"""Synchronous many-to-many, the next token: a recurrent language model that scores and generates.

Text is a stream of token ids (characters or words) in which one id, ``line_end``, ends every
line (``"\\n"`` for characters, ``"</s>"`` for words). It also starts every text the model scores
or continues, so a sentence's probability is that of its tokens *and* its end, given a fresh line.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tfseq import decoding
from tfseq.data.preprocessors import CausalLMPreprocessor, attach, frame_ids
from tfseq.models.backbone import (
    RecurrentBackbone,
    backbone_config,
    build_once,
    next_token_layer,
    next_token_logits,
    start_from_prior,
)
from tfseq.models.losses import masked_mean, token_cross_entropy, total_loss
from tfseq.models.task_model import TaskModel
from tfseq.models.traced import in_batches, traced

# Ids read between two learning steps of dynamic evaluation (LanguageModel.dynamic_log_probabilities).
DYNAMIC_WINDOW = 50


@keras.saving.register_keras_serializable(package="tfseq")
class LanguageModel(TaskModel):
    """A :class:`RecurrentBackbone` (left to right) -> a score for every next token
    (keras-hub's causal LM).

    ``call(ids)`` returns next-token logits ``(batch, time, vocabulary)``; ``fit`` takes
    ``(ids, next ids)`` pairs and minimises cross-entropy in nats per token (0 = padding, no
    loss). With ``initial_state=`` / ``return_state=True`` the recurrent state is carried across
    calls (scoring a long stream, generating one token at a time).

    Args:
        backbone: a :class:`RecurrentBackbone` (or its config), taken whole; not bidirectional
            (it must not see the future). Its ``tokens`` vocabulary (0 padding and 1
            out-of-vocabulary included) is the one predicted. Its ``dropout`` with
            ``between_layers`` falls on the embeddings and between/after the recurrent layers, as
            Zaremba et al. 2014 regularise language models.
        line_end: the id that ends a line and starts a text (see the module doc).
        tie_embeddings: the output layer scores each token with its input embedding
            (:class:`~tfseq.models.backbone.TiedLogits`: Press & Wolf 2017), through a linear map
            from ``units`` down to ``embedding_dim``; fewer weights, a smaller product over the
            vocabulary.
        preprocessor: a ``CausalLMPreprocessor`` (or its ``TextVectorizer``): then :meth:`score`
            and :meth:`generate` take text.

    Example:
        >>> model = LanguageModel(RecurrentBackbone(70, cell="gru", units=256), line_end=2)
        >>> model.compile(optimizer=keras.optimizers.SGD(1.0, clipnorm=1.0))
        >>> model.fit(windows[:, :-1], windows[:, 1:])
        >>> model.generate(["ROMEO:"], length=100)
    """

    def __init__(self, backbone, line_end, tie_embeddings=False, preprocessor=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone = RecurrentBackbone.wired(backbone, sequences_out=True, return_state=True)
        if self.backbone.bidirectional:
            raise ValueError(
                "A language model's backbone must not be bidirectional: it would see the tokens it predicts."
            )
        self.vocabulary_size, self.line_end = self.backbone.vocabulary_sizes["tokens"], int(line_end)
        if not 2 <= self.line_end < self.vocabulary_size:
            raise ValueError(f"line_end={line_end} must be a token id in [2, {self.vocabulary_size}).")
        self.cell, self.units, self.num_layers = self.backbone.cell, self.backbone.units, self.backbone.num_layers
        self.embedding_dim, self.dropout_rate = self.backbone.embedding_dim, self.backbone.dropout_rate
        self.tie_embeddings = bool(tie_embeddings)
        self.preprocessor = attach(preprocessor, CausalLMPreprocessor)
        if self.preprocessor is not None and self.preprocessor.line_end != self.line_end:
            raise ValueError(f"line_end={line_end}: the preprocessor's line end is {self.preprocessor.line_end}.")
        self.logits = next_token_layer(self.vocabulary_size, self.embedding_dim, self.tie_embeddings)

    def build(self, input_shape=None):
        build_once(self.backbone, (None, None))
        build_once(self.logits, (None, None, self.units))
        self.built = True

    def call(self, inputs, initial_state=None, return_state=False, training=False):
        carried = training and initial_state is None and self.carried is not None
        if carried:  # copies: the variables are assigned below (PyTorch would see them change)
            initial_state = [[ops.copy(v.value) for v in layer] for layer in self.carried]
        x, states = self.backbone(inputs, initial_state=initial_state, training=training)
        if carried:  # the next call goes on from here; gradients stop at the window's start
            for variables, layer in zip(self.carried, states):
                for variable, state in zip(variables, layer):
                    variable.assign(ops.stop_gradient(ops.cast(state, variable.dtype)))
        logits = next_token_logits(self.logits, x, self.backbone.embeddings["tokens"])
        return (logits, states) if return_state else logits

    # -- carrying the state from batch to batch ---------------------------------------------
    carried = None  # the state carried from call to call (carry_state), or None

    def carry_state(self, rows):
        """From now on, each training call without ``initial_state`` starts from the state the
        last such call ended in, for batches of ``rows`` rows (``None``: stop; the state is not saved with
        the model). This is the notes' *sequential partitioning*: row ``i`` of batch ``k + 1``
        goes on where row ``i`` of batch ``k`` stopped in the text, so the state carries context
        past the window while gradients stop at its start (truncated backpropagation through
        time). Inference and validation (``training=False``) never read it.
        :class:`tfseq.train.callbacks.CarryState` does this around ``fit`` and zeroes the state
        at each epoch's start; ``task=lm``'s ``data.sampling=sequential`` makes such batches. Keras' ``stateful=True`` recurrent layers do the same; as theirs, the
        state lives in variables outside the weights, which the JAX backend cannot assign in a
        compiled step, so it needs TensorFlow or PyTorch."""
        if rows is not None and keras.backend.backend() == "jax":
            raise ValueError(
                "carry_state (data.sampling=sequential) needs the TensorFlow or PyTorch backend: the "
                "JAX backend cannot assign the carried state inside a compiled training step."
            )
        # Set past Keras' attribute tracking: never in the weights or the saved files.
        self.__dict__["carried"] = (
            None
            if rows is None
            else [
                [
                    keras.Variable(zeros, trainable=False, dtype=self.variable_dtype, name="carried_state")
                    for zeros in layer
                ]
                for layer in self.initial_state(int(rows))
            ]
        )
        if getattr(self, "train_function", None) is not None:  # a step traced before reads the old state
            self.make_train_function(force=True)

    def reset_state(self):
        """Zero the carried state (:meth:`carry_state`), as at the start of the text."""
        for variable in [v for layer in self.carried or [] for v in layer]:
            variable.assign(ops.zeros_like(variable.value))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Cross-entropy in nats per (non-padding) target token."""
        targets = ops.cast(y, "int32")
        return total_loss(self, masked_mean(token_cross_entropy(targets, y_pred), ops.not_equal(targets, 0)))

    def start_from_prior(self, ids):
        """The output bias starts at the add-one log frequencies of the training stream's ids
        (:func:`tfseq.models.backbone.start_from_prior`): the untrained model guesses the
        unigram distribution instead of a uniform one."""
        start_from_prior(self.logits, ids)
        return self

    # -- scoring ----------------------------------------------------------------------------
    def initial_state(self, batch_size):
        """Zero states for ``batch_size`` rows: a list per layer (GRU/RNN: ``[h]``, LSTM: ``[h, c]``)."""
        return self.backbone.initial_state(batch_size)

    def next_token(self, ids, state):
        """One step: ``int32[batch]`` ids and the state -> next-token logits and the new state.
        The ``next`` function the samplers of :mod:`tfseq.decoding` drive. Padding (0) holds
        the state."""
        logits, state = self(ids[:, None], initial_state=state, return_state=True)
        return logits[:, 0], state

    def token_log_probabilities(self, ids):
        """``log p(ids[:, t] | ids[:, :t])`` for t >= 1, ``(batch, time - 1)``; 0 at padding."""
        logits = ops.log_softmax(ops.cast(self(ids[:, :-1]), "float32"), axis=-1)
        targets = ops.cast(ids[:, 1:], "int32")
        chosen = ops.take_along_axis(logits, targets[:, :, None], axis=-1)[:, :, 0]
        return ops.where(ops.not_equal(targets, 0), chosen, ops.zeros_like(chosen))

    def text_ids(self, texts, end=True):
        """``line_end + tokens (+ line_end)`` per text, right-padded, from raw strings (preprocessor)."""
        if self.preprocessor is None:
            raise ValueError("this LanguageModel has no preprocessor: pass token ids instead of text.")
        tokens = self.preprocessor(texts)["tokens"]
        return ops.convert_to_numpy(self.frame_ids(tokens, end))

    def frame_ids(self, tokens, end=True):
        """:func:`tfseq.data.preprocessors.frame_ids` with this model's ``line_end``."""
        return frame_ids(tokens, self.line_end, end)

    def score(self, texts, batch_size=256) -> dict:
        """Each text's log-probability (nats) as a line: its tokens and its end, given a new line.

        Takes raw strings (with a preprocessor) or rows of token ids. Returns numpy arrays
        ``log_probability``, ``tokens`` (scored, the end included) and ``perplexity``
        (``exp(-log_probability / tokens)``).
        """
        is_text = len(texts) and isinstance(np.asarray(texts, dtype=object).ravel()[0], str)
        ids = self.text_ids(texts) if is_text else ops.convert_to_numpy(self.frame_ids(np.asarray(texts, "int32")))
        step = traced(self, "score", lambda batch: ops.sum(self.token_log_probabilities(batch), axis=-1))
        total = in_batches(step, ids, batch_size, by_length=True).astype("float64")
        counts = (ids != 0).sum(axis=1) - 1
        return {"log_probability": total, "tokens": counts, "perplexity": np.exp(-total / np.maximum(counts, 1))}

    def stream_loss(self, stream, segments=32, window=256) -> float:
        """Mean cross-entropy (nats per token) of predicting every id of a long stream from all
        the ids before it (:meth:`stream_log_probabilities`). ``exp`` of it is the perplexity."""
        return float(-self.stream_log_probabilities(stream, segments, window).mean())

    def stream_log_probabilities(self, stream, segments=32, window=256) -> np.ndarray:
        """``log p`` of the ids ``stream[1 : n + 1]`` given all the ids before each: the stream is
        cut into ``segments`` contiguous rows of ``n / segments`` ids read side by side, ``window``
        steps at a time, each row's state carried across windows (only the first id of each row
        is predicted without context; the last ``< segments`` ids are not scored)."""
        stream = np.asarray(stream, "int32")
        segments = max(1, min(segments, (len(stream) - 1) // 2))
        width = (len(stream) - 1) // segments
        inputs = stream[: segments * width].reshape(segments, width)
        targets = stream[1 : segments * width + 1].reshape(segments, width)

        def step(x, y, state):
            logits, state = self(x, initial_state=state, return_state=True)
            return -keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True), state

        step = traced(self, "stream_log_probabilities", step)
        state, pieces = self.initial_state(segments), []
        for start in range(0, width, window):
            log_p, state = step(inputs[:, start : start + window], targets[:, start : start + window], state)
            pieces.append(ops.convert_to_numpy(log_p).astype("float64"))
        return np.concatenate(pieces, axis=1).reshape(-1)

    def dynamic_log_probabilities(self, stream, rate: float, window: int = DYNAMIC_WINDOW) -> np.ndarray:
        """*Dynamic evaluation* (Mikolov 2012; Krause et al. 2018): ``log p`` of every id of
        ``stream[1:]`` given all the ids before it, as :meth:`stream_log_probabilities`, but the
        model keeps learning from what it has read: the stream is read in one row, ``window``
        ids at a time, and each window, once scored, is learnt with one step of plain SGD at
        ``rate`` (from the state it was read in). Every id is scored before the model learns
        from it, so the figures stay honest; what adapts is a copy without dropout, and this
        model is left as it was. It gets used to a text's own names and style: on a novel
        whose test part starts a new play, the network's test perplexity fell by a quarter
        (``benchmarks/RESULTS.md``). Needs the TensorFlow or PyTorch backend (as
        :meth:`carry_state`)."""
        stream = np.asarray(stream, "int32")
        reader = self.without_dropout()
        reader.compile(optimizer=keras.optimizers.SGD(float(rate)))
        reader.carry_state(1)  # each learning step goes on from the state the window was read in

        def step(x, y, state):
            logits = reader(x, initial_state=state)
            return -keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)

        step = traced(reader, "dynamic_log_probabilities", step)
        pieces = []
        for start in range(0, len(stream) - 1, int(window)):
            x, y = stream[None, start : start + window], stream[None, start + 1 : start + window + 1]
            x = x[:, : y.shape[1]]
            state = [[variable.value for variable in layer] for layer in reader.carried]
            pieces.append(ops.convert_to_numpy(step(x, y, state))[0].astype("float64"))
            if y.shape[1] == window:  # the last, shorter window is only scored
                reader.train_on_batch(x, y)
        return np.concatenate(pieces) if pieces else np.zeros((0,))

    def without_dropout(self) -> "LanguageModel":
        """A copy of this model (its weights copied, no preprocessor) whose training calls drop
        nothing: :meth:`dynamic_log_probabilities` trains it."""
        config = {
            **self.backbone.get_config(),
            "dropout": 0.0,
            "token_dropout": 0.0,
            "rare_dropout": 0.0,
            "weight_dropout": 0.0,
        }
        copy = LanguageModel(config, self.line_end, self.tie_embeddings)
        copy.build()
        if [tuple(v.shape) for v in copy.weights] != [tuple(v.shape) for v in self.weights]:
            raise ValueError("without_dropout: the copy's weights do not match this model's")  # pragma: no cover
        for mine, theirs in zip(self.weights, copy.weights):
            theirs.assign(mine.value)
        return copy

    # -- generation -------------------------------------------------------------------------
    def generate_ids(self, prompt_ids, length: int, sampler=None, stop_at_line_end=False, n=None):
        """Continue each row of ``prompt_ids`` (``line_end`` + tokens, right-padded) by ``length``
        ids chosen by ``sampler`` (a :mod:`tfseq.decoding` sampler or its name; default sampling).
        Returns ``int32[batch, length]``, 0 after a row's ``line_end`` when ``stop_at_line_end``;
        with ``n``, the sampler's ``n`` best and their scores (``[batch, n, length]``, ``[batch, n]``)."""
        sampler = decoding.resolve(sampler, "sampling")[0]
        logits, state = self(prompt_ids, return_state=True)
        last = ops.maximum(ops.sum(ops.cast(ops.not_equal(prompt_ids, 0), "int32"), axis=1) - 1, 0)
        # The masked recurrent layers hold each row's state from its last token on.
        logits = ops.take_along_axis(logits, last[:, None, None], axis=1)[:, 0]
        end = self.line_end if stop_at_line_end else None
        if n is not None:
            return sampler.n_best(self.next_token, logits, state, length, end, n)
        return sampler(self.next_token, logits, state, length, end)

    def generate(self, prompts=("",), length=200, sampler=None, stop_at_line_end=False, **options) -> list[str]:
        """Continuations of raw-text prompts (each starts a new line; ``""`` starts from nothing).

        ``sampler``: a :mod:`tfseq.decoding` sampler, or its name with ``options``, as keras-hub's
        (``sampler="top_k", top_k=10``; ``"greedy"``, ``"beam"``, ``"top_p"``, ``"random"``, ...;
        ``temperature``, ``no_repeat_ngram_size``, ``repetition_penalty``); default: sampling."""
        prompts = list(prompts)
        framed = self.text_ids(prompts, end=False)  # no line end after the prompt: it goes on
        sampler, name = decoding.resolve(sampler, "sampling", **options)
        # Traced once per sampler and length (a named one: once per setting, its draws go on).
        key = f"generate-{name}-{length}-{stop_at_line_end}"
        run = traced(self, key, lambda ids: self.generate_ids(ids, length, sampler, stop_at_line_end))
        width = max(int((framed != 0).sum(axis=1).max()), 1)
        ids = ops.convert_to_numpy(run(framed[:, :width]))
        return [text.decode("utf-8") for text in self.detokenize(ids).numpy()]

    def detokenize(self, ids):
        """Token ids -> text, ``string[batch]``: the preprocessor's ``postprocess``."""
        return self.preprocessor.postprocess(ids)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "line_end": self.line_end,
            "tie_embeddings": self.tie_embeddings,
            **self.preprocessor_config(),
        }

    @classmethod
    def from_config(cls, config):
        return super().from_config(backbone_config(config, "vocabulary_size"))


def perplexity(loss_nats: float) -> float:
    """``exp`` of a mean cross-entropy in nats (inf when it overflows)."""
    return math.exp(loss_nats) if loss_nats < 700 else math.inf
