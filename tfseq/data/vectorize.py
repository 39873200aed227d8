"""Text -> token ids, inside the graph, so the same layer serves tf.data, model.fit and export.

:class:`TextVectorizer` splits text into words (whitespace) or characters (any script: Chinese
needs no segmenter), optionally lower-cases, truncates to ``max_length`` and maps tokens and
*aligned* n-grams to ids (0 = padding, 1 = out of vocabulary). For ``ngrams=(1, 2)`` the output is
``{"tokens": ids (batch, T), "ngrams_2": ids (batch, T)}`` where position t of ``ngrams_2`` is the
bigram starting at token t, so a recurrent model reads both at every step.

Word-level vectorizers can also emit ``chars``: the *bag* of character n-grams of the words
(``char_ngrams=(2, 5)``; each word padded with a space on both sides, like fastText's subwords
and scikit-learn's ``analyzer="char_wb"``; a padded word shorter than n has no n-grams). It is not aligned with the tokens; the
bag-of-n-grams experts read it (spelling variants, morphology, words missing from the
vocabulary), the recurrent network does not.

The vocabulary is part of the layer's config: it is saved in ``.keras`` files and in exports.
String ops are TensorFlow's (``tf.strings``); this layer lives at the data edge, not in models.
"""

from __future__ import annotations

import collections

import keras
import numpy as np

from tfseq import choices

PAD, OOV = 0, 1

# The tokenization rule's character classes (RE2 syntax; see TextVectorizer.tokens).
# Whitespace: Unicode's White_Space property (what Python's str.split() splits at) and the
# zero-width space, which some scripts use between words.
WHITESPACE = r"[\t\n\x{0B}\f\r\x{1C}-\x{1F}\x{85}\p{Z}\x{200B}]"
# Control characters that are not whitespace, and the byte-order mark: removed.
CONTROL = r"[\x{00}-\x{08}\x{0E}-\x{1B}\x{7F}-\x{84}\x{86}-\x{9F}\x{FEFF}]"
# The wordpunct split: runs of word characters (letters, marks, digits, "_"), runs of anything
# else that is not whitespace (NLTK's wordpunct_tokenize, in Unicode); a token that starts a
# whitespace-separated word carries SPACE_MARK in front (SentencePiece's U+2581), so
# detokenizing gives back the text's spacing ("Go." -> "▁go" "." -> "go.").
SPACE_MARK = "\u2581"
WORD_RUN = r"[\pL\pM\pN_]+|[^\pL\pM\pN_ \x{2581}]+"
SPLITS = choices.SPLITS
# A tagger's word split with punctuation "cut" (TextVectorizer(punctuation="cut")): a word's
# leading and trailing non-word characters split off, one token each, except "..." and "--"
# (tfseq.tflite_app.cut_affixes is the same rule in plain Python).
AFFIXES = r"^([^\pL\pM\pN_]*)(.*?)([^\pL\pM\pN_]*)$"
AFFIX_PIECE = r"(\.\.\.|--|.)"
PUNCTUATION = ("keep", "cut")
MARKED = ("wordpunct", "subword")  # splits whose tokens carry SPACE_MARK: joined without spaces


CHARS = "chars"
TOKEN_CHARS = "token_chars"  # each token's own character n-grams, (batch, time, grams), case kept


def _key(n: int) -> str:
    return "tokens" if n == 1 else f"ngrams_{n}"


def _order(key: str) -> int:
    return 1 if key == "tokens" else int(key.removeprefix("ngrams_"))


def aligned_keys(keys) -> list[str]:
    """The keys of a vectorizer's output that line up with the tokens (not the ``chars`` bag)."""
    return [key for key in keys if key != CHARS]


def as_strings(texts):
    """Python texts (a str, a list, a numpy array, a pandas column) as a string tensor; tensors
    stay as they are. Keras layers take only tensors positionally, and ``layer(["some text"])``
    should just work."""
    import tensorflow as tf

    if tf.is_tensor(texts) or isinstance(texts, keras.KerasTensor):
        return texts
    return tf.constant(np.asarray(texts, dtype=object).astype(str))


def _char_grams(word: str, orders) -> list[str]:
    padded = f" {word} "
    return [padded[i : i + n] for n in orders for i in range(len(padded) - n + 1)]


@keras.saving.register_keras_serializable(package="tfseq")
class TextVectorizer(keras.layers.Layer):
    """Raw strings -> dict of padded int32 id tensors.

    Args:
        split: ``"word"`` (whitespace), ``"wordpunct"`` (words and punctuation apart, spacing
            kept by a word-start mark: translation), ``"subword"`` (SentencePiece pieces, a
            unigram model trained by :meth:`adapt`; run in the graph by TensorFlow Text) or
            ``"character"``.
        keep_whitespace: a character split keeps spaces, tabs and line breaks as tokens (what a
            character language model reads and writes); by default they are dropped.
        lowercase: lower-case before splitting.
        ngrams: which n-gram orders to emit, aligned with the tokens; ``(1,)`` for tokens only.
        max_length: truncate longer texts to this many tokens (``None``: keep all).
        char_ngrams: ``(lo, hi)``: also emit ``chars``, the bag of the words' character
            lo..hi-grams (word split only; a character split has ``ngrams`` for that).
        vocabularies: ``{n: [token, ...]}`` (ids start at 2); set by :meth:`adapt`.
        char_vocabulary: ``[gram, ...]`` of ``chars``; set by :meth:`adapt`.
        token_chars: ``(lo, hi)``: also emit ``token_chars``, ``(batch, time, grams)``: each
            token's own character lo..hi-grams in the token's original case (word split only):
            spelling, suffixes and capitals, aligned with the tokens for a tagger to read.
        token_char_vocabulary: ``[gram, ...]`` of ``token_chars``; set by :meth:`adapt`.
            :meth:`adapt` also sets ``singletons``: how many tokens, the last ids of the
            vocabulary, were seen once (not saved; a backbone's ``rare_tokens``).
        subwords: the number of pieces :meth:`adapt` asks SentencePiece for (``split="subword"``).
        subword_model: the trained SentencePiece model, base64; set by :meth:`adapt`.
        punctuation: ``"keep"`` (default) or ``"cut"``: a word split also cuts the punctuation
            before and after each word off, one mark a token (``"(York)."`` -> ``( York ) .``,
            ``...`` and ``--`` stay one), as tokenized corpora (CoNLL, Penn Treebank) write it;
            inside a word nothing is cut (``U.S``, ``don't``). A tagger reads raw text this way.
        whole_words: lower-cased forms that stay whole under ``punctuation="cut"`` (``u.s.``,
            ``'s``): what the training files wrote whole; set by :meth:`keep_whole`.

    Example:
        >>> v = TextVectorizer(split="character", ngrams=(1, 2))
        >>> v.adapt(["好看的书", "不好看"])
        >>> v(["好书"])["tokens"].shape
        TensorShape([1, 2])
    """

    def __init__(
        self,
        split="word",
        lowercase=True,
        ngrams=(1,),
        max_length=None,
        char_ngrams=None,
        vocabularies=None,
        char_vocabulary=None,
        keep_whitespace=False,
        token_chars=None,
        token_char_vocabulary=None,
        subwords=8000,
        subword_model=None,
        punctuation="keep",
        whole_words=(),
        **kwargs,
    ):
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "string")
        super().__init__(**kwargs)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, received split={split!r}.")
        ngrams = tuple(int(n) for n in ngrams)
        if 1 not in ngrams or any(n < 1 for n in ngrams):
            raise ValueError(f"ngrams must include 1 and be positive, received ngrams={ngrams}.")
        if char_ngrams is not None:
            char_ngrams = tuple(int(n) for n in char_ngrams)
            if len(char_ngrams) != 2 or not 1 <= char_ngrams[0] <= char_ngrams[1]:
                raise ValueError(f"char_ngrams must be (lo, hi) with 1 <= lo <= hi, received {char_ngrams}.")
            if split not in ("word", "wordpunct"):
                raise ValueError("char_ngrams is for a word split; a character split takes ngrams=(1, 2, ...).")
        if token_chars is not None:
            token_chars = tuple(int(n) for n in token_chars)
            if len(token_chars) != 2 or not 1 <= token_chars[0] <= token_chars[1] or split not in ("word", "wordpunct"):
                raise ValueError(
                    f"token_chars must be (lo, hi) with 1 <= lo <= hi, for a word split; received "
                    f"{token_chars} with split={split!r}."
                )
        if punctuation not in PUNCTUATION or (punctuation == "cut" and split != "word"):
            raise ValueError(
                f"punctuation must be one of {PUNCTUATION} ('cut' for split='word'), received "
                f"punctuation={punctuation!r} with split={split!r}."
            )
        if keep_whitespace and split != "character":
            raise ValueError("keep_whitespace is for split='character'; a word split is on whitespace.")
        self.split = split
        self.keep_whitespace = bool(keep_whitespace)
        self.lowercase = bool(lowercase)
        self.ngrams = ngrams
        self.max_length = max_length
        self.char_ngrams = char_ngrams
        self.vocabularies = vocabularies or {}
        self.char_vocabulary = tuple(char_vocabulary or ())
        self.token_chars = token_chars
        self.token_char_vocabulary = tuple(token_char_vocabulary or ())
        self.subwords, self.subword_model, self._pieces = int(subwords), subword_model, None
        self.singletons = 0  # set by adapt (not saved): the last this many token ids were seen once
        self.punctuation = punctuation
        self.whole_words = whole_words

    # Stored as nested tuples: immutable, so TensorFlow/Keras object tracking leaves it alone
    # (a dict with int keys cannot be saved by tf.saved_model).
    @property
    def vocabularies(self) -> dict[int, list[str]]:
        return {n: list(tokens) for n, tokens in self._vocabulary_items}

    @vocabularies.setter
    def vocabularies(self, value):
        self._vocabulary_items = tuple((int(n), tuple(tokens)) for n, tokens in dict(value).items())
        self._lookups = None  # rebuilt from the new vocabulary on the next call

    @property
    def whole_words(self) -> tuple[str, ...]:
        return self._whole_words

    @whole_words.setter
    def whole_words(self, value):
        self._whole_words = tuple(sorted(set(value)))
        self._whole_table = None  # rebuilt on the next call

    def keep_whole(self, tokens) -> int:
        """Keep whole, under ``punctuation="cut"``, each of ``tokens`` (a corpus's own tokens:
        ``U.S.``, ``'s``, ``:-)``) that the cut would split, so the text of a tokenized sentence
        splits back into exactly its tokens and raw text keeps those forms whole. Returns how
        many forms were added."""
        from tfseq.tflite_app import cut_affixes

        known = set(self.whole_words)
        added = {token.lower() for token in set(tokens) if cut_affixes(token) != [token]} - known
        if added:
            self.whole_words = known | added
        return len(added)

    # -- vocabulary --------------------------------------------------------------------------
    def tokenize(self, texts, truncate: bool = True, batch_size: int = 8192, lowercase=None) -> list[list[str]]:
        """Each text's tokens as Python strings, by the same graph ops as ``call`` and exports
        (:meth:`tokens`), so ids made in Python for training equal the ids an export makes."""
        import tensorflow as tf

        texts = [str(text) for text in texts]
        rows = []
        for start in range(0, len(texts), batch_size):
            tokens = self.tokens(tf.constant(texts[start : start + batch_size], tf.string), lowercase, truncate)
            rows += [[token.decode("utf-8") for token in row] for row in tokens.to_list()]
        return rows

    def token_ids(self, texts, truncate: bool = True) -> list[list[int]]:
        """Each text's token ids as Python lists (no padding): the ids ``call`` gives, for
        training data made in Python (streams, decoder inputs)."""
        return self.lookup(self.tokenize(texts, truncate))

    def lookup(self, rows) -> list[list[int]]:
        """Rows of tokens (:meth:`tokenize`'s) -> rows of their ids (1: out of vocabulary)."""
        index = {token: i + 2 for i, token in enumerate(self.vocabularies[1])}
        return [[index.get(token, OOV) for token in row] for row in rows]

    def detokenize(self, ids, end=None, drop=(), replace=None):
        """Token ids -> text, in TensorFlow ops (exports use it inside their graph): each row of
        ``ids`` (``int[batch, T]``) up to its first ``end`` id, without padding and ``drop`` ids,
        tokens joined by spaces (word split) or nothing (character split); the OOV id reads
        ``U+FFFD``; ``replace``: ``{id: text}`` for ids that read otherwise (a language model's
        line end as a line break, which words then meet without a space). Returns ``string[batch]``.

            >>> v.detokenize(v(["good film"])["tokens"]).numpy()
            array([b'good film'], dtype=object)
        """
        import tensorflow as tf

        pieces = ["", "\ufffd", *self.vocabularies[1]]
        for i, text in (replace or {}).items():
            pieces[i] = text
        ids = tf.cast(tf.convert_to_tensor(ids), tf.int32)
        keep = tf.not_equal(ids, PAD)
        if end is not None:
            keep &= tf.equal(tf.cumsum(tf.cast(tf.equal(ids, end), tf.int32), axis=1), 0)
        for i in drop:
            keep &= tf.not_equal(ids, i)
        chosen = tf.ragged.boolean_mask(tf.gather(tf.constant(pieces), ids), keep)
        if self.split == "character":
            return tf.strings.reduce_join(chosen, axis=-1)
        if self.split in MARKED:
            text = tf.strings.regex_replace(tf.strings.reduce_join(chosen, axis=-1), SPACE_MARK, " ")
            return tf.strings.strip(tf.strings.regex_replace(text, " ?\n ?", "\n"))
        # Words never hold whitespace: a line break here is a replaced id, and needs no spaces.
        return tf.strings.regex_replace(tf.strings.reduce_join(chosen, axis=-1, separator=" "), " ?\n ?", "\n")

    def join(self, tokens) -> str:
        """One row of tokens (:meth:`tokenize`'s) -> text, as :meth:`detokenize` joins them."""
        if self.split == "character":
            return "".join(tokens)
        if self.split in MARKED:
            return "".join(tokens).replace(SPACE_MARK, " ").strip()
        return " ".join(tokens)

    def adapt(self, texts, max_tokens=None, min_frequency=1, reserved=(), tokens=None):
        """Build vocabularies from ``texts``: most frequent first, at least ``min_frequency``.

        ``max_tokens`` caps each order's vocabulary (ids 0 and 1 not counted); an int, or a dict
        ``{n: cap, "chars": cap}``. ``reserved``: tokens that take the first token ids (2, 3, ...)
        whatever their frequency, and are never split off the text: a sequence's start and end,
        a language model's line end. ``tokens``: :meth:`tokenize`'s rows of ``texts``, when the
        caller has made them (they are not made again; not for the subword split, whose pieces
        are learnt here first).
        """
        if tokens is not None and self.split == "subword":
            raise ValueError("adapt(tokens=...): the subword split learns its pieces from the texts first")
        counters = {n: collections.Counter() for n in self.ngrams}
        chars, token_chars = collections.Counter(), collections.Counter()
        if self.split == "subword":
            self._train_pieces(texts)
        rows = self.tokenize(texts) if tokens is None else tokens
        if self.token_chars:  # from the words in their own case (the same rows when not lower-cased)
            for words in self.tokenize(texts, lowercase=False) if self.lowercase else rows:
                for word in words:
                    token_chars.update(_char_grams(word, range(self.token_chars[0], self.token_chars[1] + 1)))
        orders = range(self.char_ngrams[0], self.char_ngrams[1] + 1) if self.char_ngrams else ()
        for tokens in rows:
            for n in self.ngrams:
                counters[n].update(
                    "".join(tokens[i : i + n]) if self.split == "character" else " ".join(tokens[i : i + n])
                    for i in range(len(tokens) - n + 1)
                )
            for word in tokens if orders else ():
                chars.update(_char_grams(word, orders))

        def frequent(counter, cap):
            items = [t for t, c in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_frequency]
            return items[:cap] if cap else items

        def cap(key):
            return max_tokens.get(key) if isinstance(max_tokens, dict) else max_tokens

        self.vocabularies = {n: frequent(counter, cap(n)) for n, counter in counters.items()}
        # Seen once: the rarest, so the last ids (a backbone's rare_dropout makes them unknown at times).
        self.singletons = sum(counters[1][token] == 1 for token in self.vocabularies[1])
        if reserved:
            tokens = [t for t in self.vocabularies[1] if t not in reserved]
            self.vocabularies = {**self.vocabularies, 1: [*reserved, *tokens]}
        self.char_vocabulary = tuple(frequent(chars, cap(CHARS))) if orders else ()
        self.token_char_vocabulary = tuple(frequent(token_chars, cap(TOKEN_CHARS))) if self.token_chars else ()
        self._lookups = None
        return self

    def extend(self, tokens) -> int:
        """Give ids to more ``tokens`` after the adapted ones (in order; those already in the
        vocabulary, and those the rule never makes, are skipped: a token is kept when
        :meth:`tokenize` reads it as exactly itself, so capitals when lower-casing, several
        characters in a character split or spaces never get an id): words of a pretrained
        embedding file that training never saw keep their vectors instead of reading as out of
        vocabulary. Returns how many were added."""
        known = set(self.vocabularies.get(1, ()))
        candidates = [t for t in dict.fromkeys(tokens) if t not in known]
        added = [t for t, row in zip(candidates, self.tokenize(candidates, truncate=False)) if row == [t]]
        self.vocabularies = {**self.vocabularies, 1: [*self.vocabularies.get(1, ()), *added]}
        return len(added)

    @property
    def requires(self) -> list[str]:
        """The Python modules whose TensorFlow ops this layer's graph holds beyond TensorFlow's own
        (a SavedModel of it loads only after they are imported)."""
        return ["tensorflow_text"] if self.split == "subword" else []

    def _train_pieces(self, texts):
        """``subword_model``: a SentencePiece unigram model of about ``subwords`` pieces trained
        on ``texts`` after this layer's own normalisation (SentencePiece's is off)."""
        import base64
        import io

        import sentencepiece

        normalized = [t.decode("utf-8") for t in self._normalize(texts).numpy()]
        model = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(t for t in normalized if t.strip()),
            model_writer=model,
            vocab_size=self.subwords,
            hard_vocab_limit=False,
            model_type="unigram",
            normalization_rule_name="identity",
            input_sentence_size=2_000_000,
            shuffle_input_sentence=True,
            num_threads=2,
            minloglevel=2,
        )
        self.subword_model, self._pieces = base64.b64encode(model.getvalue()).decode("ascii"), None

    def _sentencepiece(self):
        if self._pieces is None:
            import base64

            try:
                import tensorflow_text
            except ImportError as error:
                raise ImportError(
                    "split='subword' runs SentencePiece in the graph with TensorFlow Text: "
                    "pip install tensorflow-text sentencepiece"
                ) from error
            if not self.subword_model:
                raise ValueError("split='subword' has no SentencePiece model yet: call adapt() first.")
            import hashlib

            import tensorflow as tf

            # Made eagerly, outside any trace, as the lookup tables are, and named after its model:
            # TensorFlow Text's op shares its resource by name, so a source and a target model made
            # alike were one (an export tokenized its source with the target's pieces), and one
            # first made inside a traced function served the next trace wrongly.
            model = base64.b64decode(self.subword_model)
            with tf.init_scope():
                self._pieces = tensorflow_text.SentencepieceTokenizer(
                    model, out_type=tf.string, name=f"sentencepiece_{hashlib.sha1(model).hexdigest()[:16]}"
                )
        return self._pieces

    def output_keys(self) -> list[str]:
        """The keys of the output dict: ``tokens``, ``ngrams_N`` per order, then ``chars``."""
        return (
            [_key(n) for n in self.ngrams]
            + ([CHARS] if self.char_ngrams else [])
            + ([TOKEN_CHARS] if self.token_chars else [])
        )

    def _vocabulary(self, key: str) -> list[str]:
        if key in (CHARS, TOKEN_CHARS):
            return list(self.char_vocabulary if key == CHARS else self.token_char_vocabulary)
        return list(dict(self._vocabulary_items)[_order(key)])

    def vocabulary_size(self, n=1) -> int:
        """Number of ids for order ``n`` (or ``"chars"``), padding and OOV included."""
        return len(self._vocabulary(n if n in (CHARS, TOKEN_CHARS) else _key(n))) + 2

    def vocabulary_sizes(self) -> dict[str, int]:
        """``{output key: number of ids}`` for every output (``tokens``, ``ngrams_N``, ``chars``)."""
        return {key: len(self._vocabulary(key)) + 2 for key in self.output_keys()}

    # -- graph ---------------------------------------------------------------------------------
    def _tables(self):
        import tensorflow as tf

        if self._lookups is None:
            with tf.init_scope():  # tables live outside any tf.function/tf.data trace
                return self._make_tables()
        return self._lookups

    def _make_tables(self):
        import tensorflow as tf

        if self._lookups is None:
            if not self.vocabularies:
                raise ValueError("TextVectorizer has no vocabulary: call adapt(texts) first.")
            lookups = {}
            for key in self.output_keys():
                vocab = self._vocabulary(key)
                init = tf.lookup.KeyValueTensorInitializer(
                    tf.constant(vocab, dtype=tf.string) if vocab else tf.constant([""], tf.string),
                    tf.range(2, len(vocab) + 2, dtype=tf.int64) if vocab else tf.constant([OOV], tf.int64),
                )
                lookups[key] = tf.lookup.StaticHashTable(init, default_value=OOV)
            self._lookups = lookups
        return self._lookups

    def tokens(self, texts, lowercase=None, truncate=True):
        """The tokens of each text as a ragged string tensor: the one tokenization rule, used by
        ``call``, :meth:`tokenize` (training ids made in Python) and every export.

        The rule: invalid UTF-8 becomes U+FFFD; control characters (C0/C1 other than whitespace)
        and the byte-order mark are removed; then the text is lower-cased (``lowercase``; Unicode
        default case mapping, so ``"İ"`` becomes ``"i̇"``), and split. A word split separates at
        any run of Unicode whitespace (space, tab, line breaks, U+00A0, U+3000, U+2000-U+200A,
        ...) and at the zero-width space U+200B; a character split yields each code point
        (combining marks and emoji modifiers are their own tokens), dropping that whitespace
        unless ``keep_whitespace``. A wordpunct split then cuts each word into runs of word
        characters and runs of other characters, the first marked ``"▁"`` (``"Go, Jo!"`` ->
        ``"▁go" "," "▁jo" "!"``). A subword split gives the normalised text to SentencePiece
        (pieces marked the same way: ``"▁trans" "lation"``). Nothing else is normalised. ``truncate``: cut each text at
        ``max_length`` tokens; ``lowercase=False`` keeps the original case (what a tagger's
        export shows back)."""
        import tensorflow as tf

        texts = self._normalize(texts, lowercase)
        if self.split == "subword":
            tokens = self._sentencepiece().tokenize(texts)
        elif self.split == "character":
            tokens = tf.strings.unicode_split(texts, "UTF-8")
            if not self.keep_whitespace:
                tokens = tf.ragged.boolean_mask(tokens, tf.not_equal(tokens, " "))
        else:
            if self.split == "wordpunct":
                texts = " " + tf.strings.regex_replace(texts, SPACE_MARK, " ")  # the mark is read as a space
                texts = tf.strings.regex_replace(texts, " +([^ ])", " " + SPACE_MARK + r"\1")
                texts = tf.strings.regex_replace(
                    tf.strings.regex_replace(texts, f"({WORD_RUN})", r" \1 "), SPACE_MARK + " +", SPACE_MARK
                )
            tokens = tf.strings.split(texts)  # at runs of ASCII whitespace: all of it is " " by now
            if self.punctuation == "cut":
                tokens = self._cut_affixes(tokens)
        return tokens[:, : self.max_length] if self.max_length and truncate else tokens

    def _cut_affixes(self, words):
        """Each word's leading and trailing punctuation cut off (``punctuation="cut"``), one mark a
        token, unless the word's lower case is one of ``whole_words``."""
        import tensorflow as tf

        from tfseq.tflite_app import STRIPS

        flat = words.flat_values
        parts = tf.strings.split(tf.strings.regex_replace(flat, AFFIXES, "\\1\t\\2\t\\3"), "\t").to_tensor(
            "", shape=[None, 3]
        )
        size = tf.strings.length(flat, unit="UTF8_CHAR")
        start = tf.strings.length(parts[:, 0], unit="UTF8_CHAR")  # the core: the word between its marks
        end = size - tf.strings.length(parts[:, 2], unit="UTF8_CHAR")
        if self.whole_words:  # a form kept whole, with the fewest marks around it cut off (cut_affixes)
            table, found = self._whole_lookup(), tf.zeros_like(size, dtype=tf.bool)
            new_start, new_end = start, end
            trailing = tf.where(end > start, size - end, size)  # marks after the core (all, without one)
            for front, back in STRIPS:
                kept = tf.strings.substr(
                    flat, tf.minimum(front, size), tf.maximum(size - front - back, 0), unit="UTF8_CHAR"
                )  # (pos past the end is an error, even for nothing)
                hit = (
                    (front <= start)
                    & (back <= trailing)
                    & (size - front - back > 0)
                    & ~found
                    & (table.lookup(tf.strings.lower(kept, encoding="utf-8")) > 0)
                )
                new_start, new_end = tf.where(hit, front, new_start), tf.where(hit, size - back, new_end)
                found |= hit
            start, end = new_start, new_end

        def each(affix):  # one token per mark
            return tf.strings.regex_replace(affix, AFFIX_PIECE, "\\1 ")

        cut = tf.strings.join(
            [
                each(tf.strings.substr(flat, tf.zeros_like(start), start, unit="UTF8_CHAR")),
                tf.strings.substr(flat, start, end - start, unit="UTF8_CHAR"),
                each(tf.strings.substr(flat, end, size - end, unit="UTF8_CHAR")),
            ],
            separator=" ",
        )
        return words.with_flat_values(tf.strings.split(cut)).merge_dims(1, 2)

    def _whole_lookup(self):
        import tensorflow as tf

        if self._whole_table is None:
            with tf.init_scope():
                keys = list(self.whole_words) or ["\x00"]  # no word holds a control character
                self._whole_table = tf.lookup.StaticHashTable(
                    tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.string), tf.ones([len(keys)], tf.int64)),
                    default_value=0,
                )
        return self._whole_table

    def token_offsets(self, texts, truncate=True):
        """Where each of :meth:`tokens` lies in its text: ``(starts, ends)``, ragged
        ``int32[batch, tokens]`` code-point offsets into the text as decoded (an invalid UTF-8
        byte reads as one U+FFFD), so ``text[start:end]`` in Python is the token in its own
        case, whatever whitespace (full-width, tabs) or control characters surround it. A word
        or character split (the tagger's); :func:`tfseq.tflite_app.Preprocessor.offsets` is the
        same rule in plain Python."""
        import tensorflow as tf

        if self.split not in ("word", "character"):
            raise ValueError(f"token offsets are for a word or character split, not split={self.split!r}")
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        if texts.shape.rank == 0:
            texts = texts[None]
        chars = tf.strings.unicode_split(
            tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace"), "UTF-8"
        )
        index = tf.ragged.range(chars.row_lengths())
        kept = tf.logical_not(tf.strings.regex_full_match(chars, CONTROL))  # removed: no token, no boundary
        chars, index = tf.ragged.boolean_mask(chars, kept), tf.ragged.boolean_mask(index, kept)
        space = tf.strings.regex_full_match(chars, WHITESPACE)
        if self.split == "character":
            starts = index if self.keep_whitespace else tf.ragged.boolean_mask(index, tf.logical_not(space))
            ends = starts + 1
        else:  # the tokens partition the text's other characters, in order
            shown = tf.ragged.boolean_mask(index, tf.logical_not(space)).to_tensor(-1)
            lengths = tf.strings.length(self.tokens(texts, lowercase=False, truncate=False), unit="UTF8_CHAR")
            last = tf.cumsum(lengths.to_tensor(0), axis=1) - 1  # each token's last character
            first = last - lengths.to_tensor(0) + 1

            def at(k):  # the text's position of each token's k-th shown character (padding: any)
                k = tf.clip_by_value(k, 0, tf.maximum(tf.shape(shown, out_type=k.dtype)[1] - 1, 0))
                return tf.RaggedTensor.from_tensor(tf.gather(shown, k, batch_dims=1), lengths=lengths.row_lengths())

            starts, ends = at(first), at(last) + 1
        if self.max_length and truncate:
            starts, ends = starts[:, : self.max_length], ends[:, : self.max_length]
        return tf.cast(starts, tf.int32), tf.cast(ends, tf.int32)

    def _normalize(self, texts, lowercase=None):
        """The rule's first part (see :meth:`tokens`), ``string[batch]`` -> ``string[batch]``."""
        import tensorflow as tf

        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        if texts.shape.rank == 0:
            texts = texts[None]
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
        texts = tf.strings.regex_replace(texts, CONTROL, "")
        if not self.keep_whitespace:
            texts = tf.strings.regex_replace(texts, WHITESPACE, " ")
        if self.lowercase if lowercase is None else lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        return texts

    def __call__(self, texts, *args, **kwargs):
        return super().__call__(as_strings(texts), *args, **kwargs)

    def call(self, texts):
        return self.ids(self.tokens(texts), self.tokens(texts, lowercase=False) if self.token_chars else None)

    def split_ids(self, tokens):
        """:meth:`call` for text already split into tokens (``string[batch, T]``, ``""`` padding,
        or ragged): each token normalised as a text is (control characters removed, lower-cased
        if this layer does), never split again, and cut at ``max_length`` as a text's tokens are.
        A tokenized corpus (CoNLL) is scored on its own tokens this way."""
        import tensorflow as tf

        tokens = tf.convert_to_tensor(tokens, tf.string) if not isinstance(tokens, tf.RaggedTensor) else tokens
        if not isinstance(tokens, tf.RaggedTensor):
            tokens = tf.RaggedTensor.from_tensor(tokens, padding="")
        cased = tokens.with_flat_values(self._normalize(tokens.flat_values, lowercase=False))
        lowered = (
            cased.with_flat_values(tf.strings.lower(cased.flat_values, encoding="utf-8")) if self.lowercase else cased
        )
        if self.max_length:
            cased, lowered = cased[:, : self.max_length], lowered[:, : self.max_length]
        return self.ids(lowered, cased if self.token_chars else None)

    def ids(self, tokens, cased=None):
        """The output dict of ragged ``tokens`` (and, for ``token_chars``, the same tokens in
        their own case): ids of every n-gram order, the ``chars`` bag, ``token_chars``."""
        import tensorflow as tf

        separator = "" if self.split == "character" else " "
        outputs = {}
        tables = self._tables()
        for n in sorted(self.vocabularies):
            table = tables[_key(n)]
            # The n-gram starting at token i joins tokens i .. i+n-1 (rows shorter than n: none).
            parts = [tokens[:, k : (k - n + 1) or None] for k in range(n)]
            grams = tf.strings.join(parts, separator) if n > 1 else tokens
            ids = tf.ragged.map_flat_values(table.lookup, grams)
            dense = tf.cast(ids.to_tensor(default_value=PAD), tf.int32)
            # Every order is as wide as the tokens, so position t lines up across orders.
            missing = tf.cast(tokens.bounding_shape()[1], tf.int32) - tf.shape(dense)[1]
            outputs[_key(n)] = tf.pad(dense, [[0, 0], [0, missing]])
        if self.char_ngrams:
            outputs[CHARS] = self._char_ids(tokens, tables[CHARS])
        if self.token_chars:
            grams = self._token_grams(cased, self.token_chars)
            ids = tf.cast(tf.ragged.map_flat_values(tables[TOKEN_CHARS].lookup, grams).to_tensor(PAD), tf.int32)
            missing = tf.cast(tokens.bounding_shape()[1], tf.int32) - tf.shape(ids)[1]
            outputs[TOKEN_CHARS] = tf.pad(ids, [[0, 0], [0, missing], [0, 0]])
        return outputs

    @staticmethod
    def _token_grams(words, orders):
        """(batch, words, grams): each word's character n-grams, the word padded with a space
        on both sides (fastText's subwords)."""
        import tensorflow as tf

        padded = tf.strings.join([" ", words.flat_values, " "])
        chars = tf.strings.unicode_split(padded, "UTF-8", errors="replace")  # (words, chars)
        grams = tf.concat([tf.strings.ngrams(chars, n, separator="") for n in range(orders[0], orders[1] + 1)], axis=1)
        return words.with_flat_values(grams)

    def _char_ids(self, words, table):
        """(batch, grams) ids of the character n-grams of each row's words (a bag, 0-padded)."""
        import tensorflow as tf

        grams = self._token_grams(words, self.char_ngrams).merge_dims(1, 2)  # (batch, grams of all its words)
        return tf.cast(tf.ragged.map_flat_values(table.lookup, grams).to_tensor(default_value=PAD), tf.int32)

    def compute_output_spec(self, texts):
        return {
            key: keras.KerasTensor((None, None, None) if key == TOKEN_CHARS else (None, None), dtype="int32")
            for key in self.output_keys()
        }

    def get_config(self):
        return {
            **super().get_config(),
            "split": self.split,
            "keep_whitespace": self.keep_whitespace,
            "lowercase": self.lowercase,
            "ngrams": list(self.ngrams),
            "max_length": self.max_length,
            "char_ngrams": list(self.char_ngrams) if self.char_ngrams else None,
            "vocabularies": {str(n): v for n, v in self.vocabularies.items()},
            "char_vocabulary": list(self.char_vocabulary),
            "token_chars": list(self.token_chars) if self.token_chars else None,
            "token_char_vocabulary": list(self.token_char_vocabulary),
            "subwords": self.subwords,
            "subword_model": self.subword_model,
            **(
                {"punctuation": self.punctuation, "whole_words": list(self.whole_words)}
                if self.punctuation != "keep"
                else {}
            ),
        }


def row_lengths(ids) -> np.ndarray:
    """Position after the last non-padding id of each row of a 2-D id array (interior padding kept)."""
    ids = np.asarray(ids)
    if not ids.shape[1]:
        return np.zeros(len(ids), "int64")
    nonzero = ids != PAD
    last = ids.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last, 0).astype("int64")


def steps_of(ids) -> np.ndarray:
    """Each row's steps as the pipelines run it: its :func:`row_lengths`, at least one (a text
    without a token is one padded, masked step, not a zero-length sequence)."""
    return np.maximum(row_lengths(ids), 1)


def ragged_token_chars(ids: np.ndarray, lengths):
    """``(N, T, G)`` padded ``token_chars`` ids as a ragged ``(N, tokens, grams)`` tensor holding
    each token's ids without padding: row ``i`` keeps its first ``lengths[i]`` tokens (its
    :func:`steps_of`), each token its ids up to its last non-zero one."""
    import tensorflow as tf

    lengths = np.asarray(lengths, "int64")
    if len(lengths) and ids.shape[1] < lengths.max():
        ids = np.pad(ids, ((0, 0), (0, int(lengths.max()) - ids.shape[1]), (0, 0)))
    kept = ids[np.arange(ids.shape[1])[None, :] < lengths[:, None]]  # (sum of lengths, G)
    widths = row_lengths(kept)
    flat = kept[np.arange(ids.shape[2])[None, :] < widths[:, None]]
    return tf.RaggedTensor.from_nested_row_lengths(flat, [lengths, widths])


def concatenate_ids(*features: dict) -> dict:
    """Rows of several ``{key: (N_i, T_i[, G_i]) ids}`` dicts in one, each key padded to its widest
    ``T_i`` (and ``G_i``: ``token_chars``), written once into the joined array."""
    joined = {}
    for key in features[0]:
        if hasattr(features[0][key], "flat_values"):  # ragged token_chars: rows joined as they are
            import tensorflow as tf

            joined[key] = tf.concat([f[key] for f in features], axis=0)
            continue
        arrays = [np.asarray(f[key]) for f in features]
        shape = tuple(max(a.shape[axis] for a in arrays) for axis in range(1, arrays[0].ndim))
        out = np.full((sum(len(a) for a in arrays), *shape), PAD, dtype=arrays[0].dtype)
        start = 0
        for a in arrays:
            out[(slice(start, start + len(a)), *(slice(0, n) for n in a.shape[1:]))] = a
            start += len(a)
        joined[key] = out
    return joined


def lengths_of(token_ids: np.ndarray) -> np.ndarray:
    """Number of non-padding ids per row."""
    return (np.asarray(token_ids) != PAD).sum(axis=-1)
