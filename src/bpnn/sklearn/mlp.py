"""``MLPClassifier`` / ``MLPRegressor``: drop-ins for ``sklearn.neural_network``'s, trained by bpnn.

Same parameter names, meanings and fitted attributes as scikit-learn's (Glorot initialisation,
``alpha`` as scikit-learn's L2 term, ``batch_size=min(200, n)``, stopping after
``n_iter_no_change`` epochs without a ``tol`` improvement, ``early_stopping`` on a held-out
``validation_fraction``), plus what bpnn adds: more solvers, dropout, batch norm, class and
sample weights, a float dtype and safe model files.
"""


from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin

from bpnn import nn
from bpnn.sklearn._base import _ClassifierPart, _RegressorPart, store_init_params
from bpnn.sklearn._mlp_training import _MLPBase
from bpnn.sklearn.losses import ScaledBCEWithLogitsLoss, ScaledMSELoss

_SHARED_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default (100,)
        Units of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default "relu"
    solver : {"adam", "sgd", "adamw", "rmsprop", "lbfgs", "bfgs", "cg", "lm"}, default "adam"
        Stochastic solvers take mini-batches; ``"lbfgs"``, ``"bfgs"``, ``"cg"`` (conjugate
        gradient) and ``"lm"`` (Levenberg-Marquardt, squared error; the classifier then
        trains softmax / logistic outputs on one-hot targets) take the full data set, one
        iteration per epoch. ``"bfgs"`` and ``"lm"`` keep dense matrices and refuse networks
        of more than 5000 weights; ``"lm"`` ignores ``alpha``.
    alpha : float, default 1e-4
        L2 penalty, ``alpha / 2 * ||W||^2 / batch size`` as in scikit-learn (``"adamw"``:
        decoupled weight decay ``alpha``).
    batch_size : int or "auto", default "auto"
        ``min(200, n_samples)``; ignored by the full-batch solvers.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        Schedule for ``"sgd"``, as in scikit-learn.
    learning_rate_init : float, default 1e-3
    power_t : float, default 0.5
    max_iter : int, default 200
        Epochs (iterations for the full-batch solvers).
    shuffle : bool, default True
    random_state : int, RandomState or None, default None
        An int makes ``fit`` bit-identical run to run (initialisation, shuffling, dropout and
        the validation split are drawn from it; bpnn's global generator is left as it was).
    tol : float, default 1e-4
    verbose : bool, default False
    warm_start : bool, default False
    momentum : float, default 0.9
    nesterovs_momentum : bool, default True
    early_stopping : bool, default False
        Hold out ``validation_fraction`` (stratified for classifiers) and stop when its score
        has not improved by ``tol`` for ``n_iter_no_change`` epochs.
    validation_fraction : float, default 0.1
    beta_1, beta_2, epsilon : float, default 0.9, 0.999, 1e-8
        Adam's.
    n_iter_no_change : int, default 10
    dropout : float in [0, 1), default 0.0
        Dropout after each hidden activation (bpnn).
    batch_norm : bool, default False
        Batch normalisation after each hidden Linear layer (bpnn).
    restore_best_weights : bool, default True
        With ``early_stopping``, end with the weights of the best validation score
        (scikit-learn always does; False keeps the last epoch's).
    dtype : {"float32", "float64"} or None, default None
        The network's float type; None follows ``X`` (float32 stays float32, else float64).

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names (a DataFrame).
    n_iter_ : int
        Epochs (or full-batch iterations) run.
    t_ : int
        Training samples seen.
    loss_ : float
        Last epoch's loss, on scikit-learn's scale (penalty included).
    loss_curve_ : list of float
    best_loss_ : float or None
    validation_scores_ : list of float or None
    best_validation_score_ : float or None
    coefs_, intercepts_ : list of ndarray
        Weights ``(fan_in, fan_out)`` and biases per layer, as in scikit-learn.
    n_outputs_ : int
    out_activation_ : str
    model_ : bpnn.Model
        The trained bpnn model (network, loss, optimizer).

    Notes
    -----
    Estimators pickle because joblib sends them between processes that way; that is for
    transport only. Files on disk: :meth:`save` and :func:`bpnn.sklearn.load`.
"""


class MLPClassifier(_ClassifierPart, ClassifierMixin, _MLPBase):
    """Multi-layer perceptron classifier trained by bpnn; a drop-in for scikit-learn's.
    """

    __doc__ += _SHARED_DOC + """
    classes_ : ndarray
        Class labels (label indices for multilabel targets).

    Example
    -------
    >>> from sklearn.datasets import load_iris
    >>> from bpnn.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 dropout=0.0, batch_norm=False, restore_best_weights=True, class_weight=None,
                 dtype=None):
        store_init_params(self, locals())

    def _targets(self, y, refit: bool, classes=None):
        y = self._encode_classes(y, refit, classes)
        if self.solver == "lm" or self._n_outputs() == 1 or self.multilabel_:
            return y, self._target_matrix(y)
        return y, self._class_indices(y)

    def _loss_and_head(self, n_outputs: int):
        if self.solver == "lm":
            head = nn.Softmax() if n_outputs > 1 and not self.multilabel_ else nn.Sigmoid()
            activation = "softmax" if isinstance(head, nn.Softmax) else "logistic"
            return nn.MSELoss(), head, activation
        if n_outputs > 1 and not self.multilabel_:
            return nn.CrossEntropyLoss(), None, "softmax"
        return ScaledBCEWithLogitsLoss(scale=n_outputs), None, "logistic"

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``X``, ``y``, continuing from the current weights and optimizer.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) or (n_samples, n_labels)
        classes : array_like, optional
            All classes; required on the first call (as in scikit-learn).
        sample_weight : array_like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        if not self.__sklearn_is_fitted__():
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={list(classes)} is not the same as on the first call "
                             f"to partial_fit: {self.classes_.tolist()}")
        return self._fit(X, y, sample_weight, incremental=True,
                         classes=None if self.__sklearn_is_fitted__() else classes)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(_RegressorPart, RegressorMixin, _MLPBase):
    """Multi-layer perceptron regressor trained by bpnn; a drop-in for scikit-learn's.
    """

    __doc__ += _SHARED_DOC.replace("    ----------\n", """    ----------
    loss : {"squared_error"}, default "squared_error"
        First, as in scikit-learn's signature.
""", 1) + """
    Example
    -------
    >>> from sklearn.datasets import make_regression
    >>> from bpnn.sklearn import MLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=4, noise=0.1, random_state=0)
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=500,
    ...                    random_state=0).fit(X, y / 100)
    >>> reg.score(X, y / 100) > 0.9
    True
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 dropout=0.0, batch_norm=False, restore_best_weights=True, dtype=None):
        store_init_params(self, locals())

    def _check_params(self) -> None:
        if self.loss != "squared_error":
            raise ValueError(f"loss must be 'squared_error' (the one bpnn implements), got "
                             f"{self.loss!r}")
        super()._check_params()

    def _targets(self, y, refit: bool, classes=None):
        y = np.asarray(y)
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        if not refit and targets.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {targets.shape[1]} target columns, but the network was "
                             f"fitted with {self.n_outputs_}")
        return y, targets

    def _loss_and_head(self, n_outputs: int):
        return ScaledMSELoss(scale=n_outputs / 2.0), None, "identity"

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X``, ``y``, continuing from the current weights and optimizer.

        Parameters
        ----------
        X, y, sample_weight
            As for :meth:`fit`; the first call fixes the number of target columns.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True)
