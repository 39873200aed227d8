"""SequenceTagger: a label per step, trained with model.fit on tf.data or arrays, with or without a CRF."""

import keras
import numpy as np
import pytest

from tfseq import data
from tfseq.models import RecurrentBackbone, SequenceTagger

WORDS = {
    "the": "DET",
    "a": "DET",
    "cat": "NOUN",
    "dog": "NOUN",
    "runs": "VERB",
    "sees": "VERB",
    "big": "ADJ",
    "small": "ADJ",
}
TAGS = sorted(set(WORDS.values()))


def sentences(n=160, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = [
            str(rng.choice(["the", "a"])),
            *([str(rng.choice(["big", "small"]))] * int(rng.integers(0, 2))),
            str(rng.choice(["cat", "dog"])),
            str(rng.choice(["runs", "sees"])),
        ]
        out.append((" ".join(words), [TAGS.index(WORDS[w]) + 1 for w in words]))  # tag ids 1..K
    return out


@pytest.mark.slow
@pytest.mark.parametrize("crf", [True, False])
def test_fit_on_tf_data_learns_the_tags(crf, tmp_path):
    pairs = sentences()
    vec = data.TextVectorizer(split="word")
    vec.adapt([t for t, _ in pairs])
    ids = {k: v.numpy() for k, v in vec(np.array([t for t, _ in pairs], dtype=object)).items()}
    tags = [np.array(t) for _, t in pairs]  # ragged: one id per word
    train = data.make_dataset(ids, tags, batch_size=16, shuffle=True, seed=0)
    keras.utils.set_random_seed(0)
    model = SequenceTagger(
        RecurrentBackbone(vec.vocabulary_sizes(), units=16, embedding_dim=16, bidirectional=True),
        len(TAGS),
        crf=crf,
        preprocessor=vec,
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    history = model.fit(train, epochs=6, verbose=0, shuffle=False)  # the pipeline shuffles
    assert history.history["loss"][-1] < 0.1 < history.history["loss"][0]  # nats per tagged step

    texts = ["the big dog sees", "a cat runs"]
    predicted = model.tag(texts)
    assert predicted.shape == (2, 4)
    assert [TAGS[i - 1] for i in predicted[0]] == ["DET", "ADJ", "NOUN", "VERB"]
    assert [TAGS[i - 1] for i in predicted[1][:3]] == ["DET", "NOUN", "VERB"] and predicted[1][3] == 0  # padding

    path = tmp_path / "tagger.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, SequenceTagger) and (loaded.crf is not None) == crf
    np.testing.assert_array_equal(loaded.tag(texts), predicted)


@pytest.mark.slow
def test_a_character_cnn_reads_unseen_words_by_their_spelling(tmp_path):
    # Tags follow suffixes: "-ing" words are VERB, "-ly" ADV, the rest NOUN. Test words are unseen.
    rng = np.random.default_rng(0)
    stems = ["walk", "talk", "jump", "read", "sing", "play", "call", "cook", "look", "work", "help", "kick"]
    kinds = {"ing": "VERB", "ly": "ADV", "": "NOUN"}
    names = sorted(set(kinds.values()))

    def make(stem_pool, n):
        texts, tags = [], []
        for _ in range(n):
            words = [(str(rng.choice(stem_pool)), str(rng.choice(list(kinds)))) for _ in range(rng.integers(2, 6))]
            texts.append(" ".join(s + e for s, e in words))
            tags.append(np.array([names.index(kinds[e]) + 1 for _, e in words]))
        return texts, tags

    texts, tags = make(stems[:9], 300)
    vec = data.TextVectorizer(split="word", token_chars=(1, 1)).adapt(texts)
    ids = {k: v.numpy() for k, v in vec(np.array(texts, dtype=object)).items()}
    keras.utils.set_random_seed(0)
    model = SequenceTagger(
        RecurrentBackbone(
            vec.vocabulary_sizes(), units=16, embedding_dim=8, bidirectional=True, char_cnn=16, token_dropout=0.3
        ),
        len(names),
        crf=False,
        preprocessor=vec,
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    model.fit(data.make_dataset(ids, tags, batch_size=16, shuffle=True, seed=0), epochs=8, verbose=0)
    assert model.backbone.char_conv.kernel.shape == (3, 32, 16)
    unseen = ["cooking kickly cook", "helping help helply"]  # stems the words were never seen with
    predicted = model.tag(unseen)
    assert [[names[i - 1] for i in row] for row in predicted] == [["VERB", "ADV", "NOUN"], ["VERB", "NOUN", "ADV"]]
    # More grams of padding (a wider batch) change nothing; the .keras file keeps the CNN.
    batch = {k: v.numpy() for k, v in vec(np.array(unseen, dtype=object)).items()}
    wider = {**batch, "token_chars": np.pad(batch["token_chars"], ((0, 0), (0, 0), (0, 5)))}
    np.testing.assert_allclose(model(wider), model(batch), atol=1e-5)
    model.save(tmp_path / "cnn.keras")
    np.testing.assert_array_equal(keras.saving.load_model(tmp_path / "cnn.keras").tag(unseen), predicted)


def test_bad_arguments():
    with pytest.raises(ValueError, match="must include 'tokens'"):
        SequenceTagger(RecurrentBackbone({"words": 10}), 3)
    with pytest.raises(ValueError, match="num_tags must be >= 1"):
        SequenceTagger(RecurrentBackbone({"tokens": 10}), 0)
    with pytest.raises(ValueError, match="Unknown cell='cnn'"):
        SequenceTagger(RecurrentBackbone({"tokens": 10}, cell="cnn"), 3)


@pytest.mark.slow
def test_targets_padded_narrower_than_the_inputs_still_train():
    # A batch whose longest target row ends in 0s (say, a tag never seen in training) is
    # trimmed narrower than its tokens by the pipeline: the loss aligns the two.
    ids = np.array([[2, 3, 4, 0], [2, 5, 0, 0]])
    tags = np.array([[1, 2, 0], [1, 2, 0]])  # width 3 against 4 token steps
    model = SequenceTagger(RecurrentBackbone({"tokens": 6}, units=4, embedding_dim=4), 2)
    model.compile(optimizer="adam")
    assert np.isfinite(model.fit(ids, tags, epochs=1, verbose=0).history["loss"][0])
    wide = np.array([[1, 2, 0, 0, 0], [1, 2, 0, 0, 0]])  # and wider than the inputs
    assert np.isfinite(model.evaluate(ids, wide, verbose=0))


@pytest.mark.slow
def test_fit_predict_and_evaluate_take_raw_strings():
    pairs = sentences()
    texts = np.array([t for t, _ in pairs])
    tags = keras.utils.pad_sequences([t for _, t in pairs], padding="post")  # one id per word, 0-padded
    vec = data.TextVectorizer(split="word").adapt(texts)
    keras.utils.set_random_seed(0)
    model = SequenceTagger(
        RecurrentBackbone(vec.vocabulary_sizes(), units=16, embedding_dim=16, bidirectional=True),
        len(TAGS),
        preprocessor=vec,
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    history = model.fit(texts, tags, batch_size=16, epochs=6, verbose=0, validation_data=(texts[:32], tags[:32]))
    assert history.history["loss"][-1] < 0.1 < history.history["loss"][0]
    assert model.evaluate(texts[:32], tags[:32], verbose=0) < 0.1
    emissions = model.predict(["the big dog sees"], verbose=0)  # per-step scores of each tag
    assert emissions.shape == (1, 4, len(TAGS))
    assert [TAGS[i] for i in emissions[0].argmax(-1)] == ["DET", "ADJ", "NOUN", "VERB"]
