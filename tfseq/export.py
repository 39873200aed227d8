"""SavedModel export: raw input in, readable answers out, versioned, written atomically.

Layout (TensorFlow Serving's): ``<root>/<task>/<version>/`` with integer versions. A version is
written into a hidden temporary folder beside it and renamed into place only when complete, so
a reader never sees a half-written export and an existing version is never overwritten.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any, Callable

from tfseq.atomic import publishable, temporary_folder


def next_version(task_dir: Path) -> int:
    """1 + the largest integer version under ``task_dir`` (1 if none)."""
    versions = [int(p.name) for p in task_dir.glob("*") if p.is_dir() and re.fullmatch(r"\d+", p.name)]
    return max(versions, default=0) + 1


EXPORT_FILES = ("saved_model.pb", "model.tflite")


def latest_version(path) -> Path:
    """``path`` itself if it is an export (a SavedModel or a TFLite export), else its highest
    integer version folder."""
    path = Path(path)

    def is_export(folder):
        return any((folder / name).exists() for name in EXPORT_FILES)

    if is_export(path):
        return path
    versions = sorted((p for p in path.glob("*") if re.fullmatch(r"\d+", p.name) and is_export(p)),
                      key=lambda p: int(p.name))
    if not versions:
        raise FileNotFoundError(f"{path}: no export here (expected saved_model.pb or model.tflite, or "
                                f"<version>/ holding one)")
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


@dataclasses.dataclass
class Serving:
    """What an export answers: a task's :meth:`~tfseq.train.task.Task.serving` returns one.

    Args:
        answer: ``answer(module, **inputs) -> dict of tensors``, traced into the SavedModel's
            ``serving_default`` signature (``module.preprocessor`` and every ``track`` name are
            attributes of ``module``).
        variables: the weights the answer reads (``model.variables``: not the model, which would
            bring its optimizer along, three times the weights again).
        preprocessor: the model's preprocessor (:mod:`tfseq.data.preprocessors`; any layer that
            turns the raw text into ids), saved with the export (so it needs no tfseq).
        inputs: the signature's inputs (default: ``text``, a batch of strings).
        track: more state the answer reads (a sampler's seed), saved as ``module.<name>``.
        show: how ``tfseq-predict`` prints one answer: a ``str.format`` pattern over ``text`` and
            the outputs; ``columns``: the outputs ``tfseq-predict --output`` writes.
        metadata: written to ``tfseq.json`` beside the SavedModel (labels, data, settings).
    """

    answer: Callable
    variables: list
    preprocessor: Any = None
    inputs: dict | None = None
    track: dict = dataclasses.field(default_factory=dict)
    show: str | None = None
    columns: tuple = ()
    metadata: dict = dataclasses.field(default_factory=dict)


def save(serving: Serving, task_dir) -> Path:
    """Publish ``serving`` as ``task_dir/<next version>/``: a SavedModel whose
    ``serving_default`` is ``serving.answer``, and ``tfseq.json`` (its metadata and how
    ``tfseq-predict`` shows its answers)."""
    import tensorflow as tf

    inputs = serving.inputs or {"text": tf.TensorSpec([None], tf.string)}
    names = list(inputs)
    specs = [tf.TensorSpec(spec.shape, spec.dtype, name=name) for name, spec in inputs.items()]

    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.model_variables = list(serving.variables)
            if serving.preprocessor is not None:
                self.preprocessor = serving.preprocessor
            for name, value in serving.track.items():
                setattr(self, name, value)

        @tf.function(input_signature=specs)
        def serve(self, *args):
            return serving.answer(self, **dict(zip(names, args)))

    module = Module()

    def write(folder):
        tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})

    metadata = {**serving.metadata, "inputs": names, "show": serving.show, "columns": list(serving.columns)}
    if getattr(serving.preprocessor, "requires", None):  # e.g. the subword split's SentencePiece op
        metadata["requires"] = list(serving.preprocessor.requires)
    return write_atomically(task_dir, write, metadata)


def metadata(path) -> dict:
    """An export's ``tfseq.json`` (empty if it has none)."""
    file = latest_version(path) / "tfseq.json"
    return json.loads(file.read_text(encoding="utf-8")) if file.exists() else {}


def at_least_one_step(ids: dict) -> tuple[dict, object]:
    """``ids`` padded to at least one step (a batch of texts without tokens is no zero-length
    sequence, which recurrent layers cannot run), and which rows have a token at all."""
    import tensorflow as tf

    has_tokens = tf.reduce_any(tf.not_equal(ids["tokens"], 0), axis=1)

    def pad(v):  # the time axis (1) only: token_chars has a third
        return tf.pad(v, [[0, 0], [0, tf.maximum(1 - tf.shape(v)[1], 0)]] + [[0, 0]] * (v.shape.rank - 2))

    return {k: pad(v) for k, v in ids.items()}, has_tokens


@dataclasses.dataclass
class Lite:
    """What a TFLite export holds: a task's :meth:`~tfseq.train.task.Task.lite` returns one.

    Args:
        model: the Keras model; ``call(model, ids)`` gives the scores (default ``model(ids)``).
        preprocessor: its ``TextVectorizer``: the inputs are its output keys, ``int32[1, T]``.
        outputs: what the scores are, for ``tfseq.json`` (``"probabilities over labels"``).
        answer: how :meth:`tfseq.lite.Preprocessor.answer` reads them: ``labels``, ``tags`` or
            ``line`` (a language model's perplexity of the text as a line).
        show, columns: how ``tfseq-predict`` shows an answer, as in :class:`Serving`.
        metadata: more of ``tfseq.json`` (labels, tags, the line-end id).
    """

    model: Any
    preprocessor: Any
    outputs: str
    answer: str
    show: str
    columns: tuple
    call: Callable | None = None
    metadata: dict = dataclasses.field(default_factory=dict)


def vocabulary_settings(vec) -> dict:
    """A ``TextVectorizer``'s rule and vocabularies as JSON data (``vocabulary.json``), which
    :class:`tfseq.lite.Preprocessor` reads."""
    return {"split": vec.split, "lowercase": vec.lowercase, "keep_whitespace": vec.keep_whitespace,
            "max_length": vec.max_length, "char_ngrams": list(vec.char_ngrams) if vec.char_ngrams else None,
            "token_chars": list(vec.token_chars) if vec.token_chars else None,
            "vocabularies": {key: vec._vocabulary(key) for key in vec.output_keys()}}


def save_tflite(lite: Lite, task_dir, quantize: bool = False) -> Path:
    """Publish ``task_dir/<next version>/`` with ``model.tflite`` (ids in, scores out; TFLite's
    builtin operations only, so the stock interpreter runs it), ``vocabulary.json`` (the
    tokenization settings and vocabularies), ``preprocess.py`` (:mod:`tfseq.lite`: text -> ids in
    plain Python) and ``tfseq.json``. One text per call (batch 1), any length up to the
    vectorizer's ``max_length``. ``quantize``: dynamic-range quantization (weights stored as
    8-bit integers, computed in float): about a quarter of the size.

    The recurrent layers are traced on their generic loop (a TFLite ``WHILE``), not the fused
    kernel, and the weights are frozen into constants: TFLite cannot read variables inside a loop.
    """
    import shutil

    import tensorflow as tf
    # Freezing: what tf.lite's own converters use, and the one way to constants for a WHILE body.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from tfseq import lite as app_side
    from tfseq.layers.recurrent import Recurrent

    model, vec = lite.model, lite.preprocessor
    # One text: batch 1, every other axis (time; token_chars' grams) as long as the text needs.
    specs = {key: tf.TensorSpec([1, *spec.shape[1:]], tf.int32, name=key)
             for key, spec in vec.compute_output_spec(None).items()}
    call = lite.call or (lambda m, ids: m(ids, training=False))
    recurrent = [layer for layer in model._flatten_layers() if isinstance(layer, Recurrent)]
    fused = [layer.use_fused for layer in recurrent]
    try:
        for layer in recurrent:
            layer.use_fused = False
        function = tf.function(lambda ids: call(model, ids), input_signature=[specs])
        frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    finally:
        for layer, value in zip(recurrent, fused):
            layer.use_fused = value
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    blob = converter.convert()

    def write(folder):
        (folder / "model.tflite").write_bytes(blob)
        (folder / "vocabulary.json").write_text(json.dumps(vocabulary_settings(vec), ensure_ascii=False),
                                                encoding="utf-8")
        shutil.copyfile(app_side.__file__, folder / "preprocess.py")

    metadata = {**lite.metadata, "inputs": list(specs), "outputs": lite.outputs, "answer": lite.answer,
                "show": lite.show, "columns": list(lite.columns), "quantized": quantize}
    return write_atomically(task_dir, write, metadata)
