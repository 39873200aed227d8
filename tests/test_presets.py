"""Presets: a model as one folder (keras-hub's layout) that loads in one line, in a fresh process."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfseq import cli, data, export, presets
from tfseq.models import RecurrentBackbone, SequenceTagger, TextClassifier
from tfseq.tasks.classify import classifier_serving

TEXTS = ["good film", "bad plot", "a good plot", "good good", "bad bad film"]
LABELS = ["pos", "neg", "neg", "pos", "neg"]


@pytest.fixture(scope="module")
def classifier():
    pre = data.TextClassifierPreprocessor(data.TextVectorizer(split="word", ngrams=(1, 2)), ["neg", "pos"])
    pre.adapt(TEXTS, LABELS)
    model = TextClassifier(
        RecurrentBackbone(pre.tokenizer.vocabulary_sizes(), units=4, embedding_dim=4), 2, preprocessor=pre
    )
    model.compile()
    model.fit(np.array(TEXTS), pre.targets(LABELS), epochs=2, verbose=0)
    return model


def test_a_classifier_preset_loads_in_a_fresh_process_in_one_call(classifier, tmp_path):
    folder = classifier.save_to_preset(tmp_path / "reviews")
    assert {p.name for p in folder.iterdir()} == {
        "config.json",
        "model.weights.h5",
        "preprocessor.json",
        "metadata.json",
    }
    import h5py

    with h5py.File(folder / "model.weights.h5") as weights:  # the weights, not the optimizer's state
        assert "optimizer" not in weights and "layers" in weights
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["class_name"] == "TextClassifier" and metadata["parameter_count"] == classifier.count_params()
    script = (
        "import sys, json; from tfseq.models import TextClassifier; "
        "model = TextClassifier.from_preset(sys.argv[1]); "
        "print(json.dumps(model.predict(sys.argv[2:], verbose=0).tolist()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(folder), *TEXTS[:3]], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    np.testing.assert_allclose(
        json.loads(out.stdout.strip().splitlines()[-1]), classifier.predict(np.array(TEXTS[:3]), verbose=0), atol=1e-6
    )


def test_predict_answers_from_a_preset_as_from_the_export(classifier, tmp_path, capsys):
    folder = classifier.save_to_preset(tmp_path / "reviews")
    saved = export.save(classifier_serving(classifier), tmp_path / "export")
    texts = ["good film", "bad", ""]
    answers = []
    for source in (folder, saved):
        assert cli.predict_main([str(source), *texts]) == 0
        answers.append(capsys.readouterr().out)
    assert answers[0] == answers[1] and len(answers[0].strip().splitlines()) == 3


def test_a_preset_is_never_written_over_and_a_wrong_one_says_so(classifier, tmp_path):
    folder = classifier.save_to_preset(tmp_path / "reviews")
    with pytest.raises(presets.PresetError, match="exists already; a preset is never written over"):
        classifier.save_to_preset(folder)
    with pytest.raises(presets.PresetError, match="holds a TextClassifier, not a SequenceTagger"):
        SequenceTagger.from_preset(folder)
    with pytest.raises(presets.PresetError, match="not a preset"):
        TextClassifier.from_preset(tmp_path)
    (tmp_path / "empty").mkdir()  # an empty folder of the user's is filled
    assert classifier.save_to_preset(tmp_path / "empty").name == "empty"
    assert np.allclose(
        TextClassifier.from_preset(tmp_path / "empty").predict(np.array(TEXTS), verbose=0),
        classifier.predict(np.array(TEXTS), verbose=0),
        atol=1e-6,
    )
    assert tf.io.gfile.exists(str(tmp_path / "empty" / "model.weights.h5"))


def test_settings_are_the_recipe_keys_a_preset_fixes(classifier, tmp_path):
    from tfseq.models import Seq2Seq

    found = presets.settings(classifier.save_to_preset(tmp_path / "reviews"))
    assert {
        key: found[key]
        for key in (
            "backbone.units",
            "backbone.cell",
            "data.split",
            "data.ngrams",
            "data.lowercase",
            "model.head",
            "model.pooling",
        )
    } == {
        "backbone.units": 4,
        "backbone.cell": "gru",
        "data.split": "word",
        "data.ngrams": [1, 2],
        "data.lowercase": True,
        "model.head": "multiclass",
        "model.pooling": classifier.pooling,
    }
    assert presets.settings(tmp_path) == {}  # not a preset: the task says so when it loads it
    # A seq2seq's two sides: the source's as the recipe's data.source_split, the target's as data.target_*.
    source = data.TextVectorizer(split="character").adapt(["abbey", "hello"])
    target = data.TextVectorizer(split="word", lowercase=False).adapt(
        ["AE B IY", "HH AH L OW"], reserved=("<s>", "</s>")
    )
    model = Seq2Seq(
        RecurrentBackbone(source.vocabulary_size(), units=4, embedding_dim=4),
        target.vocabulary_size(),
        preprocessor=data.Seq2SeqPreprocessor(source, target),
    )
    model({"source": np.ones((1, 2), "int32"), "target": np.ones((1, 2), "int32")})
    found = presets.settings(model.save_to_preset(tmp_path / "g2p"))
    assert (
        found["data.source_split"],
        found["data.target_split"],
        found["data.target_lowercase"],
        found["backbone.units"],
        found["model.attention"],
    ) == ("character", "word", False, 4, model.attention)
    assert "data.split" not in found
