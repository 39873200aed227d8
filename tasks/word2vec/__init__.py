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
from tfseq.models import Word2Vec, skipgram_examples
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
        self.preprocessor.adapt(self.dataset.train["text"], max_tokens=cfg.max_tokens, min_frequency=cfg.min_frequency)
        self.vocabulary = self.preprocessor.vocabularies[1]
        model_cfg = self.config.model
        import tensorflow as tf

        self.examples, self.pipelines = {}, {}
        for split, frame in self.dataset.splits.items():
            rows = self.preprocessor.token_ids(frame["text"], truncate=False)
            stream = np.array([i for ids in rows for i in ids], "int32")
            if len(stream) < 2:
                continue
            self.examples[split] = skipgram_examples(
                stream,
                self.preprocessor.vocabulary_size(),
                lines=np.repeat(np.arange(len(rows)), [len(ids) for ids in rows]),  # windows stay in their line
                window=int(model_cfg.window),
                negatives=int(model_cfg.negatives),
                subsample=float(model_cfg.subsample),
                cbow=model_cfg.architecture == "cbow",
                seed=int(self.config.seed) + ("train", "validation", "test").index(split),
            )
            pipeline = tf.data.Dataset.from_tensor_slices(self.examples[split])
            size, batch = len(self.examples[split]["centre"]), int(self.config.train.batch_size)
            self.pipelines[split] = (
                data.shuffled_epochs(pipeline, size, batch, int(self.config.seed))
                if split == "train"
                else pipeline.batch(batch).prefetch(tf.data.AUTOTUNE)
            )
        if "train" not in self.examples:
            raise data.DataError(f"{self.dataset.name}: the training text has too few tokens")
        self.train_data, self.validation_data = self.pipelines["train"], self.pipelines.get("validation")
        self.log(
            f"data: {self.dataset.name} vocabulary {self.preprocessor.vocabulary_size()} ids; training examples "
            f"{ ({s: len(e['centre']) for s, e in self.examples.items()}) } ({model_cfg.architecture})"
        )

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
