"""tfseq-evaluate: an export scored on a labelled file gives its training run's test scores.

(Taggers and translation are checked in their own end-to-end tests, test_tag and test_seq2seq.)

One tiny run per task kind (a few epochs: the model need not be good for the figures to agree),
trained with ``data.test=`` the file that ``tfseq-evaluate`` then scores.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from tfseq import cli


def trained(tmp_path, *args):
    """Train in ``tmp_path``; the run's metrics.json and its export's folder."""
    assert (
        cli.train_main(
            [
                *args,
                "train.verbose=0",
                "run.preset=false",
                f"run.root={tmp_path / 'runs'}",
                f"export.dir={tmp_path / 'saved_models'}",
                "export.name=model",
            ]
        )
        == 0
    )
    (run,) = (tmp_path / "runs").glob("*/*")
    return json.loads((run / "metrics.json").read_text()), tmp_path / "saved_models" / "model"


def evaluated(capsys, export, file, *flags, tmp_path):
    capsys.readouterr()
    out = tmp_path / "scores.json"
    assert cli.evaluate_main([str(export), str(file), *flags, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[1].startswith("test: ")
    return json.loads(out.read_text())


def same(got: dict, expected: dict, keys, places=4):
    for key in keys:
        assert got[key] == pytest.approx(expected[key], abs=10**-places), key


@pytest.mark.slow
def test_classify(tmp_path, capsys):
    rng = np.random.default_rng(0)
    words = {"pos": ["great", "fun", "loved", "wonderful"], "neg": ["bad", "boring", "awful", "hated"]}

    def table(path, n):
        rows = [("text", "label", "id")]
        for i in range(n):
            label = ["pos", "neg"][i % 2]
            rows.append(
                (" ".join(rng.choice(words[label] + ["movie", "the", "plot"], 4)) + f" w{i % 7}", label, str(i))
            )
        path.write_text("\n".join(",".join(row) for row in rows) + "\n")
        return path

    train, test = table(tmp_path / "train.csv", 80), table(tmp_path / "test.csv", 30)
    metrics, export = trained(
        tmp_path,
        "task=classify",
        f"data.train={train}",
        f"data.test={test}",
        "backbone.units=8",
        "backbone.embedding_dim=8",
        "train.epochs=2",
        "data.split=word",
        "data.ngrams=[1]",
        "backbone.layers=1",
        "model.wide=tfidf",
        "baseline=false",
    )
    got = evaluated(capsys, export, test, tmp_path=tmp_path)
    same(got["test"], metrics["test"], ["accuracy", "macro_f1", "loss"])
    assert "precision" in got["report"] and got["examples"] == 30
    test.write_text(test.read_text().replace(",neg,", ",sad,", 1))
    assert cli.evaluate_main([str(export), str(test)]) == 2
    assert "label 'sad' (row 2) is not one of the model's labels" in capsys.readouterr().err


@pytest.mark.slow
def test_lm(tmp_path, capsys):
    rng = np.random.default_rng(0)
    words = ["the cat", "a dog", "sat on", "the mat", "ran off", "and then", "it rained"]
    lines = [" ".join(rng.choice(words, 4)) for _ in range(400)]
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    train.write_text("\n".join(lines[:360]) + "\n")
    test.write_text("\n".join(lines[360:]) + "\n")
    # lm's default: the network mixed with Kneser-Ney (the network alone is the same stream, unmixed)
    metrics, export = trained(
        tmp_path,
        "task=lm",
        "data.name=null",
        f"data.train={train}",
        f"data.test={test}",
        "backbone.units=24",
        "backbone.embedding_dim=16",
        "train.epochs=1",
        "data.steps=20",
        "baseline_order=3",
        "model.interpolate=true",
        "model.dynamic=false",
    )
    got = evaluated(capsys, export, test, tmp_path=tmp_path)
    same(got["test"], metrics["test"], ["perplexity", "bits_per_token"])
    assert got["test"]["tokens"] == metrics["test"]["tokens"]


@pytest.mark.slow
def test_caption(tmp_path, capsys):
    import keras

    from tfseq.data.dataset import split_of
    from tfseq.data.files import read_image_captions
    from tfseq.tasks.caption import image_key

    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    rows = ["image,caption"]
    for i in range(90):
        bright = i % 3
        pixels = np.clip(rng.normal(0.2 + 0.3 * bright, 0.05, (8, 8, 3)), 0, 1)
        keras.utils.save_img(folder / f"{i}.png", pixels * 255, scale=False)
        rows.append(f"{i}.png,{['dark', 'grey', 'light'][bright]} square")
    captions = tmp_path / "captions.csv"
    captions.write_text("\n".join(rows) + "\n")
    metrics, export = trained(
        tmp_path,
        "task=caption",
        "data.name=null",
        f"data.images={folder}",
        f"data.captions={captions}",
        "model.filters=[8]",
        "model.units=16",
        "model.embedding_dim=8",
        "train.epochs=2",
    )
    # The run's test split: the rows whose image the hash put there.
    frame = read_image_captions(folder, captions)
    test = tmp_path / "test.csv"
    chosen = [row for row, image in zip(rows[1:], frame["image"]) if split_of(image_key(image)) == "test"]
    test.write_text("\n".join([rows[0], *chosen]) + "\n")
    got = evaluated(capsys, export, test, "--images", str(folder), tmp_path=tmp_path)
    same(got["test"], metrics["test"], ["accuracy", "token_error_rate", "bleu"], places=3)
    assert cli.evaluate_main([str(export), str(test)]) == 2
    assert "pass --images <folder>" in capsys.readouterr().err


def test_bad_calls_are_one_line(tmp_path, capsys):
    assert cli.evaluate_main([str(tmp_path / "none"), str(tmp_path / "x.csv")]) == 2
    assert "no export here" in capsys.readouterr().err
    assert cli.evaluate_main([str(Path(__file__)), "x", "--output", "scores.txt"]) == 2
    assert "expected a file ending in .json" in capsys.readouterr().err
