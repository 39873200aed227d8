"""Synchronous many-to-many: a tag per token (chunks, parts of speech, word segmentation).

:class:`~tfseq.models.SequenceTagger` on a task recipe (``tasks/tag/tag.yaml``). Scored by token
accuracy and, for chunk tags (``B-NP``, ``I-NP``, ``O``), by CoNLL chunk F1 (seqeval, the
conlleval definition), for B/M/E/S segmentation tags by word F1; the bar is each word's most frequent training tag.
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

from tfseq import data, recipes
from tfseq.export import Serving, TFLiteServing, at_least_one_step
from tfseq.models import SequenceTagger
from tfseq.models.tagger import id_rows
from tfseq.tflite_app import is_chunk_tagset
from tfseq.train import plots
from tfseq.train.task import Task

SEGMENT_TAGS = {"B", "M", "E", "S"}  # word segmentation: a word's Begin, Middle, End, or a Single character

# Words of a script that spaces them take this recipe's values for the auto keys (tasks/tag/auto.yaml
# holds the values for text written without spaces).
SPACED_RECIPE = Path(__file__).with_name("tag-en.yaml")


def scheme_of(tag_names) -> str | None:
    """How tags are scored beyond accuracy: ``chunks`` (``B-NP``, ``I-NP``, ``O``; IOB2, IOBES, or
    CoNLL-2003's IOB1, where a chunk may start with ``I-``: CoNLL chunk F1), ``words`` (B/M/E/S character tags: word segmentation F1) or None."""
    tags = set(tag_names)
    if is_chunk_tagset(tags):
        return "chunks"
    return "words" if tags <= SEGMENT_TAGS and {"B", "E"} <= tags else None


def words_of(tags) -> set:
    """The (start, end) spans of the words that B/M/E/S tags segment: a word starts at B or S, or
    after E or S (so ill-formed answers such as ``E M`` still read as words, as a scorer must)."""
    starts = [i for i, tag in enumerate(tags) if i == 0 or tag in "BS" or tags[i - 1] in "ES"]
    return set(zip(starts, starts[1:] + [len(tags)]))


def segmentation_scores(truth, predicted) -> dict:
    """Word precision, recall and F1 of a segmentation (the SIGHAN bakeoff's definition)."""
    found = right = total = 0
    for gold, guess in zip(truth, predicted):
        gold, guess = words_of(gold), words_of(guess)
        found, right, total = found + len(guess), right + len(gold & guess), total + len(gold)
    precision, recall = right / max(found, 1), right / max(total, 1)
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if right else 0.0,
    }


def tag_scores(truth: list[list[str]], predicted: list[list[str]], scheme: str | None) -> dict:
    """Token accuracy; with chunk tags also CoNLL chunk precision, recall and F1 (seqeval); with
    segmentation tags, word precision, recall and F1."""
    flat_true = [t for row in truth for t in row]
    flat_pred = [t for row in predicted for t in row]
    scores = {"accuracy": float(np.mean([a == b for a, b in zip(flat_true, flat_pred)])) if flat_true else 0.0}
    if scheme == "chunks":
        from seqeval.metrics import f1_score, precision_score, recall_score

        # zero_division=0: the value seqeval's default gives, without its warning (an untrained
        # model that finds no chunk has precision 0, not an error a user can act on).
        scores.update(
            f1=float(f1_score(truth, predicted, zero_division=0)),
            precision=float(precision_score(truth, predicted, zero_division=0)),
            recall=float(recall_score(truth, predicted, zero_division=0)),
        )
    elif scheme == "words":
        scores.update(segmentation_scores(truth, predicted))
    return scores


def chunk_type_scores(truth: list[list[str]], predicted: list[list[str]]) -> dict:
    """Precision, recall, F1 and support of each chunk (or entity) type (``NP``, ``PER``, ...), as
    conlleval reports them (seqeval)."""
    from seqeval.metrics import classification_report

    report = classification_report(truth, predicted, output_dict=True, zero_division=0)
    return {
        kind: {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
        for kind, row in sorted(report.items())
        if not kind.endswith(" avg")
    }


def most_frequent_tag_baseline(dataset, lowercase=True) -> dict:
    """Each word's most frequent training tag; unknown words get the most frequent tag overall.

    The classic bar for tagging. (CoNLL-2000's official chunking baseline, F1 77.07, chose the
    tag most frequent for each part-of-speech tag, a column this task does not read.)
    """
    norm = (lambda w: w.lower()) if lowercase else (lambda w: w)
    counts, overall = collections.defaultdict(collections.Counter), collections.Counter()
    for tokens, tags in zip(dataset.train["tokens"], dataset.train["tags"]):
        for token, tag in zip(tokens, tags):
            counts[norm(token)][tag] += 1
            overall[tag] += 1
    best = {word: c.most_common(1)[0][0] for word, c in counts.items()}
    fallback = overall.most_common(1)[0][0]
    scheme = scheme_of(overall)
    result = {"model": "most frequent training tag per word"}
    for split in ("validation", "test"):
        frame = dataset.splits[split]
        if len(frame):
            predicted = [[best.get(norm(t), fallback) for t in tokens] for tokens in frame["tokens"]]
            result[split] = tag_scores([list(t) for t in frame["tags"]], predicted, scheme)
    return result


def split_of(sentences) -> tuple[str, str]:
    """``data.split``'s auto value and its reason: ``character`` when every training token is one
    character (word segmentation); ``wordpunct`` when the tokens are words of a script that spaces
    them and the corpus writes punctuation as tokens of its own (CoNLL, Penn Treebank: at least 2%
    of the tokens), so raw text is cut the same way at serving (``York.`` -> ``York`` ``.``);
    else ``word`` (tokens are what whitespace separates)."""
    from tfseq.data.language import unspaced_share
    from tfseq.tflite_app import is_word_character

    tokens = [token for row in sentences for token in row]
    if all(len(token) == 1 for token in tokens):
        return "character", "every training token is one character"
    share = unspaced_share(" ".join(row) for row in sentences) or 0.0
    punctuation = sum(not any(map(is_word_character, token)) for token in tokens) / max(len(tokens), 1)
    if share < 0.5 and punctuation >= 0.02:
        return "wordpunct", (
            f"{punctuation:.0%} of the training tokens are punctuation: raw text is cut at punctuation too"
        )
    return "word", "the training tokens are words"


class TagTask(Task):
    model_class = SequenceTagger

    def prepare(self):
        cfg = self.config.data
        self.dataset = self.load_dataset("tagging", "tagging", tag_column=cfg.tag_column)
        self.tag_names = self.dataset.labels
        self.scheme = scheme_of(self.tag_names)
        scored = {"chunks": " (chunks: scored by CoNLL F1)", "words": " (segmentation: scored by word F1)"}
        self.log(
            f"data: {self.dataset.name} {self.dataset.sizes()} {len(self.tag_names)} tags{scored.get(self.scheme, '')}"
        )
        if self.auto("data.split"):
            self.choose("data.split", *split_of(self.dataset.train["tokens"]))
        self.choose_for_script(self.dataset.train["tokens"])
        self.choose_embeddings(" ".join(tokens) for tokens in self.dataset.train["tokens"])
        self.preprocessor = self.preprocessor_from(
            lambda: data.TokenTaggerPreprocessor(
                data.TextVectorizer(
                    split="word" if cfg.split == "wordpunct" else cfg.split,
                    punctuation="cut" if cfg.split == "wordpunct" else "keep",
                    lowercase=cfg.lowercase,
                    ngrams=tuple(cfg.ngrams),
                    max_length=cfg.max_length,
                    token_chars=cfg.token_chars,
                ),
                self.tag_names,
            )
        )
        if self.preset() is not None:
            self.check_known(self.tag_names, self.preprocessor.tags, "tags")
            self.tag_names = list(self.preprocessor.tags)
        texts, self.features, self.targets = {}, {}, {}
        for split, frame in self.dataset.splits.items():
            try:
                texts[split] = self.preprocessor.join(frame["tokens"])
            except ValueError as error:
                raise data.DataError(f"{self.dataset.name} ({split}) {error}") from None
        if self.preset() is None:
            self.preprocessor.adapt(texts["train"], max_tokens=cfg.max_tokens, min_frequency=cfg.min_frequency)
            self.add_embedding_words()
        for split, frame in self.dataset.splits.items():
            # Each word's characters held without padding (memory that follows the data).
            self.features[split] = self.preprocessor.inputs(texts[split], ragged=True) if len(frame) else None
            # Tags never seen in training get id 0 (no loss); they still count as errors when scored.
            self.targets[split] = self.preprocessor.targets(frame["tags"])
        cut = sum(len(t) > cfg.max_length for t in self.dataset.test["tokens"])
        if cut:
            self.log(
                f"data.max_length={cfg.max_length}: {cut} test sentences are cut (trained and scored on the start)"
            )
        self.make_pipelines()

    def choose_for_script(self, sentences):
        """The ``auto`` keys by the script of the training tokens: words of a script that spaces
        them (English chunks and names) take tag-en.yaml's values (a BiLSTM over lower-cased
        words, each word's characters as written, case included, read by a CNN; 15 epochs
        stopped on validation F1); text of a script written without spaces, and a character
        split, take tasks/tag/auto.yaml's."""
        from omegaconf import OmegaConf

        from tfseq.data.language import unspaced_share

        share = unspaced_share(" ".join(tokens) for tokens in sentences) or 0.0
        split = str(self.config.data.split)
        epochs_auto = self.auto("train.epochs")
        keys = [key for key in self.auto_case_table()["unspaced"] if key != "train.epochs"]
        if split in ("word", "wordpunct") and share < 0.5:
            recipe = OmegaConf.load(SPACED_RECIPE)
            reason = f"{1 - share:.0%} of the letters are in scripts that space words: {SPACED_RECIPE.name}'s value"
            for key in keys:  # the same keys, tag-en.yaml's values
                if self.auto(key):
                    self.choose(key, recipes.plain(OmegaConf.select(recipe, key)), reason)
            epochs, source = int(recipe.train.epochs), SPACED_RECIPE.name
        else:
            case = "character" if split == "character" else "unspaced"
            why = "a character split" if case == "character" else f"{share:.0%} of the letters are in unspaced scripts"
            epochs, source = self.auto_case(case, why, keys=keys)["train.epochs"], f"auto.yaml's {case}"
        scale = 1.0  # how many times the script's epochs a small file gets
        if epochs_auto:
            scale = self.choose("train.epochs", *self.epochs_for_steps(len(sentences), int(epochs), source)) / int(
                epochs
            )
        if self.auto("train.early_stopping"):
            patience = max(1, round(int(self.auto_rule()["patience"]) * scale))
            reason = "the rule's patience" + (
                f", {scale:.1f} times for {scale:.1f} times the epochs" if scale > 1 else ""
            )
            self.choose("train.early_stopping", patience, reason)

    def epochs_for_steps(self, sentences: int, least: int, source: str) -> tuple[int, str]:
        """``train.epochs=auto``: ``least`` (the script's value, from ``source``), more for a small
        file, so that training takes at least tasks/tag/auto.yaml's ``min_steps`` steps (a
        200-sentence file has 7 steps an epoch, CoNLL-2000 266); early stopping still ends a run
        whose validation F1 has beaten the bar and stopped rising."""
        rule = self.auto_rule()
        steps = -(-sentences // int(self.config.train.batch_size))
        epochs = min(int(rule["max_epochs"]), max(least, -(-int(rule["min_steps"]) // max(steps, 1))))
        if epochs == least:
            return epochs, f"{source}'s value"
        return epochs, (
            f"{sentences:,} training sentences, {steps} steps an epoch: more than {source}'s {least} epochs, "
            f"for at least {rule['min_steps']} steps, at most {rule['max_epochs']} epochs"
        )

    def build_model(self):
        model = SequenceTagger(
            self.backbone(self.preprocessor.tokenizer.vocabulary_sizes()),
            len(self.tag_names),
            crf=self.config.model.crf,
            preprocessor=self.preprocessor,
        )
        train = self.features["train"]
        rows, width = list(range(min(2, len(train["tokens"])))), train["tokens"].shape[1]
        model({k: id_rows(v, rows, width) for k, v in train.items()})  # build the weights
        return model

    def predict_tags(self, split) -> list[list[str]]:
        return self.preprocessor.tag_names(self.model.tag(self.features[split]), map(len, self.targets[split]))

    def evaluate(self):
        metrics, answers = {}, {}
        for split in ("validation", "test"):
            if self.features.get(split) is None:
                continue
            truth = [
                list(tags[: len(target)])
                for tags, target in zip(self.dataset.splits[split]["tags"], self.targets[split])
            ]
            answers[split] = truth, self.predict_tags(split)
            metrics[split] = tag_scores(*answers[split], self.scheme)
            metrics[split]["loss"] = float(self.model.evaluate(self.pipelines[split], verbose=0))
            if self.scheme == "chunks":  # per chunk or entity type: metrics.json's per_type
                metrics.setdefault("per_type", {})[split] = chunk_type_scores(*answers[split])
        if "test" in answers:
            self.report(*answers["test"])
        for kind, row in metrics.get("per_type", {}).get("test", {}).items():
            self.log(
                f"test {kind}: precision {row['precision']:.4f} recall {row['recall']:.4f} "
                f"F1 {row['f1']:.4f} ({row['support']} in the reference)"
            )
        return metrics

    def report(self, truth, predicted):
        """The test split's per-tag (or per-chunk) report and, up to 60 tags, confusion matrix."""
        from sklearn.metrics import classification_report

        flat_true = [t for row in truth for t in row]
        flat_pred = [t for row in predicted for t in row]
        if self.scheme == "chunks":
            from seqeval.metrics import classification_report as chunk_report

            report = chunk_report(truth, predicted, digits=4, zero_division=0)
        else:
            report = classification_report(flat_true, flat_pred, digits=4, zero_division=0)
        self.run.write_text("classification_report.txt", report)
        if len(self.tag_names) <= 60:
            index = {tag: i for i, tag in enumerate(self.tag_names)}
            seen = [i for i, tag in enumerate(flat_true) if tag in index]  # tags never seen in train: no row
            self.run.save_figure(
                "confusion_matrix.png",
                plots.confusion_matrix(
                    np.array([index[flat_true[i]] for i in seen]),
                    np.array([index[flat_pred[i]] for i in seen]),
                    self.tag_names,
                ),
            )

    def baseline(self):
        if not self.config.baseline:
            return None
        result = most_frequent_tag_baseline(self.dataset, lowercase=bool(self.config.data.lowercase))
        headline = self.headline_of(result)
        self.log(f"baseline {result['model']}: test {headline} {result['test'][headline]:.4f}")
        return result

    def default_monitor(self):
        # Chunk (entity) F1 or word F1 on validation, what the run is judged by, not the loss.
        return "val_f1" if self.validation_scores() else "val_loss"

    def validation_scores(self):
        if self.scheme is None or self.features.get("validation") is None:
            return None
        truth = [
            list(tags[: len(target)])
            for tags, target in zip(self.dataset.validation["tags"], self.targets["validation"])
        ]
        return lambda: {"f1": tag_scores(truth, self.predict_tags("validation"), self.scheme)["f1"]}

    def headline_of(self, metrics):
        return "accuracy" if self.scheme is None else "f1"

    @classmethod
    def evaluation_data(cls, path, options):
        column = options["tag_column"]
        return data.read_conll(path, tag_column=int(column) if str(column).lstrip("-").isdigit() else column)

    @classmethod
    def score_export(cls, loaded, frame, declared):
        """The file's own tokens tagged (the export's ``tag_tokens``), scored as :meth:`evaluate` does."""
        from tfseq.evaluate import in_batches, needs

        needs(loaded, "tag_tokens")
        cut = declared.get("max_length") or None
        sentences = [list(tokens)[:cut] for tokens in frame["tokens"]]
        width = max((len(tokens) for tokens in sentences), default=1) or 1
        padded = np.array([tokens + [""] * (width - len(tokens)) for tokens in sentences] or [[""]], dtype=object)
        tags = in_batches(loaded.signatures["tag_tokens"], padded, key="tokens")["tags"]
        predicted = [[tag.decode("utf-8") for tag in row[: len(tokens)]] for row, tokens in zip(tags, sentences)]
        truth = [list(row)[:cut] for row in frame["tags"]]
        scheme = scheme_of(declared["tags"])
        result = {
            "test": tag_scores(truth, predicted, scheme),
            "headline": "accuracy" if scheme is None else "f1",
            "examples": len(frame),
        }
        if scheme == "chunks":
            result["per_type"] = chunk_type_scores(truth, predicted)
        return result

    def tflite_serving(self):
        return tagger_tflite(self.model)

    @classmethod
    def preset_serving(cls, model):
        return tagger_serving(model)

    def serving(self):
        return tagger_serving(
            self.model,
            metadata={"tags": self.tag_names, "data": self.dataset.name, "max_length": self.config.data.max_length},
        )


def tagger_tflite(model) -> TFLiteServing:
    """A :class:`~tfseq.models.SequenceTagger` as TFLite: per-token scores of ``tags``; with a
    CRF, the best path also weighs ``crf`` (``start``, ``end``, ``transitions[from][to]``),
    which ``tfseq.json`` holds (a Viterbi search in the app; the argmax without one)."""
    crf = None
    if model.crf is not None:
        crf = {name: np.asarray(getattr(model.crf, name).numpy()).tolist() for name in ("start", "end", "transitions")}
    show, columns = answer_columns(model.preprocessor)
    return TFLiteServing(
        model,
        model.preprocessor.tokenizer,
        "scores of tags per token (emissions)",
        "tags",
        show,
        columns,
        metadata={"tags": model.preprocessor.tags, "crf": crf},
    )


def answer_columns(pre) -> tuple[str, tuple]:
    """How tfseq-predict shows a tagger's answer: ``token/TAG ...``, and the entities when its tags mark spans."""
    return ("{tagged}\n  {entities}", ("tagged", "entities")) if pre.has_spans else ("{tagged}", ("tagged",))


def tagger_serving(model, metadata=None) -> Serving:
    """A :class:`~tfseq.models.SequenceTagger`'s export:
    ``serving_default(text: string[batch]) -> {tokens, tags: string[batch, T], tagged: string[batch]}``
    (its preprocessor's ``postprocess``): each text's tokens as the model split them (original
    case), their tags (``""`` past a text's end) and the readable ``token/TAG token/TAG ...``.
    Chunk or entity tags (``B-PER``, ...) also give the spans they mark (the preprocessor's
    ``spans``): ``span_text``, ``span_type``, ``span_start``/``span_end`` (code points into the
    text), ``span_score`` (the CRF's marginal, or the softmax, of its least sure token), padded
    per text, and a readable ``entities``. Empty text gives empty answers; overlong text is cut
    at the vectorizer's ``max_length``.
    """
    import tensorflow as tf

    pre = model.preprocessor

    def answer(module, text):
        ids, _ = at_least_one_step(module.preprocessor(text))
        emissions, mask = model(ids, training=False), ids["tokens"] != 0
        best = model.decode(emissions, mask)
        out = module.preprocessor.postprocess(text, best)
        if pre.has_spans:
            out.update(module.preprocessor.spans(text, best, model.confidence(emissions, mask, best)))
        return out

    def tag_tokens(module, tokens):
        """The tags of sentences already split into tokens (``""`` padding): a corpus scored on its own tokens."""
        ids, _ = at_least_one_step(module.preprocessor.tokenizer.split_ids(tokens))
        mask = ids["tokens"] != 0
        best = model.decode(model(ids, training=False), mask)
        tags = tf.where(mask, tf.gather(tf.constant(["", *pre.tags]), best), "")
        width = tf.shape(tokens)[1]
        return {
            "tags": tf.pad(tags, [[0, 0], [0, tf.maximum(width - tf.shape(tags)[1], 0)]], constant_values="")[:, :width]
        }

    show, columns = answer_columns(pre)
    return Serving(
        answer,
        model.variables,
        pre,
        show=show,
        columns=columns,
        metadata=metadata or {},
        functions={"tag_tokens": (tag_tokens, {"tokens": tf.TensorSpec([None, None], tf.string)})},
    )
