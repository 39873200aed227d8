"""SavedModel export: raw input in, readable answers out, versioned, written atomically.

Layout (TensorFlow Serving's): ``<root>/<task>/<version>/`` with integer versions. A version is
written into a hidden temporary folder beside it and renamed into place only when complete, so
a reader never sees a half-written export and an existing version is never overwritten.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tfseq.atomic import publishable, temporary_folder


def next_version(task_dir: Path) -> int:
    """1 + the largest integer version under ``task_dir`` (1 if none)."""
    versions = [int(p.name) for p in task_dir.glob("*") if p.is_dir() and re.fullmatch(r"\d+", p.name)]
    return max(versions, default=0) + 1


def latest_version(path) -> Path:
    """``path`` itself if it is a SavedModel, else its highest integer version folder."""
    path = Path(path)
    if (path / "saved_model.pb").exists():
        return path
    versions = sorted(
        (p for p in path.glob("*") if re.fullmatch(r"\d+", p.name) and (p / "saved_model.pb").exists()),
        key=lambda p: int(p.name),
    )
    if not versions:
        raise FileNotFoundError(f"{path}: no SavedModel here (expected saved_model.pb or <version>/saved_model.pb)")
    return versions[-1]


def write_atomically(task_dir, write, metadata: dict | None = None) -> Path:
    """Call ``write(tmp_folder)`` and publish the result as ``task_dir/<next version>``, readable
    as the umask allows (0755 folders, 0644 files under umask 022).

    If another writer takes the same version number first, the next free one is used.
    """
    task_dir = Path(task_dir)
    with temporary_folder(task_dir, prefix=".tmp-export-") as tmp:
        write(tmp)
        if metadata is not None:
            (tmp / "tfseq.json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False))
        publishable(tmp)
        while True:
            target = task_dir / str(next_version(task_dir))
            try:
                os.rename(tmp, target)  # atomic on one filesystem; fails if target exists
                return target
            except OSError:
                if not target.exists():
                    raise


def export_raw_text(model, task: str, answer, export_root, metadata=None, track=None, preprocessor=None) -> Path:
    """Publish ``<export_root>/<task>/<version>/`` whose ``serving_default(text: string[batch])``
    returns ``answer(module, text)``; the model's weights and ``module.preprocessor`` (the model's
    ``TextVectorizer``) are saved with it, so the export takes raw text and needs no tfseq.
    ``track``: more variables ``answer`` uses (a sampler's seed), saved as ``module.<name>``;
    ``preprocessor``: the one that reads ``text`` if not ``model.preprocessor``."""
    import tensorflow as tf

    preprocessor = preprocessor or getattr(model, "preprocessor", None)
    if preprocessor is None:
        raise ValueError("export needs a model with a preprocessor (TextVectorizer) attached.")

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            # The weights, not the model: the model would bring its optimizer along (Adam's two
            # moments and the weight average), three times the weights again.
            self.model_variables = list(model.variables)
            self.preprocessor = preprocessor
            for name, value in (track or {}).items():
                setattr(self, name, value)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            return answer(self, text)

    module = Serving()

    def write(folder):
        tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})

    return write_atomically(Path(export_root) / task, write, metadata)


def at_least_one_step(ids: dict) -> tuple[dict, object]:
    """``ids`` padded to at least one step (a batch of texts without tokens is no zero-length
    sequence, which recurrent layers cannot run), and which rows have a token at all."""
    import tensorflow as tf

    has_tokens = tf.reduce_any(tf.not_equal(ids["tokens"], 0), axis=1)
    return {k: tf.pad(v, [[0, 0], [0, tf.maximum(1 - tf.shape(v)[1], 0)]]) for k, v in ids.items()}, has_tokens


def export_text_classifier(model, class_names, export_root, metadata=None, prior=None) -> Path:
    """Export a :class:`~tfseq.models.TextClassifier` whose serving signature is
    ``serving_default(text: string[batch]) -> {label: string[batch], probabilities: float[batch, C]}``.

    A text without tokens (empty, whitespace or control characters only) gets ``prior``: the
    training labels' frequencies (uniform if not given), and its most frequent label. Overlong
    text is truncated to the vectorizer's ``max_length``; unknown characters/words map to the OOV
    id. Multi-label: ``label`` joins the labels above 0.5 with commas (``prior``: each label's
    frequency).
    """
    import numpy as np
    import tensorflow as tf

    names = tf.constant([str(c) for c in class_names])
    if prior is None:
        prior = np.full(len(class_names), 0.5 if model.head == "multilabel" else 1 / len(class_names))
    prior = tf.constant(np.asarray(prior, "float32").reshape(1, len(class_names)))

    def answer(module, text):
        ids, has_tokens = at_least_one_step(module.preprocessor(text))
        outputs = model(ids, training=False)
        if model.head == "binary":
            outputs = tf.concat([1.0 - outputs, outputs], axis=-1)
        outputs = tf.where(has_tokens[:, None], outputs, prior)
        if model.head == "multilabel":
            chosen = tf.ragged.boolean_mask(tf.broadcast_to(names, tf.shape(outputs)), outputs > 0.5)
            label = tf.strings.reduce_join(chosen, axis=-1, separator=",")
        else:
            label = tf.gather(names, tf.argmax(outputs, axis=-1))
        return {"label": label, "probabilities": outputs}

    return export_raw_text(model, "classify", answer, export_root, metadata)


def export_sequence_tagger(model, tag_names, export_root, metadata=None) -> Path:
    """Export a :class:`~tfseq.models.SequenceTagger` whose serving signature is
    ``serving_default(text: string[batch]) -> {tokens, tags: string[batch, T], tagged: string[batch]}``.

    ``tokens`` are each text's tokens as the model split them (original case), ``tags`` their
    tags (``""`` past a text's end), ``tagged`` the readable ``token/TAG token/TAG ...``. Empty
    text gives empty answers; overlong text is cut at the vectorizer's ``max_length``.
    """
    import tensorflow as tf

    names = tf.constant(["", *[str(t) for t in tag_names]])  # id 0: padding

    def answer(module, text):
        ids, _ = at_least_one_step(module.preprocessor(text))
        best = model.decode(model(ids, training=False), tf.not_equal(ids["tokens"], 0))
        tokens = module.preprocessor.tokens(text, lowercase=False)
        tags = tf.RaggedTensor.from_tensor(tf.gather(names, best), lengths=tokens.row_lengths())
        tagged = tf.strings.reduce_join(tf.strings.join([tokens, tags], "/"), axis=-1, separator=" ")

        def dense(strings):  # as wide as the model's answer (one step for a batch of empty texts)
            out = strings.to_tensor("")
            return tf.pad(out, [[0, 0], [0, tf.shape(best)[1] - tf.shape(out)[1]]], constant_values="")

        return {"tokens": dense(tokens), "tags": dense(tags), "tagged": tagged}

    return export_raw_text(model, "tag", answer, export_root, metadata)


def export_language_model(model, export_root, length=200, sampler=None, metadata=None) -> Path:
    """Export a :class:`~tfseq.models.LanguageModel` whose serving signature is
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
    vocabulary = ["", "\ufffd", *model.preprocessor.vocabularies[1]]
    vocabulary[model.line_end] = "\n"
    pieces = tf.constant(vocabulary)
    words = model.preprocessor.split == "word"

    def answer(module, text):
        ids = module.preprocessor(text)["tokens"]
        batch, lengths = tf.shape(ids)[0], tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)
        prompt = tf.concat([tf.fill([batch, 1], model.line_end), ids], axis=1)
        line = tf.concat([prompt, tf.zeros([batch, 1], tf.int32)], axis=1)
        line = tf.where(tf.range(tf.shape(line)[1])[None, :] == (lengths + 1)[:, None], model.line_end, line)
        log_probability = tf.reduce_sum(model.token_log_probabilities(line), axis=1)
        generated = model.generate_ids(prompt, length, sampler)
        chosen = tf.ragged.boolean_mask(tf.gather(pieces, generated), generated != 0)
        continuation = tf.strings.reduce_join(chosen, axis=-1, separator=" " if words else "")
        if words:
            continuation = tf.strings.regex_replace(continuation, " ?\n ?", "\n")
        return {"continuation": continuation, "log_probability": log_probability,
                "perplexity": tf.exp(-log_probability / tf.cast(lengths + 1, tf.float32))}

    seed = getattr(sampler, "seed_generator", None)
    return export_raw_text(model, "lm", answer, export_root, metadata,
                           track={"sampler_seed": seed.state} if seed is not None else None)


def export_seq2seq(model, export_root, max_length=30, sampler=None, metadata=None) -> Path:
    """Export a :class:`~tfseq.models.Seq2Seq` whose serving signature is
    ``serving_default(text: string[batch]) -> {target: string[batch]}``: each source text's
    output, decoded by ``sampler`` (default greedy) up to ``max_length`` tokens, tokens joined
    by spaces (word targets) or not. A text without tokens (empty, whitespace or control
    characters only) gets an empty target; overlong text is cut at the source vectorizer's
    ``max_length``."""
    import tensorflow as tf

    from tfseq.models.seq2seq import END

    vocabulary = ["", "\ufffd", "", "", *model.target_preprocessor.vocabularies[1][2:]]
    pieces = tf.constant(vocabulary)
    separator = " " if model.target_preprocessor.split == "word" else ""

    def answer(module, text):
        source, has_tokens = at_least_one_step({"tokens": module.preprocessor(text)["tokens"]})
        ids = model.translate_ids(source["tokens"], max_length, sampler)
        before_end = tf.equal(tf.cumsum(tf.cast(ids == END, tf.int32), axis=1), 0)
        chosen = tf.ragged.boolean_mask(tf.gather(pieces, ids), before_end & (ids != 0))
        target = tf.strings.reduce_join(chosen, axis=-1, separator=separator)
        return {"target": tf.where(has_tokens, target, "")}

    return export_raw_text(model, "seq2seq", answer, export_root, metadata, preprocessor=model.source_preprocessor)


def export_captioner(model, image_shape, export_root, max_length=20, sampler=None, metadata=None) -> Path:
    """Export a :class:`~tfseq.models.Captioner` whose serving signature is
    ``serving_default(image: float32[batch, *image_shape]) -> {caption: string[batch]}``
    (pixels in [0, 1], as in training), decoded by ``sampler`` (default greedy)."""
    import tensorflow as tf

    from tfseq.models.seq2seq import END

    vocabulary = tf.constant(["", "\ufffd", "", "", *model.target_preprocessor.vocabularies[1][2:]])

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.model_variables = list(model.variables)  # the weights, not the optimizer

        @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.float32, name="image")])
        def serve(self, image):
            ids = model.translate_ids(image, max_length, sampler)
            before_end = tf.equal(tf.cumsum(tf.cast(ids == END, tf.int32), axis=1), 0)
            words = tf.ragged.boolean_mask(tf.gather(vocabulary, ids), before_end & (ids != 0))
            return {"caption": tf.strings.reduce_join(words, axis=-1, separator=" ")}

    module = Serving()

    def write(folder):
        tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})

    return write_atomically(Path(export_root) / "caption", write, metadata)
