"""Preprocessors: text <-> ids both ways, one class per task family (keras-hub's shape).

A preprocessor owns a :class:`~tfseq.data.TextVectorizer` (its ``tokenizer``: the tokenization
rule and the id layout, 0 padding, 1 out of vocabulary, tokens from 2), the family's special
tokens and label names, ``adapt``, the ids and targets training reads, and ``postprocess``:
the model's outputs -> readable answers, in TensorFlow ops. Models carry their preprocessor
(``.keras`` files keep it) and exports trace it, so training ids, ``model.predict`` on strings
and a SavedModel's answers come from the same code.

======================================  ===========================  ==============================
family                                  training reads               ``postprocess`` gives
======================================  ===========================  ==============================
:class:`TextClassifierPreprocessor`     ids, class ids / multi-hot   label, probabilities, confidence
:class:`TokenTaggerPreprocessor`        ids, tag ids per token       tokens, tags, ``token/TAG`` text
:class:`CausalLMPreprocessor`           one stream, lines ended      text (line ends as line breaks)
:class:`Seq2SeqPreprocessor`            source ids, teacher forcing  target text (captions too)
======================================  ===========================  ==============================
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfseq.data.dataset import label_set
from tfseq.data.vectorize import (
    PAD,
    TOKEN_CHARS,
    TextVectorizer,
    as_strings,
    concatenate_ids,
    ragged_token_chars,
    steps_of,
)

START, END = 2, 3
SPECIALS = ("<s>", "</s>")  # a target vocabulary's first tokens: ids START, END
LINE_END = {"character": "\n", "word": "</s>"}  # a language model's line-end token, id 2


def serialize_layer(layer):
    """A layer attached to another (a tokenizer, a model's preprocessor) as config; None stays None."""
    return keras.saving.serialize_keras_object(layer) if layer is not None else None


def deserialize_layer(config):
    """:func:`serialize_layer`'s config back as the layer; a layer or None stays as it is."""
    return keras.saving.deserialize_keras_object(config) if isinstance(config, dict) else config


@keras.saving.register_keras_serializable(package="tfseq")
class Preprocessor(keras.layers.Layer):
    """Raw strings -> the model's input ids (``call``, the ``tokenizer``'s dict of id tensors)."""

    def __init__(self, tokenizer=None, **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "string")
        super().__init__(**kwargs)
        self.tokenizer = deserialize_layer(tokenizer)
        self.built = True  # no weights: its vocabularies are config

    def __call__(self, texts, *args, **kwargs):
        return super().__call__(as_strings(texts), *args, **kwargs)

    def call(self, texts):
        return self.tokenizer(texts)

    def inputs(self, texts, chunk: int = 2048, ragged: bool = False) -> dict:
        """:meth:`call` on Python texts, as numpy arrays: ``chunk`` texts at a time, so the
        tokenizer's intermediate tensors (every word's strings and n-grams) stay the size of a
        chunk however large the split, and the arrays are each written once.

        ``ragged``: ``token_chars`` comes back as a ragged ``(texts, tokens, grams)`` tensor
        (:func:`~tfseq.data.vectorize.ragged_token_chars`) instead of an array padded to the
        split's longest text and word (CoNLL-2000: 5.5 MB of ids instead of 113 MB), which
        :func:`~tfseq.data.make_dataset` and ``SequenceTagger.tag`` take as they are."""
        texts = texts if isinstance(texts, (list, tuple)) else list(np.asarray(texts, dtype=object).ravel())
        parts = []
        for start in range(0, max(len(texts), 1), chunk):
            part = {k: np.asarray(v) for k, v in self(texts[start : start + chunk]).items()}
            if ragged and TOKEN_CHARS in part:
                part[TOKEN_CHARS] = ragged_token_chars(part[TOKEN_CHARS], steps_of(part["tokens"]))
            parts.append(part)
        return parts[0] if len(parts) == 1 else concatenate_ids(*parts)

    def adapt(self, texts, **options):
        """The tokenizer's vocabularies from training ``texts`` (``max_tokens``, ``min_frequency``)."""
        self.tokenizer.adapt(texts, **options)
        return self

    @property
    def requires(self) -> list[str]:
        """Modules an export's graph needs beyond TensorFlow (see ``TextVectorizer.requires``)."""
        return self.tokenizer.requires if self.tokenizer is not None else []

    def compute_output_spec(self, texts):
        return self.tokenizer.compute_output_spec(texts)

    def get_config(self):
        return {**super().get_config(), "tokenizer": serialize_layer(self.tokenizer)}


@keras.saving.register_keras_serializable(package="tfseq")
class TextClassifierPreprocessor(Preprocessor):
    """Many-to-one: a text -> one of ``labels`` (``head="multilabel"``: a set of them).

    ``prior`` (the training labels' frequencies, set by :meth:`adapt`) answers a text without
    tokens (empty, whitespace or control characters only)."""

    def __init__(self, tokenizer=None, labels=(), head="multiclass", prior=None, **kwargs):
        super().__init__(tokenizer, **kwargs)
        self.labels, self.head = [str(label) for label in labels], head
        if head not in ("binary", "multiclass", "multilabel") or (head == "binary" and len(self.labels) != 2):
            raise ValueError(
                f"head={head!r} with labels {self.labels}: expected binary (two labels), multiclass or multilabel."
            )
        self.prior = None if prior is None else [float(p) for p in prior]
        if self.prior is not None and len(self.prior) != len(self.labels):
            raise ValueError(f"prior {self.prior} has {len(self.prior)} values for {len(self.labels)} labels.")

    def adapt(self, texts, labels=None, **options):
        super().adapt(texts, **options)
        if labels is not None:
            targets = self.targets(labels)
            if self.head == "multilabel":
                self.prior = targets.mean(axis=0).tolist()
            else:
                seen = targets[targets >= 0]
                self.prior = (np.bincount(seen, minlength=len(self.labels)) / max(len(seen), 1)).tolist()
        return self

    def targets(self, labels) -> np.ndarray:
        """Class ids (-1: a label not in ``labels``), or float32 multi-hot rows for multi-label."""
        index = {label: i for i, label in enumerate(self.labels)}
        if self.head != "multilabel":
            return np.array([index.get(str(label), -1) for label in labels])
        rows = np.zeros((len(labels), len(self.labels)), "float32")
        for row, value in enumerate(labels):
            rows[row, [index[label] for label in label_set(value) if label in index]] = 1.0
        return rows

    def probabilities(self, outputs, tokens):
        """The model's outputs -> probabilities over ``labels`` (a binary head's one column made
        two); ``prior`` where ``tokens`` has none. ``keras.ops``: the TFLite export uses it too."""
        if self.head == "binary":
            outputs = ops.concatenate([1.0 - outputs, outputs], axis=-1)
        prior = self.prior or [0.5 if self.head == "multilabel" else 1 / len(self.labels)] * len(self.labels)
        has_tokens = ops.any(ops.not_equal(tokens, PAD), axis=1)[:, None]
        return ops.where(has_tokens, outputs, ops.convert_to_tensor(np.asarray([prior], "float32")))

    def postprocess(self, probabilities) -> dict:
        """``{label, probabilities, confidence}``: the most likely label and its probability;
        multi-label: the labels above 0.5 joined by commas, and the least sure decision's."""
        import tensorflow as tf

        names = tf.constant(self.labels)
        if self.head == "multilabel":
            chosen = tf.ragged.boolean_mask(tf.broadcast_to(names, tf.shape(probabilities)), probabilities > 0.5)
            label = tf.strings.reduce_join(chosen, axis=-1, separator=",")
            confidence = tf.reduce_min(tf.maximum(probabilities, 1.0 - probabilities), axis=-1)
        else:
            label = tf.gather(names, tf.argmax(probabilities, axis=-1))
            confidence = tf.reduce_max(probabilities, axis=-1)
        return {"label": label, "probabilities": probabilities, "confidence": confidence}

    def get_config(self):
        return {**super().get_config(), "labels": self.labels, "head": self.head, "prior": self.prior}


@keras.saving.register_keras_serializable(package="tfseq")
class TokenTaggerPreprocessor(Preprocessor):
    """Synchronous many-to-many: a tag per token. Tag ids are 1.. (``tags[id - 1]``), 0 padding."""

    def __init__(self, tokenizer=None, tags=(), **kwargs):
        super().__init__(tokenizer, **kwargs)
        self.tags = [str(tag) for tag in tags]

    def join(self, sentences) -> list[str]:
        """Each sentence's tokens as the text the tokenizer splits back into exactly those tokens
        (a ``ValueError`` naming the sentence if one does not)."""
        vec = self.tokenizer
        sentences = [list(tokens) for tokens in sentences]
        if vec.punctuation == "cut":  # the corpus's own forms (U.S., 's) stay whole
            vec.keep_whole(token for tokens in sentences for token in tokens)
        texts = [(" " if vec.split == "word" else "").join(tokens) for tokens in sentences]
        for row, (tokens, split_back) in enumerate(zip(sentences, vec.tokenize(texts))):
            if len(split_back) != min(len(tokens), vec.max_length or len(tokens)):
                raise ValueError(
                    f"sentence {row + 1}: tokens {list(tokens)[:8]}... do not split back into "
                    f"{len(tokens)} tokens with data.split={vec.split} (a token holds whitespace or a "
                    f"control character?)"
                )
        return texts

    def targets(self, tag_rows) -> list[np.ndarray]:
        """Tag ids per sentence, cut at the tokenizer's ``max_length`` (0: a tag not in ``tags``,
        which trains nothing)."""
        index = {tag: i + 1 for i, tag in enumerate(self.tags)}
        cut = self.tokenizer.max_length
        return [np.array([index.get(str(tag), 0) for tag in tags[:cut]], "int32") for tags in tag_rows]

    def tag_names(self, ids, lengths) -> list[list[str]]:
        """Rows of tag ids -> their first ``lengths`` tags as names (Python)."""
        names = ["", *self.tags]
        return [[names[i] for i in row[:length]] for row, length in zip(ids, lengths)]

    def postprocess(self, texts, best) -> dict:
        """``{tokens, tags, tagged}`` for ``texts`` and their best tag ids: the tokens as split
        (original case), their tags (``""`` past a text's end) and readable ``token/TAG ...``."""
        import tensorflow as tf

        tokens = self.tokenizer.tokens(texts, lowercase=False)
        tags = tf.RaggedTensor.from_tensor(tf.gather(tf.constant(["", *self.tags]), best), lengths=tokens.row_lengths())
        tagged = tf.strings.reduce_join(tf.strings.join([tokens, tags], "/"), axis=-1, separator=" ")

        def dense(strings):  # as wide as the model's answer (one step for a batch of empty texts)
            out = strings.to_tensor("")
            return tf.pad(out, [[0, 0], [0, tf.shape(best)[1] - tf.shape(out)[1]]], constant_values="")

        return {"tokens": dense(tokens), "tags": dense(tags), "tagged": tagged}

    @property
    def has_spans(self) -> bool:
        """Whether the tags mark spans (chunk or entity tags: ``B-PER``, ``I-PER``, ``O``, in IOB1,
        IOB2 or BIOES) and the split gives their places in the text (word or character)."""
        from tfseq.tflite_app import marks_spans

        return marks_spans(self.tags, self.tokenizer.split)

    def spans(self, texts, best, confidence) -> dict:
        """The entities (chunks) of ``texts`` that the best tag ids ``best`` mark, by conlleval's
        rules (:func:`tfseq.tflite_app.chunk_spans`, the same in plain Python), padded to the
        batch's most: ``span_text``, ``span_type`` (``""`` padding), ``span_start`` and
        ``span_end`` (code points into the text as given, ``-1`` padding: ``text[start:end]`` is the
        span, whatever whitespace it holds), ``span_score`` (the lowest ``confidence`` of its
        tokens: the chosen tags' probabilities) and a readable ``entities`` per text."""
        import tensorflow as tf

        from tfseq.tflite_app import tag_parts

        parts = [tag_parts(tag) for tag in self.tags]
        kinds = sorted({kind for _, kind in parts if kind})
        codes = tf.constant([0] + ["OBIES".index(prefix) for prefix, _ in parts], tf.int32)  # id 0: padding
        kind_of = tf.constant([-1] + [kinds.index(kind) if kind else -1 for _, kind in parts], tf.int32)
        best = tf.cast(best, tf.int32)
        prefix, kind = tf.gather(codes, best), tf.gather(kind_of, best)
        inside = prefix > 0
        before, kind_before = (
            tf.pad(prefix[:, :-1], [[0, 0], [1, 0]]),
            tf.pad(kind[:, :-1], [[0, 0], [1, 0]], constant_values=-1),
        )
        starts = inside & (
            (prefix == 1) | (prefix == 4) | (before == 0) | (before == 3) | (before == 4) | (kind_before != kind)
        )
        after_continues = tf.pad((inside & ~starts)[:, 1:], [[0, 0], [0, 1]])
        ends = inside & ~after_continues
        steps = tf.broadcast_to(tf.range(tf.shape(best)[1])[None], tf.shape(best))
        first, last = tf.ragged.boolean_mask(steps, starts), tf.ragged.boolean_mask(steps, ends)
        # Each span's score: the least sure of its tokens (segments numbered in reading order).
        segment = tf.cumsum(tf.cast(tf.reshape(starts, [-1]), tf.int32)) - 1
        flat_inside = tf.reshape(inside, [-1])
        score = tf.math.unsorted_segment_min(
            tf.boolean_mask(tf.reshape(tf.cast(confidence, tf.float32), [-1]), flat_inside),
            tf.boolean_mask(segment, flat_inside),
            tf.size(first.flat_values),
        )
        token_start, token_end = self.tokenizer.token_offsets(texts)
        width = tf.shape(best)[1]
        token_start, token_end = [
            tf.pad(x, [[0, 0], [0, width - tf.shape(x)[1]]], constant_values=-1)
            for x in (token_start.to_tensor(-1), token_end.to_tensor(-1))
        ]
        rows = first.value_rowids()
        start = tf.gather_nd(token_start, tf.stack([rows, tf.cast(first.flat_values, tf.int64)], 1))
        end = tf.gather_nd(token_end, tf.stack([rows, tf.cast(last.flat_values, tf.int64)], 1))
        text = tf.strings.unicode_transcode(
            tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1]), "UTF-8", "UTF-8", errors="replace"
        )
        span_text = tf.strings.substr(tf.gather(text, rows), start, end - start, unit="UTF8_CHAR")
        span_type = tf.gather(
            tf.constant(kinds or [""]), tf.boolean_mask(tf.reshape(kind, [-1]), tf.reshape(starts, [-1]))
        )
        readable = tf.strings.join(
            [
                span_text,
                " (",
                span_type,
                " ",
                tf.strings.as_string(start),
                "-",
                tf.strings.as_string(end),
                " ",
                tf.strings.as_string(score, precision=2),
                ")",
            ]
        )

        def per_text(values):  # the spans' values, grouped by their text
            return tf.RaggedTensor.from_value_rowids(values, rows, nrows=tf.shape(best, out_type=tf.int64)[0])

        return {
            "span_text": per_text(span_text).to_tensor(""),
            "span_type": per_text(span_type).to_tensor(""),
            "span_start": per_text(start).to_tensor(-1),
            "span_end": per_text(end).to_tensor(-1),
            "span_score": per_text(score).to_tensor(0.0),
            "entities": tf.strings.reduce_join(per_text(readable), axis=-1, separator="; "),
        }

    def get_config(self):
        return {**super().get_config(), "tags": self.tags}


def frame_ids(tokens, line_end: int, end=True):
    """A text as a line: its right-padded ids after a ``line_end``, then one more if ``end``
    (``(batch, time + 2)``). In ``keras.ops``, so an export frames its text the same way."""
    tokens = ops.cast(tokens, "int32")
    batch = ops.shape(tokens)[0]
    framed = ops.concatenate([ops.full((batch, 1), line_end, "int32"), tokens, ops.zeros((batch, 1), "int32")], axis=1)
    if not end:
        return framed
    after = ops.sum(ops.cast(ops.not_equal(tokens, 0), "int32"), axis=1) + 1
    return ops.where(ops.equal(ops.arange(ops.shape(framed)[1])[None, :], after[:, None]), line_end, framed)


@keras.saving.register_keras_serializable(package="tfseq")
class CausalLMPreprocessor(Preprocessor):
    """The next token: text as lines, each ended by the line-end token (id 2: ``"\\n"`` for
    characters, ``"</s>"`` for words), whatever its frequency."""

    line_end = 2

    @staticmethod
    def lines(texts) -> list[str]:
        """The non-blank lines of ``texts``, wherever they put their line breaks."""
        return [line for text in texts for line in str(text).split("\n") if line.strip()]

    def adapt(self, lines, **options):
        if self.tokenizer.split not in LINE_END:
            raise ValueError(f"data.split={self.tokenizer.split!r}: expected one of {sorted(LINE_END)}")
        return super().adapt(lines, reserved=(LINE_END[self.tokenizer.split],), **options)

    def stream(self, lines) -> np.ndarray:
        """``lines`` as one int32 stream of ids, each line followed by the line end."""
        return np.asarray(
            [i for ids in self.tokenizer.token_ids(lines, truncate=False) for i in (*ids, self.line_end)], "int32"
        )

    def frame(self, tokens, end=True):
        """:func:`frame_ids` with this line end."""
        return frame_ids(tokens, self.line_end, end)

    def postprocess(self, ids):
        """Ids -> text, ``string[batch]`` (line ends as line breaks, out-of-vocabulary as ``�``)."""
        return self.tokenizer.detokenize(ids, replace={self.line_end: "\n"})


def teacher_forcing(rows) -> tuple[list, list]:
    """Rows of target ids -> the decoder's inputs ``[START, *ids]`` and what it must predict at
    each of their steps, ``[*ids, END]``: in training the decoder reads the true previous token
    (teacher forcing), not its own guess."""
    return [[START, *ids] for ids in rows], [[*ids, END] for ids in rows]


@keras.saving.register_keras_serializable(package="tfseq")
class Seq2SeqPreprocessor(Preprocessor):
    """Asynchronous many-to-many: a source text (``tokenizer``; None for images: captioning)
    -> a target text (``target_tokenizer``, whose first ids are ``start`` (2) and ``end`` (3))."""

    def __init__(self, tokenizer=None, target_tokenizer=None, **kwargs):
        super().__init__(tokenizer, **kwargs)
        self.target_tokenizer = deserialize_layer(target_tokenizer)

    def adapt(self, sources, targets, **options):
        """Both vocabularies from the training pairs (``sources`` None: images)."""
        if sources is not None:
            self.tokenizer.adapt(sources, **options)
        self.target_tokenizer.adapt(targets, reserved=SPECIALS, **options)
        return self

    def targets(self, texts) -> tuple[list, list, list]:
        """``(decoder inputs, decoder targets, tokens)`` of target texts: teacher forcing's id
        rows (unpadded) and each text's tokens (the references outputs are scored against)."""
        tokens = self.target_tokenizer.tokenize(texts)
        return (*teacher_forcing(self.target_tokenizer.lookup(tokens)), tokens)

    @property
    def requires(self) -> list[str]:
        return [*super().requires, *self.target_tokenizer.requires]

    def postprocess(self, ids):
        """Target ids -> text, ``string[batch]``: tokens up to ``end``, by the target rule."""
        return self.target_tokenizer.detokenize(ids, end=END, drop=(START,))

    def get_config(self):
        return {**super().get_config(), "target_tokenizer": serialize_layer(self.target_tokenizer)}


def attach(preprocessor, family, **defaults):
    """``preprocessor`` as a ``family`` preprocessor: a bare ``TextVectorizer`` (users' code,
    ``.keras`` files saved before preprocessors) becomes ``family(tokenizer, **defaults)``."""
    if isinstance(preprocessor, TextVectorizer):
        return family(preprocessor, **defaults)
    return preprocessor
