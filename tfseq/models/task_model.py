"""The base of tfseq's task models: a backbone taken whole, a preprocessor carried along, raw strings
in (keras-hub's ``Task``)."""

from __future__ import annotations

import keras
import numpy as np

from tfseq.data.preprocessors import deserialize_layer, serialize_layer


def texts_of(x):
    """``x`` as a NumPy array of objects if it is a column of Python values: a list, tuple or
    array, a pandas Series (or a one-column DataFrame), a Hugging Face ``datasets`` column or any
    other sequence (``len`` and iteration); None for what Keras reads itself (tensors, dicts of
    ids, tf.data)."""
    if x is None or isinstance(x, (dict, str, bytes)) or hasattr(x, "element_spec"):
        return None
    if hasattr(x, "columns") and hasattr(x, "iloc"):  # a DataFrame: its one column
        if not any(kind.kind in "OUS" or str(kind) == "string" for kind in x.dtypes):
            return None  # numbers: Keras reads them
        if len(x.columns) != 1:
            raise ValueError(
                f"a DataFrame of {len(x.columns)} columns {list(x.columns)[:5]} was given as texts: "
                "pass its text column (df['text'])"
            )
        x = x.iloc[:, 0]
    if hasattr(x, "to_numpy"):  # pandas
        return np.asarray(x.to_numpy(), dtype=object)
    if isinstance(x, np.ndarray):
        return x if x.dtype.kind in "OUS" else None
    if type(x).__module__.split(".")[0] in ("tensorflow", "torch", "jax", "jaxlib", "keras"):
        return None  # tensors: ids, as Keras reads them
    if hasattr(x, "__len__") and hasattr(x, "__iter__"):  # lists, tuples, datasets.Column, ...
        return np.asarray(list(x), dtype=object)
    return None


class TaskModel(keras.Model):
    """The base of tfseq's task models (keras-hub's ``Task``): a model that takes a backbone
    (:class:`~tfseq.models.RecurrentBackbone`) whole and carries its ``preprocessor``
    (:mod:`tfseq.data.preprocessors`), so ``.keras`` files and presets hold the vocabulary and the
    labels too and a loaded model answers raw strings. Models that read one text per example
    (``reads_text``: the classifier, the tagger) also ``fit``, ``predict`` and ``evaluate`` on raw
    strings (a list, an array, a pandas or ``datasets`` column, a tf.data dataset of them): the
    texts go through the preprocessor in the tf.data pipeline; ids work as before, and ``y`` stays
    as given (class ids, multi-hot rows, padded tag ids).

    (In tfseq a :class:`tfseq.train.Task` is a recipe's code, which builds and trains one of these.)
    """

    reads_text = False  # fit/predict/evaluate take raw strings (one text per example)

    def preprocessor_config(self) -> dict:
        return {"preprocessor": serialize_layer(self.preprocessor)}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "preprocessor": deserialize_layer(config.get("preprocessor"))})

    def save_to_preset(self, preset_dir):
        """This model as a preset folder (:mod:`tfseq.presets`: keras-hub's layout)."""
        from tfseq import presets

        return presets.save(self, preset_dir)

    @classmethod
    def from_preset(cls, preset):
        """The model saved by :meth:`save_to_preset` in ``preset``, ready to answer raw text."""
        from tfseq import presets

        return presets.load(preset, expected=cls)

    def _strings_to_dataset(self, x, y=None, batch_size=None, shuffle=False):
        import tensorflow as tf

        batch_size = batch_size or 32
        if isinstance(x, tf.data.Dataset):
            ds = x
        else:
            strings = texts_of(x).astype(str)
            if hasattr(y, "to_numpy"):  # pandas labels
                y = y.to_numpy()
            elif y is not None and not isinstance(y, (list, tuple, np.ndarray)) and texts_of(y) is not None:
                y = list(y)  # a datasets.Column or other sequence
            ds = tf.data.Dataset.from_tensor_slices((strings, y) if y is not None else strings)
            if shuffle:  # as Keras does for arrays: a new order every epoch
                ds = ds.shuffle(len(strings), reshuffle_each_iteration=True)
            ds = ds.batch(batch_size)
        pre = self.preprocessor

        def apply(*element):
            return (pre(element[0]),) + tuple(element[1:]) if len(element) > 1 else pre(element[0])

        return ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def _takes_strings(self, x):
        if not self.reads_text or self.preprocessor is None or x is None:
            return False
        import tensorflow as tf

        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            first = spec[0] if isinstance(spec, tuple) else spec
            return getattr(first, "dtype", None) == tf.string
        texts = texts_of(x)
        return texts is not None and len(texts) > 0 and texts.dtype.kind in "OUS" and isinstance(texts.ravel()[0], str)

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, **kwargs):
        if self._takes_strings(x):
            # A tf.data input keeps its own order; arrays are shuffled as Keras would.
            x, y = self._strings_to_dataset(x, y, batch_size, shuffle=kwargs.pop("shuffle", True)), None
            batch_size, kwargs["shuffle"] = None, False
            if validation_data is not None and not hasattr(validation_data, "element_spec"):
                validation_data = self._strings_to_dataset(*validation_data)
            elif validation_data is not None and self._takes_strings(validation_data):
                validation_data = self._strings_to_dataset(validation_data)
        return super().fit(x, y, batch_size=batch_size, validation_data=validation_data, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        if self._takes_strings(x):
            x, batch_size = self._strings_to_dataset(x, batch_size=batch_size), None
        return super().predict(x, batch_size=batch_size, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        if self._takes_strings(x):
            x, y, batch_size = self._strings_to_dataset(x, y, batch_size), None, None
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)
