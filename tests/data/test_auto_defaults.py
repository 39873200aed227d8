"""Defaults chosen from the data: the split by script, n-grams and lengths, LM prompts."""

import numpy as np
import pytest

from tfseq import cli, recipes
from tfseq.data.language import detect_split, length_cap

ENGLISH = ["the film was great fun", "a dull and boring plot", "I loved the acting", "not worth it at all"]
CHINESE = ["这本书很好看", "质量太差了", "物流很快，包装也好", "不推荐购买"]


@pytest.mark.parametrize(
    "texts,split",
    [
        (ENGLISH, "word"),
        (CHINESE, "character"),
        (["日本語のテキストです", "東京は大きい"], "character"),  # Japanese: kanji and kana
        (["ภาษาไทยไม่มีช่องว่าง ระหว่างคำ", "สวัสดีครับ"], "character"),  # Thai
        (["한국어는 띄어쓰기를 합니다", "좋은 영화"], "word"),  # Korean separates words by spaces
        (["我用iPhone拍照 很清楚", "这个app很好用"], "character"),  # mostly Chinese, some English
        (["I watched 卧虎藏龙 last night and loved it", "great movie"], "word"),  # mostly English
        (["123 456", "7 8 9", "3.14 2.71"], "word"),  # digits only: no letters
        (["👍 🎉", "😀 😀 😀", "🔥"], "word"),  # emoji only
        (["abbey", "zebra", "tfseq", "Naïve"], "character"),  # one word each (grapheme-to-phoneme)
        (["", "  "], "word"),
    ],
)
def test_detect_split_by_script(texts, split):
    chosen, reason = detect_split(texts)
    assert chosen == split and reason


@pytest.mark.parametrize(
    "texts,split",
    [
        (["Go.", "Hello, world!", "I'm here."], "wordpunct"),  # translation pairs: punctuation on words
        (["AE1 B IY0", "K AE1 T", "D AO1 G"], "word"),  # phonemes: no punctuation
        (ENGLISH, "word"),
        (CHINESE, "character"),
    ],
)
def test_detect_split_with_punctuation_cuts_it_from_words(texts, split):
    chosen, reason = detect_split(texts, punctuation=True)
    assert chosen == split and reason
    assert detect_split(texts)[0] == ("word" if split == "wordpunct" else split)


def test_length_cap():
    assert length_cap(range(1, 101)) == (100, length_cap(range(1, 101))[1])  # 95 -> 100
    assert length_cap([3] * 100)[0] == 50 and length_cap([2000] * 100)[0] == 400
    value, reason = length_cap(list(range(1, 190)) + [5000] * 5)
    assert value == 200 and "95th percentile" in reason and "cuts 2.6%" in reason


def trainer_on(tmp_path, texts, *extra, task="classify"):
    """The ``task`` of a recipe over a small table of ``texts`` (not trained), and its log."""
    from tfseq import tasks
    from tfseq.train.run_folder import RunFolder

    tmp_path.mkdir(parents=True, exist_ok=True)
    table = tmp_path / "train.csv"
    rows = [f"{text} {i},{'pos' if i % 2 else 'neg'}" for i in range(80) for text in texts[i % len(texts) :][:1]]
    table.write_text("text,label\n" + "\n".join(rows) + "\n")
    config = recipes.resolve(
        task, [("data.train", str(table)), ("run.dir", str(tmp_path / "run")), *(tuple(e.split("=", 1)) for e in extra)]
    )
    logged = []
    return tasks.task_class(task)(config, RunFolder(path=config.run.dir), log=logged.append), logged


def test_classify_chooses_split_ngrams_and_length_from_the_text(tmp_path):
    import tensorflow as tf

    from tfseq import export

    trainer, logged = trainer_on(tmp_path, ENGLISH)
    trainer.prepare()
    data = trainer.config.data
    assert (data.split, list(data.ngrams), list(data.char_ngrams), data.max_length) == ("word", [1, 2], [2, 5], 50)
    assert any(line.startswith("auto: data.split=word (") for line in logged)
    assert trainer.preprocessor.tokenizer.split == "word" and trainer.preprocessor.tokenizer.char_ngrams == (2, 5)
    # The export splits as training did: its ids are the training ids.
    path = export.save(
        export.Serving(lambda m, text: {"ids": m.preprocessor(text)["tokens"]}, [], trainer.preprocessor),
        tmp_path / "export",
    )
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    texts = trainer.dataset.train["text"].tolist()
    ids = served(text=tf.constant(texts))["ids"].numpy()
    trained = trainer.features["train"]["tokens"]
    width = max(ids.shape[1], trained.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, width - a.shape[1])))  # noqa: E731
    np.testing.assert_array_equal(pad(ids), pad(trained))

    chinese, logged = trainer_on(tmp_path / "zh", CHINESE)
    chinese.prepare()
    data = chinese.config.data
    assert (data.split, list(data.ngrams), data.char_ngrams) == ("character", [1, 2, 3, 4], None)
    # Explicit values win over auto.
    fixed, _ = trainer_on(tmp_path / "fixed", ENGLISH, "data.split=character", "data.max_length=7")
    fixed.prepare()
    assert fixed.config.data.split == "character" and fixed.config.data.max_length == 7


def test_auto_is_refused_where_a_task_has_no_auto(capsys):
    assert cli.train_main(["task=tag-en", "data.ngrams=auto"]) == 2
    assert "data.ngrams='auto': expected a list of n-gram orders" in capsys.readouterr().err
    assert cli.train_main(["task=classify", "data.max_length=-3"]) == 2
    assert "data.max_length=-3: expected auto, a positive number" in capsys.readouterr().err


def test_lm_prompt_foreign_to_the_data_is_replaced_by_its_first_word(tmp_path):
    text = tmp_path / "book.txt"
    text.write_text("First Citizen: before we proceed\nAll: speak, speak\n" * 20)
    from tfseq.tasks.lm import LanguageModelTask
    from tfseq.train.run_folder import RunFolder

    config = recipes.resolve("lm", [("data.train", str(text)), ("run.dir", str(tmp_path / "run"))])
    logged = []
    trainer = LanguageModelTask(config, RunFolder(path=config.run.dir), log=logged.append)
    trainer.prepare()
    assert list(trainer.config.generate.prompts) == ["", "First"]
    assert any("'中国': no token of it is in the training vocabulary" in line for line in logged)
