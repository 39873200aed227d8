"""tf.data pipelines: vectorize once, cache, shuffle with a seed, batch by similar length.

Bucketing groups examples of similar length so each batch is padded only to its own longest
example; ``benchmarks/pipeline.py`` prints the padding it saves over pad-to-longest batches.
"""

from __future__ import annotations

import math

import numpy as np

from tfseq.data.vectorize import TOKEN_CHARS, aligned_keys, ragged_token_chars, row_lengths, steps_of


def bucket_boundaries(lengths, max_waste: float = 0.1) -> list[int]:
    """Length buckets whose widths grow geometrically, so no bucket pads by more than ``max_waste``.

    Each bucket ``[lo, hi)`` has ``hi <= lo * (1 + max_waste)`` (or width 1), so a batch drawn from
    it pads each example by less than that fraction of its length, however long the tail of the
    length distribution is. Equal-count (quantile) buckets cannot promise that: their last bucket
    spans the whole tail, and long texts carry most of the tokens.
    """
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        return []
    if max_waste <= 0:
        raise ValueError(f"max_waste must be > 0, got {max_waste}")
    low, high = max(int(lengths.min()), 1), int(lengths.max())
    boundaries = [low]
    while boundaries[-1] <= high:
        boundaries.append(max(boundaries[-1] + 1, math.ceil(boundaries[-1] * (1 + max_waste))))
    return boundaries[1:]


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one epoch: a function of the run's seed and the epoch number alone,
    so a resumed run shuffles its epochs as the uninterrupted run did."""
    return (int(seed) * 1_000_003 + int(epoch)) % 2**31


class Epochs:
    """Training data whose every epoch is made from its number: ``one_epoch(epoch)`` returns that
    epoch's batches, ``steps`` of them.

    ``tf.data``'s ``reshuffle_each_iteration`` draws each epoch's order from how many times the
    dataset was iterated in this process, so a run resumed at epoch 3 would replay epoch 1's
    order (and Keras starts an extra iterator now and then). Here the order of epoch ``e``
    depends on ``(seed, e)`` alone; :meth:`dataset` chains epochs ``first .. last - 1`` for
    ``model.fit(..., steps_per_epoch=steps)``.
    """

    def __init__(self, one_epoch, steps: int):
        self.one_epoch, self.steps = one_epoch, int(steps)

    def dataset(self, first: int, last: int):
        import functools

        import tensorflow as tf

        epochs = [self.one_epoch(epoch) for epoch in range(first, max(last, first + 1))]
        return functools.reduce(lambda a, b: a.concatenate(b), epochs).prefetch(tf.data.AUTOTUNE)

    def __iter__(self):  # the first epoch's batches
        return iter(self.one_epoch(0))


def shuffled_epochs(ds, size: int, batch_size: int, seed: int) -> Epochs:
    """``ds`` (``size`` examples) shuffled anew each epoch by :func:`epoch_seed`, in batches."""
    return Epochs(
        lambda epoch: ds.shuffle(min(size, 1_000_000), seed=epoch_seed(seed, epoch)).batch(batch_size),
        steps=-(-size // batch_size),
    )


def make_dataset(
    features: dict,
    targets=None,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    boundaries=None,
    length_key: str = "tokens",
    cache: bool = True,
    epochs: bool = False,
):
    """A batched ``tf.data.Dataset`` of ``(features, targets)`` (or features alone).

    Args:
        features: dict of equal-length sequences of int ids, ragged or padded (0 = padding);
            the output of :class:`~tfseq.data.vectorize.TextVectorizer` or any such dict.
        targets: one per example (class ids, or multi-hot float rows), or one per step (tag id
            lists: ragged, or a 2-D integer array, trimmed like the features), or ``None``.
        boundaries: length buckets; ``None`` batches in order, padded to each batch's longest.
        shuffle, seed: reshuffled each epoch with a fixed seed, so runs are reproducible.
        epochs: return :class:`Epochs` (each epoch's order from ``(seed, epoch)``: what trainers
            use, so that resuming is exact) instead of a dataset.
    """
    import tensorflow as tf

    x = {key: _padded(value) for key, value in features.items()}
    n = len(x[length_key])
    # Each example keeps its own length (trailing padding trimmed); batches re-pad. At least one
    # step: a batch of texts without a token (empty lines, bucketed together) is then one padded,
    # masked step, not a zero-length sequence, which recurrent layers cannot run.
    lengths = steps_of(x[length_key])
    # Keys aligned with the tokens (n-grams) share their length; others (a "chars" bag, a
    # seq2seq target) keep their own.
    aligned = [key for key in aligned_keys(x) if key in (length_key, TOKEN_CHARS) or key.startswith("ngrams_")]
    own = {key: lengths if key in aligned else row_lengths(value) for key, value in x.items()}
    # Each word's characters are held as they are, not padded to the split's longest sentence and
    # word (CoNLL-2000: 5.5 MB of ids in a 113 MB padded array): ragged, made dense per example.
    x = {
        key: ragged_token_chars(value, lengths) if isinstance(value, np.ndarray) and value.ndim == 3 else value
        for key, value in x.items()
    }
    if targets is not None:
        targets = _padded(targets) if _is_ragged(targets) else np.asarray(targets)
        per_step = targets.ndim == 2 and np.issubdtype(targets.dtype, np.integer)
        target_lengths = steps_of(targets) if per_step else None
        ds = tf.data.Dataset.from_tensor_slices(
            (x, own, targets, target_lengths if target_lengths is not None else lengths)
        )
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, own))
    ragged_targets = targets is not None and target_lengths is not None

    def trim(feats, length, *rest):
        feats = {k: _dense(v) if isinstance(v, tf.RaggedTensor) else v[: length[k]] for k, v in feats.items()}
        if not rest:
            return feats
        target, target_length = rest
        return feats, (target[:target_length] if ragged_targets else target)

    ds = ds.map(trim, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    examples = ds

    def length(feats, *target):
        return tf.shape(feats[length_key])[0]

    if boundaries:
        # Each bucket yields ceil(members / batch_size) batches whatever the shuffle order, so the
        # epoch length is known: Keras then shows it in the first epoch's progress bar too.
        members = np.bincount(np.searchsorted(boundaries, lengths, side="right"), minlength=len(boundaries) + 1)
        steps = int(np.sum(-(-members // batch_size)))
    else:
        steps = -(-n // batch_size)

    def one_epoch(epoch=None):
        ds = examples
        if shuffle:  # a given epoch's order depends on it alone; otherwise a new one every pass
            ds = ds.shuffle(
                min(n, 20000),
                seed=seed if epoch is None else epoch_seed(seed, epoch),
                reshuffle_each_iteration=epoch is None,
            )
        if boundaries:
            ds = ds.bucket_by_sequence_length(
                length,
                bucket_boundaries=list(boundaries),
                bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
                pad_to_bucket_boundary=False,
                drop_remainder=False,
            )
        else:
            ds = ds.padded_batch(batch_size)
        return ds.apply(tf.data.experimental.assert_cardinality(steps))

    if epochs:
        return Epochs(one_epoch, steps)
    return one_epoch().prefetch(tf.data.AUTOTUNE)


def even_first_batch(ds, replicas: int, name: str = "validation"):
    """``ds`` with its first batch cut to a multiple of ``replicas`` rows (the rest follows as a
    batch of its own), so that Keras 3 can evaluate it under a ``tf.distribute`` strategy.

    Keras' ``evaluate()`` (and so ``fit(validation_data=...)``) averages the first batch across
    the replicas to learn the input shapes, which fails when the replicas get different numbers
    of rows (keras-team/keras#19246). A length-bucketed split whose buckets never fill starts
    with a remainder of any size. Needs a pipeline that yields the same batches every pass
    (not reshuffled).
    """
    import tensorflow as tf

    if replicas <= 1:
        return ds
    first = next(iter(ds.take(1)), None)
    if first is None:
        return ds
    size = int(tf.shape(tf.nest.flatten(first)[0])[0])
    cut = size // replicas * replicas
    if cut == size:
        return ds
    if cut == 0:
        raise ValueError(
            f"the {name} split's first batch has {size} row(s), fewer than the {replicas} replicas "
            "of train.distribute: give it more rows, or train without train.distribute"
        )

    def rows(start, stop):
        return lambda *batch: tf.nest.map_structure(lambda t: t[start:stop], batch if len(batch) > 1 else batch[0])

    head = ds.take(1)
    return head.map(rows(0, cut)).concatenate(head.map(rows(cut, None))).concatenate(ds.skip(1))


def _padded(values) -> np.ndarray:
    """Rows of ids as one int32 matrix, right-padded with 0 (ragged ``token_chars`` stay ragged)."""
    if hasattr(values, "flat_values") and values.shape.rank == 3:
        return values
    if hasattr(values, "to_tensor"):
        values = values.to_tensor()
    if hasattr(values, "numpy"):
        values = values.numpy()
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values.astype("int32", copy=False)
    width = max((len(v) for v in values), default=0)
    out = np.zeros((len(values), width), dtype="int32")
    for i, row in enumerate(values):
        out[i, : len(row)] = row
    return out


def _dense(ragged):
    """One example's ``(T, None)`` ragged ids, padded with 0 to its longest row (at least one column)."""
    import tensorflow as tf

    dense = ragged.to_tensor(0)
    return tf.pad(dense, [[0, 0], [0, tf.maximum(1 - tf.shape(dense)[1], 0)]])


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
