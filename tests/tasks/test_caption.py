"""Captioning: the conv encoder under the seq2seq decoder, and the task end to end."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from tfseq import cli, decoding
from tfseq.models import Captioner
from tfseq.models.seq2seq import START


def test_captioner_decodes_as_teacher_forcing_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = Captioner(12, filters=(4, 8), units=8, embedding_dim=6)
    images = np.random.default_rng(0).random((2, 8, 16)).astype("float32")
    out = ops.convert_to_numpy(model.translate_ids(images, 4, decoding.Greedy()))
    for row in range(2):
        prefix = [START]
        for _ in range(4):
            logits = model({"source": images[row : row + 1], "target": np.array([prefix], "int32")})
            prefix.append(int(np.argmax(ops.convert_to_numpy(logits)[0, -1])))
        generated = prefix[1:]
        assert out[row].tolist()[: len(generated)] == generated or 3 in generated
    model.save(tmp_path / "c.keras")
    loaded = keras.saving.load_model(tmp_path / "c.keras")
    x = {"source": images, "target": np.ones((2, 3), "int32")}
    assert np.allclose(ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), atol=1e-6)
    rgb = Captioner(12, filters=(4,), units=8, embedding_dim=6)
    assert rgb({"source": np.zeros((1, 8, 8, 3), "float32"), "target": np.ones((1, 2), "int32")}).shape == (1, 2, 12)


@pytest.mark.slow
def test_caption_task_end_to_end_through_the_savedmodel(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [
        "task=caption",
        "model.filters=[16,32]",
        "model.units=64",
        "model.embedding_dim=32",
        "train.epochs=12",
        "train.verbose=0",
        "generate.sampler=greedy",
    ]
    assert cli.train_main(args) == 0
    (run,) = (tmp_path / "runs" / "caption").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"accuracy", "token_error_rate", "bleu", "loss"}
    # 1-4 digit names; a captioner that learned nothing gets about 9 words in 10 wrong. (Twelve
    # epochs of this small model: word error rate 0.35, BLEU 0.27.)
    assert metrics["test"]["token_error_rate"] < 0.5 and metrics["test"]["bleu"] > 15
    assert (run / "examples.png").exists() and "(reference:" in (run / "examples.txt").read_text()

    script = (
        "import tensorflow as tf, numpy as np, json, sys; f = tf.saved_model.load(sys.argv[1]).signatures"
        "['serving_default']; print(json.dumps([c.decode() for c in f(image=tf.zeros([2, 8, 32]))['caption'].numpy()]))"
    )
    out = subprocess.run([sys.executable, "-c", script, metrics["export"]], capture_output=True, text=True, check=True)
    assert len(json.loads(out.stdout.strip().splitlines()[-1])) == 2
    capsys.readouterr()
    assert cli.predict_main([metrics["export"], "some text"]) == 2
    assert "takes ['image'], not text" in capsys.readouterr().err
