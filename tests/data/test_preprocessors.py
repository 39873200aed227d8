"""The task families' preprocessors: text <-> ids both ways, saved with their models."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfseq import data
from tfseq.data.preprocessors import END, START
from tfseq.models import LanguageModel, RecurrentBackbone, Seq2Seq, SequenceTagger, TextClassifier

TEXTS = ["a good film", "a bad film", "good good plot", "bad acting"]


def strings(tensor):
    return [s.decode() for s in np.asarray(tensor).ravel()]


def test_classifier_preprocessor_encodes_labels_and_answers_with_names_and_the_prior():
    pre = data.TextClassifierPreprocessor(data.TextVectorizer(), ["neg", "pos"])
    pre.adapt(TEXTS, ["pos", "neg", "pos", "pos"])
    assert pre.prior == [0.25, 0.75]
    np.testing.assert_array_equal(pre.targets(["pos", "neg", "meh"]), [1, 0, -1])
    tokens = pre(tf.constant(["a good film", ""]))["tokens"]
    probabilities = pre.probabilities(tf.constant([[0.9, 0.1], [0.5, 0.5]]), tokens)
    np.testing.assert_allclose(probabilities, [[0.9, 0.1], [0.25, 0.75]])  # no tokens: the prior
    answer = pre.postprocess(probabilities)
    assert strings(answer["label"]) == ["neg", "pos"]
    np.testing.assert_allclose(answer["confidence"], [0.9, 0.75])
    # A binary head's one column becomes two.
    binary = data.TextClassifierPreprocessor(pre.tokenizer, ["neg", "pos"], head="binary")
    np.testing.assert_allclose(binary.probabilities(tf.constant([[0.8]]), tokens[:1]), [[0.2, 0.8]], rtol=1e-6)
    with pytest.raises(ValueError, match="expected binary \\(two labels\\)"):
        data.TextClassifierPreprocessor(pre.tokenizer, ["a", "b", "c"], head="binary")
    with pytest.raises(ValueError, match="has 3 values for 2 labels"):
        data.TextClassifierPreprocessor(pre.tokenizer, ["neg", "pos"], prior=[0.2, 0.3, 0.5])


def test_multilabel_preprocessor_encodes_sets_and_joins_the_labels_it_chooses():
    pre = data.TextClassifierPreprocessor(data.TextVectorizer(), ["action", "comedy", "drama"], head="multilabel")
    pre.adapt(TEXTS, [("action", "comedy"), ("drama",), (), ("comedy", "unknown")])  # cells as the readers make them
    np.testing.assert_array_equal(pre.targets([("action", "comedy"), "drama"]), [[1, 1, 0], [0, 0, 1]])
    np.testing.assert_allclose(pre.prior, [0.25, 0.5, 0.25])
    answer = pre.postprocess(tf.constant([[0.9, 0.2, 0.7], [0.1, 0.1, 0.1]]))
    assert strings(answer["label"]) == ["action,drama", ""]
    np.testing.assert_allclose(answer["confidence"], [0.7, 0.9], rtol=1e-6)


def test_tagger_preprocessor_joins_tokens_it_splits_back_and_tags_them_readably():
    pre = data.TokenTaggerPreprocessor(data.TextVectorizer(max_length=3), ["B-NP", "I-NP", "O"])
    texts = pre.join([["The", "cat", "sat", "down"], ["Dogs"]])
    assert texts == ["The cat sat down", "Dogs"]
    with pytest.raises(ValueError, match="sentence 2: tokens \\['New York'\\]"):
        pre.join([["ok"], ["New York"]])
    pre.adapt(texts)
    targets = pre.targets([["B-NP", "I-NP", "O", "O"], ["B-VP"]])  # cut at max_length; unknown tag 0
    assert [t.tolist() for t in targets] == [[1, 2, 3], [0]]
    assert pre.tag_names([[1, 2, 3, 0], [3, 0, 0, 0]], [3, 1]) == [["B-NP", "I-NP", "O"], ["O"]]
    answer = pre.postprocess(tf.constant(["The Cat", ""]), tf.constant([[1, 2], [0, 0]]))
    assert strings(answer["tagged"]) == ["The/B-NP Cat/I-NP", ""]
    assert strings(answer["tokens"]) == ["The", "Cat", "", ""] and strings(answer["tags"]) == ["B-NP", "I-NP", "", ""]


def test_causal_lm_preprocessor_ends_every_line_and_reads_line_ends_back_as_breaks():
    pre = data.CausalLMPreprocessor(data.TextVectorizer(split="character", keep_whitespace=True))
    lines = pre.lines(["ab\n\nba", "  \n", "b"])
    assert lines == ["ab", "ba", "b"]
    pre.adapt(lines)
    assert pre.tokenizer.vocabularies[1][0] == "\n"  # id 2, whatever its frequency
    stream = pre.stream(lines)
    assert stream.tolist() == [
        *pre.tokenizer.token_ids(["ab"])[0],
        2,
        *pre.tokenizer.token_ids(["ba"])[0],
        2,
        *pre.tokenizer.token_ids(["b"])[0],
        2,
    ]
    np.testing.assert_array_equal(pre.frame(tf.constant([[3, 4, 0]])), [[2, 3, 4, 2, 0]])
    np.testing.assert_array_equal(pre.frame(tf.constant([[3, 4, 0]]), end=False), [[2, 3, 4, 0, 0]])
    assert strings(pre.postprocess(tf.constant([stream]))) == ["ab\nba\nb\n"]
    with pytest.raises(ValueError, match="data.split='wordpunct'"):
        data.CausalLMPreprocessor(data.TextVectorizer(split="wordpunct")).adapt(lines)


def test_seq2seq_preprocessor_teacher_forces_and_stops_at_the_end():
    pre = data.Seq2SeqPreprocessor(data.TextVectorizer(split="character"), data.TextVectorizer(split="word"))
    pre.adapt(["cat", "dog"], ["le chat", "le chien"])
    assert pre.target_tokenizer.vocabularies[1][:2] == ["<s>", "</s>"]
    decoder_in, decoder_out, tokens = pre.targets(["le chat"])
    ids = pre.target_tokenizer.token_ids(["le chat"])[0]
    assert decoder_in == [[START, *ids]] and decoder_out == [[*ids, END]] and tokens == [["le", "chat"]]
    assert strings(pre.postprocess(tf.constant([[*ids, END, ids[0]]]))) == ["le chat"]
    assert pre.inputs(["cat"])["tokens"].shape == (1, 3)
    captions = data.Seq2SeqPreprocessor(None, data.TextVectorizer()).adapt(None, ["two digits"])
    assert captions.tokenizer is None and captions.requires == []
    assert data.Seq2SeqPreprocessor(data.TextVectorizer(split="subword"), data.TextVectorizer()).requires == [
        "tensorflow_text"
    ]


def test_preprocessors_and_vectorizers_take_python_texts_as_keras_layers_take_tensors():
    import pandas as pd

    vec = data.TextVectorizer().adapt(TEXTS)
    pre = data.TokenTaggerPreprocessor(vec, ["A"])
    expected = vec(tf.constant(["a good film", "bad"]))["tokens"].numpy()
    for texts in (
        ["a good film", "bad"],
        ("a good film", "bad"),
        np.array(["a good film", "bad"]),
        pd.Series(["a good film", "bad"]),
    ):
        np.testing.assert_array_equal(vec(texts)["tokens"], expected)
        np.testing.assert_array_equal(pre(texts)["tokens"], expected)
    np.testing.assert_array_equal(pre("bad")["tokens"], expected[1:, :1])


def test_models_keep_their_preprocessor_through_keras_files(tmp_path):
    pre = data.TextClassifierPreprocessor(data.TextVectorizer(), ["neg", "pos"]).adapt(
        TEXTS, ["pos", "neg", "pos", "pos"]
    )
    model = TextClassifier(
        RecurrentBackbone(pre.tokenizer.vocabulary_sizes(), units=4, embedding_dim=4), 2, preprocessor=pre
    )
    model.predict(np.array(TEXTS), verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras").preprocessor
    assert isinstance(loaded, data.TextClassifierPreprocessor)
    assert (loaded.labels, loaded.prior, loaded.tokenizer.vocabularies) == (
        pre.labels,
        pre.prior,
        pre.tokenizer.vocabularies,
    )


def test_a_bare_vectorizer_and_old_seq2seq_configs_still_make_a_family_preprocessor():
    vec = data.TextVectorizer().adapt(TEXTS)
    classifier = TextClassifier(RecurrentBackbone(vec.vocabulary_sizes()), 3, preprocessor=vec)
    assert isinstance(classifier.preprocessor, data.TextClassifierPreprocessor) and classifier.preprocessor.labels == [
        "0",
        "1",
        "2",
    ]
    tagger = SequenceTagger(RecurrentBackbone(vec.vocabulary_sizes()), 2, preprocessor=vec)
    assert tagger.preprocessor.tags == ["1", "2"] and tagger.preprocessor.tokenizer is vec
    assert isinstance(LanguageModel(RecurrentBackbone(10), 2, preprocessor=vec).preprocessor, data.CausalLMPreprocessor)
    with pytest.raises(ValueError, match="line_end=3"):
        LanguageModel(RecurrentBackbone(10), 3, preprocessor=vec)
    target = data.TextVectorizer().adapt(["le chat"], reserved=("<s>", "</s>"))
    config = Seq2Seq(RecurrentBackbone(vec.vocabulary_size(), units=4), target.vocabulary_size()).get_config()
    config.pop("preprocessor")
    config["source_preprocessor"] = keras.saving.serialize_keras_object(vec)  # a file saved before preprocessors
    config["target_preprocessor"] = keras.saving.serialize_keras_object(target)
    loaded = Seq2Seq.from_config(config)
    assert isinstance(loaded.preprocessor, data.Seq2SeqPreprocessor)
    assert loaded.preprocessor.target_tokenizer.vocabularies == target.vocabularies


@pytest.mark.parametrize("split,punctuation", [("word", "keep"), ("character", "keep"), ("word", "cut")])
def test_token_offsets_index_the_text_as_given_in_the_graph_and_in_plain_python(split, punctuation):
    from tfseq.tflite_app import CONTROL, Preprocessor

    texts = [
        "  New\u3000York\x00 is\tbig ",
        "",
        "\x00",
        "日本 東京\u00a0x",
        "x\u200by  z\n",
        "Ｇood\u3000FILM",
        "John lives in New York.",
        '(U.S.)\x00, "he" said...',
        "İ. x",
        "a\x00.b.\x00",
    ]
    whole = ["u.s."] if punctuation == "cut" else ()
    vec = data.TextVectorizer(split=split, max_length=6, punctuation=punctuation, whole_words=whole)
    starts, ends = vec.token_offsets(tf.constant(texts))
    app = Preprocessor(
        {
            "split": split,
            "lowercase": True,
            "max_length": 6,
            "vocabularies": {},
            "punctuation": punctuation,
            "whole_words": whole,
        }
    )
    for text, a, b, tokens in zip(
        texts, starts.to_list(), ends.to_list(), vec.tokens(texts, lowercase=False).to_list()
    ):
        assert list(zip(a, b)) == app.offsets(text)
        # text[start:end] is the token as written (a removed control character inside it stays in the text)
        assert [CONTROL.sub("", text[s:e]) for s, e in zip(a, b)] == [t.decode() for t in tokens]


def test_a_taggers_word_split_cuts_punctuation_off_words_but_keeps_the_corpus_forms_whole():
    vec = data.TextVectorizer(split="word", punctuation="cut")
    assert vec.tokenize(["John lives in New York.", "(Hi!) ... --", "U.S. Inc.'s don't"]) == [
        ["john", "lives", "in", "new", "york", "."],
        ["(", "hi", "!", ")", "...", "--"],
        ["u.s", ".", "inc.'s", "don't"],
    ]
    pre = data.TokenTaggerPreprocessor(vec, ["O"])
    sentences = [["He", "left", "the", "U.S.", "."], ["It", "'s", "Acme", "Inc.", "--", "yes"]]
    texts = pre.join(sentences)  # the corpus's own forms are kept whole, so each sentence splits back
    assert vec.tokenize(texts, lowercase=False) == sentences and vec.whole_words == ("'s", "inc.", "u.s.")
    assert vec.tokenize(["in the U.S. today!"]) == [["in", "the", "u.s.", "today", "!"]]
    restored = data.TextVectorizer.from_config(vec.get_config())
    assert restored.whole_words == vec.whole_words and restored.punctuation == "cut"
    with pytest.raises(ValueError, match="punctuation must be one of"):
        data.TextVectorizer(split="character", punctuation="cut")


class Column:
    """A column as Hugging Face ``datasets`` gives it (``ds["text"]``): a sequence (``len``,
    indexing, iteration) that is neither a list nor a NumPy array (tfseq does not depend on
    ``datasets``; this is the protocol its ``Column`` offers)."""

    def __init__(self, values):
        self._values = list(values)

    def __len__(self):
        return len(self._values)

    def __getitem__(self, index):
        return self._values[index]

    def __iter__(self):
        return iter(self._values)


def test_models_fit_and_predict_pandas_and_datasets_columns_of_raw_text():
    import pandas as pd

    texts, labels = ["a good film", "a bad film", "good good", "bad plot"] * 4, [1, 0, 1, 0] * 4
    pre = data.TextClassifierPreprocessor(data.TextVectorizer(), ["neg", "pos"]).adapt(texts, ["pos", "neg"] * 8)
    model = TextClassifier(
        RecurrentBackbone(pre.tokenizer.vocabulary_sizes(), units=4, embedding_dim=4), 2, preprocessor=pre
    )
    model.compile()
    frame = pd.DataFrame({"text": texts, "label": labels})
    expected = model.predict(np.array(texts), verbose=0)
    for x, y in ((frame.text, frame.label), (frame[["text"]], frame["label"]), (Column(texts), Column(labels))):
        model.fit(x, y, epochs=1, verbose=0)
        assert model.predict(x, verbose=0).shape == expected.shape
        assert np.isfinite(model.evaluate(x, y, verbose=0)).all()
    with pytest.raises(ValueError, match=r"DataFrame of 2 columns .*pass its text column"):
        model.predict(frame, verbose=0)
