"""Many-to-one text classification: :class:`~tfseq.models.TextClassifier` on a task recipe."""

from __future__ import annotations

import numpy as np

from tfseq import data
from tfseq.data.vectorize import concatenate_ids
from tfseq.export import Serving, TFLiteServing, at_least_one_step
from tfseq.models import TextClassifier, classifier
from tfseq.models.linear import fit_nb_linear, fit_tfidf_linear, select_logistic_regression
from tfseq.train import plots
from tfseq.train.task import Task

# How tfseq-predict shows an answer of either export (tfseq.json's show and columns).
SHOW, COLUMNS = "{label}\t{confidence:.3f}\t{text}", ("label", "confidence")


def bag_of_words_baseline(dataset, encode, split="character", seed=0) -> dict:
    """TF-IDF + logistic regression (scikit-learn) on the same split: the bar to clear.

    Character 1-3-grams for character-level recipes; for words, word 1-2-grams beside the words'
    character 2-5-grams (``char_wb``: spelling, morphology, words unseen in training), the
    strongest of the cheap bars (it beats word 1-2-grams alone by about a point on English
    topics and sentiment); sublinear term frequencies; the inverse regularisation strength C is
    chosen on the validation split. ``encode``: labels -> class ids or multi-hot rows (the
    preprocessor's ``targets``); multi-hot: one logistic regression per label (one-vs-rest),
    exact-set accuracy.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_union

    vectorizer = (
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
        if split == "character"
        else make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        )
    )
    features = vectorizer.fit_transform(dataset.train["text"])
    validation = dataset.splits["validation"]
    model, c, _ = select_logistic_regression(
        features,
        encode(dataset.train["label"]),
        *((vectorizer.transform(validation["text"]), encode(validation["label"])) if len(validation) else ()),
        seed=seed,
    )
    result = {
        "model": f"TF-IDF ({'char 1-3-grams' if split == 'character' else 'word 1-2 + char 2-5-grams'}) + "
        f"logistic regression (C={c:g}, chosen on validation)"
    }
    for name in ("validation", "test"):
        frame = dataset.splits[name]
        if not len(frame):
            continue
        predicted, truth = model.predict(vectorizer.transform(frame["text"])), encode(frame["label"])
        result[name] = {
            "accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        }
    return result


# The fitted wide experts of TextClassifier(wide=...): scikit-learn fit and a title for the log.
EXPERT_FITS = {
    "tfidf": (fit_tfidf_linear, "TF-IDF + logistic regression"),
    "nb": (fit_nb_linear, "NB-weighted logistic regression (NBSVM)"),
}


class ClassifyTask(Task):
    model_class = TextClassifier

    def prepare(self):
        cfg = self.config.data
        self.dataset = self.load_dataset(
            "classification", "classification", text=cfg.text, label=cfg.label, label_separator=cfg.label_separator
        )
        self.head = self.config.model.head
        if self.head == "auto":
            self.head = "multilabel" if self.dataset.multilabel else "multiclass"
        if self.dataset.multilabel and self.head != "multilabel":
            raise data.DataError(
                f"{self.dataset.name}: the labels are lists (multi-label); "
                f"use model.head=multilabel (or auto), not {self.head}"
            )
        self.multilabel = self.head == "multilabel"
        self.class_names = self.dataset.labels
        if len(self.class_names) < (1 if self.multilabel else 2):
            raise data.DataError(f"{self.dataset.name}: training data has a single class {self.class_names}")
        self.log(f"data: {self.dataset.name} {self.dataset.sizes()} {self.head} classes={self.class_names}")
        self.preprocessor = self.preprocessor_from(self.new_preprocessor)
        if self.preset() is not None:
            self.check_known(self.class_names, self.preprocessor.labels, "labels")
            self.class_names, self.head = list(self.preprocessor.labels), self.preprocessor.head
            self.multilabel = self.head == "multilabel"
        self.features = {
            split: self.preprocessor.inputs(frame["text"]) if len(frame) else None
            for split, frame in self.dataset.splits.items()
        }
        self.targets = {
            split: self.preprocessor.targets(frame["label"]) for split, frame in self.dataset.splits.items()
        }
        self.make_pipelines()

    def new_preprocessor(self):
        """A preprocessor for the training data: the ``auto`` keys chosen, adapted, the
        embedding file's words added."""
        cfg = self.config.data
        self.choose_text_defaults(self.dataset.train["text"])
        self.choose_embeddings(self.dataset.train["text"])
        pre = data.TextClassifierPreprocessor(
            data.TextVectorizer(
                split=cfg.split,
                lowercase=cfg.lowercase,
                ngrams=tuple(cfg.ngrams),
                max_length=cfg.max_length,
                char_ngrams=cfg.char_ngrams,
            ),
            self.class_names,
            head=self.head,
        )
        pre.adapt(
            self.dataset.train["text"],
            self.dataset.train["label"],
            max_tokens=cfg.max_tokens,
            min_frequency=cfg.min_frequency,
        )
        self.preprocessor = pre
        self.add_embedding_words()
        return pre

    def choose_text_defaults(self, texts):
        """The ``auto`` keys: the split by the script, then n-gram orders, the experts' character
        n-grams, the truncation length and the number of recurrent layers for that split."""
        from tfseq.data.language import length_cap

        split = self.auto_split("data.split", texts)
        self.auto_case(split, keys=("data.ngrams", "data.char_ngrams"))  # (tasks/classify/auto.yaml)
        if self.auto("data.max_length"):
            tokens = data.TextVectorizer(split=split, lowercase=False).tokenize(texts, truncate=False)
            self.choose("data.max_length", *length_cap([len(row) for row in tokens]))
        self.auto_case(split, keys=("backbone.layers",))

    def default_monitor(self):
        # A multi-label head's (per-label) accuracy stays flat while it predicts no label at all,
        # which would halve the learning rate epoch after epoch; its loss moves from the start.
        return "val_loss" if self.multilabel else "val_accuracy"

    def build_model(self):
        cfg = self.config.model
        sizes = self.preprocessor.tokenizer.vocabulary_sizes()
        wide = cfg.wide
        if self.multilabel and wide not in (None, False, "none", "learned"):
            self.log(
                f"model.wide={wide}: the fitted experts are single-label logistic regressions; "
                "this multi-label run trains the network alone (model.wide=none)"
            )
            wide = "none"
        backbone = self.backbone(sizes, sequences_out=cfg.pooling != "last")
        model = TextClassifier(
            backbone,
            len(self.class_names),
            head=self.head,
            pooling=cfg.pooling,
            wide=wide,
            preprocessor=self.preprocessor,
        )
        model({k: v[:2] for k, v in self.features["train"].items()})  # build the weights
        validation = (
            (self.features["validation"], self.targets["validation"])
            if self.features.get("validation") is not None
            else None
        )
        self.expert_c = {}
        for name, expert in model.experts.items():
            fit, title = EXPERT_FITS[name]
            fitted = fit(
                expert, (self.features["train"], self.targets["train"]), validation, seed=int(self.config.seed)
            )
            self.expert_c[name] = fitted["C"]
            self.log(
                f"wide expert {name}: {title} on the model's n-gram ids, C={fitted['C']:g} "
                f"(validation accuracy {fitted['validation_accuracy']:.4f})"
            )
        return model

    def after_fit(self):
        mixed = bool(self.model.experts) and self.features.get("validation") is not None
        if mixed:
            # Stacking: how much each expert's log-odds count, fitted on validation predictions.
            w = self.model.fit_mix(
                data.make_dataset(self.features["validation"], batch_size=256),
                self.targets["validation"],
                least=classifier.MIX_TEXTS,
            )
            names = ["network", *self.model.experts]
            if w is None:
                self.log(
                    f"mix of logits: equal weights ({len(self.targets['validation'])} validation texts are too few "
                    f"to fit them; {classifier.MIX_TEXTS} or more are)"
                )
            else:
                self.log("mix of logits fitted on validation: " + ", ".join(f"{n} {x:.2f}" for n, x in zip(names, w)))
        # Validation scores the model as selected on it, before the refit below has seen it.
        self.validation_metrics = self.split_metrics("validation", self.predict_split("validation"))
        if mixed and self.config.train.refit_experts and self.preset() is None:
            self.refit_experts()

    def refit_experts(self):
        """Refit the experts on train + validation with the C chosen on validation (the mix is kept).

        Validation has chosen C and the mix weights; the experts then learn from its texts too,
        as scikit-learn's ``GridSearchCV(refit=True)`` does. Seconds of work, unlike the network.
        """
        known = self.targets["validation"] >= 0
        validation = {k: v[known] for k, v in self.features["validation"].items()}
        both = (
            concatenate_ids(self.features["train"], validation),
            np.concatenate([self.targets["train"], self.targets["validation"][known]]),
        )
        for name, expert in self.model.experts.items():
            EXPERT_FITS[name][0](expert, both, None, cs=(self.expert_c[name],), seed=int(self.config.seed))
        self.log(f"wide experts refitted on train + validation ({len(both[1])} texts, C kept)")

    def baseline(self):
        if not self.config.baseline:
            return None
        result = bag_of_words_baseline(
            self.dataset, self.preprocessor.targets, self.config.data.split, int(self.config.seed)
        )
        self.log(f"baseline {result['model']}: test accuracy {result['test']['accuracy']:.4f}")
        return result

    def predict_split(self, split):
        """Probabilities over the labels, as the export answers them (the prior for a text without tokens)."""
        if self.features.get(split) is None:
            return None
        outputs = self.model.predict(data.make_dataset(self.features[split], batch_size=256), verbose=0)
        return np.asarray(self.preprocessor.probabilities(outputs, self.features[split]["tokens"]))

    def decide(self, probabilities) -> np.ndarray:
        return decide(probabilities, self.multilabel)

    def split_metrics(self, split, probabilities) -> dict | None:
        """:func:`label_scores` of ``probabilities`` on ``split``; None if it is empty."""
        if probabilities is None:
            return None
        return label_scores(self.targets[split], probabilities, self.multilabel)

    def evaluate(self):
        from sklearn.metrics import classification_report

        probabilities = self.predict_split("test")
        metrics = {"validation": self.validation_metrics, "test": self.split_metrics("test", probabilities)}
        metrics = {split: values for split, values in metrics.items() if values is not None}
        if probabilities is not None:
            y_true, y_pred = self.targets["test"], self.decide(probabilities)
            report = classification_report(
                y_true,
                y_pred,
                labels=list(range(len(self.class_names))),
                target_names=self.class_names,
                digits=4,
                zero_division=0,
            )
            self.run.write_text("classification_report.txt", report)
            if not self.multilabel:  # a confusion matrix needs one label per text
                self.run.save_figure("confusion_matrix.png", plots.confusion_matrix(y_true, y_pred, self.class_names))
        return metrics

    @classmethod
    def evaluation_data(cls, path, options):
        return data.read_table(
            path,
            text_column=options["text"],
            label_column=options["label"],
            label_separator=options["label_separator"],
            choose="--text <column> --label <column>",
        )

    @classmethod
    def score_export(cls, loaded, frame, declared):
        from sklearn.metrics import classification_report

        from tfseq.console import UsageError
        from tfseq.evaluate import in_batches

        labels = [str(label) for label in declared["labels"]]
        index = {label: i for i, label in enumerate(labels)}
        multilabel = declared.get("head") == "multilabel" or (len(frame) and isinstance(frame["label"].iloc[0], tuple))
        for number, value in enumerate(frame["label"], 1):
            for label in value if multilabel else (value,):
                if str(label) not in index:
                    raise UsageError(
                        f"label {label!r} (row {number}) is not one of the model's labels "
                        f"{labels[:10]}{' ...' if len(labels) > 10 else ''}"
                    )
        if multilabel:
            y_true = np.array([[float(label in set(map(str, row))) for label in labels] for row in frame["label"]])
        else:
            y_true = np.array([index[str(label)] for label in frame["label"]])
        probabilities = in_batches(loaded.signatures["serving_default"], frame["text"].tolist())["probabilities"]
        probabilities = probabilities.astype("float64")
        report = classification_report(
            y_true,
            decide(probabilities, multilabel),
            labels=list(range(len(labels))),
            target_names=labels,
            digits=4,
            zero_division=0,
        )
        return {
            "test": label_scores(y_true, probabilities, multilabel),
            "headline": "accuracy",
            "report": report,
            "examples": len(frame),
        }

    def tflite_serving(self):
        return classifier_tflite(self.model)

    @classmethod
    def preset_serving(cls, model):
        return classifier_serving(model)

    def serving(self):
        return classifier_serving(
            self.model,
            metadata={
                "labels": self.class_names,
                "data": self.dataset.name,
                "max_length": self.config.data.max_length,
                "head": self.model.head,
            },
        )


def decide(probabilities, multilabel: bool) -> np.ndarray:
    """Predicted class ids, or multi-hot rows (probability > 0.5) for multi-label heads."""
    return (probabilities > 0.5).astype("float32") if multilabel else probabilities.argmax(axis=-1)


def label_scores(y_true, probabilities, multilabel: bool = False) -> dict:
    """Accuracy, macro F1 and loss (nats) of ``probabilities`` (``[texts, labels]``) against
    ``y_true`` (class ids, or multi-hot rows): a run's test scores, and ``tfseq-evaluate``'s.

    Multi-label: accuracy is exact-set accuracy (every label of a text right), the loss is the
    binary cross-entropy per label, and micro F1 (over all label decisions) is added.
    """
    from sklearn.metrics import accuracy_score, f1_score

    probabilities = np.asarray(probabilities)
    y_pred = decide(probabilities, multilabel)
    if multilabel:
        p = np.clip(probabilities, 1e-7, 1 - 1e-7)
        return {
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
            "loss": float(-np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))),
        }
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        # The cross-entropy of each text's true label (scikit-learn's log_loss, without its
        # warning that float32 softmax rows sum to 1 only within rounding).
        "loss": float(-np.mean(np.log(np.clip(probabilities[np.arange(len(y_pred)), np.asarray(y_true)], 1e-7, 1)))),
    }


def classifier_tflite(model) -> TFLiteServing:
    """A :class:`~tfseq.models.TextClassifier` as TFLite: ``probabilities`` over its labels
    (binary heads too; the prior for a text without tokens), as the SavedModel answers."""
    pre = model.preprocessor
    return TFLiteServing(
        model,
        pre.tokenizer,
        "probabilities over labels",
        "labels",
        SHOW,
        COLUMNS,
        call=lambda model, ids: pre.probabilities(model(ids, training=False), ids["tokens"]),
        metadata={"labels": pre.labels},
    )


def classifier_serving(model, metadata=None) -> Serving:
    """A :class:`~tfseq.models.TextClassifier`'s export:
    ``serving_default(text: string[batch]) -> {label: string[batch], probabilities: float[batch, C],
    confidence: float[batch]}`` (its preprocessor's ``postprocess``).

    A text without tokens (empty, whitespace or control characters only) gets the preprocessor's
    ``prior`` (the training labels' frequencies; uniform if unknown). Overlong text is truncated
    to the vectorizer's ``max_length``; unknown characters/words map to the OOV id.
    """

    def answer(module, text):
        ids, _ = at_least_one_step(module.preprocessor(text))
        return module.preprocessor.postprocess(
            module.preprocessor.probabilities(model(ids, training=False), ids["tokens"])
        )

    return Serving(answer, model.variables, model.preprocessor, show=SHOW, columns=COLUMNS, metadata=metadata or {})
