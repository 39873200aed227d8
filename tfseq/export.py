"""SavedModel export: raw input in, readable answers out, versioned, written atomically.

Layout (TensorFlow Serving's): ``<root>/<task>/<version>/`` with integer versions. A version is
written into a hidden temporary folder beside it and renamed into place only when complete, so
a reader never sees a half-written export and an existing version is never overwritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable

from tfseq.atomic import publishable, sync, sync_tree, temporary_folder


def next_version(task_dir: Path) -> int:
    """1 + the largest integer version under ``task_dir`` (1 if none)."""
    versions = [int(p.name) for p in task_dir.glob("*") if p.is_dir() and re.fullmatch(r"\d+", p.name)]
    return max(versions, default=0) + 1


EXPORT_FILES = ("saved_model.pb", "model.tflite")

# File names that say nothing about the data they hold: a run on sst2/train.tsv is named after
# its folder (``classify-sst2``), not ``classify-train``.
GENERIC_STEMS = {"train", "training", "trn", "data", "dataset", "input", "all", "corpus", "text"}


def default_name(config) -> str:
    """``<task>-<data>``: what ``export.name=auto`` publishes as. The data is the built-in or
    TFDS dataset's name (``classify-reviews-zh``, ``classify-imdb_reviews``), or the training
    file's stem (``classify-mine`` for ``mine.csv``; its folder's name for a generic stem such as
    ``train``), or the images folder's name (captions). Runs on other data become another
    model, never the next version of this one."""
    from omegaconf import OmegaConf

    data = OmegaConf.select(config, "data.name", default=None)
    data = str(data).removeprefix("tfds:") if data else None
    train, images = (OmegaConf.select(config, key, default=None) for key in ("data.train", "data.images"))
    if not data and (train or images):
        path = Path(str(train or images)).expanduser()
        data = path.stem if train else path.name
        if data.lower() in GENERIC_STEMS and path.resolve().parent.name:
            data = path.resolve().parent.name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", data).strip("-.") if data else ""
    return f"{config.task}-{slug}" if slug else str(config.task)


def name_is_auto(config) -> bool:

    return str(config.export.name) == "auto"


def folder(config, suffix: str = "") -> Path:
    """Where a run of ``config`` publishes its versions: ``<export.dir>/<export.name><suffix>``
    (``suffix``: ``-tflite`` for the TFLite export)."""

    name = config.export.name
    name = default_name(config) if name in (None, "auto") else str(name)
    return Path(str(config.export.dir)) / f"{name}{suffix}"


class ExportConflict(ValueError):
    """A new version would answer differently in kind from the one it replaces."""


def is_export(folder) -> bool:
    """Whether ``folder`` holds a SavedModel or a TFLite export."""
    return any((Path(folder) / name).exists() for name in EXPORT_FILES)


def versions(task_dir) -> list[Path]:
    """The integer version folders under ``task_dir`` that hold an export, oldest first."""
    return sorted(
        (p for p in Path(task_dir).glob("*") if re.fullmatch(r"\d+", p.name) and is_export(p)),
        key=lambda p: int(p.name),
    )


def check_next_version(task_dir, identity: dict, replace: bool = False) -> None:
    """Refuse to publish a model of another kind as the next version of ``task_dir``: TensorFlow
    Serving and ``tfseq-predict`` answer with the newest version, so a new version whose task,
    labels (or tags) or vocabulary kind differ from the newest one's would silently change what
    every client gets. ``replace=True`` (``export.replace=true``) publishes it anyway."""
    newest = versions(task_dir)
    if replace or not newest:
        return
    try:
        declared = metadata(newest[-1])
    except (OSError, ValueError):  # a damaged tfseq.json: compared on nothing
        declared = {}
    before = declared.get("identity") or {key: declared[key] for key in ("task", "labels", "tags") if key in declared}
    changed = [
        key
        for key in ("task", "labels", "tags", "vocabulary")
        if key in before and key in identity and before[key] != identity[key]
    ]
    if changed:
        key = changed[0]
        raise ExportConflict(
            f"{task_dir}: its newest version ({newest[-1].name}) has {key} {_short(before[key])} and this run's "
            f"model has {_short(identity[key])}: publishing it as version {int(newest[-1].name) + 1} would replace "
            f"what is served; choose another export.name=, or export.replace=true to publish it there anyway"
        )


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:76] + " ...]"


def latest_version(path) -> Path:
    """``path`` itself if it is an export (a SavedModel or a TFLite export), else its highest
    integer version folder."""
    path = Path(path)
    if is_export(path):
        return path
    found = versions(path)
    if not found:
        raise FileNotFoundError(
            f"{path}: no export here (expected saved_model.pb or model.tflite, or <version>/ holding one)"
        )
    return found[-1]


@contextlib.contextmanager
def publishing(task_dir):
    """Hold ``task_dir``'s publishing lock (an ``flock`` on the folder itself: no file left behind,
    released if the process dies): what is checked under it (the newest version's identity)
    still holds when the version is renamed into place, whichever of several runs publishes first."""
    task_dir = Path(task_dir)
    task_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the rename alone keeps versions whole
        yield
        return
    handle = os.open(task_dir, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # (closing releases the lock)


def write_atomically(
    task_dir, write, metadata: dict | None = None, identity: dict | None = None, replace: bool = False
) -> Path:
    """Call ``write(tmp_folder)`` and publish the result as ``task_dir/<next version>``, readable
    as the umask allows (0755 folders, 0644 files under umask 022).

    ``identity`` (the task, labels or tags, vocabulary kind) is checked against the newest
    version (:func:`check_next_version`) under the publishing lock, just before the rename: of two
    runs of other kinds published at once, one is published and the other refused. If another
    writer takes the same version number first, the next free one is used.
    """
    task_dir = Path(task_dir)
    with temporary_folder(task_dir, prefix=".tmp-export-") as tmp:
        try:
            write(tmp)
            if metadata is not None:
                (tmp / "tfseq.json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False))
        except Exception as error:  # TensorFlow reports a full disk in its own error types
            if shutil.disk_usage(task_dir).free < 1 << 20:
                raise OSError(errno.ENOSPC, "No space left on device", str(task_dir)) from error
            raise
        sync_tree(publishable(tmp))  # on disk before it is published: a power cut leaves it whole
        with publishing(task_dir):
            if identity is not None:
                check_next_version(task_dir, identity, replace)
            while True:
                target = task_dir / str(next_version(task_dir))
                try:
                    os.rename(tmp, target)  # atomic on one filesystem; fails if target exists
                except OSError:
                    if not target.exists():
                        raise
                    continue
                sync(task_dir)
                return target


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
        generate: a generating model's ``generate(module, text, **settings)``, answered with the
            :data:`tfseq.decoding.SETTINGS` chosen at predict time; saved as the signature
            ``generate`` (every setting an input, for TensorFlow Serving) and as the function
            ``loaded.generate(text, temperature=0.7, ...)``, whose settings left out are
            ``generate_defaults`` (the training run's), which ``tfseq.json`` also holds.
        functions: more signatures, ``{name: (function(module, **inputs), {input: TensorSpec})}``
            (what ``tfseq-evaluate`` scores a file with: a tagger's ``tag_tokens``, ...).
    """

    answer: Callable
    variables: list
    preprocessor: Any = None
    inputs: dict | None = None
    track: dict = dataclasses.field(default_factory=dict)
    show: str | None = None
    columns: tuple = ()
    metadata: dict = dataclasses.field(default_factory=dict)
    generate: Callable | None = None
    generate_defaults: dict = dataclasses.field(default_factory=dict)
    functions: dict = dataclasses.field(default_factory=dict)


def generate_function(module, serving: Serving):
    """``serving.generate`` as a ``tf.function`` of ``text`` and every setting, whose Python
    defaults are ``serving.generate_defaults`` (a restored SavedModel keeps them)."""
    import tensorflow as tf

    from tfseq.decoding import SETTINGS

    defaults = {key: serving.generate_defaults[key] for key in SETTINGS}

    def generate(
        text,
        sampler,
        temperature,
        top_k,
        top_p,
        max_length,
        beams,
        n_best,
        length_penalty,
        no_repeat_ngram_size,
        repetition_penalty,
    ):
        settings = dict(
            zip(
                SETTINGS,
                (
                    sampler,
                    temperature,
                    top_k,
                    top_p,
                    max_length,
                    beams,
                    n_best,
                    length_penalty,
                    no_repeat_ngram_size,
                    repetition_penalty,
                ),
            )
        )
        return serving.generate(module, text, **settings)

    assert list(SETTINGS) == list(generate.__code__.co_varnames[1 : len(SETTINGS) + 1])  # one order
    generate.__defaults__ = tuple(defaults.values())
    specs = [tf.TensorSpec([None], tf.string, name="text")] + [
        tf.TensorSpec([], getattr(tf, kind), name=key) for key, kind in SETTINGS.items()
    ]
    return tf.function(generate, input_signature=specs, autograph=False)


def extra_function(module, function, inputs: dict):
    """``function(module, **inputs)`` as a ``tf.function`` of ``inputs`` (name -> TensorSpec)."""
    import tensorflow as tf

    names = list(inputs)
    specs = [tf.TensorSpec(spec.shape, spec.dtype, name=key) for key, spec in inputs.items()]
    return tf.function(lambda *args: function(module, **dict(zip(names, args))), input_signature=specs, autograph=False)


def save(serving: Serving, task_dir, identity: dict | None = None, replace: bool = False) -> Path:
    """Publish ``serving`` as ``task_dir/<next version>/``: a SavedModel whose
    ``serving_default`` is ``serving.answer``, and ``tfseq.json`` (its metadata and how
    ``tfseq-predict`` shows its answers); ``identity``: checked as it is published
    (:func:`write_atomically`)."""
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
    signatures = {"serving_default": module.serve}
    if serving.generate is not None:
        module.generate = signatures["generate"] = generate_function(module, serving)
    for name, (function, inputs) in serving.functions.items():
        setattr(module, name, extra_function(module, function, inputs))
        signatures[name] = getattr(module, name)

    def write(folder):
        tf.saved_model.save(module, str(folder), signatures=signatures)

    metadata = {**serving.metadata, "inputs": names, "show": serving.show, "columns": list(serving.columns)}
    if serving.generate is not None:
        metadata["generate_defaults"] = serving.generate_defaults
    if serving.functions:
        metadata["functions"] = sorted(serving.functions)
    if getattr(serving.preprocessor, "requires", None):  # e.g. the subword split's SentencePiece op
        metadata["requires"] = list(serving.preprocessor.requires)
    return write_atomically(task_dir, write, metadata, identity=identity, replace=replace)


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
class TFLiteServing:
    """What a TFLite export holds: a task's :meth:`~tfseq.train.task.Task.tflite_serving` returns one.

    Args:
        model: the Keras model; ``call(model, ids)`` gives the scores (default ``model(ids)``).
        preprocessor: its ``TextVectorizer``: the inputs are its output keys, ``int32[1, T]``.
        outputs: what the scores are, for ``tfseq.json`` (``"probabilities over labels"``).
        answer: how :meth:`tfseq.tflite_app.Preprocessor.answer` reads them: ``labels``, ``tags`` or
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
    :class:`tfseq.tflite_app.Preprocessor` reads."""
    return {
        "split": vec.split,
        "lowercase": vec.lowercase,
        "keep_whitespace": vec.keep_whitespace,
        "max_length": vec.max_length,
        "char_ngrams": list(vec.char_ngrams) if vec.char_ngrams else None,
        "token_chars": list(vec.token_chars) if vec.token_chars else None,
        "punctuation": vec.punctuation,
        "whole_words": list(vec.whole_words),
        "vocabularies": {key: vec._vocabulary(key) for key in vec.output_keys()},
    }


@contextlib.contextmanager
def quiet_loggers(*names, level=logging.ERROR):
    """Python loggers ``names`` print only ``level`` and above inside the block."""
    loggers = [logging.getLogger(name) for name in names]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, old in zip(loggers, before):
            logger.setLevel(old)


def save_tflite(
    serving: TFLiteServing, task_dir, quantize: bool = False, identity: dict | None = None, replace: bool = False
) -> Path:
    """Publish ``task_dir/<next version>/`` with ``model.tflite`` (ids in, scores out; TFLite's
    builtin operations only, so the stock interpreter runs it), ``vocabulary.json`` (the
    tokenization settings and vocabularies), ``preprocess.py`` (:mod:`tfseq.tflite_app`: text -> ids in
    plain Python) and ``tfseq.json``. One text per call (batch 1), any length up to the
    vectorizer's ``max_length``. ``quantize``: dynamic-range quantization (weights stored as
    8-bit integers, computed in float): about a quarter of the size.

    The recurrent layers are traced on their generic loop (a TFLite ``WHILE``), not the fused
    kernel, and the weights are frozen into constants: TFLite cannot read variables inside a loop.
    """

    import tensorflow as tf

    # Freezing: what tf.lite's own converters use, and the one way to constants for a WHILE body.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from tfseq import tflite_app as app_side
    from tfseq.layers.recurrent import Recurrent

    model, vec = serving.model, serving.preprocessor
    # One text: batch 1, every other axis (time; token_chars' grams) as long as the text needs.
    specs = {
        key: tf.TensorSpec([1, *spec.shape[1:]], tf.int32, name=key)
        for key, spec in vec.compute_output_spec(None).items()
    }
    call = serving.call or (lambda m, ids: m(ids, training=False))
    recurrent = [layer for layer in model._flatten_layers() if isinstance(layer, Recurrent)]
    fused = [layer._use_cudnn for layer in recurrent]
    with quiet_loggers("tensorflow", "absl"):
        # The conversion logs warnings that ask nothing of a user: "Issue encountered when serializing
        # table_initializer ... 'NoneType' object has no attribute 'name'" (the vocabulary's lookup
        # table, which the frozen graph does not use) and a deprecation of from_concrete_functions
        # without trackable_obj (frozen constants need no trackable object).
        try:
            for layer in recurrent:
                layer._use_cudnn = False
            function = tf.function(lambda ids: call(model, ids), input_signature=[specs])
            frozen = convert_variables_to_constants_v2(function.get_concrete_function())
        finally:
            for layer, value in zip(recurrent, fused):
                layer._use_cudnn = value
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        blob = converter.convert()

    def write(folder):
        (folder / "model.tflite").write_bytes(blob)
        (folder / "vocabulary.json").write_text(
            json.dumps(vocabulary_settings(vec), ensure_ascii=False), encoding="utf-8"
        )
        shutil.copyfile(app_side.__file__, folder / "preprocess.py")

    metadata = {
        **serving.metadata,
        "inputs": list(specs),
        "outputs": serving.outputs,
        "answer": serving.answer,
        "show": serving.show,
        "columns": list(serving.columns),
        "quantized": quantize,
    }
    return write_atomically(task_dir, write, metadata, identity=identity, replace=replace)
