"""The app side of a TFLite export: text -> the ids ``model.tflite`` takes, in plain Python.

TFLite's builtin operations have no string processing, so an export written with
``export.tflite=true`` takes ids, and this file travels beside it (``preprocess.py``): it needs
only the standard library and numpy, and splits text by the same rule as
:meth:`tfseq.data.TextVectorizer.tokens` (tested against it on hard strings)::

    from preprocess import Preprocessor
    pre = Preprocessor.load("saved_models/classify-reviews-zh-tflite/1")
    feeds = pre("This film was great")          # {"tokens": int32[1, T], ...}
    runner = interpreter("saved_models/classify-reviews-zh-tflite/1")   # LiteRT's, or tf.lite's
    scores = pre.predict(runner, "This film was great")   # resize, set, invoke, read
    declared = json.loads(Path("saved_models/classify-reviews-zh-tflite/1/tfseq.json").read_text())
    pre.answer(runner, "This film was great", declared)   # {"label": ..., "confidence": ...}

The rule: control characters (C0/C1 other than whitespace) and the byte-order mark are removed;
whitespace (Unicode's, and U+200B) becomes a space unless the vocabulary keeps it; the text is
lower-cased if the model was; a word split cuts at runs of spaces (a tagger's, with punctuation
"cut", also cuts the punctuation before and after each word off: :func:`cut_affixes`), a wordpunct split also cuts
each word into runs of word characters (letters, marks, digits, "_") and runs of other characters,
marking the first with U+2581; a character split takes each code point (spaces dropped unless kept). Ids: 0 padding, 1 out of vocabulary, tokens from 2.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import sys
import tempfile
import unicodedata
from pathlib import Path

import numpy as np

CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ufeff]")
# Unicode's White_Space (the separators Zs, Zl, Zp and the controls that are whitespace) and U+200B.
WHITESPACE = re.compile("[\t\n\x0b\x0c\r\x1c-\x1f\x85\u200b \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
SPACE_MARK = "\u2581"


def is_word_character(c: str) -> bool:
    """Letters, marks, digits and ``_``: what a word is made of (RE2's ``[\\pL\\pM\\pN_]``)."""
    return c == "_" or unicodedata.category(c)[0] in "LMN"


AFFIX_PIECE = re.compile(r"\.\.\.|--|.", re.S)


# How many marks cut_affixes strips from each side while looking for a form kept whole, and in
# which order: fewest marks first, then fewest from the front ((0, 0) is the word itself).
STRIP = 3
STRIPS = sorted(
    ((front, back) for front in range(STRIP + 1) for back in range(STRIP + 1)), key=lambda pair: (sum(pair), pair[0])
)


def cut_affixes(word: str, whole=frozenset()) -> list[str]:
    """A whitespace-separated word with the punctuation before and after it cut off, each mark a
    token of its own (``...`` and ``--`` stay one): ``"(York)."`` -> ``( York ) .``; inside a word
    nothing is cut (``U.S``, ``don't``, ``Anglo-American``). Forms in ``whole`` (lower case: what
    the training files wrote whole, ``u.s.``, ``'s``) stay whole, with up to three marks around
    them cut off first (``"(U.S.),"`` -> ``( U.S. ) ,``), as spaCy's special cases do."""
    start, end = 0, len(word)
    while start < end and not is_word_character(word[start]):
        start += 1
    while end > start and not is_word_character(word[end - 1]):
        end -= 1
    trailing = len(word) - end if end > start else len(word)  # marks after the core (all, without one)
    for front, back in STRIPS if whole else ():
        kept = word[front : len(word) - back]
        if front <= start and back <= trailing and kept and kept.lower() in whole:
            start, end = front, len(word) - back
            break
    return [
        *AFFIX_PIECE.findall(word[:start]),
        *([word[start:end]] if start < end else []),
        *AFFIX_PIECE.findall(word[end:]),
    ]


def wordpunct(text: str) -> list[str]:
    """A wordpunct split of whitespace-normalised text: each word's runs, the first marked."""
    tokens = []
    for word in text.replace(SPACE_MARK, " ").split():
        runs = ["".join(run) for _, run in itertools.groupby(word, is_word_character)]
        tokens += [SPACE_MARK + runs[0], *runs[1:]]
    return tokens


class Preprocessor:
    """Text -> ``{key: int32[1, T]}`` ids for a TFLite export (see the module docstring).

    Args:
        settings: ``vocabulary.json`` of the export: ``split``, ``lowercase``, ``keep_whitespace``,
            ``max_length``, ``char_ngrams`` and the vocabularies (``tokens``, ``ngrams_N``, ``chars``).
    """

    def __init__(self, settings: dict):
        self.settings = settings
        self.split, self.lowercase = settings["split"], settings["lowercase"]
        self.keep_whitespace, self.max_length = settings.get("keep_whitespace", False), settings.get("max_length")
        self.char_ngrams, self.token_chars = settings.get("char_ngrams"), settings.get("token_chars")
        self.punctuation = settings.get("punctuation", "keep")
        self.whole = frozenset(settings.get("whole_words", ()))
        self.index = {
            key: {token: i + 2 for i, token in enumerate(tokens)} for key, tokens in settings["vocabularies"].items()
        }

    @classmethod
    def load(cls, folder) -> "Preprocessor":
        return cls(json.loads((Path(folder) / "vocabulary.json").read_text(encoding="utf-8")))

    def tokens(self, text: str, lowercase: bool | None = None) -> list[str]:
        """The text's tokens, cut at ``max_length`` (``lowercase=False``: in their own case, to
        show them back)."""
        text = CONTROL.sub("", text)
        if not self.keep_whitespace:
            text = WHITESPACE.sub(" ", text)
        if self.lowercase if lowercase is None else lowercase:
            text = text.lower()
        if self.split == "character":
            tokens = [c for c in text if self.keep_whitespace or c != " "]
        else:
            tokens = wordpunct(text) if self.split == "wordpunct" else text.split()
            if self.punctuation == "cut":
                tokens = [piece for word in tokens for piece in cut_affixes(word, self.whole)]
        return tokens[: self.max_length] if self.max_length else tokens

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Each token's ``(start, end)`` in ``text`` (code points: ``text[start:end]`` holds it),
        cut at ``max_length`` as :meth:`tokens` is; a word or character split."""
        index = [i for i, c in enumerate(text) if not CONTROL.fullmatch(c)]
        space = [bool(WHITESPACE.fullmatch(text[i])) for i in index]
        if self.split == "character":
            spans = [(i, i + 1) for i, blank in zip(index, space) if self.keep_whitespace or not blank]
        elif self.split == "word":  # the tokens partition the text's other characters, in order
            shown, spans, k = [i for i, blank in zip(index, space) if not blank], [], 0
            for token in self.tokens(text, lowercase=False):
                spans.append((shown[k], shown[k + len(token) - 1] + 1))
                k += len(token)
        else:
            raise ValueError(f"offsets are for a word or character split, not split={self.split!r}")
        return spans[: self.max_length] if self.max_length else spans

    def __call__(self, text: str) -> dict:
        """One text's ids: every aligned key as wide as its tokens (at least one step), and the
        ``chars`` bag of the words' character n-grams if the model reads it."""
        tokens = self.tokens(text)
        separator = "" if self.split == "character" else " "
        feeds = {}
        for key, index in self.index.items():
            if key == "token_chars":  # (1, tokens, grams): each token's own grams, in its case
                rows = [
                    [index.get(g, 1) for g in char_grams(w, *self.token_chars)]
                    for w in self.tokens(text, lowercase=False)
                ]
                width = max((len(row) for row in rows), default=0)
                feeds[key] = np.asarray([[row + [0] * (width - len(row)) for row in rows] or [[0]]], "int32")
                continue
            if key == "chars":  # the bag of all the words' grams
                ids = [index.get(g, 1) for w in tokens for g in char_grams(w, *self.char_ngrams)]
            else:
                n = 1 if key == "tokens" else int(key.removeprefix("ngrams_"))
                ids = [index.get(separator.join(tokens[i : i + n]), 1) for i in range(len(tokens) - n + 1)]
                ids += [0] * (len(tokens) - len(ids))
            feeds[key] = np.asarray([ids or [0]], "int32")
        return feeds

    def line(self, text: str, line_end: int) -> dict:
        """A language model's input: the text as a line, ``line_end`` + its ids + ``line_end``."""
        ids = [i for i in self(text)["tokens"][0] if i]
        return {"tokens": np.asarray([[line_end, *ids, line_end]], "int32")}

    def answer(self, interpreter, text: str, declared: dict) -> dict:
        """``text``'s readable answer from the export whose ``tfseq.json`` is ``declared``, by
        its ``answer``: ``labels`` (label and confidence), ``tags`` (``token/TAG ...``, the CRF's
        best path if it has one; for entity tags also ``spans``, each with its text, type,
        ``start``/``end`` in ``text`` and score, and a readable ``entities``), ``targets`` (a
        seq2seq model's ``target`` text, decoded greedily or by beam search inside
        ``model.tflite``) or ``line`` (the perplexity of the text as a line)."""
        if declared["answer"] == "labels":
            p = self.predict(interpreter, text)[0]
            return {"label": declared["labels"][int(p.argmax())], "confidence": p.max(), "probabilities": p}
        if declared["answer"] == "tags":
            tokens, tags = self.tokens(text, lowercase=False), declared["tags"]
            scores = self.predict(interpreter, text)[0][: len(tokens)]
            crf = declared.get("crf")
            path = (viterbi(scores, **crf) if crf else scores.argmax(-1)) if tokens else []
            answer = {"tagged": " ".join(f"{t}/{tags[i]}" for t, i in zip(tokens, path))}
            if marks_spans(tags, self.split):
                p = (marginals(scores, **crf) if crf else softmax(scores)) if tokens else None
                confidence = [float(p[t, i]) for t, i in enumerate(path)]
                offsets = self.offsets(text)
                answer["spans"] = [
                    {
                        "text": text[offsets[a][0] : offsets[b - 1][1]],
                        "type": kind,
                        "start": offsets[a][0],
                        "end": offsets[b - 1][1],
                        "score": score,
                    }
                    for a, b, kind, score in chunk_spans([tags[i] for i in path], confidence)
                ]
                answer["entities"] = "; ".join(
                    f"{s['text']} ({s['type']} {s['start']}-{s['end']} {s['score']:.2f})" for s in answer["spans"]
                )
            return answer
        if declared["answer"] == "targets":  # seq2seq: the target ids the model decoded on the device
            target, n_best = declared["target"], declared.get("generate", {}).get("n_best", 1)
            if not self.tokens(text):  # as the SavedModel answers a text without tokens
                return {"target": ""} if n_best == 1 else {"target": "", "n_best": "", "n_best_list": []}

            def text_of(ids):
                return detokenize(
                    ids, target["vocabulary"], target["split"], end=target["end"], drop=(target["start"],)
                )

            if n_best == 1:
                return {"target": text_of(self.predict(interpreter, text)[0])}
            outputs = self.predict(interpreter, text, every=True)
            ids = next(o for o in outputs if o.dtype.kind == "i")[0]  # [n, length]
            scores = next(o for o in outputs if o.dtype.kind == "f")[0]  # [n]
            choices = [{"text": text_of(row), "score": round(float(score), 4)} for row, score in zip(ids, scores)]
            return {
                "target": choices[0]["text"],
                "n_best_list": choices,
                "n_best": " | ".join(f"{c['text']} ({c['score']:.3f})" for c in choices),
            }
        line = self.line(text, declared["line_end"])
        logits = self.predict(interpreter, text, line)[0][:-1].astype("float64")
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        ids = line["tokens"][0][1:]
        return {"perplexity": float(np.exp(-log_p[np.arange(len(ids)), ids].mean()))}

    def predict(self, interpreter, text: str, feeds: dict | None = None, every: bool = False):
        """The export's scores for ``text``: its inputs resized to the text's ids, set, invoked
        (``interpreter``: a ``tf.lite.Interpreter`` or LiteRT's, of the export's ``model.tflite``);
        ``every``: all its outputs, in a list (a seq2seq n-best's ids and scores)."""
        feeds = feeds or self(text)
        inputs = {detail["name"]: detail for detail in interpreter.get_input_details()}
        index = {
            key: next(
                d["index"] for name, d in inputs.items() if name == key or name.endswith(f"_{key}") or f"{key}:" in name
            )
            for key in feeds
        }
        for key, ids in feeds.items():
            interpreter.resize_tensor_input(index[key], ids.shape)
        with quiet_native():  # (XNNPACK's delegate says it was created)
            interpreter.allocate_tensors()
            for key, ids in feeds.items():
                interpreter.set_tensor(index[key], ids)
            interpreter.invoke()
        details = interpreter.get_output_details()
        if every:
            return [interpreter.get_tensor(detail["index"]) for detail in details]
        return interpreter.get_tensor(details[0]["index"])


def detokenize(ids, vocabulary, split: str, end=None, drop=()) -> str:
    """Target ids -> text, as :meth:`tfseq.data.TextVectorizer.detokenize` joins them: up to the
    first ``end``, without padding and ``drop`` ids (ids from 2 are ``vocabulary``'s, 1 reads
    U+FFFD), joined by spaces (words), nothing (characters) or their U+2581 marks (wordpunct,
    subword)."""
    pieces, tokens = ["", "\ufffd", *vocabulary], []
    for i in (int(i) for i in ids):
        if i == end:
            break
        if i and i not in drop:
            tokens.append(pieces[i])
    if split == "character":
        return "".join(tokens)
    if split in ("wordpunct", "subword"):
        return re.sub(" ?\n ?", "\n", "".join(tokens).replace(SPACE_MARK, " ")).strip()
    return re.sub(" ?\n ?", "\n", " ".join(tokens))


def char_grams(word: str, lo: int, hi: int) -> list[str]:
    """The word's character lo..hi-grams, the word padded with a space on both sides (a padded
    word shorter than n has no n-grams): the vectorizer's ``_char_grams``."""
    padded = f" {word} "
    return [padded[i : i + n] for n in range(lo, hi + 1) for i in range(len(padded) - n + 1)]


def interpreter(path):
    """A TFLite interpreter of ``path`` (an export folder or its ``model.tflite``): LiteRT's
    (``pip install ai-edge-litert``) when installed, else TensorFlow's ``tf.lite.Interpreter``,
    which TensorFlow deprecates in LiteRT's favour (a warning that asks nothing of the app's user:
    not shown)."""
    import warnings

    path = Path(path)
    path = path / "model.tflite" if path.is_dir() else path
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings(), quiet_native():
        warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated")
        return Interpreter(model_path=str(path))


@contextlib.contextmanager
def quiet_native():
    """The TFLite runtime's native INFO lines ("Created TensorFlow Lite XNNPACK delegate for CPU")
    kept off the terminal; shown after all if the block fails."""
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to redirect
        yield
        return
    with tempfile.TemporaryFile() as hidden:
        sys.stderr.flush()
        os.dup2(hidden.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            hidden.seek(0)
            sys.stderr.write(hidden.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def is_chunk_tagset(tags) -> bool:
    """Chunk or entity tags (``B-PER``, ``I-PER``, ``O``; IOB1, IOB2 or BIOES), whose runs are spans."""
    return any(t.startswith(("B-", "I-")) for t in tags) and all(
        t == "O" or t.startswith(("B-", "I-", "E-", "S-")) for t in tags
    )


def marks_spans(tags, split: str) -> bool:
    """Whether a tagger's answer has spans: chunk or entity ``tags``, and a ``split`` (word or
    character) whose tokens have places in the text."""
    return is_chunk_tagset(tags) and split in ("word", "character")


def tag_parts(tag: str) -> tuple[str, str]:
    """``(prefix, type)`` of a chunk tag: ``"B-PER"`` -> ``("B", "PER")``; ``"O"`` (or anything
    without a prefix) -> ``("O", "")``."""
    return (tag[0], tag[2:]) if tag != "O" and tag[1:2] == "-" else ("O", "")


def chunk_spans(tags, confidence=None) -> list[tuple[int, int, str, float]]:
    """The chunks of a tag sequence as ``(first token, end token, type, score)``, by conlleval's
    rules (so IOB1, IOB2 and BIOES, well formed or not, read as CoNLL scoring reads them): a
    chunk starts at ``B-``/``S-``, after ``O``/``E-``/``S-``, or where the type changes. Its
    score is the lowest ``confidence`` (the chosen tags' probabilities) among its tokens."""
    spans, previous, previous_kind = [], "O", ""
    for t, tag in enumerate(tags):
        prefix, kind = tag_parts(tag)
        score = 1.0 if confidence is None else float(confidence[t])
        if prefix != "O" and (prefix in "BS" or previous in "OES" or kind != previous_kind):
            spans.append([t, t + 1, kind, score])
        elif prefix != "O":
            spans[-1][1], spans[-1][3] = t + 1, min(spans[-1][3], score)
        previous, previous_kind = prefix, kind
    return [tuple(span) for span in spans]


def softmax(scores) -> np.ndarray:
    scores = np.asarray(scores, "float64")
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def marginals(emissions, start, end, transitions) -> np.ndarray:
    """``p(tag at step t = j)`` (``[T, tags]``) under a linear-chain CRF, by forward-backward:
    :meth:`tfseq.layers.CRF.marginals` in numpy."""
    e, trans = np.asarray(emissions, "float64"), np.asarray(transitions, "float64")

    def logsumexp(x, axis):
        top = x.max(axis=axis, keepdims=True)
        return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)

    alpha = [np.asarray(start, "float64") + e[0]]
    for step in e[1:]:
        alpha.append(logsumexp(alpha[-1][:, None] + trans, 0) + step)
    beta = [np.asarray(end, "float64")]
    for step in e[:0:-1]:
        beta.append(logsumexp(trans + (step + beta[-1])[None, :], 1))
    total = logsumexp(alpha[-1] + np.asarray(end, "float64"), 0)
    return np.exp(np.asarray(alpha) + np.asarray(beta[::-1]) - total)


def viterbi(emissions, start, end, transitions) -> list[int]:
    """The best tag path (tag indexes) of one sentence's ``emissions`` (``[T, tags]``) under a
    linear-chain CRF's ``start``, ``end`` and ``transitions[from][to]`` scores (a tagger
    export's ``tfseq.json`` ``crf``)."""
    emissions, transitions = np.asarray(emissions, "float64"), np.asarray(transitions, "float64")
    score, back = np.asarray(start, "float64") + emissions[0], []
    for step in emissions[1:]:
        total = score[:, None] + transitions + step[None, :]
        back.append(total.argmax(axis=0))
        score = total.max(axis=0)
    path = [int((score + np.asarray(end, "float64")).argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    return path[::-1]
