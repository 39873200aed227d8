"""benchmarks/translate_quality.py: Debian's translated package descriptions -> sentence pairs."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from tfseq import recipes

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the benchmarks import their neighbours (runs.py), as when run as scripts
spec = importlib.util.spec_from_file_location("translate_quality", BENCHMARKS / "translate_quality.py")
translate_quality = importlib.util.module_from_spec(spec)
spec.loader.exec_module(translate_quality)

ENGLISH = """Package: tool
Description-md5: aaa
Description-en: a small tool
 It reads files. It writes them
 back.
 .
 Features:
  * fast
 .
 One sentence. Two sentences.

Package: other
Description-md5: bbb
Description-en: untranslated package
"""
FRENCH = """Package: tool
Description-md5: aaa
Description-fr: un petit outil
 Il lit des fichiers. Il les
 réécrit.
 .
 Fonctionnalités :
  * rapide
 .
 Une seule phrase, deux propositions.
"""


def test_pairs_descriptions_by_md5_sentence_by_sentence(tmp_path):
    (tmp_path / "x_main_i18n_Translation-en").write_text(ENGLISH, encoding="utf-8")
    (tmp_path / "x_main_i18n_Translation-fr").write_text(FRENCH, encoding="utf-8")
    english = translate_quality.descriptions(tmp_path, "en")
    french = translate_quality.descriptions(tmp_path, "fr")
    assert set(english) == {"aaa", "bbb"} and set(french) == {"aaa"}
    pairs, stats = translate_quality.sentence_pairs(english, french, "fr")
    assert pairs == [
        ("a small tool", "un petit outil"),
        ("It reads files.", "Il lit des fichiers."),
        ("It writes them back.", "Il les réécrit."),
    ]
    assert stats["list paragraphs (skipped)"] == 1
    assert stats["paragraphs with unequal sentences (skipped)"] == 1


def test_a_folder_without_the_lists_says_what_it_needs(tmp_path):
    with pytest.raises(SystemExit, match=r"Translation-fr"):
        translate_quality.descriptions(tmp_path, "fr")


def test_the_default_recipe_gives_sentences_the_benchmarks_settings(tmp_path):
    # A user who passes only a file of sentence pairs gets what the translation benchmark sets
    # with overrides (auto keys), and a file of words to spell gets grapheme-to-phoneme's.
    import yaml
    from omegaconf import OmegaConf

    from tfseq.tasks.seq2seq import Seq2SeqTask
    from tfseq.train.run_folder import RunFolder

    rng = np.random.default_rng(0)
    words = ["the", "cat", "sees", "a", "dog", "in", "house", "small", "big", "red"]
    sentences = tmp_path / "pairs.tsv"
    sentences.write_text(
        "".join(
            f"{' '.join(rng.choice(words, 5)).capitalize()}.\tLe {' '.join(rng.choice(words, 4))}.\n"
            for _ in range(300)
        )
    )
    spelled = tmp_path / "g2p.tsv"
    spelled.write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in words * 30))

    def prepared(path, *extra):
        config = recipes.resolve("seq2seq", [("data.train", str(path)), ("data.subwords", "40"), *extra])
        Seq2SeqTask(
            config, RunFolder(str(tmp_path / "runs"), "seq2seq", path=str(tmp_path / path.stem)), log=lambda *a: None
        ).prepare()
        return config

    config = prepared(sentences)
    for override in translate_quality.RECIPE:
        key, value = override.split("=", 1)
        expected = 40 if key == "data.subwords" else yaml.safe_load(value)  # 8000: the recipe's default
        assert OmegaConf.select(config, key) == expected, key
    assert recipes.resolve("seq2seq", []).data.subwords == 8000
    g2p = prepared(spelled)
    assert (
        g2p.data.source_split,
        g2p.data.target_split,
        g2p.train.epochs,
        g2p.model.tie_embeddings,
        g2p.generate.max_length,
    ) == ("character", "word", 8, False, 30)
    assert prepared(sentences, ("train.epochs", "2")).train.epochs == 2  # a given value is kept


def test_without_tensorflow_text_sentences_are_words_and_punctuation_and_it_says_why(tmp_path, monkeypatch):
    import importlib.util

    from tfseq.tasks.seq2seq import Seq2SeqTask
    from tfseq.train.run_folder import RunFolder

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow_text" else find_spec(name, *a)
    )
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"The cat sees {i} dogs.\tLe chat voit {i} chiens.\n" for i in range(200)))
    logged = []
    config = recipes.resolve("seq2seq", [("data.train", str(pairs))])
    Seq2SeqTask(
        config, RunFolder(str(tmp_path / "runs"), "seq2seq", path=str(tmp_path / "run")), log=logged.append
    ).prepare()
    assert (config.data.source_split, config.data.target_split, config.model.tie_embeddings) == (
        "wordpunct",
        "wordpunct",
        True,
    )
    assert any("pip install 'tfseq[subword]'" in line for line in logged)
