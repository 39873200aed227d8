"""Model methods that loop (decoding, scoring) run as one traced graph under TensorFlow."""

from __future__ import annotations

import weakref

import keras

_TRACED = weakref.WeakKeyDictionary()  # model -> {name: traced function}; kept off the model: no state to save


def traced(model, name: str, function):
    """``function`` traced once per model and ``name`` under TensorFlow (as Keras' own predict
    is): recurrent loops and scans run op by op, many times slower, when eager. Other backends
    get ``function`` as it is."""
    functions = _TRACED.setdefault(model, {})
    if name not in functions:
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            function = tf.function(function, reduce_retracing=True)
        functions[name] = function
    return functions[name]
