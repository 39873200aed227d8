"""Synchronous many-to-many, the next token: a language model that scores and generates text.

:class:`~tfseq.models.LanguageModel` on a task recipe (``tasks/lm/lm.yaml``). Each split's lines
become one token stream, every line ended by the line-end token (``"\\n"`` for characters,
``"</s>"`` for words). Training reads windows of ``data.steps`` tokens (truncated
backpropagation through time), cut at a new random offset every epoch; scoring reads every
held-out token with all the text before it (the state carried across windows). Metrics:
cross-entropy in nats per token, perplexity and bits per token; the bar is an interpolated
Kneser-Ney n-gram model on the same tokens. With ``model.interpolate`` (the default), the model
users get (the export, the metrics, the samples) mixes the network's next-token probabilities
with that n-gram model's, ``w p_net + (1 - w) p_ngram``, the weight ``w`` fitted on validation
(:class:`Interpolated`); ``metrics.json``'s ``network`` holds the network's scores alone. With
``model.dynamic`` (``auto``: on a small text) its ``dynamic`` holds validation and test scored
by dynamic evaluation as well (the network learning from what it has read).
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from tfseq import data
from tfseq.export import Serving, TFLiteServing
from tfseq.models import LanguageModel
from tfseq.models.interpolated import Interpolated, fit_weight, mixture_log_probabilities
from tfseq.models.language_model import DYNAMIC_WINDOW, perplexity
from tfseq.models.ngram import KneserNeyLM
from tfseq.train.callbacks import CarryState
from tfseq.train.task import Task, epochs_for  # noqa: F401  (epochs_for: the shared rule, importable here too)


def stream_metrics(loss: float, tokens: int) -> dict:
    """Cross-entropy (nats per token), perplexity and bits per token of ``tokens`` scored ids."""
    return {"loss": loss, "perplexity": perplexity(loss), "bits_per_token": loss / math.log(2), "tokens": int(tokens)}


def shifted_windows(stream: np.ndarray, steps: int, seed: int = 0, batch_size: int = 32) -> data.Epochs:
    """The training batches of each epoch: ``(inputs, targets)`` windows of ``steps`` ids
    (targets one id later) that start at a random offset in ``[0, steps)`` drawn for each epoch
    from ``(seed, epoch)``, so that each id is read at every position of a window over the
    epochs, not always at the same one; shuffled, in batches. The number of windows is the same
    for every offset."""
    import tensorflow as tf

    if len(stream) - 1 < steps:
        raise data.DataError(f"{len(stream)} tokens are fewer than one window of data.steps={steps} (+1)")
    count = max(1, (len(stream) - steps) // steps)
    span = count * steps
    offsets = min(steps, len(stream) - span)  # offsets 0 .. offsets - 1 leave room for the targets
    ids = tf.constant(np.asarray(stream, "int32"))

    def one_epoch(epoch):
        seed_pair = tf.stack([tf.constant(int(seed), tf.int64), tf.cast(epoch, tf.int64)])
        offset = tf.random.stateless_uniform([], seed_pair, maxval=offsets, dtype=tf.int32)
        x = tf.reshape(ids[offset : offset + span], (count, steps))
        y = tf.reshape(ids[offset + 1 : offset + span + 1], (count, steps))
        windows = tf.data.Dataset.from_tensor_slices((x, y))
        return windows.shuffle(count, seed=data.epoch_seed(seed, epoch)).batch(batch_size)

    return data.Epochs(one_epoch, steps=-(-count // batch_size))


def sequential_windows(stream: np.ndarray, steps: int, seed: int = 0, batch_size: int = 32) -> data.Epochs:
    """The notes' *sequential partitioning*: each epoch, the stream from a random offset in
    ``[0, steps)`` (drawn from ``(seed, epoch)``) is cut into ``rows`` contiguous parts, one per
    batch row, read side by side ``steps`` ids at a time: row ``i`` of batch ``k + 1`` goes on
    where row ``i`` of batch ``k`` stopped. ``rows`` is ``batch_size``, fewer if the stream is too
    short for that many rows of 2 windows; every batch is full (:func:`sequential_rows`). For
    ``fit`` with :class:`~tfseq.train.callbacks.CarryState`, which carries the state across."""
    import tensorflow as tf

    rows = sequential_rows(len(stream), steps, batch_size)
    width = (len(stream) - steps) // rows // steps * steps  # per row: whole windows, room for any offset
    ids = tf.constant(np.asarray(stream, "int32"))

    def one_epoch(epoch):
        seed_pair = tf.stack([tf.constant(int(seed), tf.int64), tf.cast(epoch, tf.int64)])
        offset = tf.random.stateless_uniform([], seed_pair, maxval=steps, dtype=tf.int32)

        def batches(start):  # (windows, rows, steps): window k of every row
            part = tf.reshape(ids[start : start + rows * width], (rows, width // steps, steps))
            return tf.transpose(part, (1, 0, 2))

        return tf.data.Dataset.from_tensor_slices((batches(offset), batches(offset + 1)))

    return data.Epochs(one_epoch, steps=width // steps)


def sequential_rows(tokens: int, steps: int, batch_size: int) -> int:
    """The rows of :func:`sequential_windows`' batches: ``batch_size``, or as many as a stream of
    ``tokens`` ids holds with 2 windows of ``steps`` each and room for the offset."""
    rows = min(int(batch_size), (tokens - steps) // (2 * steps))
    if rows < 1:
        raise data.DataError(
            f"{tokens} tokens are fewer than 3 windows of data.steps={steps}: too short for data.sampling=sequential"
        )
    return rows


def windows(stream: np.ndarray, steps: int):
    """``(inputs, targets)``: consecutive non-overlapping windows of ``steps`` ids and the ids
    one step later (the last partial window is dropped)."""
    count = (len(stream) - 1) // steps
    if count < 1:
        raise data.DataError(f"{len(stream)} tokens are fewer than one window of data.steps={steps} (+1)")
    return (stream[: count * steps].reshape(count, steps), stream[1 : count * steps + 1].reshape(count, steps))


class LanguageModelTask(Task):
    headline = "perplexity"
    model_class = LanguageModel

    def prepare(self):
        cfg = self.config.data
        self.dataset = self.load_dataset("language-model", "plain text")
        split = self.auto_split("data.split", self.dataset.train["text"])
        self.lines = {
            name: data.CausalLMPreprocessor.lines(frame["text"]) for name, frame in self.dataset.splits.items()
        }
        if not self.lines["train"]:
            raise data.DataError(f"{self.dataset.name}: the training split has no text")
        self.preprocessor = self.preprocessor_from(
            lambda: data.CausalLMPreprocessor(
                data.TextVectorizer(
                    split=split,
                    lowercase=cfg.lowercase,
                    max_length=cfg.max_length,
                    keep_whitespace=split == "character",
                )
            ).adapt(self.lines["train"], max_tokens=cfg.max_tokens, min_frequency=cfg.min_frequency)
        )
        self.prompts_in_vocabulary()
        self.streams = {name: self.preprocessor.stream(lines) for name, lines in self.lines.items()}
        sizes = {name: len(ids) for name, ids in self.streams.items()}
        self.log(
            f"data: {self.dataset.name} {sizes} tokens ({split}s), vocabulary "
            f"{self.preprocessor.tokenizer.vocabulary_size()} ids; training windows of {cfg.steps} tokens"
        )
        self.choose_for_size(sizes["train"])
        import tensorflow as tf

        seed, batch = int(self.config.seed), int(self.config.train.batch_size)
        self.pipelines = {}
        self.sequential = str(cfg.sampling) == "sequential"
        if str(cfg.sampling) not in ("random", "sequential"):
            raise data.DataError(f"data.sampling={cfg.sampling}: expected random or sequential")
        if self.sequential and str(self.config.train.distribute or "none") != "none":
            raise ValueError(
                f"data.sampling=sequential with train.distribute={self.config.train.distribute}: not "
                f"supported (each replica would carry its own rows' state); use data.sampling=random"
            )
        for name, ids in self.streams.items():
            if len(ids) < 2:
                continue
            if name == "train":  # a new window offset (and order, or row parts) every epoch
                windows_of = sequential_windows if self.sequential else shifted_windows
                self.pipelines[name] = windows_of(ids, int(cfg.steps), seed, batch)
            else:
                pipeline = tf.data.Dataset.from_tensor_slices(windows(ids, int(cfg.steps)))
                self.pipelines[name] = pipeline.batch(batch).prefetch(tf.data.AUTOTUNE)
        self.train_data, self.validation_data = self.pipelines["train"], self.pipelines.get("validation")

    def choose_for_size(self, tokens: int):
        """The ``auto`` keys by the training text's size (tasks/lm/auto.yaml): epochs to read about
        its rule's ``tokens_read`` tokens (early stopping may end sooner); a text that reads more
        than ``small_reads`` times is small: its ``small`` values (dropout, weight dropout, a second
        layer, dynamic evaluation), else ``large``'s."""
        rule = self.auto_rule()
        self.choose_epochs_by_size(tokens)
        epochs = int(self.config.train.epochs)
        small = epochs > int(rule["small_reads"])
        if small and self.auto("model.dynamic") and keras.backend.backend() == "jax":
            self.choose("model.dynamic", False, "the JAX backend cannot carry the state it learns from")
        self.auto_case("small" if small else "large", f"{epochs} epochs over the text")
        if not self.auto("model.dynamic") and self.dynamic_rate() is not None and keras.backend.backend() == "jax":
            raise ValueError(
                f"model.dynamic={self.config.model.dynamic} needs the TensorFlow or PyTorch backend "
                f"(the JAX backend cannot carry the state it learns from); use model.dynamic=false"
            )

    def fit_callbacks(self):
        """Sequential sampling carries the state across each epoch's batches."""
        if not self.sequential:
            return []
        return [
            CarryState(
                sequential_rows(
                    len(self.streams["train"]), int(self.config.data.steps), int(self.config.train.batch_size)
                )
            )
        ]

    def validation_scores(self):
        """Sequential sampling: ``val_stream_loss``, the validation text scored as :meth:`evaluate`
        scores it (every token with all the text before it), for early stopping to watch; the
        windows of ``val_loss`` each start from a zero state, which a model trained to go on
        from the text before them is not."""
        stream = self.streams.get("validation")
        if not self.sequential or stream is None or len(stream) < 2:
            return None
        return lambda: {"stream_loss": self.model.stream_loss(stream)}

    def default_monitor(self) -> str:
        return "val_stream_loss" if self.validation_scores() else "val_loss"

    def prompts_in_vocabulary(self):
        """A ``generate.prompts`` entry none of whose tokens the model knows (the recipe's Chinese
        prompt on English text) is replaced by the first word of the training text."""
        prompts = [str(p) for p in self.config.generate.prompts]
        ids = self.preprocessor.tokenizer.token_ids(prompts)
        foreign = [p for p, row in zip(prompts, ids) if row and all(i == data.vectorize.OOV for i in row)]
        if foreign:
            start = self.lines["train"][0].split()[0]
            self.choose(
                "generate.prompts",
                [start if p in foreign else p for p in prompts],
                f"{', '.join(map(repr, foreign))}: no token of it is in the training vocabulary; "
                f"the first word of the training text instead",
            )

    def build_model(self):
        model = LanguageModel(
            self.backbone(self.preprocessor.tokenizer.vocabulary_size(), return_state=True),
            self.preprocessor.line_end,
            tie_embeddings=self.config.model.tie_embeddings,
            preprocessor=self.preprocessor,
        )
        model(np.zeros((1, 2), "int32"))  # build the weights
        return model.start_from_prior(self.streams["train"])

    def evaluate(self):
        network, log_p = {}, {}
        for name in ("validation", "test"):
            stream = self.streams.get(name)
            if stream is not None and len(stream) > 1:
                started = time.perf_counter()
                log_p[name] = self.model.stream_log_probabilities(stream)
                network[name] = stream_metrics(float(-log_p[name].mean()), len(log_p[name]))
                self.log(
                    f"{name}: perplexity {network[name]['perplexity']:.3f} "
                    f"({network[name]['bits_per_token']:.3f} bits per token, {time.perf_counter() - started:.0f} s)"
                )
        self.interpolated = None
        if not self.config.model.interpolate:
            self.write_samples()
            return self.with_dynamic(network, log_p)
        if "validation" not in log_p:
            raise data.DataError("model.interpolate fits its weight on the validation split, and there is none")
        # The n-gram model's probabilities of the same ids (the network scores the first n of them).
        ngram = {name: self.ngram_probabilities(name)[: len(lp)] for name, lp in log_p.items()}
        weight = fit_weight(np.exp(log_p["validation"]), ngram["validation"])
        mixed = {name: mixture_log_probabilities(np.exp(lp), ngram[name], weight) for name, lp in log_p.items()}
        metrics = {name: stream_metrics(float(-lp.mean()), len(lp)) for name, lp in mixed.items()}
        metrics["network"] = network
        metrics["interpolation"] = {"weight": weight, "ngram": self.ngram_name}
        self.interpolated = Interpolated(self.model, self.ngram.arrays(), weight)
        for name in mixed:
            self.log(
                f"{name}, interpolated (network weight {weight:.2f}, {self.ngram_name}): perplexity "
                f"{metrics[name]['perplexity']:.3f} ({metrics[name]['bits_per_token']:.3f} bits per token)"
            )
        self.write_samples()
        return self.with_dynamic(metrics, log_p, interpolate=True)

    def dynamic_rate(self):
        """``model.dynamic`` as an SGD rate: ``None`` when off, ``"validation"`` when the rate is
        chosen there."""
        value = self.config.model.dynamic
        if value is True:
            return "validation"
        if value is None or value is False or str(value).lower() in ("false", "off", "0", "0.0"):
            return None
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
        raise data.DataError(f"model.dynamic={value}: expected auto, true, false or a positive SGD rate")

    def with_dynamic(self, metrics: dict, log_p: dict, interpolate: bool = False) -> dict:
        """``metrics`` with ``dynamic``: validation and test scored by dynamic evaluation
        (:meth:`~tfseq.models.LanguageModel.dynamic_log_probabilities`; ``model.dynamic``), the
        network alone; the bar, the n-gram model counting each window once scored
        (:meth:`~tfseq.models.KneserNeyLM.dynamic_token_probabilities`, with ``baseline``); and,
        with ``interpolate``, the two mixed at a weight fitted on their validation scores."""
        rate = self.dynamic_rate()
        if rate is None or not log_p:
            return metrics
        started = time.perf_counter()
        dynamic = {}
        if rate == "validation":
            if "validation" not in log_p:
                raise data.DataError("model.dynamic chooses its rate on the validation split, and there is none")
            rule = self.auto_rule()
            sample = self.streams["validation"][: int(rule["rate_tokens"]) + 1]
            tried = {r: self.model.dynamic_log_probabilities(sample, r) for r in rule["dynamic_rates"]}
            losses = {r: float(-lp.mean()) for r, lp in tried.items()}
            rate = min(losses, key=losses.get)
            self.log(
                "dynamic evaluation, validation perplexity by SGD rate"
                + (
                    ""
                    if len(sample) == len(self.streams["validation"])
                    else f" (its first {int(rule['rate_tokens']):,} tokens)"
                )
                + ": "
                + ", ".join(f"{r:g} {perplexity(loss):.3f}" for r, loss in losses.items())
            )
            if len(sample) == len(self.streams["validation"]):
                dynamic["validation"] = tried[rate]
        for name in log_p:
            if name not in dynamic:
                dynamic[name] = self.model.dynamic_log_probabilities(self.streams[name], rate)
        result = {
            "rate": rate,
            "window": DYNAMIC_WINDOW,
            "network": {name: stream_metrics(float(-lp.mean()), len(lp)) for name, lp in dynamic.items()},
        }
        for name, scores in result["network"].items():
            self.log(
                f"{name}, dynamic evaluation (SGD rate {rate:g}), the network alone: perplexity "
                f"{scores['perplexity']:.3f} ({scores['bits_per_token']:.3f} bits per token)"
            )
        if interpolate or self.config.baseline:
            # The bar reads as the network does: the n-gram model counts each window once scored.
            ngram = {
                name: self.ngram_model().dynamic_token_probabilities(self.streams[name], DYNAMIC_WINDOW)[: len(lp)]
                for name, lp in dynamic.items()
            }
            result["baseline"] = {
                "model": f"{self.ngram_name}, counting as it reads",
                **{name: stream_metrics(float(-np.log(p).mean()), len(p)) for name, p in ngram.items()},
            }
            for name, scores in result["baseline"].items():
                if name != "model":
                    self.log(
                        f"{name}, dynamic evaluation, baseline {result['baseline']['model']}: perplexity "
                        f"{scores['perplexity']:.3f}"
                    )
        if interpolate:
            weight = fit_weight(np.exp(dynamic["validation"]), ngram["validation"])
            mixed = {name: mixture_log_probabilities(np.exp(lp), ngram[name], weight) for name, lp in dynamic.items()}
            result["interpolated"] = {
                "weight": weight,
                **{name: stream_metrics(float(-lp.mean()), len(lp)) for name, lp in mixed.items()},
            }
            for name in mixed:
                self.log(
                    f"{name}, dynamic evaluation, interpolated (network weight {weight:.2f}, both reading): "
                    f"perplexity {result['interpolated'][name]['perplexity']:.3f}"
                )
        self.log(f"dynamic evaluation: {time.perf_counter() - started:.0f} s")
        return {**metrics, "dynamic": result}

    @property
    def ngram_name(self) -> str:
        return f"interpolated Kneser-Ney {int(self.config.baseline_order)}-gram"

    def ngram_model(self) -> KneserNeyLM:
        """The Kneser-Ney model (``baseline_order``), fitted on the training stream once."""
        if getattr(self, "ngram", None) is None:
            self.ngram = KneserNeyLM(
                int(self.config.baseline_order), vocabulary_size=self.preprocessor.tokenizer.vocabulary_size()
            ).fit(self.streams["train"])
            self.ngram_p = {}
        return self.ngram

    def ngram_probabilities(self, name: str) -> np.ndarray:
        """The Kneser-Ney model's ``p`` of ``streams[name][1:]``."""
        model = self.ngram_model()
        if name not in self.ngram_p:
            self.ngram_p[name] = model.token_probabilities(self.streams[name])
        return self.ngram_p[name]

    def write_samples(self):
        """``samples.txt``: a continuation of each of ``generate.prompts``."""
        cfg = self.config.generate
        prompts = [str(p) for p in cfg.prompts]
        if not prompts:
            return
        texts = (self.interpolated or self.model).generate(prompts, length=int(cfg.length), sampler=self.sampler())
        shown = [f"--- prompt {prompt!r} ({cfg.sampler}) ---\n{prompt}{text}\n" for prompt, text in zip(prompts, texts)]
        self.run.write_text("samples.txt", "\n".join(shown))
        self.log("samples:\n" + "\n".join(shown))

    def baseline(self):
        if not self.config.baseline:
            return None
        started = time.perf_counter()
        result = {"model": self.ngram_name}
        for name in ("validation", "test"):
            stream = self.streams.get(name)
            if stream is not None and len(stream) > 1:
                p = self.ngram_probabilities(name)
                result[name] = stream_metrics(float(-np.log(p).mean()), len(p))
        if "test" in result:
            self.log(
                f"baseline {result['model']}: test perplexity {result['test']['perplexity']:.3f} "
                f"({time.perf_counter() - started:.0f} s)"
            )
        return result

    @classmethod
    def evaluation_data(cls, path, options):
        return data.read_plain_text(path)

    @classmethod
    def score_export(cls, loaded, frame, declared):
        """The file's lines read as one stream (the export's ``stream_log_probabilities``), as
        :meth:`evaluate` scores the test split (static: without dynamic evaluation)."""
        import tensorflow as tf

        from tfseq.console import UsageError
        from tfseq.evaluate import needs

        needs(loaded, "stream_log_probabilities")
        lines = frame["text"].tolist()
        if sum(len(line) for line in lines) < 2:
            raise UsageError("the file holds too little text to score (fewer than two tokens)")
        log_p = loaded.signatures["stream_log_probabilities"](text=tf.constant(lines))["log_probabilities"]
        log_p = log_p.numpy().astype("float64")
        return {
            "test": stream_metrics(float(-log_p.mean()), len(log_p)),
            "headline": "perplexity",
            "examples": len(lines),
        }

    def tflite_serving(self):
        return language_model_tflite(self.model)

    @classmethod
    def preset_serving(cls, model):
        return language_model_serving(model)

    def serving(self):
        cfg = self.config.generate
        interpolation = (
            {"interpolation": {"weight": self.interpolated.weight, "ngram": self.ngram_name}}
            if self.interpolated
            else {}
        )
        return language_model_serving(
            self.model,
            length=int(cfg.length),
            sampler=self.sampler(),
            interpolated=self.interpolated,
            metadata={
                "data": self.dataset.name,
                "split": self.preprocessor.tokenizer.split,
                **interpolation,
                "generate": {k: cfg[k] for k in ("length", "sampler", "temperature", "top_k", "top_p", "beams")},
            },
        )


def language_model_tflite(model) -> TFLiteServing:
    """A :class:`~tfseq.models.LanguageModel` as TFLite: next-token logits at every step of
    ``line_end`` + the text's ids (a line starts with the line-end id)."""
    return TFLiteServing(
        model,
        model.preprocessor.tokenizer,
        "next-token logits per step (vocabulary ids)",
        "line",
        "{text}\t(perplexity of the text as a line: {perplexity:.3f})",
        ("perplexity",),
        metadata={"line_end": model.line_end},
    )


def language_model_serving(model, length=200, sampler=None, metadata=None, interpolated=None) -> Serving:
    """A :class:`~tfseq.models.LanguageModel`'s export:
    ``serving_default(text: string[batch]) -> {continuation: string[batch],
    log_probability: float[batch], perplexity: float[batch]}``.

    Each text is a prompt on a new line: ``continuation`` is the next ``length`` tokens chosen by
    ``sampler`` (a :mod:`tfseq.decoding` sampler; default: sampling at temperature 1), and
    ``log_probability`` / ``perplexity`` score the text as a whole line (its tokens and its end).
    Empty text continues from a fresh line; overlong text is cut at the vectorizer's
    ``max_length`` (its start is kept); unknown tokens map to the OOV id. With ``interpolated``
    (an :class:`Interpolated` of ``model``) the scores and the continuation are the mixture's.

    ``generate(text, sampler=, temperature=, top_k=, top_p=, max_length=, beams=, n_best=,
    length_penalty=, no_repeat_ngram_size=, repetition_penalty=)`` continues with the decoding
    chosen at predict time (``max_length``: the tokens to add; each setting left out: this
    export's), and also answers ``continuations`` and their ``scores``, best first.
    """
    import tensorflow as tf

    from tfseq import decoding

    sampler = sampler or decoding.Sampling()
    scorer = interpolated or model
    seed = getattr(sampler, "seed_generator", None)
    if seed is None:
        import keras

        seed = keras.random.SeedGenerator(None)

    def scores(pre, ids):
        lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)
        log_probability = tf.reduce_sum(scorer.token_log_probabilities(pre.frame(ids)), axis=1)
        return {
            "log_probability": log_probability,
            "perplexity": tf.exp(-log_probability / tf.cast(lengths + 1, tf.float32)),
        }

    def answer(module, text):
        pre = module.preprocessor
        ids = pre(text)["tokens"]
        continuation = pre.postprocess(scorer.generate_ids(pre.frame(ids, end=False), length, sampler))
        return {"continuation": continuation, **scores(pre, ids)}

    def generate(module, text, **settings):
        pre = module.preprocessor
        ids = pre(text)["tokens"]
        best, n_scores = decoding.dispatch(
            lambda chosen, n, steps: scorer.generate_ids(pre.frame(ids, end=False), steps, chosen, n=n), settings, seed
        )
        shape = tf.shape(best)
        continuations = tf.reshape(pre.postprocess(tf.reshape(best, [-1, shape[2]])), shape[:2])
        readable = tf.strings.reduce_join(
            continuations + " (" + tf.strings.as_string(n_scores, precision=3) + ")", axis=1, separator=" | "
        )
        return {
            "continuation": continuations[:, 0],
            "continuations": continuations,
            "scores": n_scores,
            "n_best": readable,
            **scores(pre, ids),
        }

    def stream_log_probabilities(module, text):
        """``log p`` of each id of the lines ``text`` read as one stream (each line, then its line
        end), scored as training scores its test split (``LanguageModel.stream_log_probabilities``:
        32 segments read side by side from zero states; with the n-gram mixed in, each id's
        n-gram history runs across segments): what ``tfseq-evaluate`` reports."""
        pre = module.preprocessor
        tokens = pre.tokenizer.tokens(text, truncate=False)
        ids = tf.RaggedTensor.from_tensor(pre.tokenizer.ids(tokens)["tokens"], lengths=tokens.row_lengths())
        ends = tf.RaggedTensor.from_tensor(tf.fill([tf.shape(text)[0], 1], pre.line_end))
        stream = tf.concat([ids, ends], axis=1).flat_values
        n = tf.size(stream)
        segments = tf.maximum(1, tf.minimum(32, (n - 1) // 2))
        width = (n - 1) // segments
        inputs = tf.reshape(stream[: segments * width], [segments, width])
        targets = tf.reshape(stream[1 : segments * width + 1], [segments, width])
        window = 256  # as training: the state carried from window to window, memory bounded

        def read(k, state, pieces):
            x, y = inputs[:, k * window : (k + 1) * window], targets[:, k * window : (k + 1) * window]
            logits, new_state = model(x, initial_state=state, return_state=True)
            # (in the dtype it started in: mixed precision computes states in 16 bits)
            state = tf.nest.map_structure(lambda new, old: tf.cast(new, old.dtype), new_state, state)
            log_p = tf.gather(tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1), y, axis=2, batch_dims=2)
            return k + 1, state, pieces.write(k, tf.transpose(log_p))

        pieces = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False)
        _, _, pieces = tf.while_loop(
            lambda k, *_: k * window < width, read, (tf.constant(0), model.initial_state(segments), pieces)
        )
        log_p = tf.reshape(tf.transpose(tf.reshape(pieces.concat(), [width, segments])), [-1])
        if interpolated is not None:
            history = interpolated.histories(stream[None])[0][: segments * width]
            ngram = interpolated.ngram_probabilities(history, tf.reshape(targets, [-1, 1]))[:, 0]
            log_p = interpolated._mix(tf.exp(log_p), ngram)
        return {"log_probabilities": log_p}

    track = {"sampler_seed": seed.state}
    if interpolated is not None:
        track["ngram"] = interpolated.tables
    return Serving(
        answer,
        model.variables,
        model.preprocessor,
        track=track,
        show="{text}{continuation}\n(perplexity of the text as a line: {perplexity:.3f})\n",
        columns=("continuation", "perplexity"),
        metadata=metadata or {},
        generate=generate,
        generate_defaults=decoding.settings_of(sampler, length),
        functions={"stream_log_probabilities": (stream_log_probabilities, {"text": tf.TensorSpec([None], tf.string)})},
    )
