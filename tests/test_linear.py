"""The in-graph TF-IDF + logistic regression term equals scikit-learn's."""

import keras
import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression

from tfseq import data
from tfseq.models import TextClassifier, TfidfLinear, fit_tfidf_linear
from tfseq.models.linear import bag_matrix

TEXTS = ["good good fun film", "bad boring film", "fun and good", "awful bad bad plot", "",
         "good plot twist", "boring awful", "unseen words only"] * 6


def vectorized(classes=2):
    vec = data.TextVectorizer(split="word", ngrams=(1, 2))
    vec.adapt(TEXTS[:-8])
    features = {k: v.numpy() for k, v in vec(np.array(TEXTS)).items()}
    labels = np.array([i % classes for i in range(len(TEXTS))])
    sizes = {k: vec.vocabulary_size(1 if k == "tokens" else int(k.split("_")[1])) for k in features}
    return features, labels, sizes


@pytest.mark.parametrize("classes,outputs", [(2, 2), (2, 1), (3, 3)])
def test_logits_equal_scikit_learn(classes, outputs):
    features, labels, sizes = vectorized(classes)
    layer = TfidfLinear(sizes, outputs)
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


def test_classifier_adds_the_fitted_expert_at_prediction_only(tmp_path):
    features, labels, sizes = vectorized()
    model = TextClassifier(sizes, 2, cell="gru", units=4, embedding_dim=4, wide="tfidf")
    model(features)
    x = {k: v[:4] for k, v in features.items()}
    before = np.asarray(model(x))
    fit_tfidf_linear(model.linear, (features, labels), cs=(4.0,))
    after = np.asarray(model(x))
    assert not np.allclose(before, after)  # prediction includes the fitted logits
    assert not model.linear.trainable_weights  # scikit-learn's fit is not changed by training
    path = tmp_path / "m.keras"
    model.save(path)
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(path)(x)), after, atol=1e-6)
    with pytest.raises(ValueError, match="wide="):
        TextClassifier(sizes, 2, wide="deep")
    with pytest.raises(ValueError, match="multilabel"):
        TextClassifier(sizes, 3, head="multilabel", wide="tfidf")
