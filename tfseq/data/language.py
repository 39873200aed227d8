"""Defaults that depend on the language of the data, decided from the training text.

A recipe key set to ``auto`` is replaced by what these functions choose, and the trainer prints
the choice and the reason in one line and records it in the run's ``config.yaml`` (and, through
the vectorizer's config, in the export, so serving reads text as training did).
"""

from __future__ import annotations

import math
import random
import unicodedata

# Scripts written without spaces between words: Han (Chinese, Japanese kanji), kana, Thai, Lao,
# Khmer, Myanmar, Tibetan. Text in them is read character by character.
UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3134F),  # CJK extensions B-G
)


def _unspaced(character: str) -> bool:
    point = ord(character)
    return any(lo <= point <= hi for lo, hi in UNSPACED)


def sample(texts, size: int = 5000, seed: int = 0) -> list[str]:
    """Up to ``size`` of ``texts``, drawn evenly (a decision that needs no more)."""
    texts = [str(t) for t in texts]
    return texts if len(texts) <= size else random.Random(seed).sample(texts, size)


def spelled_words(texts) -> tuple[bool, str]:
    """``(True, reason)`` when most ``texts`` are a single word of a script that spaces its words
    (grapheme-to-phoneme's sources, spelled out character by character), else ``(False, reason)``:
    sentences (translation's), Chinese or Japanese text included."""
    texts = sample(texts)
    single = sum(len(text.split()) <= 1 for text in texts) / max(len(texts), 1)
    split, reason = detect_split(texts)
    if split == "character" and single > 0.5 and "single word" in reason:
        return True, reason
    return False, f"{1 - single:.0%} of the sources are several words" if split != "character" else reason


def unspaced_share(texts) -> float | None:
    """The share of the letters of ``texts`` (a sample) in scripts written without spaces
    between words (Chinese, Japanese, Thai, ...); None when they have no letters."""
    letters = unspaced = 0
    for text in sample(texts):
        for character in text:
            if character.isalpha():
                letters += 1
                unspaced += _unspaced(character)
    return unspaced / letters if letters else None


def detect_split(texts, punctuation: bool = False) -> tuple[str, str]:
    """``("word" | "wordpunct" | "character", reason)`` for ``texts``.

    Characters when at least half of the letters belong to scripts written without spaces
    (Chinese, Japanese, Thai, ...), or when most texts are a single whitespace-separated token
    (words to spell out, as in grapheme-to-phoneme); words otherwise, and for text without
    letters (digits, symbols, emoji). With ``punctuation``, words become ``wordpunct`` when at
    least 5% of the texts hold a word with punctuation attached (``"Go."``, ``"l'homme"``): they
    are then split apart, as a translation's tokens should be.
    """
    texts = sample(texts)
    share = unspaced_share(texts)
    single = sum(len(text.split()) <= 1 for text in texts)
    if share is None:
        return "word", "the texts have no letters"
    if share >= 0.5:
        return "character", f"{share:.0%} of the letters are in scripts written without spaces"
    if single > len(texts) / 2:
        return "character", f"{single / len(texts):.0%} of the texts are a single word"
    reason = f"{1 - share:.0%} of the letters are in scripts that separate words by spaces"
    if punctuation:
        attached = sum(any(_mixed(word) for word in text.split()) for text in texts) / max(len(texts), 1)
        if attached >= 0.05:
            return "wordpunct", f"{reason}; {attached:.0%} of the texts attach punctuation to a word"
    return "word", reason


def _mixed(word: str) -> bool:
    """Whether ``word`` has both word characters (letters, marks, digits, _) and others."""
    kinds = {c == "_" or unicodedata.category(c)[0] in "LMN" for c in word}
    return len(kinds) == 2


def length_cap(lengths, percentile: float = 95, step: int = 50, cap: int = 400) -> tuple[int, str]:
    """A truncation length from the training lengths (tokens): their ``percentile``, rounded up
    to a multiple of ``step``, at most ``cap``; with the reason."""
    lengths = sorted(int(n) for n in lengths)
    if not lengths:
        return step, "no training texts"
    rank = min(len(lengths) - 1, max(0, math.ceil(percentile / 100 * len(lengths)) - 1))
    value = min(cap, max(step, step * math.ceil(lengths[rank] / step)))
    cut = sum(n > value for n in lengths) / len(lengths)
    return value, (
        f"the {percentile:g}th percentile of training lengths is {lengths[rank]} tokens, rounded up "
        f"to a multiple of {step}, at most {cap}; cuts {cut:.1%} of the training texts"
    )


# The commonest English function words (articles, pronouns, prepositions, auxiliaries,
# conjunctions), none of them a common word of another language written in Latin letters
# (scikit-learn's stop-word list holds "de", "un", "con", "en"...: Dutch and Spanish text scored 15%).
ENGLISH_FUNCTION_WORDS = frozenset(
    """the of and to a an in is that for it as with was on be by this are or his from at which but not
    have they you had he her she were their one all we can has there been if more when will would who
    so no its out up what about than into them only other also some these may do does did could such
    our over any how then him my i me your us should because after before through while where those
    just very being each most""".split()
)


def english_words(texts, threshold: float = 0.2, terse: float = 0.1) -> tuple[bool, str]:
    """``(True, reason)`` when ``texts`` (a sample) are English words, else ``(False, reason)``:
    at least ``threshold`` of their words are English function words (scikit-learn's stop-word
    (:data:`ENGLISH_FUNCTION_WORDS`; running English has 37-45%, German, Spanish, French,
    Italian and Dutch under 10%), or at least ``terse`` and their letters are plain ASCII (under
    0.5% accented: terse English such as one-line package descriptions has about 19% and none;
    German, Spanish and French text has 1-8% accented letters)."""
    import re

    words = [word for text in sample(texts) for word in re.findall(r"[^\W\d_]+", text.lower())]
    if not words:
        return False, "the texts have no words"
    share = sum(word in ENGLISH_FUNCTION_WORDS for word in words) / len(words)
    letters = sum(map(len, words))
    accented = sum(not character.isascii() for word in words for character in word) / max(letters, 1)
    found = f"{share:.0%} of the words are English function words"
    if share >= threshold:
        return True, found
    if share >= terse and accented < 0.005:
        return True, f"{found}, and {accented:.1%} of the letters are accented"
    if share >= terse:
        return False, f"{found}, but {accented:.1%} of the letters are accented: not English"
    return False, f"{found} (under {terse:.0%}: not English)"
