"""TFLite exports: the stock interpreter runs them (builtin operations only) and answers as the
Keras model does; the app-side preprocessing in plain Python makes the ids the vectorizer makes."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfseq import cli, data, export
from tfseq.models import LanguageModel, RecurrentBackbone, SequenceTagger, TextClassifier
from tfseq.tasks.classify import classifier_tflite
from tfseq.tasks.lm import language_model_tflite
from tfseq.tasks.tag import tagger_tflite
from tfseq.tflite_app import Preprocessor

TEXTS = ["the good film", "a bad plot", "a good plot and a good cast", "good good", "Ｇood\u3000FILM"]
HARD = [
    "好\u3000看\u00a0书",
    "a\u200bb\tc\x00d",
    "İstanbul IŞIK",
    "e\u0301 👍🏽 x",
    "\ufeffhi\u2028there",
    "Ａ\u3000ＢＣ",
    "tab\there\r\nnew line",
    "zero\u200bwidth",
    "\x07bell",
    "mixed中文English 123",
    "",
    "  \x00",
    "ΟΔΟΣ σοφός",
    "ǅemal ß ﬁ",
    'Go. "Hi," (he said)... l\'été 3.5% e\u0301t\u00e9!',
    "a\u2581b_c--d",
    "(U.S.) John's ¿qué? «oui» --x-- ...! 'S $5 :-) ½.",
    "İ. Ǆ! \u3002日本。",
]
VECTORIZERS = [
    dict(split="word", ngrams=(1, 2), char_ngrams=(2, 5)),
    dict(split="word", lowercase=False),
    dict(split="word", token_chars=(2, 4)),
    dict(split="word", punctuation="cut", token_chars=(1, 2), whole_words=["u.s.", "'s", "(he"]),
    dict(split="wordpunct", ngrams=(1, 2), char_ngrams=(2, 4)),
    dict(split="wordpunct", token_chars=(1, 3)),
    dict(split="character", ngrams=(1, 2, 3)),
    dict(split="character", keep_whitespace=True, max_length=6),
]


@pytest.mark.parametrize("options", VECTORIZERS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_app_side_preprocessing_makes_the_vectorizers_ids(options):
    vec = data.TextVectorizer(**options).adapt(TEXTS + HARD)
    pre = Preprocessor(json.loads(json.dumps(export.vocabulary_settings(vec))))  # through JSON, as shipped
    layer = {k: v.numpy() for k, v in vec(tf.constant(HARD)).items()}
    for row, text in enumerate(HARD):
        feeds = pre(text)
        assert set(feeds) == set(layer)
        for key, ids in feeds.items():
            if key == "token_chars":  # (tokens, grams): each token's grams, padded to the batch's most
                width = max(int((layer["tokens"][row] != 0).sum()), 1)
                assert ids.shape[:2] == (1, width)
                for got, expected in zip(ids[0], layer[key][row][:width]):
                    np.testing.assert_array_equal(got[got != 0], expected[expected != 0], err_msg=text)
                continue
            expected = layer[key][row][layer[key][row] != 0] if key == "chars" else layer[key][row]
            width = max(int((layer["tokens"][row] != 0).sum()), 1) if key != "chars" else len(expected)
            np.testing.assert_array_equal(ids[0][:width], expected[:width], err_msg=f"{text!r} {key}")
            assert ids.shape == (1, max(width, 1)) and ids.dtype == np.int32


def interpreter(folder):
    return tf.lite.Interpreter(model_path=str(folder / "model.tflite"))


def ids_of(vec, text):
    """One text's ids as the vectorizer makes them, at least one step wide."""
    ids, _ = export.at_least_one_step(vec(tf.constant([text])))
    return {k: v.numpy() for k, v in ids.items()}


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stock_interpreter_answers_as_keras_for_classify_tag_and_lm(tmp_path, cell):
    vec = data.TextVectorizer(split="word", ngrams=(1, 2), char_ngrams=(2, 4), max_length=12).adapt(TEXTS)
    classifier = TextClassifier(
        RecurrentBackbone(vec.vocabulary_sizes(), cell=cell, units=8, embedding_dim=8, bidirectional=True),
        3,
        wide="tfidf+nb",
        preprocessor=data.TextClassifierPreprocessor(vec, ["a", "b", "c"]),
    )
    words = data.TextVectorizer(split="word", ngrams=(1, 2), token_chars=(2, 4), lowercase=True).adapt(TEXTS)
    tagger = SequenceTagger(
        RecurrentBackbone(
            words.vocabulary_sizes(),
            cell=cell,
            units=8,
            embedding_dim=8,
            bidirectional=True,
            char_cnn=6 if cell == "gru" else 0,
        ),
        4,
        crf=True,
        preprocessor=data.TokenTaggerPreprocessor(words, ["A", "B", "C", "D"]),
    )
    chars = data.TextVectorizer(split="character", keep_whitespace=True).adapt(TEXTS, reserved=("\n",))
    lm = LanguageModel(
        RecurrentBackbone(chars.vocabulary_size(), cell=cell, units=8, embedding_dim=8, layers=2), 2, preprocessor=chars
    )
    for model, v in ((classifier, vec), (tagger, words), (lm, chars)):
        model(ids_of(v, "a good film") if model is not lm else np.array([[2, 3]]))
    cases = [
        (classifier_tflite(classifier), classifier, vec),
        (tagger_tflite(tagger), tagger, words),
        (language_model_tflite(lm), lm, chars),
    ]
    for lite, model, v in cases:
        folder = export.save_tflite(lite, tmp_path / model.name)
        assert {p.name for p in folder.iterdir()} == {"model.tflite", "vocabulary.json", "preprocess.py", "tfseq.json"}
        runner = interpreter(folder)
        ops = {detail["op_name"] for detail in runner._get_ops_details()}
        assert "WHILE" in ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
        pre = Preprocessor.load(folder)
        for text in ["a good film", "the plot", "Ｇood\u3000FILM and a good cast, a bad plot", "", "unknown words"]:
            expected = model(ids_of(v, text), training=False)
            if model is classifier and not text:  # no tokens: the prior, as the SavedModel answers
                expected = np.full((1, 3), 1 / 3)
            np.testing.assert_allclose(pre.predict(runner, text), np.asarray(expected), atol=1e-4, err_msg=text)
    meta = json.loads((tmp_path / tagger.name / "1" / "tfseq.json").read_text())
    assert meta["tags"] == ["A", "B", "C", "D"] and len(meta["crf"]["transitions"]) == 4
    # tfseq-predict on the TFLite exports: the CRF's best path (Viterbi in numpy), the perplexity.
    text = "Ｇood\u3000FILM and a good cast"
    row = Preprocessor.load(tmp_path / tagger.name / "1").answer(interpreter(tmp_path / tagger.name / "1"), text, meta)
    ids = ids_of(words, text)
    best = np.asarray(tagger.decode(tagger(ids, training=False), ids["tokens"] != 0))[0]
    assert row["tagged"] == " ".join(
        f"{t}/{'ABCD'[i - 1]}" for t, i in zip(["Ｇood", "FILM", "and", "a", "good", "cast"], best)
    )
    meta = json.loads((tmp_path / lm.name / "1" / "tfseq.json").read_text())
    row = Preprocessor.load(tmp_path / lm.name / "1").answer(interpreter(tmp_path / lm.name / "1"), text, meta)
    np.testing.assert_allclose(row["perplexity"], lm.score([text])["perplexity"][0], rtol=1e-4)


@pytest.mark.slow
def test_a_run_with_export_tflite_writes_it_beside_the_savedmodel_and_they_agree(tmp_path):
    from pathlib import Path

    from test_classify import in_process_trainer

    trainer = in_process_trainer(
        tmp_path, "export.enabled=true", "export.tflite=true", f"export.dir={tmp_path / 'saved'}"
    )
    metrics = trainer.execute()
    folder = Path(metrics["export_tflite"])
    assert folder == tmp_path / "saved" / f"classify-{tmp_path.name}-tflite" / "1"  # export.name's, -tflite
    assert json.loads((folder / "tfseq.json").read_text())["labels"] == trainer.task.class_names
    pre, runner = Preprocessor.load(folder), interpreter(folder)
    serve = tf.saved_model.load(metrics["export"]).signatures["serving_default"]
    texts = ["great fun movie", "awful boring plot", "", "words it never saw"]
    for text in texts:
        np.testing.assert_allclose(
            pre.predict(runner, text), serve(text=tf.constant([text]))["probabilities"], atol=1e-4, err_msg=text
        )
    # tfseq-predict answers alike from either export.
    answers = []
    for export_folder in (metrics["export"], folder):
        assert cli.predict_main([str(export_folder), *texts, "--output", str(tmp_path / "answers.csv")]) == 0
        answers.append((tmp_path / "answers.csv").read_text())
        (tmp_path / "answers.csv").unlink()
    assert answers[0] == answers[1] and answers[0].startswith("text,label,confidence")


def test_quantized_export_is_smaller_and_close(tmp_path, capfd):
    vec = data.TextVectorizer(split="word", ngrams=(1, 2)).adapt(TEXTS * 50 + [f"word{i}" for i in range(3000)])
    model = TextClassifier(
        RecurrentBackbone(vec.vocabulary_sizes(), cell="lstm", units=32, embedding_dim=32, bidirectional=True),
        2,
        preprocessor=vec,
    )
    model(ids_of(vec, "a good film"))
    capfd.readouterr()
    plain = export.save_tflite(classifier_tflite(model), tmp_path / "plain")
    small = export.save_tflite(classifier_tflite(model), tmp_path / "small", quantize=True)
    # The conversion's warnings that ask nothing of a user are not printed.
    printed = "".join(capfd.readouterr())
    assert "'NoneType' object has no attribute 'name'" not in printed and "trackable_obj" not in printed, printed
    assert (small / "model.tflite").stat().st_size < 0.4 * (plain / "model.tflite").stat().st_size
    assert json.loads((small / "tfseq.json").read_text())["quantized"] is True
    pre = Preprocessor.load(small)
    for text in ["a good film", "a bad plot word7"]:
        np.testing.assert_allclose(pre.predict(interpreter(small), text), model(ids_of(vec, text)), atol=0.02)


@pytest.mark.slow
def test_seq2seq_decodes_on_the_device_as_keras_greedy_and_by_beam(tmp_path):
    from tfseq import decoding
    from tfseq.models import Seq2Seq
    from tfseq.tasks.seq2seq import seq2seq_tflite
    from tfseq.tflite_app import interpreter as litert

    words, phones = ["abbey", "tfseq", "hello", "world"], ["AE B IY", "T F S EH K", "HH AH L OW", "W ER L D"]
    source = data.TextVectorizer(split="character").adapt(words)
    target = data.TextVectorizer(split="word").adapt(phones, reserved=("<s>", "</s>"))
    model = Seq2Seq(
        RecurrentBackbone(source.vocabulary_size(), units=8, embedding_dim=6, layers=2, bidirectional=True),
        target.vocabulary_size(),
        preprocessor=data.Seq2SeqPreprocessor(source, target),
    )
    model({"source": np.ones((1, 2), "int32"), "target": np.ones((1, 2), "int32")})
    for sampler in (decoding.Greedy(), decoding.BeamSearch(3)):
        folder = export.save_tflite(seq2seq_tflite(model, 12, sampler), tmp_path / type(sampler).__name__)
        runner = litert(folder)
        ops = {detail["op_name"] for detail in runner._get_ops_details()}
        assert "WHILE" in ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
        pre, declared = Preprocessor.load(folder), json.loads((folder / "tfseq.json").read_text())
        for text in [*words, "zzz", "Hello World"]:
            ids = ids_of(source, text)["tokens"]
            expected = np.asarray(model.translate_ids(ids, 12, sampler))
            np.testing.assert_array_equal(pre.predict(runner, text), expected, err_msg=text)
            assert pre.answer(runner, text, declared)["target"] == model.texts(expected)[0]
        assert pre.answer(runner, "\x00 ", declared) == {"target": ""}
    # The n best on the device: the SavedModel's texts and scores, in the order of the scores shown.
    from tfseq.tasks.seq2seq import seq2seq_serving

    beam = decoding.BeamSearch(4, length_penalty=1.0)
    folder = export.save_tflite(seq2seq_tflite(model, 12, beam, n_best=3), tmp_path / "n-best")
    saved = tf.saved_model.load(str(export.save(seq2seq_serving(model, 12, beam, n_best=3), tmp_path / "saved")))
    runner, pre = litert(folder), Preprocessor.load(folder)
    declared = json.loads((folder / "tfseq.json").read_text())
    for text in words:
        answer = pre.answer(runner, text, declared)
        out = saved.signatures["serving_default"](text=tf.constant([text]))
        assert [c["text"] for c in answer["n_best_list"]] == [t.decode() for t in out["targets"].numpy()[0]]
        np.testing.assert_allclose([c["score"] for c in answer["n_best_list"]], out["scores"].numpy()[0], atol=1e-3)
        assert answer["target"] == answer["n_best_list"][0]["text"] and answer["n_best"].count(" | ") == 2
    with pytest.raises(ValueError, match="greedily or by beam search"):
        seq2seq_tflite(model, 12, decoding.Sampling())
