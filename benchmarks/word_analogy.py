"""Word analogy accuracy of any word vectors, on any questions file in word2vec's format.

    python benchmarks/word_analogy.py --vectors runs/word2vec/<run>/vectors.txt \
                                      --questions questions-words.txt [--restrict 30000]

The questions file has ``: section`` lines and ``a b c d`` lines (a is to b as c is to d), as
Mikolov et al.'s ``questions-words.txt`` (19,544 questions: 5 semantic and 9 syntactic
sections; gensim ships a copy in ``gensim/test/test_data``). A question is answered by the
nearest word to ``b - a + c`` among the ``--restrict`` most frequent words (the three question
words left out) and skipped when one of its words is not among them, as word2vec's
``compute-accuracy`` and gensim's ``evaluate_word_analogies`` do. Published figures on that
file are in Mikolov et al. (2013) and Pennington et al. (2014, Table 2: GloVe by size and corpus).
"""

from __future__ import annotations

import argparse

from tfseq.models import WordVectors


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--vectors", required=True, help="word2vec/GloVe text file (tfseq-train task=word2vec writes one)"
    )
    parser.add_argument("--questions", required=True, help="analogy questions (': section' and 'a b c d' lines)")
    parser.add_argument("--restrict", type=int, default=30000, help="answer among this many most frequent words")
    parser.add_argument("--lowercase", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    vectors = WordVectors.load(args.vectors)
    result = vectors.evaluate_analogies(args.questions, restrict=args.restrict, lowercase=args.lowercase)
    print(
        f"{args.vectors}: {len(vectors)} words, {vectors.vectors.shape[1]} dimensions; answers among the first "
        f"{min(args.restrict, len(vectors))}"
    )
    print("\n| section | accuracy | correct | questions | skipped |\n|---|---|---|---|---|")
    for name, section in result["sections"].items():
        print(
            f"| {name} | {section['accuracy']:.4f} | {section['correct']} | {section['questions']} | {section['skipped']} |"
        )
    print(f"| **all** | {result['accuracy']:.4f} | {result['correct']} | {result['questions']} | {result['skipped']} |")


if __name__ == "__main__":
    main()
