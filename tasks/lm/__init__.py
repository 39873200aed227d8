"""Synchronous many-to-many, the next token: a language model that scores and generates text.

:class:`~tfseq.models.LanguageModel` on a task recipe (``tasks/lm/lm.yaml``). Each split's lines
become one token stream, every line ended by the line-end token (``"\\n"`` for characters,
``"</s>"`` for words). Training reads windows of ``data.steps`` tokens (truncated
backpropagation through time), cut at a new random offset every epoch; scoring reads every
held-out token with all the text before it (the state carried across windows). Metrics:
cross-entropy in nats per token, perplexity and bits per token; the bar is an interpolated
Kneser-Ney n-gram model on the same tokens.
"""

from __future__ import annotations

import math
import time

import numpy as np

from tfseq import data
from tfseq.export import Lite, Serving
from tfseq.models import LanguageModel
from tfseq.models.language_model import perplexity
from tfseq.models.ngram import KneserNeyLM
from tfseq.train.task import Task

LINE_END = {"character": "\n", "word": "</s>"}


def stream_metrics(loss: float, tokens: int) -> dict:
    """Cross-entropy (nats per token), perplexity and bits per token of ``tokens`` scored ids."""
    return {"loss": loss, "perplexity": perplexity(loss), "bits_per_token": loss / math.log(2),
            "tokens": int(tokens)}


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
        x = tf.reshape(ids[offset: offset + span], (count, steps))
        y = tf.reshape(ids[offset + 1: offset + span + 1], (count, steps))
        windows = tf.data.Dataset.from_tensor_slices((x, y))
        return windows.shuffle(count, seed=data.epoch_seed(seed, epoch)).batch(batch_size)

    return data.Epochs(one_epoch, steps=-(-count // batch_size))


def windows(stream: np.ndarray, steps: int):
    """``(inputs, targets)``: consecutive non-overlapping windows of ``steps`` ids and the ids
    one step later (the last partial window is dropped)."""
    count = (len(stream) - 1) // steps
    if count < 1:
        raise data.DataError(f"{len(stream)} tokens are fewer than one window of data.steps={steps} (+1)")
    return (stream[: count * steps].reshape(count, steps), stream[1: count * steps + 1].reshape(count, steps))


class LanguageModelTask(Task):
    headline = "perplexity"

    def prepare(self):
        cfg = self.config.data
        self.dataset = self.load_dataset("language-model", "plain text")
        split = self.auto_split("data.split", self.dataset.train["text"])
        if split not in LINE_END:
            raise ValueError(f"data.split={split!r}: expected one of {sorted(LINE_END)}")
        # Lines, wherever the source put its line breaks (a TFDS text is one row).
        self.lines = {name: [line for text in frame["text"] for line in str(text).split("\n") if line.strip()]
                      for name, frame in self.dataset.splits.items()}
        if not self.lines["train"]:
            raise data.DataError(f"{self.dataset.name}: the training split has no text")
        self.vectorizer = data.TextVectorizer(split=split, lowercase=cfg.lowercase, max_length=cfg.max_length,
                                              keep_whitespace=split == "character")
        # The line end is id 2 whatever its frequency (it is no token the split itself yields).
        self.vectorizer.adapt(self.lines["train"], max_tokens=cfg.max_tokens, min_frequency=cfg.min_frequency,
                              reserved=(LINE_END[split],))
        self.line_end = 2
        self.prompts_in_vocabulary()
        self.streams = {name: np.asarray([i for ids in self.vectorizer.token_ids(lines, truncate=False)
                                          for i in (*ids, self.line_end)], "int32")
                        for name, lines in self.lines.items()}
        sizes = {name: len(ids) for name, ids in self.streams.items()}
        self.log(f"data: {self.dataset.name} {sizes} tokens ({split}s), vocabulary "
                 f"{self.vectorizer.vocabulary_size()} ids; training windows of {cfg.steps} tokens")
        import tensorflow as tf

        seed, batch = int(self.config.seed), int(self.config.train.batch_size)
        self.pipelines = {}
        for name, ids in self.streams.items():
            if len(ids) < 2:
                continue
            if name == "train":  # a new window offset and order every epoch
                self.pipelines[name] = shifted_windows(ids, int(cfg.steps), seed, batch)
            else:
                pipeline = tf.data.Dataset.from_tensor_slices(windows(ids, int(cfg.steps)))
                self.pipelines[name] = pipeline.batch(batch).prefetch(tf.data.AUTOTUNE)
        self.train_data, self.validation_data = self.pipelines["train"], self.pipelines.get("validation")

    def prompts_in_vocabulary(self):
        """A ``generate.prompts`` entry none of whose tokens the model knows (the recipe's Chinese
        prompt on English text) is replaced by the first word of the training text."""
        prompts = [str(p) for p in self.config.generate.prompts]
        ids = self.vectorizer.token_ids(prompts)
        foreign = [p for p, row in zip(prompts, ids) if row and all(i == data.vectorize.OOV for i in row)]
        if foreign:
            start = self.lines["train"][0].split()[0]
            self.choose("generate.prompts", [start if p in foreign else p for p in prompts],
                        f"{', '.join(map(repr, foreign))}: no token of it is in the training vocabulary; "
                        f"the first word of the training text instead")

    def build_model(self):
        cfg = self.config.model
        model = LanguageModel(self.vectorizer.vocabulary_size(), self.line_end, cell=cfg.cell, units=cfg.units,
                              layers=cfg.layers, embedding_dim=cfg.embedding_dim, dropout=cfg.dropout,
                              preprocessor=self.vectorizer)
        model(np.zeros((1, 2), "int32"))  # build the weights
        return model

    def evaluate(self):
        metrics = {}
        for name in ("validation", "test"):
            stream = self.streams.get(name)
            if stream is not None and len(stream) > 1:
                started = time.perf_counter()
                metrics[name] = stream_metrics(self.model.stream_loss(stream), len(stream) - 1)
                self.log(f"{name}: perplexity {metrics[name]['perplexity']:.3f} "
                         f"({metrics[name]['bits_per_token']:.3f} bits per token, {time.perf_counter() - started:.0f} s)")
        self.write_samples()
        return metrics

    def write_samples(self):
        """``samples.txt``: a continuation of each of ``generate.prompts``."""
        cfg = self.config.generate
        prompts = [str(p) for p in cfg.prompts]
        if not prompts:
            return
        texts = self.model.generate(prompts, length=int(cfg.length), sampler=self.sampler())
        shown = [f"--- prompt {prompt!r} ({cfg.sampler}) ---\n{prompt}{text}\n" for prompt, text in zip(prompts, texts)]
        self.run.write_text("samples.txt", "\n".join(shown))
        self.log("samples:\n" + "\n".join(shown))

    def baseline(self):
        if not self.config.get("baseline", True):
            return None
        order = int(self.config.get("baseline_order", 5))
        started = time.perf_counter()
        lm = KneserNeyLM(order, vocabulary_size=self.vectorizer.vocabulary_size()).fit(self.streams["train"])
        result = {"model": f"interpolated Kneser-Ney {order}-gram"}
        for name in ("validation", "test"):
            stream = self.streams.get(name)
            if stream is not None and len(stream) > 1:
                result[name] = stream_metrics(lm.stream_loss(stream), len(stream) - 1)
        if "test" in result:
            self.log(f"baseline {result['model']}: test perplexity {result['test']['perplexity']:.3f} "
                     f"({time.perf_counter() - started:.0f} s)")
        return result

    def lite(self):
        return language_model_lite(self.model)

    def serving(self):
        cfg = self.config.generate
        return language_model_serving(self.model, length=int(cfg.length), sampler=self.sampler(), metadata={
            "data": self.dataset.name, "split": self.vectorizer.split,
            "generate": {k: cfg[k] for k in ("length", "sampler", "temperature", "top_k", "top_p", "beams")}})


def language_model_lite(model) -> Lite:
    """A :class:`~tfseq.models.LanguageModel` as TFLite: next-token logits at every step of
    ``line_end`` + the text's ids (a line starts with the line-end id)."""
    return Lite(model, model.preprocessor, "next-token logits per step (vocabulary ids)", "line",
                "{text}\t(perplexity of the text as a line: {perplexity:.3f})", ("perplexity",),
                metadata={"line_end": model.line_end})


def language_model_serving(model, length=200, sampler=None, metadata=None) -> Serving:
    """A :class:`~tfseq.models.LanguageModel`'s export:
    ``serving_default(text: string[batch]) -> {continuation: string[batch],
    log_probability: float[batch], perplexity: float[batch]}``.

    Each text is a prompt on a new line: ``continuation`` is the next ``length`` tokens chosen by
    ``sampler`` (a :mod:`tfseq.decoding` sampler; default: sampling at temperature 1), and
    ``log_probability`` / ``perplexity`` score the text as a whole line (its tokens and its end).
    Empty text continues from a fresh line; overlong text is cut at the vectorizer's
    ``max_length`` (its start is kept); unknown tokens map to the OOV id.
    """
    import tensorflow as tf

    from tfseq import decoding

    sampler = sampler or decoding.Sampling()

    def answer(module, text):
        ids = module.preprocessor(text)["tokens"]
        lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)
        log_probability = tf.reduce_sum(model.token_log_probabilities(model.frame_ids(ids)), axis=1)
        continuation = model.detokenize(model.generate_ids(model.frame_ids(ids, end=False), length, sampler))
        return {"continuation": continuation, "log_probability": log_probability,
                "perplexity": tf.exp(-log_probability / tf.cast(lengths + 1, tf.float32))}

    seed = getattr(sampler, "seed_generator", None)
    return Serving(answer, model.variables, model.preprocessor,
                   track={"sampler_seed": seed.state} if seed is not None else {},
                   show="{text}{continuation}\n(perplexity of the text as a line: {perplexity:.3f})\n",
                   columns=("continuation", "perplexity"), metadata=metadata or {})
