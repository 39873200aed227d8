"""The in-graph bag-of-n-grams experts equal scikit-learn's models; the fitted mix of logits."""

import keras
import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression

from tfseq import data
from tfseq.models import (
    BagLinear,
    RecurrentBackbone,
    TextClassifier,
    fit_expert_weights,
    fit_nb_linear,
    fit_tfidf_linear,
)
from tfseq.models.linear import bag_matrix

TEXTS = [
    "good good fun film",
    "bad boring film",
    "fun and good",
    "awful bad bad plot",
    "",
    "good plot twist",
    "boring awful",
    "unseen words only",
] * 6


def vectorized(classes=2):
    # Word 1-2-grams and the words' character 2-4-grams (a bag in which grams repeat: "oo", "bad").
    vec = data.TextVectorizer(split="word", ngrams=(1, 2), char_ngrams=(2, 4))
    vec.adapt(TEXTS[:-8])
    features = {k: v.numpy() for k, v in vec(np.array(TEXTS)).items()}
    labels = np.array([i % classes for i in range(len(TEXTS))])
    sizes = vec.vocabulary_sizes()
    assert set(sizes) == set(features) == {"tokens", "ngrams_2", "chars"}
    return features, labels, sizes


def test_distinct_counts_of_each_row():
    from tfseq.models.linear import distinct_counts

    ids = np.array([[5, 3, 5, 0, 0], [2, 2, 2, 2, 7], [0, 0, 0, 0, 0]], "int32")
    distinct, counts = (np.asarray(t) for t in distinct_counts(ids))
    for row, d, c in zip(ids, distinct, counts):
        values, expected = np.unique(row, return_counts=True)
        assert dict(zip(d[c > 0].tolist(), c[c > 0].tolist())) == dict(zip(values.tolist(), expected.tolist()))
        assert np.all(d[c == 0] == 0)


@pytest.mark.parametrize("classes,outputs", [(2, 2), (2, 1), (3, 3)])
def test_logits_equal_scikit_learn(classes, outputs):
    features, labels, sizes = vectorized(classes)
    layer = BagLinear(sizes, outputs)
    fitted = fit_tfidf_linear(layer, (features, labels), (features, labels), cs=(1.0,))
    assert fitted["C"] == 1.0
    # The same model, fitted directly on scikit-learn's own TF-IDF of the same bags.
    x = TfidfTransformer(sublinear_tf=True).fit_transform(bag_matrix(features, sizes))
    reference = LogisticRegression(C=1.0, max_iter=3000, random_state=0).fit(x, labels).decision_function(x)
    logits = np.asarray(layer(features))
    if classes == 2 and outputs == 2:
        logits = logits[:, 1] - logits[:, 0]
    elif outputs == 1:
        logits = logits[:, 0]
    np.testing.assert_allclose(logits, reference, atol=1e-4)
    empty = TEXTS.index("")
    assert np.all(np.isfinite(logits)) and np.allclose(logits[empty], reference[empty], atol=1e-5)


@pytest.mark.parametrize("classes,outputs", [(2, 2), (2, 1), (3, 3)])
def test_nb_logits_equal_scikit_learn_on_ratio_scaled_binary_bags(classes, outputs):
    from scipy import sparse

    features, labels, sizes = vectorized(classes)
    layer = BagLinear(sizes, outputs, weighting="nb")
    fitted = fit_nb_linear(layer, (features, labels), (features, labels), cs=(1.0,))
    assert fitted["C"] == 1.0 and 0.0 <= fitted["validation_accuracy"] <= 1.0
    x = (bag_matrix(features, sizes) > 0).astype(float)
    logits = np.asarray(layer(features))
    for column, k in enumerate([1] if classes == 2 else range(classes)):
        positive = labels == k
        p = 1 + np.asarray(x[positive].sum(0)).ravel()
        q = 1 + np.asarray(x[~positive].sum(0)).ravel()
        r = np.log(p / p.sum()) - np.log(q / q.sum())
        scaled = x @ sparse.diags(r)
        reference = LogisticRegression(C=1.0, max_iter=3000, random_state=0).fit(scaled, positive.astype(int))
        got = logits[:, 1] - logits[:, 0] if (classes, outputs) == (2, 2) else logits[:, column]
        np.testing.assert_allclose(got, reference.decision_function(scaled), atol=1e-4)
    with pytest.raises(ValueError, match="weighting"):
        fit_tfidf_linear(layer, (features, labels))
    with pytest.raises(ValueError, match="weighting"):
        BagLinear(sizes, outputs, weighting="bm25")


@pytest.mark.parametrize("head,outputs", [("multiclass", 3), ("binary", 1)])
def test_expert_weights_learn_which_member_to_trust(head, outputs):
    rng = np.random.default_rng(0)
    n = 600
    targets = rng.integers(0, 2 if head == "binary" else outputs, n)
    truth = np.eye(2)[targets][:, 1:] * 2 - 1 if head == "binary" else np.eye(outputs)[targets] * 2 - 1
    good = 3.0 * truth + rng.normal(size=truth.shape)  # informative logits
    noise = 3.0 * rng.normal(size=truth.shape)  # an expert that knows nothing
    w, b = fit_expert_weights(np.stack([noise, good], axis=1), targets, head=head)
    assert w.shape == (2,) and b.shape == (outputs,)
    assert w[1] > 0.5 and abs(w[0]) < 0.1 * w[1]
    # An expert that is wrong on a handful of held-out texts is left out, never turned around.
    few = np.stack([-good[:4], good[:4]], axis=1)
    w, _ = fit_expert_weights(few, targets[:4], head=head)
    assert w[0] == 0.0 and w[1] > 0


def test_classifier_adds_the_fitted_expert_at_prediction_only(tmp_path):
    features, labels, sizes = vectorized()
    model = TextClassifier(RecurrentBackbone(sizes, units=4, embedding_dim=4), 2, wide="tfidf+nb")
    model(features)
    x = {k: v[:4] for k, v in features.items()}
    before = np.asarray(model(x))
    fit_tfidf_linear(model.experts["tfidf"], (features, labels), cs=(4.0,))
    fit_nb_linear(model.experts["nb"], (features, labels), cs=(1.0,))
    after = np.asarray(model(x))
    assert not np.allclose(before, after)  # prediction includes the fitted logits
    parts = np.asarray(model.logit_parts(x))  # network, tfidf, nb
    assert parts.shape == (4, 3, 2)
    np.testing.assert_allclose(parts[:, 1], np.asarray(model.experts["tfidf"](x)), atol=1e-6)
    np.testing.assert_allclose(after, keras.ops.softmax(parts.sum(axis=1)), atol=1e-5)  # mix starts at ones
    model.mix.w.assign([1.0, 0.0, 2.0])
    mixed = np.asarray(model(x))
    np.testing.assert_allclose(mixed, keras.ops.softmax(parts[:, 0] + 2 * parts[:, 2]), atol=1e-5)
    assert not model.experts["tfidf"].trainable_weights and not model.mix.trainable_weights
    path = tmp_path / "m.keras"
    model.save(path)
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(path)(x)), mixed, atol=1e-6)
    with pytest.raises(ValueError, match="wide="):
        TextClassifier(RecurrentBackbone(sizes), 2, wide="deep")
    with pytest.raises(ValueError, match="multilabel"):
        TextClassifier(RecurrentBackbone(sizes), 3, head="multilabel", wide="tfidf")
