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
    # Lines bound the windows (word2vec and gensim read a sentence at a time): 4 and 5 end and start lines.
    lines = np.array([0, 0, 0, 1, 1, 1])
    bounded = skipgram_examples(ids, vocabulary_size=8, window=5, subsample=1.0, lines=lines)
    pairs = set(zip(bounded["centre"].tolist(), bounded["context"].tolist()))
    assert pairs == {(a, b) for a in range(2, 8) for b in range(2, 8) if a != b and (a < 5) == (b < 5)}
    cbow = skipgram_examples(ids, vocabulary_size=8, window=5, subsample=1.0, cbow=True, lines=lines)
    for centre, context in zip(cbow["centre"], cbow["context"]):
        assert all((int(c) < 5) == (int(centre) < 5) for c in context if c)


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
    text.write_text(
        "\n".join(
            " ".join(rng.choice(["cat", "dog", "pet"] if i % 2 else ["red", "blue", "green"], 6)) for i in range(300)
        )
    )
    args = [
        "task=word2vec",
        "data.name=null",
        f"data.train={text}",
        "data.split=word",
        "model.dim=8",
        "model.window=2",
        "model.subsample=1",
        "data.min_frequency=1",
        "train.batch_size=64",
        "train.epochs=3",
        "train.learning_rate=0.02",
        "train.verbose=0",
    ]
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


def word_vectors():
    from tfseq.models import WordVectors

    # Two directions: royalty (axis 0) and gender (axis 1), plus an unrelated word.
    table = {
        "king": [1, 1, 0],
        "queen": [1, -1, 0],
        "man": [0, 1, 0.1],
        "woman": [0, -1, 0.1],
        "prince": [0.9, 1.1, 0],
        "apple": [0, 0, 1],
    }
    return WordVectors(list(table), np.array(list(table.values()), "float32"))


def test_word_vectors_answer_analogies_by_word():
    vectors = word_vectors()
    assert vectors.most_similar(positive=["king", "woman"], negative=["man"], top=1)[0][0] == "queen"
    assert vectors.most_similar("king", top=1)[0][0] == "prince"  # the query word itself is left out
    assert "king" in vectors and len(vectors) == 6 and vectors["apple"].tolist() == [0, 0, 1]
    with pytest.raises(KeyError, match="'emperor' is not among the 6 words"):
        vectors.most_similar(positive=["emperor"])


def test_analogy_file_accuracy_skips_unknown_words(tmp_path):
    from tfseq.data import DataError

    questions = tmp_path / "questions.txt"
    questions.write_text(
        ": royalty\nman king woman queen\nMan Woman King Queen\nman king woman emperor\n"
        ": fruit\nking queen apple pear\n"
    )
    result = word_vectors().evaluate_analogies(questions)
    assert result["sections"]["royalty"] == {"accuracy": 1.0, "correct": 2, "questions": 2, "skipped": 1}
    assert result["sections"]["fruit"]["questions"] == 0 and result["skipped"] == 2
    assert (result["accuracy"], result["correct"], result["questions"]) == (1.0, 2, 2)
    questions.write_text(": royalty\nman king woman\n")
    with pytest.raises(DataError, match=r"questions.txt:2: expected ': section' or four words"):
        word_vectors().evaluate_analogies(questions)


def test_word_vectors_files_round_trip_in_both_formats(tmp_path):
    from tfseq.data import DataError
    from tfseq.models import WordVectors

    vectors = word_vectors()
    vectors.save(tmp_path / "w2v.txt")
    assert (tmp_path / "w2v.txt").read_text().startswith("6 3\nking 1.00000 1.00000 0.00000\n")
    again = WordVectors.load(tmp_path / "w2v.txt")
    assert again.words == vectors.words and np.allclose(again.vectors, vectors.vectors)
    (tmp_path / "glove.txt").write_text("the 0.1 0.2\nof 0.3 0.4\n")  # GloVe: no header
    assert WordVectors.load(tmp_path / "glove.txt").words == ["the", "of"]
    assert len(WordVectors.load(tmp_path / "w2v.txt", limit=2)) == 2
    (tmp_path / "bad.txt").write_text("the 0.1 0.2\nof 0.3\n")
    with pytest.raises(DataError, match=r"bad.txt:2: expected a word and 2 numbers"):
        WordVectors.load(tmp_path / "bad.txt")


def test_word2vec_model_takes_words_and_keeps_them_in_keras_files(tmp_path):
    model = Word2Vec(5, dim=4, vocabulary=["a", "b", "c"])
    model.build()
    assert {word for word, _ in model.most_similar(positive=["a"], top=2)} == {"b", "c"}
    assert {i for i, _ in model.most_similar(2, top=2)} == {3, 4}  # ids still work
    model.save(tmp_path / "w2v.keras")
    restored = keras.saving.load_model(tmp_path / "w2v.keras")
    assert restored.vocabulary == ("a", "b", "c") and np.allclose(restored.vectors, model.vectors)
    with pytest.raises(ValueError, match="vocabulary has 2 words"):
        Word2Vec(5, vocabulary=["a", "b"])


def test_examples_are_made_a_part_at_a_time_in_whole_batches():
    from tfseq.models import example_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 12, size=400)
    lines = np.repeat(np.arange(400), lengths)
    ids = rng.integers(2, 60, size=len(lines)).astype("int32")
    options = dict(window=3, negatives=4, subsample=1.0)
    one_pass = list(example_batches(ids, lines, 62, batch_size=64, seed=1, chunk=500, **options))
    assert all(len(b["centre"]) == 64 for b in one_pass[:-1]) and 0 < len(one_pass[-1]["centre"]) <= 64
    made = sum(len(b["centre"]) for b in one_pass)
    whole = skipgram_examples(ids, 62, lines=lines, seed=1, **options)  # all at once: about as many
    assert abs(made - len(whole["centre"])) < 0.05 * len(whole["centre"])
    # Every pair is two words of one line, at most `window` apart: no window crosses a line (or a part).
    pairs = {(int(a), int(b)) for batch in one_pass for a, b in zip(batch["centre"], batch["context"])}
    near = {
        (int(ids[i]), int(ids[j]))
        for i in range(len(ids))
        for j in range(max(0, i - 3), min(len(ids), i + 4))
        if i != j and lines[i] == lines[j]
    }
    assert pairs <= near
    # steps: exactly that many full batches, the text read again where a pass runs short.
    steps = -(-made // 64) + 5
    epoch = list(example_batches(ids, lines, 62, batch_size=64, seed=2, steps=steps, chunk=500, **options))
    assert len(epoch) == steps and all(len(b["centre"]) == 64 for b in epoch)
    again = list(example_batches(ids, lines, 62, batch_size=64, seed=2, steps=steps, chunk=500, **options))
    assert all(np.array_equal(a["negatives"], b["negatives"]) for a, b in zip(epoch, again))  # its seed alone


def test_negatives_follow_the_unigram_distribution_to_the_three_quarters():
    from tfseq.models.word2vec import noise_table

    counts = np.array([50, 9, 1000, 100, 10, 0])  # ids 0 and 1 (padding, OOV) and an unseen word: never drawn
    table = noise_table(counts, size=100_000)
    drawn = np.bincount(table, minlength=len(counts)) / len(table)
    expected = np.r_[0, 0, counts[2:] ** 0.75] / np.sum(counts[2:] ** 0.75)
    assert np.allclose(drawn, expected, atol=1e-4)
    negatives = skipgram_examples(np.arange(2, 5).repeat(40), 6, negatives=3, subsample=1.0)["negatives"]
    assert set(np.unique(negatives)) <= {2, 3, 4}
    with pytest.raises(ValueError, match="nothing to draw negatives from"):
        noise_table([5, 5, 0])
    from tfseq.models import example_batches

    unknown = np.ones(50, "int32")  # a held-out text of unknown words only: no examples, no error
    assert list(example_batches(unknown, np.zeros(50), vocabulary_size=6, batch_size=8)) == []
    with pytest.raises(ValueError, match="none of its words is in the vocabulary"):
        next(example_batches(unknown, np.zeros(50), vocabulary_size=6, batch_size=8, steps=3))


def test_examples_per_pass_is_estimated_from_a_sample():
    from tfseq.models import example_batches, examples_per_pass

    rng = np.random.default_rng(3)
    lengths = rng.integers(3, 12, size=3000)
    lines = np.repeat(np.arange(3000), lengths)
    ids = rng.integers(2, 200, size=len(lines)).astype("int32")
    options = dict(vocabulary_size=202, window=3, negatives=2, subsample=1.0)
    made = sum(len(b["centre"]) for b in example_batches(ids, lines, batch_size=1000, chunk=2000, **options))
    estimate = examples_per_pass(ids, lines, sample=4000, **options)  # a quarter of the text
    assert abs(estimate - made) < 0.02 * made
    small = examples_per_pass(ids[:100], lines[:100], sample=4000, **options)  # shorter than the sample: all of it
    assert small == len(skipgram_examples(ids[:100], lines=lines[:100], **options)["centre"])
    assert examples_per_pass(ids[:0], lines[:0], **options) == 0


def test_word2vec_epochs_follow_the_texts_size(tmp_path):
    from tfseq import recipes, tasks
    from tfseq.train.run_folder import RunFolder

    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(f"the cat sat on the mat {i % 7}" for i in range(200)) + "\n")
    config = recipes.resolve(
        "word2vec",
        [("data.name", "null"), ("data.train", str(text)), ("data.min_frequency", "1"), ("run.dir", str(tmp_path))],
    )
    logged = []
    task = tasks.task_class("word2vec")(config, RunFolder(path=config.run.dir), log=logged.append)
    task.prepare()
    rule = {key: value for key, (value, _) in task.auto_case_table()["rule"].items()}
    assert config.train.epochs == rule["max_epochs"]  # 1,120 training words: read as often as allowed
    assert any(
        line.startswith("auto: train.epochs=20 (1,120 training tokens: about 5M read, 2 to 20") for line in logged
    )
    assert any("examples a pass" in line and "made 4096 at a time" in line for line in logged)
