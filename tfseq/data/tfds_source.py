"""TensorFlow Datasets as a source: ``data=tfds:<name>``."""

from __future__ import annotations

import pandas as pd

from tfseq.data.dataset import DataError, Dataset

# Which features of well-known TFDS datasets hold the text and the label.
FEATURES = {
    "imdb_reviews": ("classification", "text", "label"),
    "ag_news_subset": ("classification", "description", "label"),
    "yelp_polarity_reviews": ("classification", "text", "label"),
    "glue/sst2": ("classification", "sentence", "label"),
    "conll2003": ("tagging", "tokens", "ner"),
    "ted_hrlr_translate/pt_to_en": ("seq2seq", "pt", "en"),
    "tiny_shakespeare": ("language-model", "text", None),
}
COLUMNS = {
    "classification": ("text", "label"),
    "tagging": ("tokens", "tags"),
    "seq2seq": ("source", "target"),
    "language-model": ("text", None),
}


PROBE = ("storage.googleapis.com", 443)  # where TFDS looks first for prepared datasets


def _reachable(address=PROBE, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to ``address`` opens within ``timeout`` seconds."""
    import socket

    try:
        socket.create_connection(address, timeout=timeout).close()
        return True
    except OSError:
        return False


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def load_tfds(name: str, data_dir=None, features=None) -> Dataset:
    """Load a TFDS dataset with the real ``tfds.load`` into tfseq's split layout.

    Offline (or before a first download) this raises :class:`DataError` saying so and how to use
    local files instead. ``features=(kind, text_feature, label_feature)`` covers datasets that
    are not in :data:`FEATURES`.
    """
    import tensorflow_datasets as tfds

    kind, x_key, y_key = features or FEATURES.get(name, (None, None, None))
    if kind is None:
        raise DataError(
            f"tfds:{name}: tfseq does not know which features hold the text and label; known: {sorted(FEATURES)}"
        )
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if not builder.is_prepared() and not _reachable():
            # tfds.load would try the downloads for minutes (retries, timeouts) before failing.
            raise ConnectionError(f"not prepared in {builder.data_dir} and {PROBE[0]} is unreachable")
        available = list(builder.info.splits.keys()) if builder.info.splits else []
        wanted = {"train": "train", "validation": "validation", "test": "test"}
        if "validation" not in available and available:
            wanted["validation"] = "train[90%:]"
            wanted["train"] = "train[:90%]"
        loaded = {s: tfds.load(name, split=spec, data_dir=data_dir) for s, spec in wanted.items()}
    except Exception as error:  # network, missing files, missing optional modules ...
        raise DataError(
            f"tfds:{name} is not on this machine and could not be downloaded "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}). "
            f"Run once where the internet is reachable (tfds.load({name!r}) fills ~/tensorflow_datasets), "
            f"or use local files: data.train=train.csv data.test=test.csv data.text=... data.label=..."
        ) from None
    text_col, label_col = COLUMNS[kind]
    label_names = None
    if label_col and hasattr(builder.info.features[y_key], "names"):
        label_names = builder.info.features[y_key].names
    elif label_col and kind == "tagging":
        label_names = builder.info.features[y_key].feature.names
    splits = {}
    for split, ds in loaded.items():
        rows = []
        for example in tfds.as_numpy(ds):
            x = _decode(example[x_key])
            if label_col is None:
                rows.append((x,))
                continue
            y = _decode(example[y_key])
            if label_names is not None:
                y = [label_names[i] for i in y] if isinstance(y, list) else label_names[int(y)]
            rows.append((x, y))
        splits[split] = pd.DataFrame(rows, columns=[c for c in (text_col, label_col) if c])
    card = {"source": f"TensorFlow Datasets: {name}", "license": "see tfds.builder(name).info"}
    return Dataset(f"tfds:{name}", kind, splits, card)
