"""Model methods that loop (decoding, scoring) run as one traced graph under TensorFlow."""

from __future__ import annotations

import weakref

import keras
import numpy as np
from keras import ops

_TRACED = weakref.WeakKeyDictionary()  # model -> {name: traced function}; kept off the model: no state to save


def traced(model, name: str, function):
    """``function`` traced once per model and ``name`` under TensorFlow (as Keras' own predict
    is): recurrent loops and scans run op by op, many times slower, when eager. Other backends
    get ``function`` as it is.

    The one trace takes every batch size and width: it is made for the first call's arrays with
    their batch (first) axis unknown, and the width (second) axis of integer ids too; other axes
    (a state's units, a character axis) keep their size. (``tf.function``'s ``reduce_retracing``
    alone traces the first shape, then again for the second, relaxed.)"""
    functions = _TRACED.setdefault(model, {})
    if name not in functions:
        if keras.backend.backend() == "tensorflow":
            functions[name] = _traced_for_any_shape(function)
        else:
            functions[name] = function
    return functions[name]


def _traced_for_any_shape(function):
    import tensorflow as tf

    # keras.ops loops (while_loop, scan) need no AutoGraph, whose conversion of a lambda can
    # fail to find its source and warn
    graph = tf.function(function, reduce_retracing=True, autograph=False)

    def any_shape(value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        value = tf.convert_to_tensor(value)
        shape = value.shape.as_list()
        free = 2 if value.dtype.is_integer else 1  # ids: batch and width; floats: batch
        return tf.TensorSpec([None] * min(free, len(shape)) + shape[free:], value.dtype)

    def run(*args):
        if not graph.experimental_get_tracing_count():
            graph.get_concrete_function(*tf.nest.map_structure(any_shape, args))
        return graph(*args)  # a call of another dtype or rank still traces its own

    return run


def in_batches(run, rows, batch_size: int, by_length: bool = False) -> np.ndarray:
    """``run`` over ``rows`` ``batch_size`` at a time; outputs concatenated in the rows' order.

    ``by_length``: ``rows`` are right-padded ids (0); each batch holds rows of similar length,
    cut to its longest, so a traced ``run`` sees few distinct widths and little padding.
    """
    rows = np.asarray(rows)
    lengths = (rows != 0).sum(axis=1) if by_length else None
    order = np.argsort(lengths, kind="stable") if by_length else np.arange(len(rows))
    outputs = []
    for start in range(0, len(rows), batch_size):
        index = order[start : start + batch_size]
        batch = rows[index][:, : max(int(lengths[index].max()), 1)] if by_length else rows[index]
        outputs.append(ops.convert_to_numpy(run(batch)))
    if not outputs:
        return np.zeros((0,))
    out = np.concatenate(outputs)
    result = np.empty_like(out)
    result[order] = out
    return result
