"""word2vec: the examples it trains on, and embeddings that group words used alike."""

import keras
import numpy as np
import pytest

from tfseq.models import Word2Vec, skipgram_examples


def test_skipgram_examples_pair_words_within_the_window():
    ids = np.array([2, 3, 4, 5, 6, 7], "int32")
    ex = skipgram_examples(ids, vocabulary_size=8, window=2, negatives=3, subsample=1.0)
    pairs = set(zip(ex["centre"].tolist(), ex["context"].tolist()))
    assert pairs <= {(a, b) for a in range(2, 8) for b in range(2, 8) if 0 < abs(a - b) <= 2}
    assert (2, 3) in pairs and (3, 2) in pairs  # distance 1 is always inside the window
    assert ex["negatives"].shape == (len(ex["centre"]), 3) and ex["negatives"].min() >= 2
    cbow = skipgram_examples(ids, vocabulary_size=8, window=2, subsample=1.0, cbow=True)
    assert cbow["context"].shape == (6, 4) and set(cbow["centre"].tolist()) == set(range(2, 8))
    for centre, context in zip(cbow["centre"], cbow["context"]):
        assert all(0 < abs(int(c) - int(centre)) <= 2 for c in context if c)


@pytest.mark.parametrize("cbow", [False, True])
def test_words_that_share_contexts_end_up_near(cbow):
    # Two "topics": ids 2-6 only ever appear among themselves, ids 7-11 likewise.
    rng = np.random.default_rng(0)
    stream = np.concatenate([rng.integers(2, 7, 8) if i % 2 else rng.integers(7, 12, 8) for i in range(600)])
    examples = skipgram_examples(stream, vocabulary_size=12, window=3, negatives=4, subsample=1.0, cbow=cbow)
    keras.utils.set_random_seed(0)
    model = Word2Vec(12, dim=16, cbow=cbow)
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    history = model.fit(examples, batch_size=256, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for word in (3, 9):
        neighbours = [i for i, _ in model.most_similar(word, top=4)]
        same = range(2, 7) if word < 7 else range(7, 12)
        assert all(n in same for n in neighbours), (word, neighbours)
    assert model.vectors.shape == (12, 16)


def test_word2vec_task_writes_vectors_other_tasks_read(tmp_path, monkeypatch):
    import json

    from tfseq import cli
    from tfseq.models import read_word_vectors

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(" ".join(rng.choice(["cat", "dog", "pet"] if i % 2 else ["red", "blue", "green"], 6))
                              for i in range(300)))
    args = ["task=word2vec", "data.name=null", f"data.train={text}", "data.split=word", "model.dim=8",
            "model.window=2", "model.subsample=1", "data.min_frequency=1", "train.batch_size=64", "train.epochs=3",
            "train.learning_rate=0.02", "train.verbose=0"]
    assert cli.train_main(args) == 0
    (run,) = (tmp_path / "runs" / "word2vec").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"loss"} and metrics["test"]["loss"] < 3.0
    header, *rows = (run / "vectors.txt").read_text().splitlines()
    assert header == "6 8" and len(rows) == 6
    matrix, found = read_word_vectors(run / "vectors.txt", ["cat", "blue", "unknown"], 8)
    assert found == 2 and matrix.shape == (5, 8)
    neighbours = dict(line.split("\t") for line in (run / "neighbours.txt").read_text().splitlines())
    assert neighbours["cat"].split()[0][:3] in ("dog", "pet")
