"""Word embeddings: word2vec (skip-gram or CBOW with negative sampling) on plain text.

:class:`~tfseq.models.Word2Vec` on a task recipe (``tasks/word2vec/word2vec.yaml``). Writes the vectors in
the word2vec text format (``vectors.txt`` in the run folder: a header line, then ``word v1 v2 ...``),
which the other tasks read back with ``model.embeddings=<run>/vectors.txt``, and the nearest
neighbours of the most frequent words (``neighbours.txt``). Scored by the negative-sampling loss
on held-out text (nats per example).
"""

from __future__ import annotations

import numpy as np

from tfseq import data
from tfseq.models import Word2Vec, example_batches, examples_per_pass
from tfseq.models.word2vec import ARCHITECTURES
from tfseq.train.task import Task


class Word2VecTask(Task):
    headline = "loss"
    model_class = Word2Vec

    def prepare(self):
        cfg = self.config.data
        self.dataset = self.load_dataset("language-model", "plain text")
        self.auto_split("data.split", self.dataset.train["text"])
        self.preprocessor = data.TextVectorizer(split=cfg.split, lowercase=cfg.lowercase)
        texts = self.dataset.train["text"]
        tokens = self.preprocessor.tokenize(texts)
        self.preprocessor.adapt(texts, cfg.max_tokens, cfg.min_frequency, tokens=tokens)  # tokenized once
        self.vocabulary = self.preprocessor.vocabularies[1]
        model_cfg = self.config.model
        self.streams = {}
        for split, frame in self.dataset.splits.items():
            rows = self.preprocessor.lookup(tokens if split == "train" else self.preprocessor.tokenize(frame["text"]))
            stream = np.fromiter((i for ids in rows for i in ids), "int32")
            if np.count_nonzero(stream > 1) < 2:  # fewer than two words of the vocabulary: no examples
                continue
            # each id's line: a window stays inside its line
            lines = np.repeat(np.arange(len(rows), dtype="int32"), [len(ids) for ids in rows])
            self.streams[split] = stream, lines
        made = examples_per_pass(*self.streams["train"], **self.example_options()) if "train" in self.streams else 0
        if not made:
            raise data.DataError(f"{self.dataset.name}: the training text has too few tokens")
        self.choose_epochs_by_size(len(self.streams["train"][0]))
        batch = int(self.config.train.batch_size)
        steps = -(-made // batch)
        self.pipelines = {
            "train": data.Epochs(
                lambda epoch: self.examples_dataset("train", data.epoch_seed(int(self.config.seed), epoch), steps),
                steps,
            ),
            **{split: self.examples_dataset(split, self.seed_of(split)) for split in self.streams if split != "train"},
        }
        self.train_data, self.validation_data = self.pipelines["train"], self.pipelines.get("validation")
        self.log(
            f"data: {self.dataset.name} vocabulary {self.preprocessor.vocabulary_size()} ids; "
            f"{len(self.streams['train'][0]):,} training tokens; about {made:,} examples a pass "
            f"({model_cfg.architecture}, made {batch} at a time as training reads them)"
        )

    def seed_of(self, split: str) -> int:
        """The draws of a held-out split's examples (the same on every pass)."""
        return int(self.config.seed) + ("train", "validation", "test").index(split)

    def batches(self, split: str, seed: int, steps: int | None = None):
        """The ``split``'s examples in batches (:func:`tfseq.models.word2vec.example_batches`)."""
        ids, lines = self.streams[split]
        return example_batches(
            ids, lines, batch_size=int(self.config.train.batch_size), seed=seed, steps=steps, **self.example_options()
        )

    def example_options(self) -> dict:
        """The recipe's keywords of :func:`tfseq.models.word2vec.skipgram_examples`."""
        cfg = self.config.model
        return {
            "vocabulary_size": self.preprocessor.vocabulary_size(),
            "window": int(cfg.window),
            "negatives": int(cfg.negatives),
            "subsample": float(cfg.subsample),
            "cbow": cfg.architecture == "cbow",
        }

    def examples_dataset(self, split: str, seed: int, steps: int | None = None):
        """:meth:`batches` as a ``tf.data.Dataset``, made anew on each pass."""
        import tensorflow as tf

        cfg = self.config.model
        width = 2 * int(cfg.window) if cfg.architecture == "cbow" else None
        signature = {
            "centre": tf.TensorSpec((None,), tf.int32),
            "context": tf.TensorSpec((None, width) if width else (None,), tf.int32),
            "negatives": tf.TensorSpec((None, int(cfg.negatives)), tf.int32),
        }
        return tf.data.Dataset.from_generator(
            lambda: self.batches(split, seed, steps), output_signature=signature
        ).prefetch(tf.data.AUTOTUNE)

    def build_model(self):
        cfg = self.config.model
        if cfg.architecture not in ARCHITECTURES:
            raise ValueError(f"model.architecture={cfg.architecture!r}: expected one of {', '.join(ARCHITECTURES)}")
        model = Word2Vec(
            self.preprocessor.vocabulary_size(),
            dim=int(cfg.dim),
            cbow=cfg.architecture == "cbow",
            vocabulary=self.vocabulary,
        )
        model.build()
        return model

    def evaluate(self):
        metrics = {
            split: {"loss": float(self.model.evaluate(self.pipelines[split], verbose=0))}
            for split in ("validation", "test")
            if split in self.pipelines
        }
        self.write_vectors()
        return metrics

    def write_vectors(self):
        """``vectors.txt`` (word2vec text format) and ``neighbours.txt`` (the 30 most frequent
        words' 8 nearest)."""
        from tfseq.models import WordVectors

        everything = self.model.word_vectors()
        kept = [i for i, word in enumerate(everything.words) if word.strip() and " " not in word]
        vectors = WordVectors([everything.words[i] for i in kept], everything.vectors[kept])
        vectors.save(self.run.file("vectors.txt"))
        shown = [
            f"{word}\t" + " ".join(f"{near}({s:.2f})" for near, s in vectors.most_similar(word, top=8))
            for word in vectors.words[:30]
        ]
        self.run.write_text("neighbours.txt", "\n".join(shown) + "\n")
        self.log("nearest neighbours:\n" + "\n".join(shown[:10]))
