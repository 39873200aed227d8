"""Presets: a trained model as one folder that loads in one line, in keras-hub's layout.

    model.save_to_preset("my-classifier")                    # any tfseq task model
    model = TextClassifier.from_preset("my-classifier")      # takes raw strings at once
    tfseq-predict my-classifier "a great film"               # answers as the export would

The folder holds ``config.json`` (the model's Keras config: its layers and its preprocessor with
the vocabularies, labels or tags), ``model.weights.h5`` (the weights, no optimizer state),
``preprocessor.json`` (the preprocessor's config alone, for readers and tools) and
``metadata.json`` (versions, class, parameter count, date): the files keras-hub's presets hold,
so the folder can be shared as one (uploaded to Kaggle or Hugging Face by its owner). It is
written into a temporary folder and renamed into place, never over an existing preset.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from pathlib import Path

from tfseq.atomic import publish, temporary_folder

CONFIG, WEIGHTS, PREPROCESSOR, METADATA = "config.json", "model.weights.h5", "preprocessor.json", "metadata.json"


class PresetError(ValueError):
    """A folder that is not a tfseq preset, or one that would be overwritten."""


def is_preset(path) -> bool:
    return (Path(path) / CONFIG).is_file() and (Path(path) / WEIGHTS).is_file()


def save(model, path) -> Path:
    """Write ``model`` (a tfseq task model, built) as the preset folder ``path``."""
    import keras

    import tfseq
    from tfseq.data.preprocessors import serialize_layer

    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise PresetError(f"{path}: exists already; a preset is never written over (remove it, or choose another)")
    if not model.built:
        raise PresetError(f"{type(model).__name__} is not built: call it on a batch (or train it) first")
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)  # a preset is for answers and fine-tuning, not the old optimizer
    metadata = {
        "keras_version": keras.__version__,
        "tfseq_version": tfseq.__version__,
        "class_name": type(model).__name__,
        "parameter_count": int(model.count_params()),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    # Keras' save_weights writes a compiled model's optimizer state too (3x the weights under
    # Adam with averaging): an uncompiled copy of the model holds the weights alone.
    weights_only = keras.saving.deserialize_keras_object(config)
    weights_only.set_weights(model.get_weights())
    with temporary_folder(path.parent if str(path.parent) else ".", prefix=f".{path.name}.tmp-") as tmp:
        (tmp / CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
        weights_only.save_weights(tmp / WEIGHTS)
        preprocessor = getattr(model, "preprocessor", None)
        if preprocessor is not None:
            (tmp / PREPROCESSOR).write_text(
                json.dumps(serialize_layer(preprocessor), indent=2, ensure_ascii=False), encoding="utf-8"
            )
        (tmp / METADATA).write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        if path.is_dir():  # an empty folder the user made: replaced by the whole preset
            os.rmdir(path)
        return publish(tmp, path)


def load(path, expected=None):
    """The model of the preset folder ``path`` (of class ``expected``, if given), its weights
    loaded, ready for ``predict``, ``fit`` (compile it first) or an export."""
    import keras

    path = Path(path)
    if not is_preset(path):
        raise PresetError(f"{path}: not a preset (expected {CONFIG} and {WEIGHTS}, as save_to_preset writes)")
    try:
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        if str(config.get("module", "")).startswith("tfseq."):  # registers the class it names (tfseq's only)
            importlib.import_module(config["module"])
        model = keras.saving.deserialize_keras_object(config)
        model.load_weights(path / WEIGHTS)
    except (ValueError, TypeError, KeyError, OSError) as error:
        raise PresetError(f"{path}: cannot load this preset ({' '.join(str(error).split())[:200]})") from None
    if expected is not None and not isinstance(model, expected):
        raise PresetError(f"{path}: holds a {type(model).__name__}, not a {expected.__name__}")
    return model


# The preprocessor's settings a recipe names under data.* (for seq2seq, the source side's; the
# target side's as data.target_*). Vocabulary-building keys are not among them: see FOR_NEW_MODELS.
TOKENIZER_KEYS = {
    "split": "split",
    "lowercase": "lowercase",
    "ngrams": "ngrams",
    "max_length": "max_length",
    "char_ngrams": "char_ngrams",
    "token_chars": "token_chars",
    "subwords": "subwords",
}
TARGET_KEYS = {"split": "target_split", "lowercase": "target_lowercase"}
# Keys that shape a new model's vocabulary or first weights: a preset already has both.
FOR_NEW_MODELS = ("data.max_tokens", "data.min_frequency", "model.embeddings", "model.embeddings_vocabulary")


def settings(path) -> dict:
    """The recipe keys the preset folder ``path`` fixes, with its values, read from its
    ``config.json`` alone: ``backbone.*`` (its network), ``model.*`` (its task model's plain
    arguments: pooling, head, crf, ...) and the ``data.*`` keys its preprocessor reads text by
    (split, n-grams, length; a seq2seq's source side, and its target's as ``data.target_*``).
    Empty for a folder that is not a preset."""
    path = Path(path)
    if not is_preset(path):
        return {}
    config = json.loads((path / CONFIG).read_text(encoding="utf-8")).get("config", {})
    found = {}
    for name, value in config.items():
        if isinstance(value, dict) and name == "backbone":
            found.update({f"backbone.{k}": v for k, v in value.get("config", {}).items()})
        elif isinstance(value, dict) and name == "preprocessor":
            sides = value.get("config", {})
            pairs = [("tokenizer", TOKENIZER_KEYS), ("target_tokenizer", TARGET_KEYS)]
            if sides.get("target_tokenizer"):  # seq2seq: source_split rather than split
                pairs[0] = ("tokenizer", {**TOKENIZER_KEYS, "split": "source_split"})
            for side, keys in pairs:
                tokenizer = (sides.get(side) or {}).get("config", {})
                found.update({f"data.{key}": tokenizer[field] for field, key in keys.items() if field in tokenizer})
        elif not isinstance(value, dict) and name not in ("name", "trainable"):
            found[f"model.{name}"] = value
    return found
