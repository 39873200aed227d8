"""benchmarks/translate_quality.py: Debian's translated package descriptions -> sentence pairs."""

import importlib.util
import sys
from pathlib import Path

import pytest

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
    assert pairs == [("a small tool", "un petit outil"), ("It reads files.", "Il lit des fichiers."),
                     ("It writes them back.", "Il les réécrit.")]
    assert stats["list paragraphs (skipped)"] == 1
    assert stats["paragraphs with unequal sentences (skipped)"] == 1


def test_a_folder_without_the_lists_says_what_it_needs(tmp_path):
    with pytest.raises(SystemExit, match=r"Translation-fr"):
        translate_quality.descriptions(tmp_path, "fr")
