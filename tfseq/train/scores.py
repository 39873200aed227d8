"""Scores of generated token sequences against references: exact match, token error rate (WER
for words, PER for phonemes) and corpus BLEU, shared by the tasks that generate (seq2seq,
caption) and the benchmarks."""

from __future__ import annotations

import numpy as np

# Headline metrics where lower is better; every other headline (accuracy, F1, BLEU) is higher-better.
LOWER_IS_BETTER = frozenset(
    {"loss", "perplexity", "bits_per_token", "token_error_rate", "word_error_rate", "wer", "cer"}
)


def better(key: str, mine: float, theirs: float) -> bool:
    """Whether ``mine`` beats ``theirs`` on the metric ``key`` (strictly: a tie is not better)."""
    return mine < theirs if key in LOWER_IS_BETTER else mine > theirs


def sequence_scores(references: dict, predicted: dict, join=None) -> dict:
    """``references``: source -> list of token lists; ``predicted``: source -> token list.

    ``accuracy``: share of sources whose output equals one of their references;
    ``token_error_rate``: sum over sources of the edit distance to the nearest reference,
    over the sum of that reference's lengths (Levenshtein on tokens, rapidfuzz);
    with ``join`` (tokens -> text), ``bleu``: corpus BLEU-4 of the joined texts against all
    their references, sacrebleu's (0-100, its standard ``13a`` tokenizer: the figure papers report).
    """
    from rapidfuzz.distance import Levenshtein

    right = edits = length = 0
    for source, options in references.items():
        output = predicted[source]
        distances = [Levenshtein.distance(output, reference) for reference in options]
        nearest = int(np.argmin(distances))
        right += distances[nearest] == 0
        edits += distances[nearest]
        length += len(options[nearest])
    scores = {"accuracy": right / max(len(references), 1), "token_error_rate": edits / max(length, 1)}
    if join is not None:
        import sacrebleu

        sources = list(references)
        streams = max(len(references[s]) for s in sources)
        # sacrebleu takes reference streams of equal length: repeat a source's first reference
        # (a repeated reference changes no clipped count and no closest length).
        refs = [[join(references[s][min(k, len(references[s]) - 1)]) for s in sources] for k in range(streams)]
        scores["bleu"] = sacrebleu.corpus_bleu([join(predicted[s]) for s in sources], refs).score
    return scores
