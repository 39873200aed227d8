"""Bag-of-n-grams linear models inside the model: the experts beside the recurrent network.

Our notes contrast bag-of-words with learned sequence models; they also make different errors.
:class:`BagLinear` computes, in ``keras.ops`` from the same id tensors the recurrent model reads,
exactly the logits of a scikit-learn linear model fitted on those ids:

- ``weighting="tfidf"``: ``TfidfTransformer(sublinear_tf=True)`` + ``LogisticRegression``
  (:func:`fit_tfidf_linear`);
- ``weighting="nb"``: NBSVM (Wang & Manning 2012): binary presence features scaled by the
  naive-Bayes log-count ratio, then a logistic regression (:func:`fit_nb_linear`). The ratio
  folds into the coefficients, so in the graph it is a linear model over the distinct ids.

:class:`~tfseq.models.TextClassifier` adds the experts' logits to its own at prediction, each
with a weight fitted on validation data (:func:`fit_expert_weights`), so the export still takes
raw text and needs no scikit-learn.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfseq import choices

FIRST_ID = 2  # ids 0 (padding) and 1 (out of vocabulary) are not features, as in scikit-learn


WEIGHTINGS = choices.EXPERTS


@keras.saving.register_keras_serializable(package="tfseq")
class BagLinear(keras.layers.Layer):
    """Logits of a linear model over the bag of ids of each text.

    Args:
        vocabulary_sizes: ``{"tokens": V, "ngrams_2": V2, ...}``: one bag over all keys.
        outputs: number of logits.
        weighting: ``"tfidf"`` (sublinear tf x idf, L2-normalised; :func:`fit_tfidf_linear`) or
            ``"nb"`` (each distinct id counts once, no normalisation; :func:`fit_nb_linear`).

    Weights (not trainable; set by the fit functions): ``idf_<key>`` (V,, tfidf only),
    ``coef_<key>`` (V, outputs) and ``intercept`` (outputs,). Until fitted, the logits are zero.
    """

    def __init__(self, vocabulary_sizes, outputs, weighting="tfidf", **kwargs):
        super().__init__(**kwargs)
        if weighting not in WEIGHTINGS:
            raise ValueError(f"Unknown weighting={weighting!r}: expected one of {WEIGHTINGS}.")
        self.vocabulary_sizes = {str(k): int(v) for k, v in vocabulary_sizes.items()}
        self.outputs = int(outputs)
        self.weighting = weighting
        self.idf, self.coef = {}, {}
        for key, size in self.vocabulary_sizes.items():
            if weighting == "tfidf":
                self.idf[key] = self.add_weight(shape=(size,), initializer="zeros", trainable=False, name=f"idf_{key}")
            self.coef[key] = self.add_weight(
                shape=(size, self.outputs), initializer="zeros", trainable=False, name=f"coef_{key}"
            )
        self.intercept = self.add_weight(shape=(self.outputs,), initializer="zeros", trainable=False, name="intercept")
        self.built = True

    def call(self, inputs):
        squared, dot = 0.0, 0.0
        for key in self.vocabulary_sizes:
            ids, count = distinct_counts(ops.convert_to_tensor(inputs[key], dtype="int32"))
            valid = ops.cast(ids >= FIRST_ID, "float32")  # also 0 where a row has fewer distinct ids
            if self.weighting == "tfidf":
                weight = (1.0 + ops.log(ops.maximum(count, 1.0))) * ops.take(self.idf[key], ids)  # sublinear tf * idf
            else:
                weight = ops.ones_like(count)  # binary: present or not
            weight = valid * weight
            squared = squared + ops.sum(weight * weight, axis=1)
            dot = dot + ops.sum(ops.expand_dims(weight, -1) * ops.take(self.coef[key], ids, axis=0), axis=1)
        if self.weighting == "tfidf":
            dot = dot / ops.expand_dims(ops.sqrt(ops.maximum(squared, 1e-12)), -1)
        return dot + self.intercept

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_sizes": self.vocabulary_sizes,
            "outputs": self.outputs,
            "weighting": self.weighting,
        }


def distinct_counts(ids):
    """Each row's distinct ids and how often each occurs: ``(ids, counts)``, both (batch, T).

    Sorting puts equal ids next to each other; the k-th run of a row gives its k-th distinct id
    and the run's length. Rows with fewer than T distinct ids end in entries with count 0. This
    costs a sort, O(T log T) a row, where comparing every pair of positions costs O(T^2) memory.
    """
    ids = ops.sort(ids, axis=1)
    width = ops.shape(ids)[1]
    position = ops.expand_dims(ops.arange(width, dtype="int32"), 0) + ops.zeros_like(ids)
    first = ops.concatenate([ops.ones_like(ids[:, :1], dtype="bool"), ops.not_equal(ids[:, 1:], ids[:, :-1])], axis=1)
    starts = ops.sort(ops.where(first, position, width), axis=1)  # run starts, then `width`
    ends = ops.concatenate([starts[:, 1:], ops.full_like(starts[:, :1], width)], axis=1)
    distinct = ops.take_along_axis(ids, ops.minimum(starts, width - 1), axis=1)
    distinct = ops.where(starts < width, distinct, ops.zeros_like(distinct))  # padding past the runs
    return distinct, ops.cast(ends - starts, "float32")


def bag_matrix(features: dict, vocabulary_sizes: dict):
    """Count matrix (scipy CSR, rows = texts) of the id tensors, columns = (key, id >= 2)."""
    from scipy import sparse

    blocks = []
    for key, size in vocabulary_sizes.items():
        ids = np.asarray(features[key])
        rows = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
        cols = ids.reshape(-1)
        keep = cols >= FIRST_ID
        blocks.append(
            sparse.csr_matrix(
                (np.ones(keep.sum(), "float64"), (rows[keep], cols[keep] - FIRST_ID)),
                shape=(ids.shape[0], size - FIRST_ID),
            )
        )
    return sparse.hstack(blocks).tocsr()


def select_logistic_regression(
    x_train, y_train, x_validation=None, y_validation=None, cs=(1.0, 4.0, 16.0), seed: int = 0
):
    """scikit-learn logistic regressions for each C; the most accurate on validation wins
    (the smallest C among ties; the first C without validation data). Multi-hot ``y`` (2-D):
    one regression per label (one-vs-rest), scored by exact-set accuracy.

    Returns ``(model, C, validation_accuracy)``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    best = None
    for c in cs:
        model = LogisticRegression(C=c, max_iter=3000, random_state=seed)
        if np.ndim(y_train) == 2:
            model = OneVsRestClassifier(model)
        model = model.fit(x_train, np.asarray(y_train))
        score = float(model.score(x_validation, y_validation)) if x_validation is not None else 0.0
        if best is None or score > best[2]:
            best = (model, c, score)
    return best


def _store(layer: BagLinear, coef, intercept, classes, idf=None):
    """Write scikit-learn's ``coef`` (F, K or 1) and ``intercept`` into ``layer``'s weights."""
    coef, intercept = np.asarray(coef), np.asarray(intercept)
    if layer.outputs != coef.shape[1]:
        if coef.shape[1] != 1 or layer.outputs != 2:
            raise ValueError(f"{layer.outputs} outputs cannot hold a model with {coef.shape[1]} logits")
        # Two classes give one decision value d, stored as the logits (0, d): softmax is sigmoid(d).
        coef = np.concatenate([np.zeros_like(coef), coef], axis=1)
        intercept = np.concatenate([[0.0], intercept])
    if list(classes) != list(range(len(classes))):
        raise ValueError(f"labels must be class ids 0..K-1 (all present in train), got {list(classes)}")
    start = 0
    for key, size in layer.vocabulary_sizes.items():
        if idf is not None:
            column = np.zeros(size, "float32")
            column[FIRST_ID:] = idf[start : start + size - FIRST_ID]
            layer.idf[key].assign(column)
        weights = np.zeros((size, layer.outputs), "float32")
        weights[FIRST_ID:] = coef[start : start + size - FIRST_ID]
        layer.coef[key].assign(weights)
        start += size - FIRST_ID
    layer.intercept.assign(np.asarray(intercept, "float32"))


def fit_tfidf_linear(
    layer: BagLinear, train: tuple, validation: tuple | None = None, cs=(1.0, 4.0, 16.0), seed: int = 0
) -> dict:
    """Fit a ``weighting="tfidf"`` layer with scikit-learn on ``(features, class_ids)``.

    C is chosen on ``validation``; more than two classes use the multinomial model.
    Returns ``{"C": ..., "validation_accuracy": ...}``.
    """
    from sklearn.feature_extraction.text import TfidfTransformer

    if layer.weighting != "tfidf":
        raise ValueError(f"fit_tfidf_linear needs weighting='tfidf', the layer has {layer.weighting!r}")
    sizes = layer.vocabulary_sizes
    tfidf = TfidfTransformer(sublinear_tf=True)
    x_train = tfidf.fit_transform(bag_matrix(train[0], sizes))
    x_validation = tfidf.transform(bag_matrix(validation[0], sizes)) if validation is not None else None
    model, c, score = select_logistic_regression(
        x_train, train[1], x_validation, validation[1] if validation is not None else None, cs=cs, seed=seed
    )
    _store(layer, model.coef_.T, model.intercept_, model.classes_, idf=tfidf.idf_)
    return {"C": c, "validation_accuracy": float(score)}


def fit_nb_linear(
    layer: BagLinear,
    train: tuple,
    validation: tuple | None = None,
    cs=(0.1, 0.3, 1.0, 4.0),
    seed: int = 0,
    alpha: float = 1.0,
) -> dict:
    """Fit a ``weighting="nb"`` layer: NBSVM's logistic-regression variant (Wang & Manning 2012).

    Features are binary (is the id in the text); each is scaled by its naive-Bayes log-count
    ratio ``r = log((p / |p|) / (q / |q|))`` with ``p``, ``q`` the smoothed (``alpha``) counts in
    the class and outside it, and a logistic regression (C chosen on ``validation``) is fitted
    on the scaled features. ``r`` then folds into the stored coefficients. More than two
    classes: one such model per class against the rest, each giving that class's logit.
    Returns ``{"C": ..., "validation_accuracy": ...}``.
    """
    from scipy import sparse

    if layer.weighting != "nb":
        raise ValueError(f"fit_nb_linear needs weighting='nb', the layer has {layer.weighting!r}")
    x_train = (bag_matrix(train[0], layer.vocabulary_sizes) > 0).astype("float64")
    x_validation = (
        (bag_matrix(validation[0], layer.vocabulary_sizes) > 0).astype("float64") if validation is not None else None
    )
    y_train = np.asarray(train[1])
    classes = np.unique(y_train)
    targets = [classes[-1]] if len(classes) == 2 else list(classes)  # one-vs-rest beyond two classes

    def ratio(positive):
        p = alpha + np.asarray(x_train[positive].sum(axis=0)).ravel()
        q = alpha + np.asarray(x_train[~positive].sum(axis=0)).ravel()
        return np.log(p / p.sum()) - np.log(q / q.sum())

    ratios = [ratio(y_train == k) for k in targets]
    scaled = [x_train @ sparse.diags(r) for r in ratios]  # once, not once per C
    best = None
    for c in cs:
        models = [
            select_logistic_regression(x, (y_train == k).astype(int), cs=(c,), seed=seed)[0]
            for k, x in zip(targets, scaled)
        ]
        coef = np.stack([r * m.coef_[0] for r, m in zip(ratios, models)], axis=1)  # (F, 1 or K)
        intercept = np.array([m.intercept_[0] for m in models])
        score = 0.0
        if x_validation is not None:
            logits = np.asarray(x_validation @ coef) + intercept
            predicted = (logits[:, 0] > 0).astype(int) if len(targets) == 1 else logits.argmax(axis=1)
            score = float((classes[predicted] == np.asarray(validation[1])).mean())
        if best is None or score > best[0]:
            best = (score, c, coef, intercept)
    score, c, coef, intercept = best
    _store(layer, coef, intercept, classes)
    return {"C": c, "validation_accuracy": score}


def fit_expert_weights(parts, targets, head: str = "multiclass", l2: float = 1e-3) -> tuple:
    """Weights that mix the network's and the experts' logits, fitted on held-out data (stacking).

    ``parts`` (N, 1 + E, outputs) are the logits of the network and of each expert; the mix is
    ``sum_i w_i parts[:, i] + b``. ``w`` and ``b`` minimise the cross-entropy of ``targets``
    (class ids; softmax over outputs, or a sigmoid of the one output for ``head="binary"``)
    plus ``l2 |w|^2``, with every ``w_i >= 0``: a member is weighed or left out, never turned
    around (on a handful of held-out texts a negative weight fits noise and inverts answers:
    a 60-text file's 4 validation texts gave network -1.20, TF-IDF -5.76, and test accuracy
    0.459, below chance). Returns ``(w, b)``.
    """
    from scipy.optimize import minimize

    parts = np.asarray(parts, "float64")
    n, members, outputs = parts.shape
    targets = np.asarray(targets)
    if head == "binary":
        onehot = targets.reshape(n, 1).astype("float64")
    else:
        onehot = np.eye(outputs)[targets]

    def loss(theta):
        w, b = theta[:members], theta[members:]
        z = np.einsum("nmo,m->no", parts, w) + b
        if head == "binary":
            p = 1.0 / (1.0 + np.exp(-z))
            value = np.mean(np.logaddexp(0.0, z) - onehot * z)
        else:
            z = z - z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            value = -np.mean(np.sum(onehot * np.log(np.maximum(p, 1e-300)), axis=1))
        g = (p - onehot) / n  # d loss / d z
        grad_w = np.einsum("no,nmo->m", g, parts) + 2 * l2 * w
        return value + l2 * np.sum(w**2), np.concatenate([grad_w, g.sum(axis=0)])

    theta0 = np.concatenate([np.ones(members), np.zeros(outputs)])
    bounds = [(0.0, None)] * members + [(None, None)] * outputs
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    return result.x[:members].astype("float32"), result.x[members:].astype("float32")


@keras.saving.register_keras_serializable(package="tfseq")
class LogitMix(keras.layers.Layer):
    """``sum_i w_i parts[i] + b`` over a list of logits: how the network and experts combine.

    Not trainable by gradient: ``w`` starts at ones (a plain product of experts) and ``b`` at
    zeros; :func:`fit_expert_weights` sets them from held-out predictions.
    """

    def __init__(self, members, outputs, **kwargs):
        super().__init__(**kwargs)
        self.members, self.outputs = int(members), int(outputs)
        self.w = self.add_weight(shape=(self.members,), initializer="ones", trainable=False, name="w")
        self.b = self.add_weight(shape=(self.outputs,), initializer="zeros", trainable=False, name="b")
        self.built = True

    def call(self, parts):
        mixed = self.b
        for i, part in enumerate(parts):
            mixed = mixed + self.w[i] * part
        return mixed

    def get_config(self):
        return {**super().get_config(), "members": self.members, "outputs": self.outputs}
