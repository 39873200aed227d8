"""Word vectors without training code: load a word2vec/GloVe text file, find neighbours and
analogies, score an analogy questions file (gensim's ``KeyedVectors`` in small, numpy only).

    >>> vectors = WordVectors.load("runs/word2vec/<run>/vectors.txt")
    >>> vectors.most_similar(positive=["king", "woman"], negative=["man"], top=1)
    [('queen', 0.71)]
    >>> vectors.evaluate_analogies("questions-words.txt")["accuracy"]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def vector_lines(path, dim: int | None = None):
    """``(word, values)`` for each word of a word2vec file (text or binary, after a ``<count>
    <dim>`` header) or a GloVe text file (no header). Text lines must hold a word and ``dim``
    numbers (``None``: as many as the first line); one that does not, or bytes that are not UTF-8
    text, is an error naming the file, the line and what to do."""
    from tfseq.data.dataset import DataError

    width = binary_width(path)
    if width is not None:
        if dim is not None and dim != width:
            raise DataError(f"{path}: binary word2vec vectors of {width} values, expected {dim}")
        yield from binary_lines(path, width)
        return
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(
                    f"{path}:{number}: not UTF-8 text; expected a word2vec file (text, or binary after "
                    f"a '<count> <dim>' header) or a GloVe text file"
                ) from None
            fields = line.rstrip().split(" ")
            if number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
                continue  # word2vec header
            dim = dim or len(fields) - 1
            if dim < 1 or len(fields) != dim + 1:
                raise DataError(f"{path}:{number}: expected a word and {dim} numbers, found {len(fields)} fields")
            yield fields[0], fields[1:]


NUMBER_BYTES = frozenset(b"0123456789.eE+-naifNAIF \t\r\n")  # what a text file's values are written with


def binary_width(path) -> int | None:
    """The number of values per word if ``path`` is a binary word2vec file (a text ``<count>
    <dim>`` header, then each word, a space and ``dim`` little-endian float32s), else None."""
    with open(path, "rb") as handle:
        header = handle.readline().split()
        if len(header) != 2 or not all(field.isdigit() for field in header):
            return None
        first = handle.read(4096)
    word_end = first.find(b" ")
    values = first[word_end + 1 : word_end + 1 + 4 * int(header[1])] if word_end >= 0 else b""
    return int(header[1]) if values and not set(values) <= NUMBER_BYTES else None


def binary_lines(path, width: int):
    """``(word, float32 values)`` of a binary word2vec file (:func:`binary_width`)."""
    from tfseq.data.dataset import DataError

    with open(path, "rb") as handle:
        count = int(handle.readline().split()[0])
        for number in range(1, count + 1):
            word = bytearray()
            while (byte := handle.read(1)) != b" ":
                if not byte:
                    raise DataError(f"{path}: binary word2vec file ends at word {number} of {count} (truncated?)")
                if byte != b"\n" or word:  # a newline may follow the previous vector
                    word += byte
            values = handle.read(4 * width)
            if len(values) != 4 * width:
                raise DataError(f"{path}: binary word2vec file ends inside word {number}'s vector (truncated?)")
            try:
                yield word.decode("utf-8"), np.frombuffer(values, "<f4")
            except UnicodeDecodeError:
                raise DataError(f"{path}: word {number} of the binary word2vec file is not UTF-8") from None


class WordVectors:
    """``words`` and their ``vectors`` (one row each), compared by cosine similarity.

    Args:
        words: the words, most frequent first (as word2vec and GloVe files list them).
        vectors: ``(len(words), dim)`` array.
    """

    def __init__(self, words, vectors):
        self.words = [str(w) for w in words]
        self.vectors = np.asarray(vectors, "float32")
        if self.vectors.ndim != 2 or len(self.words) != len(self.vectors):
            raise ValueError(
                f"expected one vector per word: {len(self.words)} words, vectors of shape {self.vectors.shape}"
            )
        self.index = {word: i for i, word in enumerate(self.words)}
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self.unit = self.vectors / np.maximum(norms, 1e-12)

    # -- files ----------------------------------------------------------------------------------
    @classmethod
    def load(cls, path, limit: int | None = None) -> WordVectors:
        """A word2vec (``<count> <dim>`` header) or GloVe (no header) text file; ``limit``: the
        first that many words only. A line of the wrong width is an error naming file and line."""
        from tfseq.data.dataset import DataError

        words, rows = [], []
        for word, values in vector_lines(path):
            words.append(word)
            rows.append(np.asarray(values, "float32"))
            if limit and len(words) >= limit:
                break
        if not words:
            raise DataError(f"{path}: no word vectors in the file")
        return cls(words, np.stack(rows))

    def save(self, path, binary: bool = False) -> Path:
        """The word2vec format: a ``<count> <dim>`` header, then ``word v1 v2 ...`` lines, or with
        ``binary`` each word, a space and its float32 values (the C tool's ``-binary 1``, and
        gensim's ``save_word2vec_format(binary=True)``)."""
        from tfseq.atomic import atomic_write

        header = f"{len(self.words)} {self.vectors.shape[1]}\n"
        if binary:
            body = b"".join(
                word.encode("utf-8") + b" " + row.astype("<f4").tobytes() + b"\n"
                for word, row in zip(self.words, self.vectors)
            )
            return atomic_write(path, header.encode("ascii") + body)
        lines = [f"{word} " + " ".join(f"{v:.5f}" for v in row) for word, row in zip(self.words, self.vectors)]
        return atomic_write(path, header + "\n".join(lines) + "\n")

    # -- queries --------------------------------------------------------------------------------
    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    def __getitem__(self, word) -> np.ndarray:
        return self.vectors[self._id(word)]

    def _id(self, word) -> int:
        if word not in self.index:
            raise KeyError(f"{word!r} is not among the {len(self.words)} words")
        return self.index[word]

    def most_similar(self, positive=(), negative=(), top: int = 10) -> list[tuple[str, float]]:
        """The ``top`` words nearest to the sum of the ``positive`` words' unit vectors minus the
        ``negative`` ones' (3CosAdd: ``king - man + woman``), the query words left out."""
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = [negative] if isinstance(negative, str) else list(negative)
        if not positive and not negative:
            raise ValueError("most_similar needs at least one positive or negative word")
        query = sum(self.unit[self._id(w)] for w in positive) - sum(
            (self.unit[self._id(w)] for w in negative), np.zeros(self.unit.shape[1], "float32")
        )
        similarity = self.unit @ (query / max(np.linalg.norm(query), 1e-12))
        similarity[[self.index[w] for w in (*positive, *negative)]] = -np.inf
        best = np.argsort(-similarity)[:top]
        return [(self.words[i], float(similarity[i])) for i in best]

    def evaluate_analogies(self, path, restrict: int | None = 30000, lowercase: bool = True) -> dict:
        """Accuracy on an analogy questions file (``: section`` lines, then ``a b c d`` lines: a is
        to b as c is to d), as word2vec's ``compute-accuracy`` and gensim score it: the answer is
        the nearest word to ``b - a + c`` among the first ``restrict`` words, the three question
        words left out; a question with a word outside those is skipped (counted apart)."""
        from tfseq.data.dataset import DataError

        limit = min(restrict or len(self.words), len(self.words))
        words = [w.lower() for w in self.words[:limit]] if lowercase else self.words[:limit]
        index = {}
        for i, word in enumerate(words):
            index.setdefault(word, i)  # the most frequent spelling of a lower-cased word
        unit = self.unit[:limit]
        sections, section = {}, None
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith(":"):
                section = sections.setdefault(line[1:].strip(), {"questions": [], "skipped": 0})
                continue
            fields = line.lower().split() if lowercase else line.split()
            if not fields:
                continue
            if len(fields) != 4 or section is None:
                raise DataError(f"{path}:{number}: expected ': section' or four words 'a b c d', found {line!r}")
            if all(f in index for f in fields):
                section["questions"].append([index[f] for f in fields])
            else:
                section["skipped"] += 1
        result, correct_all, total_all = {"sections": {}}, 0, 0
        for name, found in sections.items():
            questions = np.asarray(found["questions"], "int64").reshape(-1, 4)
            correct = 0
            for start in range(0, len(questions), 512):
                batch = questions[start : start + 512]
                query = unit[batch[:, 1]] - unit[batch[:, 0]] + unit[batch[:, 2]]
                scores = query @ unit.T
                np.put_along_axis(scores, batch[:, :3], -np.inf, axis=1)
                correct += int((scores.argmax(axis=1) == batch[:, 3]).sum())
            result["sections"][name] = {
                "accuracy": correct / len(questions) if len(questions) else float("nan"),
                "correct": correct,
                "questions": len(questions),
                "skipped": found["skipped"],
            }
            correct_all, total_all = correct_all + correct, total_all + len(questions)
        result.update(
            accuracy=correct_all / total_all if total_all else float("nan"),
            correct=correct_all,
            questions=total_all,
            skipped=sum(s["skipped"] for s in sections.values()),
        )
        return result
