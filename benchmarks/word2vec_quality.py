"""word2vec at its defaults against gensim's defaults, on the same lines and the same cores.

    python benchmarks/word2vec_quality.py [--corpora small mid dictionary] [--shared ../shared/data]
        [--gcide gcide.dict.dz] [-- key=value ...]

Corpora, one text a line, read as whitespace-separated words and lower-cased by both tools:
``small`` is sentence polarity (10,662 lines, 0.22M words); ``mid`` adds the SST-2 training
phrases and Tiny Shakespeare (1.1M words); ``dictionary`` is the GNU Collaborative International
Dictionary of English (Webster's 1913 and WordNet additions; 237k entries, 3.9M words once its
markup, pronunciations, etymologies and citations are cut), the largest English prose reachable
here, from Debian's package: ``apt-get download dict-gcide && dpkg -x dict-gcide_*.deb gcide``,
then ``--gcide gcide/usr/share/dictd/gcide.dict.dz``. On ``small`` and ``mid`` both tools score
near zero (too little text); ``dictionary`` is where they separate. 90% of the lines (shuffled)
train both tools (the other 10% are tfseq's validation lines). Scores: WordSim-353 Spearman (``wordsim353.tsv``) and Google analogy
accuracy (``questions-words.txt``, answers among the 30,000 most frequent words), both files
from gensim's test data, as gensim's ``evaluate_word_pairs``/``evaluate_word_analogies`` score
them (:meth:`tfseq.vectors.WordVectors.evaluate_word_pairs`, ``evaluate_analogies``). Time is
wall-clock: gensim's vocabulary and training (its default 3 worker threads); tfseq's whole
``tfseq-train task=word2vec`` process, start-up included. Needs ``pip install gensim``.
Published: skip-gram on 6B words, WordSim-353 0.66-0.70 (Pennington et al. 2014, Table 3).
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

import runs

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def dictionary_lines(path: Path) -> list[str]:
    """GCIDE's entries as text: one line per entry (definitions, notes, quotations), the
    headword line's pronunciation, ``[bracketed]`` etymologies and sources, and ``--Author``
    citations cut; lower-cased words (letters and inner apostrophes) of entries of 3 or more."""
    import gzip
    import re

    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:  # dictzip is gzip
        text = handle.read()
    lines = []
    for entry in text.split("\n\n"):
        rows = entry.split("\n")
        body = rows if not rows[0] or rows[0][0].isspace() else rows[1:]  # headword line out
        prose = re.sub(r"\[[^\]]*\]|--[A-Z][\w.]*|\\[^\\]*\\", " ", " ".join(r.strip() for r in body))
        words = re.findall(r"[a-z]+(?:'[a-z]+)?", prose.lower())
        if len(words) >= 3:
            lines.append(" ".join(words))
    return lines


def corpus_lines(name: str, shared: Path, gcide: Path | None = None) -> list[str]:
    if name == "dictionary":
        if gcide is None or not gcide.exists():
            raise SystemExit(
                f"--gcide {gcide}: not found; get it with `apt-get download dict-gcide && "
                "dpkg -x dict-gcide_*.deb gcide` and pass gcide/usr/share/dictd/gcide.dict.dz"
            )
        lines = dictionary_lines(gcide)
        random.Random(0).shuffle(lines)
        return lines
    polarity = shared / "rt-polarity"
    lines = [
        line.strip()
        for part in ("rt-polarity.pos", "rt-polarity.neg")
        for line in (polarity / part).read_text(encoding="latin-1").splitlines()
    ]
    if name == "mid":
        with open(shared / "sst2" / "train.tsv", encoding="utf-8") as handle:
            lines += [row["sentence"].strip() for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
        lines += (shared / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8").splitlines()
    lines = [line.lower() for line in lines if line.strip()]
    random.Random(0).shuffle(lines)  # held-out lines from every source, not Shakespeare's end alone
    return lines


def score(vectors, test_data: Path) -> dict:
    pairs = vectors.evaluate_word_pairs(test_data / "wordsim353.tsv")
    analogies = vectors.evaluate_analogies(test_data / "questions-words.txt", restrict=30000)
    return {
        "wordsim": pairs["spearman"],
        "pairs": pairs["pairs"],
        "analogy": analogies["accuracy"],
        "questions": analogies["questions"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", default=["small", "mid"], choices=["small", "mid", "dictionary"])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--gcide", type=Path, help="dict-gcide's gcide.dict.dz (the dictionary corpus)")
    parser.add_argument("overrides", nargs="*", help="extra tfseq recipe overrides, e.g. train.epochs=5")
    args = parser.parse_args()
    import gensim

    from tfseq.vectors import WordVectors

    test_data = Path(gensim.__file__).parent / "test" / "test_data"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.corpora:
            lines = corpus_lines(name, args.shared, args.gcide)
            cut = int(len(lines) * 0.9)
            train, held = Path(tmp, f"{name}.train.txt"), Path(tmp, f"{name}.valid.txt")
            train.write_text("\n".join(lines[:cut]) + "\n", encoding="utf-8")
            held.write_text("\n".join(lines[cut:]) + "\n", encoding="utf-8")
            words = sum(len(line.split()) for line in lines[:cut])

            start = time.perf_counter()
            model = gensim.models.Word2Vec([line.split() for line in lines[:cut]], seed=0)
            seconds = time.perf_counter() - start
            theirs = WordVectors(model.wv.index_to_key, model.wv.vectors)
            rows.append(
                (name, words, "gensim 4 defaults (CBOW, 5 epochs, 3 workers)", seconds, score(theirs, test_data))
            )

            run_dir = Path(tmp, f"{name}.run")
            start = time.perf_counter()
            metrics = runs.train(
                run_dir,
                "task=word2vec",
                f"data.train={train}",
                f"data.validation={held}",
                f"data.test={held}",
                "data.split=word",
                *args.overrides,
            )
            seconds = time.perf_counter() - start
            ours = WordVectors.load(run_dir / "vectors.txt")
            label = "tfseq defaults" + (f" + {' '.join(args.overrides)}" if args.overrides else "")
            rows.append((name, words, label, seconds, score(ours, test_data), metrics))
    print(
        "\n| corpus | training words | tool | WordSim-353 Spearman (pairs) | analogies (questions) | wall s | x gensim |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        name, words, label, seconds, s = row[:5]
        peer = next(r[3] for r in rows if r[0] == name and r[2].startswith("gensim"))
        print(
            f"| {name} | {words:,} | {label} | {s['wordsim']:.3f} ({s['pairs']}) | {s['analogy']:.4f} ({s['questions']}) "
            f"| {seconds:.0f} | {seconds / peer:.1f} |"
        )


if __name__ == "__main__":
    main()
