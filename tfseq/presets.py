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
    metadata = {"keras_version": keras.__version__, "tfseq_version": tfseq.__version__,
                "class_name": type(model).__name__, "parameter_count": int(model.count_params()),
                "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    # Keras' save_weights writes a compiled model's optimizer state too (3x the weights under
    # Adam with averaging): an uncompiled copy of the model holds the weights alone.
    weights_only = keras.saving.deserialize_keras_object(config)
    weights_only.set_weights(model.get_weights())
    with temporary_folder(path.parent if str(path.parent) else ".", prefix=f".{path.name}.tmp-") as tmp:
        (tmp / CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
        weights_only.save_weights(tmp / WEIGHTS)
        preprocessor = getattr(model, "preprocessor", None)
        if preprocessor is not None:
            (tmp / PREPROCESSOR).write_text(json.dumps(serialize_layer(preprocessor), indent=2, ensure_ascii=False),
                                            encoding="utf-8")
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
