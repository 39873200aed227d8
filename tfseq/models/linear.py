"""A TF-IDF + logistic-regression term inside the model: the bag-of-n-grams expert.

Our notes contrast bag-of-words with learned sequence models; they also make different errors.
:class:`TfidfLinear` computes, in ``keras.ops`` from the same id tensors the recurrent model
reads, exactly the logits of a scikit-learn ``TfidfTransformer(sublinear_tf=True)`` +
``LogisticRegression`` fitted by :func:`fit_tfidf_linear`. :class:`~tfseq.models.TextClassifier`
adds them to its own logits at prediction (a product of the two experts), so the export still
takes raw text and needs no scikit-learn.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

FIRST_ID = 2  # ids 0 (padding) and 1 (out of vocabulary) are not features, as in scikit-learn


@keras.saving.register_keras_serializable(package="tfseq")
class TfidfLinear(keras.layers.Layer):
    """Logits of a linear model over sublinear TF-IDF, L2-normalised bags of ids.

    Args:
        vocabulary_sizes: ``{"tokens": V, "ngrams_2": V2, ...}``: one bag over all keys.
        outputs: number of logits.

    Weights (not trainable; set by :func:`fit_tfidf_linear`): ``idf_<key>`` (V,),
    ``coef_<key>`` (V, outputs) and ``intercept`` (outputs,). Until fitted, the logits are zero.
    """

    def __init__(self, vocabulary_sizes, outputs, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_sizes = {str(k): int(v) for k, v in vocabulary_sizes.items()}
        self.outputs = int(outputs)
        self.idf, self.coef = {}, {}
        for key, size in self.vocabulary_sizes.items():
            self.idf[key] = self.add_weight(shape=(size,), initializer="zeros", trainable=False, name=f"idf_{key}")
            self.coef[key] = self.add_weight(shape=(size, self.outputs), initializer="zeros", trainable=False,
                                             name=f"coef_{key}")
        self.intercept = self.add_weight(shape=(self.outputs,), initializer="zeros", trainable=False,
                                         name="intercept")
        self.built = True

    def call(self, inputs):
        squared, dot = 0.0, 0.0
        for key in self.vocabulary_sizes:
            ids = ops.convert_to_tensor(inputs[key], dtype="int32")
            valid = ops.cast(ids >= FIRST_ID, "float32")
            # How often each position's id occurs in its text (B, T): a count per distinct id.
            same = ops.cast(ops.equal(ops.expand_dims(ids, 2), ops.expand_dims(ids, 1)), "float32")
            count = ops.maximum(ops.sum(same * ops.expand_dims(valid, 1), axis=2), 1.0)
            weight = (1.0 + ops.log(count)) * ops.take(self.idf[key], ids)  # sublinear tf * idf
            share = valid * weight / count  # each occurrence carries 1/count of its id's weight
            squared = squared + ops.sum(share * weight, axis=1)
            dot = dot + ops.sum(ops.expand_dims(share, -1) * ops.take(self.coef[key], ids, axis=0), axis=1)
        norm = ops.sqrt(ops.maximum(squared, 1e-12))
        return dot / ops.expand_dims(norm, -1) + self.intercept

    def get_config(self):
        return {**super().get_config(), "vocabulary_sizes": self.vocabulary_sizes, "outputs": self.outputs}


def bag_matrix(features: dict, vocabulary_sizes: dict):
    """Count matrix (scipy CSR, rows = texts) of the id tensors, columns = (key, id >= 2)."""
    from scipy import sparse

    blocks = []
    for key, size in vocabulary_sizes.items():
        ids = np.asarray(features[key])
        rows = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
        cols = ids.reshape(-1)
        keep = cols >= FIRST_ID
        blocks.append(sparse.csr_matrix((np.ones(keep.sum(), "float64"), (rows[keep], cols[keep] - FIRST_ID)),
                                        shape=(ids.shape[0], size - FIRST_ID)))
    return sparse.hstack(blocks).tocsr()


def select_logistic_regression(x_train, y_train, x_validation=None, y_validation=None,
                               cs=(1.0, 4.0, 16.0), seed: int = 0):
    """scikit-learn logistic regressions for each C; the most accurate on validation wins
    (the smallest C among ties; the first C without validation data).

    Returns ``(model, C, validation_accuracy)``.
    """
    from sklearn.linear_model import LogisticRegression

    best = None
    for c in cs:
        model = LogisticRegression(C=c, max_iter=3000, random_state=seed).fit(x_train, np.asarray(y_train))
        score = float(model.score(x_validation, y_validation)) if x_validation is not None else 0.0
        if best is None or score > best[2]:
            best = (model, c, score)
    return best


def fit_tfidf_linear(layer: TfidfLinear, train: tuple, validation: tuple | None = None,
                     cs=(1.0, 4.0, 16.0), seed: int = 0) -> dict:
    """Fit ``layer`` with scikit-learn on ``(features, class_ids)``; C chosen on ``validation``.

    Two classes give one decision value d, stored as the logits ``(0, d)`` when the layer has two
    outputs (softmax of those is sigmoid(d)); more classes use the multinomial model.
    Returns ``{"C": ..., "validation_accuracy": ...}``.
    """
    from sklearn.feature_extraction.text import TfidfTransformer

    sizes = layer.vocabulary_sizes
    tfidf = TfidfTransformer(sublinear_tf=True)
    x_train = tfidf.fit_transform(bag_matrix(train[0], sizes))
    x_validation = tfidf.transform(bag_matrix(validation[0], sizes)) if validation is not None else None
    model, c, score = select_logistic_regression(
        x_train, train[1], x_validation, validation[1] if validation is not None else None, cs=cs, seed=seed)
    coef, intercept = model.coef_.T, model.intercept_  # (F, K) or (F, 1) for two classes
    if layer.outputs != coef.shape[1]:
        if coef.shape[1] != 1 or layer.outputs != 2:
            raise ValueError(f"{layer.outputs} outputs cannot hold a model with {coef.shape[1]} logits")
        coef = np.concatenate([np.zeros_like(coef), coef], axis=1)
        intercept = np.concatenate([[0.0], intercept])
    if list(model.classes_) != list(range(len(model.classes_))):
        raise ValueError(f"labels must be class ids 0..K-1 (all present in train), got {model.classes_}")
    start = 0
    for key, size in sizes.items():
        idf = np.zeros(size, "float32")
        idf[FIRST_ID:] = tfidf.idf_[start:start + size - FIRST_ID]
        weights = np.zeros((size, layer.outputs), "float32")
        weights[FIRST_ID:] = coef[start:start + size - FIRST_ID]
        layer.idf[key].assign(idf)
        layer.coef[key].assign(weights)
        start += size - FIRST_ID
    layer.intercept.assign(np.asarray(intercept, "float32"))
    return {"C": c, "validation_accuracy": float(score)}
