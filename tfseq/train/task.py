"""A task: what one kind of sequence problem needs besides training itself.

A task (``tasks/<name>/``) subclasses :class:`Task` and fills in its steps: ``prepare`` (data,
vocabularies and tf.data pipelines), ``build_model``, ``evaluate`` (metrics in the shared
``metrics.json`` shape, reports, plots) and ``serving`` (what its export answers). The generic
:class:`~tfseq.train.trainer.Trainer` runs them; it knows nothing of what is inside.

Example (the shape of a task; docs/adding-a-task.md and tests/tasks/test_adding_a_task.py
have a whole one, with its recipe and export)::

    class Negation(Task):
        def prepare(self):
            ...  # set self.train_data and self.validation_data (tf.data)

        def build_model(self):
            return keras.Sequential([...])

        def compile_options(self):
            return {"loss": "binary_crossentropy", "metrics": ["accuracy"]}

        def evaluate(self):
            return {"test": {"accuracy": ...}}
"""

from __future__ import annotations

from pathlib import Path

import keras
from omegaconf import OmegaConf

from tfseq.models.backbone import RecurrentBackbone
from tfseq.train.run_folder import RunFolder


def epochs_for(tokens: int, rule: dict) -> int:
    """The ``auto`` number of epochs for ``tokens`` training ids: enough to read about
    ``rule["tokens_read"]`` (a task's ``auto.yaml`` rule), within its ``min_epochs`` and ``max_epochs``."""
    return min(int(rule["max_epochs"]), max(int(rule["min_epochs"]), round(rule["tokens_read"] / max(tokens, 1))))


class Task:
    """One task's steps. ``config`` is its resolved recipe (``tasks/<name>/<name>.yaml`` with the
    command line's overrides); ``run`` the run folder its reports go to; ``log`` prints."""

    headline = "accuracy"  # the test metric a run is judged by (the summary tables' column)
    model_class = None  # the tfseq.models class build_model() makes: a preset of one is this task's

    def __init__(self, config, run: RunFolder, log=print):
        self.config = config
        self.run = run
        self.log = log
        self.model = None  # set by the trainer once build_model() has built it
        # What prepare() makes. Per split ("train", "validation", "test"; None where one is empty):
        self.dataset = None  # the data as loaded (tfseq.data.Dataset: its splits as tables)
        self.features: dict = {}  # the model's inputs (dicts of id arrays)
        self.targets: dict = {}  # what the model learns to answer (ids)
        self.pipelines: dict = {}  # tf.data of features and targets (make_pipelines)
        self.train_data = self.validation_data = None  # what fit() reads: pipelines' train and validation
        self.preprocessor = None  # text -> features (a tfseq.data.preprocessors one, or a TextVectorizer)
        self.fixed_tokens = 0  # token ids an embedding file added (add_embedding_words)
        self.embeddings_file = None  # model.embeddings' file, named vectors resolved (use_embeddings)
        self._preset = None  # model.preset's model, once loaded (preset)

    @property
    def name(self) -> str:
        return str(self.config.task)

    # -- the steps a task fills in -----------------------------------------------------------
    def prepare(self):  # pragma: no cover - abstract
        """Load data; set ``self.train_data`` (:class:`tfseq.data.Epochs`, or a tf.data dataset
        whose order is the same every epoch) and ``self.validation_data`` (tf.data or None)."""
        raise NotImplementedError

    def build_model(self) -> keras.Model:  # pragma: no cover - abstract
        """The model, built (its weights made), not compiled: the trainer compiles it (tfseq's
        models compute their own loss; another model says its loss in :meth:`compile_options`)."""
        raise NotImplementedError

    def compile_options(self) -> dict:
        """More ``model.compile`` arguments (``loss``, ``metrics``) for a model that does not
        compute its own loss; the trainer sets the optimizer and ``jit_compile``."""
        return {}

    def fit_callbacks(self) -> list:
        """Keras callbacks the task's training needs (the trainer runs them after its own, before
        the user's and the resume state's)."""
        return []

    def after_fit(self):
        """A step after training, before ``evaluate`` (the classifier fits its expert mix here)."""

    def evaluate(self) -> dict:  # pragma: no cover - abstract
        """``{"validation": {...}, "test": {...}}`` with rates in [0, 1] and losses in nats;
        reports and plots go to ``self.run``."""
        raise NotImplementedError

    def baseline(self) -> dict | None:
        """The bar to clear, scored on the same splits (``{"model": ..., "test": {...}}``)."""
        return None

    def serving(self):
        """What the export answers (a :class:`tfseq.export.Serving`), or None to export nothing."""
        return None

    @classmethod
    def preset_serving(cls, model):
        """What ``tfseq-predict`` answers with a preset of ``model`` (a ``model_class``): the
        export's answer with the recipe's default settings; None if it cannot answer text."""
        return None

    @classmethod
    def evaluation_data(cls, path, options: dict):
        """``tfseq-evaluate``: the labelled file ``path`` read as this task's training reads its
        files (``options``: the command's ``text``, ``label``, ``label_separator``, ``tag_column``,
        ``images``); a ``DataError`` naming file, line and field on bad input. None: the task has
        no evaluation of exports."""
        return None

    @classmethod
    def score_export(cls, loaded, examples, declared: dict) -> dict:  # pragma: no cover - abstract
        """``tfseq-evaluate``: a SavedModel's (``loaded``, with its ``tfseq.json`` ``declared``)
        scores on ``examples`` (:meth:`evaluation_data`'s), by the functions :meth:`evaluate`
        scores a run's test split with: ``{"test": {...}, "headline": name, "examples": count}``,
        and optionally ``per_type`` and a ``report``."""
        raise NotImplementedError

    def tflite_serving(self):
        """What a TFLite export holds (a :class:`tfseq.export.TFLiteServing`: ids in, scores out), or None
        if the task has none; written when the recipe sets ``export.tflite``."""
        return None

    def export_identity(self) -> dict:
        """What a client of the export relies on: the task, its labels or tags, and the
        vocabulary's kind (how text is split). A new version must keep it, or be published under
        another ``export.name`` (:func:`tfseq.export.check_next_version`)."""
        pre, identity = self.preprocessor, {"task": self.name}
        for key in ("labels", "tags"):
            if getattr(pre, key, None) is not None:
                identity[key] = [str(value) for value in getattr(pre, key)]
        splits = {
            name: str(tokenizer.split)
            for name in ("tokenizer", "target_tokenizer")
            if (tokenizer := getattr(pre, name, None)) is not None and hasattr(tokenizer, "split")
        }
        if splits:
            identity["vocabulary"] = splits
        return identity

    def default_monitor(self) -> str:
        """What ``train.monitor=auto`` watches."""
        return "val_loss"

    def validation_scores(self):
        """A function scoring the model on the validation split at each epoch's end (a dict:
        ``{"f1": ...}`` becomes ``val_f1`` in the logs, which ``default_monitor`` may name), or None."""
        return None

    def headline_of(self, metrics: dict) -> str:
        """The test metric this run is judged by."""
        return self.headline

    # -- helpers tasks share ---------------------------------------------------------------
    def choose(self, key: str, value, reason: str):
        """Set the recipe's ``auto`` value of ``key`` to what the data calls for: printed with the
        reason, and kept in the run's config.yaml."""
        OmegaConf.update(self.config, key, value, merge=False)
        shown = value  # as it would be typed: model.dynamic=true, data.ngrams=[1, 2]
        if isinstance(value, bool):
            shown = str(value).lower()
        elif value is None:
            shown = "null"
        elif isinstance(value, (list, tuple)):
            shown = list(value)
        self.log(f"auto: {key}={shown} ({reason})")
        return value

    def auto_case(self, case: str, why: str = "", keys=None) -> dict:
        """Choose every ``auto`` key (of ``keys``, if given) that ``case`` of the task's ``auto.yaml``
        (beside its code) gives a value, each printed with ``why`` and the file's reason for it.
        Returns the case's values (``{key: value}``), chosen or not."""
        from tfseq import recipes

        values = self.auto_case_table()[case]
        for key, (value, reason) in values.items():
            if (keys is None or key in keys) and self.auto(key):
                self.choose(key, recipes.plain(value), "; ".join(part for part in (why, reason) if part) or case)
        return {key: value for key, (value, _) in values.items()}

    def choose_epochs_by_size(self, tokens: int):
        """``train.epochs=auto``: enough epochs to read about the ``rule`` of the task's
        ``auto.yaml``'s ``tokens_read`` training tokens, within its ``min_epochs`` and ``max_epochs``
        (:func:`epochs_for`): a small text is read more times, a large one fewer."""
        if self.auto("train.epochs"):
            rule = self.auto_rule()
            self.choose(
                "train.epochs",
                epochs_for(tokens, rule),
                f"{tokens:,} training tokens: about {rule['tokens_read'] / 1e6:g}M read, {rule['min_epochs']} "
                f"to {rule['max_epochs']} epochs",
            )

    def auto_rule(self) -> dict:
        """The ``rule`` section of the task's ``auto.yaml``: the numbers its ``auto`` rule reads."""
        return {key: value for key, (value, _) in self.auto_case_table()["rule"].items()}

    def auto_case_table(self) -> dict:
        """The task's ``auto.yaml`` (:func:`tfseq.recipes.auto_values`)."""
        import inspect

        from tfseq import recipes

        return recipes.auto_values(Path(inspect.getfile(type(self))).with_name("auto.yaml"))

    def auto(self, key: str) -> bool:
        """Whether the recipe leaves ``key`` to the data (``auto``)."""
        return str(OmegaConf.select(self.config, key, default=None)) == "auto"

    def auto_split(self, key: str, texts, punctuation: bool = False):
        """``key`` (``data.split`` and friends): the recipe's, or for ``auto`` words or characters
        by the script of ``texts`` (:func:`tfseq.data.language.detect_split`; ``punctuation``:
        wordpunct where words carry punctuation)."""
        from tfseq.data.language import detect_split

        if self.auto(key):
            self.choose(key, *detect_split(texts, punctuation))
        return str(OmegaConf.select(self.config, key))

    def load_dataset(self, kind: str, described: str, **options):
        """``data=<name>`` or the ``data.train/validation/test`` files read as ``kind``; a dataset
        of another kind is an error that says it is not ``described``."""
        from tfseq import data

        cfg = self.config.data
        dataset = data.load(
            cfg.name or None, kind=kind, train=cfg.train, validation=cfg.validation, test=cfg.test, **options
        )
        if dataset.kind != kind:
            raise data.DataError(f"data={dataset.name!r} is a {dataset.kind} dataset, not {described}")
        for note in dataset.card.get("notes", []):
            self.log(f"data: {note}")
        return dataset

    def make_pipelines(self, length_key="tokens"):
        """tf.data pipelines of ``self.features`` and ``self.targets`` for each non-empty split:
        train shuffled anew every epoch (:class:`tfseq.data.Epochs`), all batched by similar length of
        ``features[length_key]`` (``train.bucket``). Sets ``pipelines``, ``train_data`` and
        ``validation_data``."""
        from tfseq import data
        from tfseq.data.vectorize import lengths_of

        train = self.config.train
        boundaries = data.bucket_boundaries(lengths_of(self.features["train"][length_key])) if train.bucket else None
        self.pipelines = {
            split: data.make_dataset(
                self.features[split],
                self.targets[split],
                batch_size=int(train.batch_size),
                shuffle=split == "train",
                seed=int(self.config.seed),
                boundaries=boundaries,
                length_key=length_key,
                epochs=split == "train",
            )
            for split in self.features
            if self.features[split] is not None
        }
        self.train_data, self.validation_data = self.pipelines["train"], self.pipelines.get("validation")

    def use_embeddings(self):
        """``model.embeddings``: a file, or named vectors (``glove-6b-100d``, fetched into the cache
        once: :mod:`tfseq.vectors`), checked before any data is read; ``backbone.embedding_dim``
        becomes the file's dimension, so the one key is enough. ``auto`` waits for the training
        text (:meth:`choose_embeddings`)."""
        from tfseq import vectors

        value = OmegaConf.select(self.config, "model.embeddings", default=None)
        if not value or str(value) == "auto":
            return None
        return self._embeddings_from(vectors.resolve(value))

    def _embeddings_from(self, path):
        from tfseq import vectors

        self.embeddings_file = path
        dim = vectors.dimension(path)
        if int(self.config.backbone.embedding_dim) != dim:
            self.choose("backbone.embedding_dim", dim, f"the dimension of the vectors in {path}")
        return path

    def choose_embeddings(self, texts):
        """``model.embeddings=auto``: English vectors (:data:`tfseq.vectors.ENGLISH`) when the
        training ``texts`` are English words (:func:`tfseq.data.language.english_words`), from the
        cache or fetched once; none for other text, characters, a preset, or when they cannot be
        had (offline: said in the one ``auto:`` line, and the run trains without them)."""
        from tfseq import vectors
        from tfseq.data.language import english_words

        if not self.auto("model.embeddings"):
            return
        split = str(OmegaConf.select(self.config, "data.split", default="word"))
        if self.preset() is not None:
            self.choose("model.embeddings", None, "a preset keeps the vectors it was trained with")
            return
        if split not in ("word", "wordpunct"):
            self.choose("model.embeddings", None, f"a {split} split: the vectors are for words")
            return
        english, reason = english_words(texts)
        if not english:
            self.choose("model.embeddings", None, reason)
            return
        name = vectors.ENGLISH
        try:
            path = vectors.resolve(name)
        except vectors.VectorsError as error:
            self.choose(
                "model.embeddings",
                None,
                f"English words ({reason}), but {name} is {error.why}: training without them; "
                f"python -m tfseq.vectors fetch {name} fetches them",
            )
            return
        self.choose("model.embeddings", name, f"English words: {reason}")
        self._embeddings_from(path)

    def add_embedding_words(self):
        """``model.embeddings_vocabulary`` > 0: the first (most frequent) words of the
        ``model.embeddings`` file join ``self.preprocessor``'s vocabulary, so words unseen in training
        (or rarer than ``data.min_frequency``) keep their pretrained vectors at test time. Sets
        ``self.fixed_tokens``: how many ids were added (the model keeps their vectors untrained)."""
        from itertools import islice

        from tfseq.vectors import vector_lines

        cfg = self.config.model
        path, count = self.embeddings_file, int(cfg.get("embeddings_vocabulary") or 0)
        if not path or not count:
            return
        words = [word for word, _ in islice(vector_lines(path, int(self.config.backbone.embedding_dim)), count)]
        tokenizer = self.preprocessor.tokenizer
        added = self.fixed_tokens = tokenizer.extend(words)
        self.log(
            f"vocabulary: {added} words of the first {count} in {path} added to the "
            f"{tokenizer.vocabulary_size() - 2 - added} from training"
        )

    def word_vectors(self):
        """``model.embeddings`` (a word2vec/GloVe file) as the initial token embeddings of
        ``self.preprocessor``'s vocabulary, or None when unset."""
        from tfseq.vectors import read_word_vectors

        path = self.embeddings_file
        if not path:
            return None
        vocabulary = self.preprocessor.tokenizer.vocabularies[1]
        matrix, found = read_word_vectors(path, vocabulary, int(self.config.backbone.embedding_dim))
        self.log(f"embeddings: {found} of {len(vocabulary)} tokens found in {path}")
        return matrix

    def preset(self):
        """``model.preset``'s model (:mod:`tfseq.presets`), loaded once, or None: a run that
        fine-tunes it keeps its vocabulary and labels (:meth:`preprocessor_from`) and trains it
        instead of a new :meth:`build_model`."""
        from tfseq import presets

        path = OmegaConf.select(self.config, "model.preset", default=None)
        if not path:
            return None
        if self._preset is None:
            if self.model_class is None:
                raise ValueError(f"model.preset={path}: task={self.name} has no presets")
            try:
                self._preset = presets.load(path, expected=self.model_class)
            except presets.PresetError as error:
                raise ValueError(f"model.preset={path}: {error}") from None
            self.log(
                f"preset: fine-tuning {type(self._preset).__name__} from {path} "
                f"({self._preset.count_params():,} parameters)"
            )
        return self._preset

    def preprocessor_from(self, build):
        """The preset's preprocessor with ``model.preset`` (the vocabulary and labels its weights
        read: the data is read through it as it is), else ``build()``: a new one adapted to the
        training data."""
        preset = self.preset()
        return build() if preset is None else preset.preprocessor

    def check_known(self, found, known, what: str):
        """With ``model.preset``: every label (tag) of the training data is one the preset knows."""
        unknown = sorted(set(map(str, found)) - set(map(str, known)))
        if unknown:
            raise ValueError(
                f"model.preset={self.config.model.preset}: the training data has {what} {unknown[:10]} "
                f"that the preset does not know ({list(known)[:10]}); fine-tune on data with its "
                f"{what}, or train a new model without model.preset"
            )

    def backbone(self, vocabulary_sizes, **wiring):
        """The recipe's ``backbone:`` section as the :class:`~tfseq.models.RecurrentBackbone` a
        task model takes whole, over ``vocabulary_sizes``, its token embeddings starting from
        ``model.embeddings`` (:meth:`word_vectors`) when given. ``wiring``: what the model needs
        its call to return (``RecurrentBackbone.WIRING``), or the model makes a copy so wired."""
        tokenizer = getattr(self.preprocessor, "tokenizer", None)  # its singletons are the rare tokens
        return RecurrentBackbone(
            vocabulary_sizes,
            **OmegaConf.to_container(self.config.backbone),
            embedding_matrix=self.word_vectors(),
            fixed_tokens=self.fixed_tokens,
            rare_tokens=getattr(tokenizer, "singletons", 0),
            **wiring,
        )

    def sampler(self):
        """The :mod:`tfseq.decoding` sampler of the recipe's ``generate`` section (tasks that
        generate: language models, seq2seq, captioning), seeded by the recipe's ``seed``."""
        from tfseq import decoding

        cfg = {k: v for k, v in OmegaConf.to_container(self.config.generate).items() if v != "auto"}  # not chosen yet
        return decoding.get(str(cfg.pop("sampler")), seed=int(self.config.seed), **cfg)
