"""Users' own files: tables (CSV/TSV/JSONL), CoNLL columns, parallel text, plain text, images.

Every reader raises :class:`DataError` naming the file, the line and the field on bad input.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from tfseq import choices
from tfseq.data.dataset import DataError


def quoted(value, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters: an error that quotes input (a line, a
    field, a column name) stays one readable line even when the input is a 5 MB line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…({len(text):,} characters)"


def _read_text(path) -> str:
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected a file")
    if not path.exists():
        raise DataError(f"{path}: no such file")
    data = path.read_bytes()
    if b"\0" in data[:8192]:  # as git and grep tell binary files: a NUL byte near the start
        kind = {b"\x1f\x8b": " (gzip: decompress it first)", b"PK": " (a zip archive: extract it first)"}.get(
            data[:2], ""
        )
        raise DataError(f"{path}: not a text file{kind}; expected UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte {data[error.start]:#04x} at offset "
            f"{error.start}); re-encode the file as UTF-8 (for Latin-1: "
            f"iconv -f latin1 -t utf-8)"
        ) from None
    if not text.strip():
        raise DataError(
            f"{path}: the file is empty"
            if not text
            else f"{path}: no text: its {len(text.splitlines())} line(s) are all blank"
        )
    return text


def read_table(
    path,
    text_column: str = "text",
    label_column: str | None = "label",
    label_separator: str | None = None,
    choose: str = "data.text=<column> data.label=<column>",
    keep_columns: bool = False,
) -> pd.DataFrame:
    """A CSV, TSV or JSON-lines file as a DataFrame with columns ``text`` (and ``label``).

    Args:
        path: ``.csv``, ``.tsv``/``.tab`` or ``.jsonl``/``.json`` file, UTF-8.
        text_column, label_column: the user's column names; ``label_column=None`` for unlabeled.
        label_separator: multi-label tables: each label cell holds a text's labels joined by this
            (``"pos|funny"``; an empty cell: no label). JSON lines may hold lists instead
            (``"label": ["pos", "funny"]``). Multi-label cells become sorted tuples of labels.
        choose: how the user picks other columns, for the error message (tfseq-predict: ``--column``).
        keep_columns: also keep the file's other columns, after ``text`` (and ``label``), as
            given (an ``id`` to join answers back by); one named ``text`` or ``label`` becomes
            ``input_text`` / ``input_label``.
    """
    path = Path(path)
    _read_text(path)  # existence, encoding and emptiness, with clear messages
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".json"):
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            sep = "\t" if suffix in (".tsv", ".tab") else ","
            quoting = 3 if sep == "\t" else 0  # TSV corpora (SST-2) carry bare quotes
            frame = pd.read_csv(path, sep=sep, quoting=quoting, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as error:
        raise DataError(f"{path}: cannot parse as {suffix or 'CSV'}: {quoted(str(error), 200)[1:-1]}") from None
    wanted = [c for c in (text_column, label_column) if c is not None]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        found = ", ".join(quoted(str(c)) for c in list(frame.columns)[:20])
        more = f" and {len(frame.columns) - 20} more" if len(frame.columns) > 20 else ""
        hint = _separator_hint(frame, suffix)
        if hint:
            raise DataError(f"{path}: missing column(s) {missing}; {hint}")
        raise DataError(
            f"{path}: missing column(s) {missing}; the file has columns [{found}{more}] (choose with {choose})"
        )
    first_line = 1 if suffix in (".jsonl", ".json") else 2
    out = pd.DataFrame({"text": texts_of(path, frame[text_column], text_column, first_line)})
    if label_column is not None:
        labels = frame[label_column]
        if suffix in (".jsonl", ".json") and not label_separator:
            mixed_kinds(path, labels, label_column, first_line)
        if label_separator or labels.map(lambda v: isinstance(v, list)).any():
            out["label"] = _label_sets(path, labels, label_column, label_separator)
        else:
            out["label"] = canonical_labels(path, labels, label_column, first_line=first_line)
    if keep_columns:
        for column in frame.columns:
            if column not in wanted:
                out[f"input_{column}" if column in out.columns else str(column)] = frame[column].to_numpy()
    return out


def _separator_hint(frame: pd.DataFrame, suffix: str) -> str:
    """When a table read as one column has a header split by another separator (Excel in many
    locales writes ';'; a TSV named .csv), what to do; else ''."""
    if len(frame.columns) != 1 or suffix in (".jsonl", ".json"):
        return ""
    header, used = str(frame.columns[0]), "tabs" if suffix in (".tsv", ".tab") else "commas"
    for sep, name, rename in (
        (";", "semicolons", ""),
        ("\t", "tabs", " (or name it .tsv)"),
        ("|", "'|'", ""),
        (",", "commas", " (or name it .csv)"),
    ):
        if sep in header and name != used:
            return (
                f"its header {quoted(header)} looks separated by {name}, and a {suffix or '.csv'} file is read "
                f"as separated by {used}: save it with {used}{rename}"
            )
    return ""


# Cells that mean "no value" in the tools tables come from (pandas, R, JSON, Python): an empty label.
MISSING = {"", "nan", "none", "null"}


def texts_of(path, values: pd.Series, column: str, first_line: int) -> pd.Series:
    """A text column as stripped strings: a JSON ``null`` (or ``NaN``) or a list or object where a
    text should be is an error naming the line, before anything is fitted (it became the text
    "None", or a NaN that scikit-learn refused half a minute in)."""
    bad = values.map(lambda v: v is None or (isinstance(v, float) and v != v) or isinstance(v, (list, dict)))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = values.iloc[row]
        what = "null" if value is None or isinstance(value, float) else f"a JSON {type(value).__name__}"
        raise DataError(
            f"{path}:{row + first_line}: field {column!r} is {what}; expected a text (a string; an "
            f"empty one is allowed)"
        )
    return values.map(lambda v: str(v).strip())


def _kind(value) -> str:
    """A JSON label's kind: ``boolean``, ``number`` (numeric strings too: ``"1"`` is the label 1),
    ``string``, ``list``; ``missing`` for null."""
    if value is None or (isinstance(value, float) and value != value):
        return "missing"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    try:
        float(str(value))
        return "number"
    except ValueError:
        return "string"


def mixed_kinds(path, labels: pd.Series, column: str, first_line: int) -> None:
    """Refuse a label column that mixes kinds of JSON value (numbers and strings, lists and single
    labels, booleans and others: a file written by two programs, or a stray value), naming the
    first line of the rarer kind and what to do. Numeric strings count as numbers."""
    kinds = labels.map(_kind)
    counts = kinds[kinds != "missing"].value_counts()  # (a missing label has an error of its own)
    if len(counts) < 2:
        return
    common, rare = counts.index[0], counts.index[-1]
    row = int(np.flatnonzero((kinds == rare).to_numpy())[0])
    advice = {
        "list": "use a list on every line (multi-label) or one label on every line",
        "boolean": "use one kind of label (all true/false, or all strings)",
    }
    fix = (
        advice.get(rare)
        or advice.get(common)
        or ("write every label the same way (quote the number as a string if it is a class name)")
    )
    written = json.dumps(labels.iloc[row], ensure_ascii=False)  # as the file wrote it
    article = "an" if rare[0] in "aeiou" else "a"
    raise DataError(
        f"{path}:{row + first_line}: field {column!r} is {written} ({article} {rare}) but "
        f"{counts[common]} line(s) hold {common}s: {fix}"
    )


def canonical_labels(path, labels: pd.Series, column: str, first_line: int) -> pd.Series:
    """Each label cell as one string, the same for the same label however the file wrote it.

    JSON numbers and numeric strings are one label: ``1``, ``"1"`` and ``1.0`` are ``"1"``
    (a whole float is written without ``.0``); JSON booleans are ``"true"`` / ``"false"``, and a
    column that mixes booleans with other labels is refused (``true`` beside ``1`` is a file that
    was written by two programs, not two classes). ``NaN``, ``None``, ``null`` (any case) and blank
    cells are no label: an error naming the line."""

    def canonical(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value).strip() if value is not None else ""

    texts = labels.map(canonical)
    empty = texts.str.lower().isin(MISSING) | labels.map(lambda v: isinstance(v, float) and v != v)
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        what = "empty" if not texts.iloc[row] else f"{quoted(labels.iloc[row])}, which means no value"
        raise DataError(f"{path}:{row + first_line}: field {column!r} is {what}; expected a label")
    return texts


def _label_sets(path, labels: pd.Series, column: str, separator: str | None) -> list[tuple[str, ...]]:
    """Multi-label cells (JSON lists, or strings joined by ``separator``) as sorted label tuples."""
    first_line = 1 if Path(path).suffix.lower() in (".jsonl", ".json") else 2
    sets = []
    for row, value in enumerate(labels):
        if isinstance(value, str) and separator:
            items = value.split(separator)
        elif isinstance(value, str):
            items = [value]
        elif isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            items = [str(v) for v in value]
        else:
            raise DataError(
                f"{path}:{row + first_line}: field {column!r} is {quoted(value)}; expected a list of "
                f"labels (JSON lines) or labels joined by data.label_separator"
            )
        sets.append(tuple(sorted({item.strip() for item in items if item.strip()})))
    return sets


TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".json")


def looks_like_conll(path, sample: int = 400) -> bool:
    """Whether a text file reads as CoNLL columns rather than a text a line: CoNLL-U, or lines of
    2 to 10 whitespace-separated fields in blocks (sentences) split by blank lines, whose last field
    takes few values (tags), where plain text's last words are many."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [line.rstrip("\r\n") for _, line in zip(range(sample), handle)]
    except OSError:
        return False
    if is_conllu(lines):
        return True
    filled = [line.split() for line in lines if line.strip() and not line.startswith("-DOCSTART-")]
    blocks = sum(1 for before, line in zip([""] + lines, lines) if line.strip() and not before.strip())
    if len(filled) < 4 or blocks < 2 or len(filled) / blocks < 2:
        return False
    shaped = sum(2 <= len(fields) <= 10 for fields in filled) / len(filled)
    widths = {len(fields) for fields in filled}
    tags = {fields[-1] for fields in filled}
    return shaped >= 0.95 and len(widths) == 1 and len(tags) <= max(2, len(filled) // 3)


# The ten columns of a CoNLL-U line (Universal Dependencies), by the names data.tag_column takes.
CONLLU_COLUMNS = choices.CONLLU_COLUMNS


def is_conllu(lines) -> bool:
    """Whether ``lines`` read as CoNLL-U: the first that is neither blank nor a ``#`` comment has
    ten tab-separated columns, the first a token number."""
    for line in lines:
        if line.strip() and not line.startswith("#"):
            fields = line.rstrip("\r").split("\t")
            return len(fields) == len(CONLLU_COLUMNS) and fields[0].split("-")[0].isdigit()
    return False


def read_conll(path, tag_column: int | str = -1, word_column: int = 0) -> pd.DataFrame:
    """CoNLL column file: one ``word ... tag`` line per token, a blank line between sentences.

    ``-DOCSTART-`` lines are skipped. Every token line of the file must have the same number of
    columns; ``tag_column`` picks the tag (``-1``: the last, e.g. the chunk tag of CoNLL-2000).
    A CoNLL-U file (Universal Dependencies: ten tab-separated columns) is read as its format says:
    ``#`` comment lines, multiword-token ranges (``1-2``) and empty nodes (``1.1``) are skipped, the
    word is the ``form`` column and ``tag_column`` may be a column's name (``upos``, ``xpos``,
    ``deprel``, ...; :data:`CONLLU_COLUMNS`).
    """
    lines = _read_text(path).split("\n")
    conllu = is_conllu(lines)
    if isinstance(tag_column, str) and not tag_column.lstrip("-").isdigit():
        if not conllu:
            raise DataError(
                f"{path}: data.tag_column={tag_column} names a CoNLL-U column, but the file is not "
                f"CoNLL-U (ten tab-separated columns); give the tag's column number, counting from 0"
            )
        if tag_column.lower() not in CONLLU_COLUMNS:
            raise DataError(
                f"data.tag_column={tag_column}: not a CoNLL-U column; expected one of "
                f"{', '.join(CONLLU_COLUMNS)} (or a number)"
            )
        tag_column = CONLLU_COLUMNS.index(tag_column.lower())
    tag_column = int(tag_column)
    if conllu:
        word_column = CONLLU_COLUMNS.index("form")
    rows, tokens, tags, width = [], [], [], None
    for number, line in enumerate(lines, 1):
        if conllu and line.startswith("#"):
            continue
        fields = line.rstrip("\r").split("\t") if conllu and line.strip() else line.split()
        if conllu and fields and not fields[0].isdigit():  # 1-2 (a multiword token), 1.1 (an empty node)
            continue
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                rows.append((tokens, tags))
            tokens, tags = [], []
            continue
        if width is None:
            width = len(fields)
            if width < 2 or not -width <= tag_column < width:
                need = max(2, tag_column + 1 if tag_column >= 0 else -tag_column)
                raise DataError(
                    f"{path}:{number}: expected at least {need} columns (a token, then the tag in column "
                    f"{tag_column}, counting from 0; -1: the last; data.tag_column), found {width}: {quoted(line)}"
                )
        elif len(fields) != width:
            raise DataError(
                f"{path}:{number}: expected {width} columns like the lines above, found {len(fields)}: {quoted(line)}"
            )
        tokens.append(fields[word_column])
        tags.append(fields[tag_column])
    if tokens:
        rows.append((tokens, tags))
    return pd.DataFrame(rows, columns=["tokens", "tags"])


def read_parallel(path) -> pd.DataFrame:
    """Parallel text: ``source<TAB>target`` per line (extra columns, as in Tatoeba, ignored)."""
    rows = []
    for number, line in enumerate(_read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
            why = "no tab" if len(fields) < 2 else "an empty source" if not fields[0].strip() else "an empty target"
            raise DataError(f"{path}:{number}: expected 'source<TAB>target', found {why}: {quoted(line)}")
        rows.append((fields[0].strip(), fields[1].strip()))
    return pd.DataFrame(rows, columns=["source", "target"])


def text_lines(text: str) -> list[str]:
    """The lines of ``text`` that are not blank; a line ends at ``\\n``, ``\\r\\n`` or ``\\r``
    (universal newlines, as ``open`` reads text), so a Windows file's lines keep no ``\\r``."""
    return [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]


def read_plain_text(path) -> pd.DataFrame:
    """Plain text for language models: one row per non-blank line."""
    return pd.DataFrame({"text": text_lines(_read_text(path))})


def read_image_captions(folder, captions) -> pd.DataFrame:
    """A folder of images with captions from a CSV (``image,caption``) or COCO-style JSON.

    Returns columns ``image`` (float32 arrays in [0, 1], grey or RGB) and ``caption``; an image
    with several captions gives several rows.
    """
    import keras

    folder, captions = Path(folder), Path(captions)
    if captions.suffix.lower() == ".json":
        try:
            coco = json.loads(_read_text(captions))
            names = {img["id"]: img["file_name"] for img in coco["images"]}
            pairs = [(names[a["image_id"]], a["caption"]) for a in coco["annotations"]]
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise DataError(
                f"{captions}: expected COCO captions JSON with 'images' (id, file_name) and "
                f"'annotations' (image_id, caption): {error!r}"
            ) from None
    else:
        table = read_table(captions, text_column="caption", label_column="image")
        pairs = list(zip(table["label"], table["text"]))
    rows, cache = [], {}
    for name, caption in pairs:
        if name not in cache:
            file = folder / name
            if not file.exists():
                raise DataError(f"{captions}: image {name!r} not found in {folder}")
            image = keras.utils.img_to_array(keras.utils.load_img(file)) / 255.0
            cache[name] = image.astype("float32")
        rows.append((cache[name], str(caption)))
    return pd.DataFrame(rows, columns=["image", "caption"])
