"""tf.data pipelines: vectorize once, cache, shuffle with a seed, batch by similar length.

Bucketing groups examples of similar length so each batch is padded only to its own longest
example; ``benchmarks/pipeline.py`` prints the padding it saves over pad-to-longest batches.
"""

from __future__ import annotations

import numpy as np


def bucket_boundaries(lengths, buckets: int = 12) -> list[int]:
    """Length quantiles of the training data: about as many examples fall in each bucket."""
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        return []
    qs = np.quantile(lengths, np.linspace(0, 1, buckets + 1)[1:-1])
    return sorted({int(q) + 1 for q in qs if q >= 1})


def make_dataset(features: dict, targets=None, batch_size: int = 32, shuffle: bool = False,
                 seed: int = 0, boundaries=None, length_key: str = "tokens", cache: bool = True):
    """A batched ``tf.data.Dataset`` of ``(features, targets)`` (or features alone).

    Args:
        features: dict of equal-length sequences of int ids, ragged or padded (0 = padding);
            the output of :class:`~tfseq.data.vectorize.TextVectorizer` or any such dict.
        targets: array-like aligned with the features (labels, tag id lists, ...), or ``None``.
        boundaries: length buckets; ``None`` batches in order, padded to each batch's longest.
        shuffle, seed: reshuffled each epoch with a fixed seed, so runs are reproducible.
    """
    import tensorflow as tf

    def ragged(values):
        if isinstance(values, tf.RaggedTensor):
            return values
        values = np.asarray(values)
        if values.ndim == 2 and values.dtype != object:
            lengths = (values != 0).sum(axis=1)
            # keep interior zeros: trim only trailing padding
            trimmed = [row[: (np.flatnonzero(row)[-1] + 1) if np.any(row) else 0] for row in values]
            del lengths
            return tf.ragged.constant(trimmed, dtype=tf.int32, ragged_rank=1)
        return tf.ragged.constant(list(values), dtype=tf.int32)

    x = {key: ragged(value) for key, value in features.items()}
    n = int(x[length_key].nrows())
    if targets is not None:
        targets = tf.ragged.constant(list(targets)) if _is_ragged(targets) else tf.convert_to_tensor(np.asarray(targets))
        ds = tf.data.Dataset.from_tensor_slices((x, targets))
    else:
        ds = tf.data.Dataset.from_tensor_slices(x)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(min(n, 20000), seed=seed, reshuffle_each_iteration=True)

    def length(*element):
        return tf.shape(element[0][length_key])[0]

    def dense(*element):
        feats = {k: v for k, v in element[0].items()}
        if len(element) == 1:
            return feats
        return feats, element[1]

    if boundaries:
        ds = ds.bucket_by_sequence_length(
            length, bucket_boundaries=list(boundaries),
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            pad_to_bucket_boundary=False, drop_remainder=False,
        )
    else:
        ds = ds.padded_batch(batch_size)
    return ds.map(dense).prefetch(tf.data.AUTOTUNE)


def _is_ragged(values) -> bool:
    first = values[0] if len(values) else None
    return isinstance(first, (list, tuple, np.ndarray)) and len({len(v) for v in values}) > 1


def padding_ratio(dataset, key: str = "tokens") -> tuple[int, int]:
    """(padded positions, real tokens) over a batched dataset: waste = padded / real - 1."""
    padded = real = 0
    for element in dataset:
        ids = (element[0] if isinstance(element, tuple) else element)[key].numpy()
        padded += ids.size
        real += int((ids != 0).sum())
    return padded, real
