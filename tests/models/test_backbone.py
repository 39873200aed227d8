"""RecurrentBackbone: the part task models take whole, and the recipes' backbone: section."""

import keras
import numpy as np
import pytest

from tfseq import recipes, tasks
from tfseq.models import LanguageModel, RecurrentBackbone, Seq2Seq, SequenceTagger, TextClassifier

X = np.array([[3, 4, 5, 0], [6, 0, 0, 0]])


def test_each_recipes_backbone_section_is_the_backbones_own_arguments():
    # Adding a backbone option is an argument of RecurrentBackbone and its default in tasks/base.yaml:
    # every recipe that has a backbone passes the section as it is (Task.backbone).
    config = RecurrentBackbone({"tokens": 5}).get_config()
    chosen = (
        set(config)
        - set(RecurrentBackbone.WIRING)
        - {"name", "trainable", "dtype", "vocabulary_sizes", "fixed_tokens", "rare_tokens"}
    )
    with_backbone = 0
    for recipe in tasks.RECIPES:
        section = recipes.load_recipe(recipe).get("backbone")
        if section is not None:
            with_backbone += 1
            assert set(section) == chosen, recipe
    assert with_backbone >= 5  # classify, tag, tag-en, lm, lm-classic, seq2seq; caption and word2vec say null


def test_rare_dropout_makes_only_the_words_seen_once_unknown():
    import tensorflow as tf

    from tfseq import data
    from tfseq.models.backbone import drop_tokens

    vec = data.TextVectorizer().adapt(["a a a b b c d", "a b e"])  # c, d and e are seen once: the last ids
    assert vec.singletons == 3 and vec.vocabularies[1][-3:] == ["c", "d", "e"]
    vec.extend(["zebra", "yak"])  # words an embedding file adds come after them, never dropped
    backbone = RecurrentBackbone(vec.vocabulary_sizes(), rare_dropout=0.5, rare_tokens=vec.singletons, fixed_tokens=2)
    start, stop = backbone.rare_ids
    assert [int(i) for i in vec(tf.constant(["c e"]))["tokens"][0]] == [start, stop - 1]
    ids = np.tile(np.arange(0, 9), (4000, 1))  # padding, OOV, a, b, c, d, e, zebra, yak
    dropped = np.asarray(drop_tokens(ids, 0.5, keras.random.SeedGenerator(1), backbone.rare_ids)) != ids
    assert not dropped[:, [0, 1, 2, 3, 7, 8]].any()
    np.testing.assert_allclose(dropped[:, 4:7].mean(axis=0), 0.5, atol=0.04)
    assert RecurrentBackbone.from_config(backbone.get_config()).rare_ids == (start, stop)


def test_weight_dropout_reaches_every_recurrent_cell_and_leaves_the_dropout_free_copy():
    backbone = RecurrentBackbone({"tokens": 9}, cell="lstm", units=4, layers=2, bidirectional=True, weight_dropout=0.4)
    cells = [cell for layer in backbone.recurrent for cell in (layer.forward_layer.cell, layer.backward_layer.cell)]
    assert len(cells) == 4 and all(cell.weight_dropout == 0.4 for cell in cells)
    assert RecurrentBackbone.from_config(backbone.get_config()).recurrent[1].backward_layer.cell.weight_dropout == 0.4
    model = LanguageModel(RecurrentBackbone({"tokens": 9}, units=4, weight_dropout=0.4, return_state=True), line_end=2)
    model(X)
    assert model.backbone.recurrent[0].cell.weight_dropout == 0.4
    assert model.without_dropout().backbone.recurrent[0].cell.weight_dropout == 0.0


def test_a_task_model_takes_the_backbone_whole_and_rewires_a_copy_only_when_it_must():
    backbone = RecurrentBackbone({"tokens": 20}, cell="lstm", units=4, embedding_dim=4, bidirectional=True)
    pooled = TextClassifier(backbone, 2, pooling="max")
    assert pooled.backbone is backbone
    last = TextClassifier(backbone, 2, pooling="last")  # needs the final output: a copy, same weights
    assert last.backbone is not backbone and not last.backbone.sequences_out
    assert all(np.array_equal(a, b) for a, b in zip(last.backbone.get_weights(), backbone.get_weights()))
    assert last.backbone.get_weights()  # (built to copy them)
    from_config = TextClassifier({"vocabulary_sizes": {"tokens": 20}, "units": 4, "embedding_dim": 4}, 2)
    assert from_config.backbone.get_config()["units"] == 4
    with pytest.raises(ValueError, match="must not be bidirectional"):
        LanguageModel(backbone, line_end=2)
    with pytest.raises(TypeError, match="backbone must be a RecurrentBackbone"):
        TextClassifier(keras.layers.GRU(4), 2)


def legacy(config: dict, vocabulary_key: str) -> dict:
    """``config`` as task models saved it before they took ``backbone=``: its keys at the top."""
    config = dict(config)
    backbone = config.pop("backbone")["config"]
    config[vocabulary_key] = backbone["vocabulary_sizes"]
    for key in (
        "cell",
        "units",
        "layers",
        "bidirectional",
        "embedding_dim",
        "dropout",
        "token_dropout",
        "char_cnn",
        "fixed_tokens",
    ):
        config[key] = backbone[key]
    return config


@pytest.mark.parametrize("kind", ["classifier", "tagger", "lm", "seq2seq"])
def test_configs_saved_before_backbone_load_with_the_same_weights(kind, tmp_path):
    backbone = RecurrentBackbone({"tokens": 20}, units=4, embedding_dim=4, layers=2, bidirectional=kind != "lm")
    model, x, key = {
        "classifier": (lambda: TextClassifier(backbone, 3, pooling="last"), {"tokens": X}, "vocabulary_sizes"),
        "tagger": (lambda: SequenceTagger(backbone, 3), {"tokens": X}, "vocabulary_sizes"),
        "lm": (lambda: LanguageModel(backbone, line_end=2), X, "vocabulary_size"),
        "seq2seq": (lambda: Seq2Seq(backbone, 9), {"source": X, "target": X % 9}, "source_vocabulary"),
    }[kind]
    model = model()
    expected = np.asarray(model(x))
    model.save_weights(tmp_path / "m.weights.h5")
    old = legacy(model.get_config(), key)
    if kind == "lm":
        old["vocabulary_size"] = old["vocabulary_size"]["tokens"]
        old.pop("bidirectional"), old.pop("token_dropout"), old.pop("char_cnn"), old.pop("fixed_tokens")
    loaded = type(model).from_config(old)
    loaded(x)
    loaded.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(loaded(x), expected, rtol=1e-6)
    assert "backbone" in loaded.get_config()
