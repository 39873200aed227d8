"""Asynchronous many-to-many: sequence to sequence (grapheme-to-phoneme, translation).

:class:`~tfseq.models.Seq2Seq` on a task recipe (``tasks/seq2seq/seq2seq.yaml``), trained with teacher
forcing and decoded greedily or by beam search. Scores per distinct source (a word with several
pronunciations counts once, right if the output is any of them): ``accuracy`` (exact match; for
grapheme-to-phoneme, 1 - WER) and ``token_error_rate`` (edit distance to the nearest reference
over the reference's length, summed over the corpus; PER for phonemes, WER for words).
"""

from __future__ import annotations

import collections

import numpy as np

from tfseq import data
from tfseq.data.preprocessors import END, START
from tfseq.export import Serving, TFLiteServing, at_least_one_step
from tfseq.models import Seq2Seq
from tfseq.train.scores import sequence_scores
from tfseq.train.task import Task


class Seq2SeqTask(Task):
    model_class = Seq2Seq

    def prepare(self):
        cfg = self.config.data
        self.dataset = self.load_dataset("seq2seq", "source/target pairs")
        self.choose_for_sources(self.dataset.train["source"])
        self.auto_split("data.source_split", self.dataset.train["source"], punctuation=True)
        self.auto_split("data.target_split", self.dataset.train["target"], punctuation=True)
        self.preprocessor = self.preprocessor_from(
            lambda: data.Seq2SeqPreprocessor(
                *(
                    data.TextVectorizer(
                        split=cfg[f"{side}_split"],
                        lowercase=lowercase,
                        max_length=cfg.max_length,
                        subwords=cfg.subwords,
                    )
                    for side, lowercase in (("source", cfg.lowercase), ("target", cfg.target_lowercase))
                )
            ).adapt(self.dataset.train["source"], self.dataset.train["target"], max_tokens=cfg.max_tokens)
        )
        self.features, self.targets, self.references = {}, {}, {}
        for split, frame in self.dataset.splits.items():
            if not len(frame):
                self.features[split] = None
                continue
            decoder_in, self.targets[split], tokenized = self.preprocessor.targets(frame["target"])
            self.features[split] = {"source": self.preprocessor.inputs(frame["source"])["tokens"], "target": decoder_in}
            self.references[split] = collections.defaultdict(list)
            for text, reference in zip(frame["source"], tokenized):
                self.references[split][str(text)].append(reference)
        sizes = [t.vocabulary_size() for t in (self.preprocessor.tokenizer, self.preprocessor.target_tokenizer)]
        self.log(
            f"data: {self.dataset.name} {self.dataset.sizes()} pairs; vocabularies: source {sizes[0]}, "
            f"target {sizes[1]} ids"
        )
        self.make_pipelines(length_key="source")

    def choose_for_sources(self, sources):
        """The ``auto`` keys by what the sources are (tasks/seq2seq/auto.yaml): sentences get the
        translation benchmark's settings (and SentencePiece subwords on both sides when TensorFlow
        Text is installed), words to spell out grapheme-to-phoneme's."""
        import importlib.util

        from tfseq.data.language import spelled_words

        words, reason = spelled_words(sources)
        self.auto_case("words" if words else "sentences", f"{'words' if words else 'sentences'}: {reason}")
        if words or not (self.auto("data.source_split") and self.auto("data.target_split")):
            return
        if all(importlib.util.find_spec(m) for m in ("tensorflow_text", "sentencepiece")):
            for key in ("data.source_split", "data.target_split"):
                self.choose(key, "subword", "sentences: SentencePiece pieces, as the translation benchmark")
        else:
            self.log(
                "auto: sentences read as words and punctuation; pip install 'tfseq[subword]' (TensorFlow "
                "Text, SentencePiece) for the subwords the translation benchmark reads"
            )

    def build_model(self):
        cfg = self.config.model
        model = Seq2Seq(
            self.backbone(self.preprocessor.tokenizer.vocabulary_size()),
            self.preprocessor.target_tokenizer.vocabulary_size(),
            attention=cfg.attention,
            sampled_softmax=cfg.sampled_softmax,
            tie_embeddings=cfg.tie_embeddings,
            label_smoothing=cfg.label_smoothing,
            preprocessor=self.preprocessor,
        )
        model({"source": np.ones((1, 2), "int32"), "target": np.ones((1, 2), "int32")})  # build the weights
        return model.start_from_prior(self.targets["train"])

    def baseline(self):
        """The translation memory: each source answered with the target of its nearest training
        source (TF-IDF cosine over word 1-2-grams and punctuation; over character 2-4-grams when the
        sources are read a character at a time, as spelled words are), scored as the model is."""
        if not self.config.baseline:
            return None
        from sklearn.feature_extraction.text import TfidfVectorizer

        train = self.dataset.train
        translation = self.config.data.source_split != "character"
        vectorizer = (
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\w+|[^\w\s]", dtype=np.float32)
            if translation
            else TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), lowercase=False, dtype=np.float32)
        )
        memory = vectorizer.fit_transform(train["source"]).T.tocsr()  # rows L2-normalised: dot = cosine
        targets = self.preprocessor.target_tokenizer.tokenize([str(t) for t in train["target"]], truncate=False)
        result = {"model": "translation memory (the target of the nearest training source, TF-IDF)"}
        for split in ("validation", "test"):
            if not self.references.get(split):
                continue
            sources = list(self.references[split])
            queries = vectorizer.transform(sources)
            nearest = np.concatenate(
                [
                    np.asarray((queries[i : i + 2048] @ memory).argmax(axis=1)).ravel()
                    for i in range(0, len(sources), 2048)
                ]
            )
            result[split] = sequence_scores(
                self.references[split],
                {source: targets[i] for source, i in zip(sources, nearest)},
                join=self.preprocessor.target_tokenizer.join if translation else None,
            )
        if "test" in result:
            key = self.headline_of(result)
            self.log(f"baseline {result['model']}: test {key} {result['test'][key]:.4f}")
        return result

    def evaluate(self):
        metrics, sampler = {}, self.sampler()
        for split in ("validation", "test"):
            if self.features.get(split) is None:
                continue
            # One output per distinct source (its rows share the source ids).
            frame = self.dataset.splits[split]
            first = {}
            for row, text in enumerate(frame["source"]):
                first.setdefault(str(text), row)
            rows = list(first.values())
            ids = self.model.translate_source_ids(
                self.features[split]["source"][rows], int(self.config.generate.max_length), sampler
            )
            # The outputs' tokens, as the references were made: the target vectorizer's rule.
            tokens = self.preprocessor.target_tokenizer.tokenize(self.model.texts(ids), truncate=False)
            outputs = dict(zip(first, tokens))
            translation = self.config.data.source_split != "character"  # (not grapheme-to-phoneme)
            metrics[split] = sequence_scores(
                self.references[split], outputs, join=self.preprocessor.target_tokenizer.join if translation else None
            )
            metrics[split]["loss"] = float(self.model.evaluate(self.pipelines[split], verbose=0))
            if split == "test":
                self.write_examples(first, outputs)
        return metrics

    def write_examples(self, sources, outputs, count=50):
        """``examples.txt``: the first test sources, the model's output, and the references."""
        lines = []
        join = self.preprocessor.target_tokenizer.join
        for text in list(sources)[:count]:
            references = [join(r) for r in self.references["test"][text]]
            mark = "ok " if outputs[text] in self.references["test"][text] else "ERR"
            lines.append(f"{mark}\t{text}\t{join(outputs[text])}\t(reference: {' | '.join(references)})")
        self.run.write_text("examples.txt", "\n".join(lines) + "\n")

    @classmethod
    def preset_serving(cls, model):
        return seq2seq_serving(model)

    @classmethod
    def evaluation_data(cls, path, options):
        return data.read_parallel(path)

    @classmethod
    def score_export(cls, loaded, frame, declared):
        """One answer per distinct source, references and answers split by the target rule (the
        export's ``target_tokens``), scored as :meth:`evaluate` does."""
        from tfseq.evaluate import in_batches, joiner, needs, token_rows

        needs(loaded, "target_tokens")
        sources = list(dict.fromkeys(str(text) for text in frame["source"]))
        outputs = in_batches(loaded.signatures["serving_default"], sources)["target"]
        answers = dict(zip(sources, token_rows(loaded, [o.decode("utf-8") for o in outputs], "all_tokens")))
        references = collections.defaultdict(list)
        for source, tokens in zip(frame["source"], token_rows(loaded, frame["target"].astype(str), "tokens")):
            references[str(source)].append(tokens)
        splits = declared.get("identity", {}).get("vocabulary", {})
        translation = splits.get("tokenizer") != "character"  # (grapheme-to-phoneme: no BLEU)
        scores = sequence_scores(
            references, answers, join=joiner(splits.get("target_tokenizer", "word")) if translation else None
        )
        return {"test": scores, "headline": "bleu" if translation else "accuracy", "examples": len(sources)}

    def tflite_serving(self):
        return seq2seq_tflite(
            self.model,
            max_length=int(self.config.generate.max_length),
            sampler=self.sampler(),
            n_best=int(self.config.generate.n_best),
        )

    def serving(self):
        cfg = self.config.generate
        return seq2seq_serving(
            self.model,
            max_length=int(cfg.max_length),
            sampler=self.sampler(),
            metadata={
                "data": self.dataset.name,
                "generate": dict(cfg),
            },  # sampler, beams, length_penalty, max_length, n_best
            n_best=int(cfg.n_best),
        )


def seq2seq_tflite(model, max_length=30, sampler=None, n_best: int = 1) -> TFLiteServing:
    """A :class:`~tfseq.models.Seq2Seq` as TFLite, decoding on the device: source ids in,
    ``int32[1, max_length]`` target ids out (``end`` included, then 0), chosen greedily or by
    beam search (``sampler``) in a TFLite ``WHILE`` of builtin operations; ``tfseq.json`` holds
    the target vocabulary and rule, so ``preprocess.py`` answers the target text. With ``n_best``
    > 1 (beam search), ``int32[1, n_best, max_length]`` ids and their ``float32[1, n_best]``
    scores, best first, as the SavedModel answers them. A source read by SentencePiece
    (``subword``) needs TensorFlow Text, which the app side has not."""
    from tfseq import decoding

    pre = model.preprocessor
    sampler = sampler or decoding.Greedy()
    if not isinstance(sampler, (decoding.Greedy, decoding.BeamSearch)):
        raise ValueError(
            "export.tflite decodes greedily or by beam search: set generate.sampler=greedy or beam "
            f"(not {type(sampler).__name__}: TFLite has no random sampling)"
        )
    if pre.tokenizer.split == "subword":
        raise ValueError(
            "export.tflite reads the source on the device in plain Python, which has no SentencePiece: "
            "choose data.source_split=word, wordpunct or character, or export.tflite=false"
        )
    target = pre.target_tokenizer
    if n_best > 1:
        call = lambda m, ids: m.translate_n_best(ids["tokens"], max_length, sampler, n_best)  # noqa: E731
        outputs, show, columns = (
            "the n best target ids (end included, then 0) and their scores, best first",
            "{text}\t{n_best}",
            ("target", "n_best"),
        )
    else:
        call = lambda m, ids: m.translate_ids(ids["tokens"], max_length, sampler)  # noqa: E731
        outputs, show, columns = "target ids (end included, then 0)", "{text}\t{target}", ("target",)
    return TFLiteServing(
        model,
        pre.tokenizer,
        outputs,
        "targets",
        show,
        columns,
        call=call,
        metadata={
            "target": {"vocabulary": list(target.vocabularies[1]), "split": target.split, "start": START, "end": END},
            "generate": {
                "max_length": max_length,
                **sampler.get_config(),
                "n_best": n_best,
                "sampler": "beam" if isinstance(sampler, decoding.BeamSearch) else "greedy",
            },
        },
    )


def seq2seq_serving(model, max_length=30, sampler=None, metadata=None, n_best: int = 1) -> Serving:
    """A :class:`~tfseq.models.Seq2Seq`'s export: ``serving_default(text: string[batch]) ->
    {target: string[batch]}``: each source text's output, decoded by ``sampler`` (default greedy)
    up to ``max_length`` tokens, tokens joined by spaces (word targets) or not. A text without
    tokens (empty, whitespace or control characters only) gets an empty target; overlong text is
    cut at the source vectorizer's ``max_length``.

    ``n_best`` > 1 (a beam ``sampler``): also ``targets: string[batch, n_best]`` and ``scores:
    float32[batch, n_best]`` (the scores they are ranked by: the log-probability over
    ``length ** length_penalty``), best first, and ``n_best``, the readable ``target (score) |
    target (score) ...`` that ``tfseq-predict`` prints.

    ``generate(text, sampler=, temperature=, top_k=, top_p=, max_length=, beams=, n_best=,
    length_penalty=, no_repeat_ngram_size=, repetition_penalty=)`` answers the same outputs with
    the decoding chosen at predict time (each setting left out: this export's)."""
    import keras
    import tensorflow as tf

    from tfseq import decoding

    sampler = sampler or decoding.Greedy()
    seed = keras.random.SeedGenerator(getattr(sampler, "seed", None))

    def answer(module, text):
        source, has_tokens = at_least_one_step({"tokens": module.preprocessor(text)["tokens"]})
        if n_best == 1:
            target = module.preprocessor.postprocess(model.translate_ids(source["tokens"], max_length, sampler))
            return {"target": tf.where(has_tokens, target, "")}
        ids, scores = model.translate_n_best(source["tokens"], max_length, sampler, n_best)
        return n_best_answer(module.preprocessor, ids, scores, has_tokens)

    def generate(module, text, **settings):
        source, has_tokens = at_least_one_step({"tokens": module.preprocessor(text)["tokens"]})
        ids, scores = decoding.dispatch(
            lambda chosen, n, length: model.translate_n_best(source["tokens"], length, chosen, n), settings, seed
        )
        return n_best_answer(module.preprocessor, ids, scores, has_tokens)

    def target_tokens(module, text):
        return target_token_rows(module.preprocessor.target_tokenizer, text)

    show, columns = ("{text}\t{target}", ("target",)) if n_best == 1 else ("{text}\t{n_best}", ("target", "n_best"))
    return Serving(
        answer,
        model.variables,
        model.preprocessor,
        show=show,
        columns=columns,
        metadata=metadata or {},
        track={"generate_seed": seed.state},
        generate=generate,
        generate_defaults=decoding.settings_of(sampler, max_length, n_best),
        functions={"target_tokens": (target_tokens, {"text": tf.TensorSpec([None], tf.string)})},
    )


def target_token_rows(tokenizer, text) -> dict:
    """Target texts split by the target rule, as training scores them: ``tokens`` cut at its
    ``max_length`` (a reference's), ``all_tokens`` not (an output's); what ``tfseq-evaluate`` compares."""
    return {
        "tokens": tokenizer.tokens(text).to_tensor(""),
        "all_tokens": tokenizer.tokens(text, truncate=False).to_tensor(""),
    }


def n_best_answer(preprocessor, ids, scores, has_tokens) -> dict:
    """``{target, targets, scores, n_best}`` of ``ids`` ``int32[batch, n, length]`` and their
    ``scores``, best first; empty for rows without tokens."""
    import tensorflow as tf

    shape = tf.shape(ids)
    targets = tf.reshape(preprocessor.postprocess(tf.reshape(ids, [-1, shape[2]])), shape[:2])
    targets = tf.where(has_tokens[:, None], targets, "")
    scores = tf.where(has_tokens[:, None], scores, 0.0)
    readable = tf.strings.reduce_join(
        targets + " (" + tf.strings.as_string(scores, precision=3) + ")", axis=1, separator=" | "
    )
    return {"target": targets[:, 0], "targets": targets, "scores": scores, "n_best": tf.where(has_tokens, readable, "")}
