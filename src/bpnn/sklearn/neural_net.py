"""``NeuralNetClassifier`` / ``NeuralNetRegressor``: any ``bpnn.nn.Module`` as an estimator.

In the manner of skorch: ``module`` is a network, or a class / function that builds one, and
``module__<name>`` / ``optimizer__<name>`` parameters reach its constructor and the
optimizer's, so that ``GridSearchCV`` can search them (``set_params(module__hidden=64)``).
"""

from __future__ import annotations

import copy
import inspect
import numbers

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin

from bpnn import nn, optim
from bpnn.sklearn._base import (
    _ClassifierPart,
    _NeuralNetBase,
    _RegressorPart,
    check_positive_int,
    draw_seed,
    seeded,
    store_init_params,
)
from bpnn.train.model import Model

_PREFIXES = ("module__", "optimizer__")


class _NeuralNetWrapper(_NeuralNetBase):
    #: Keyword that tells a module builder the output size.
    _output_size_name = "n_outputs"
    _default_loss = "mse"

    def __init__(self, module, *, optimizer="adam", lr=0.01, loss=None, epochs=10,
                 batch_size=32, callbacks=None, validation_fraction=0.0, shuffle=True,
                 random_state=None, verbose=0, dtype="float32", **kwargs):
        # checked in fit: __init__ only stores (scikit-learn's rule)
        store_init_params(self, locals(), extra=kwargs)

    # ---------------------------------------------------------------- nested parameters
    def _extra_params(self) -> dict:
        """The keyword arguments beyond the signature (``module__*``, ``optimizer__*``)."""
        named = set(self._get_param_names())
        return {k: v for k, v in vars(self).items()
                if k not in named and not k.startswith("_") and not k.endswith("_")}

    def _prefixed(self, prefix: str) -> dict:
        return {k[len(prefix):]: v for k, v in self._extra_params().items()
                if k.startswith(prefix)}

    def get_params(self, deep=True):
        """Parameters, including the ``module__*`` and ``optimizer__*`` ones."""
        return {**super().get_params(deep=deep), **self._extra_params()}

    def set_params(self, **params):
        """Set parameters; ``module__<name>`` / ``optimizer__<name>`` go to the network's
        constructor / the optimizer at the next ``fit``."""
        nested = {k: v for k, v in params.items() if k.startswith(_PREFIXES)}
        vars(self).update(nested)
        super().set_params(**{k: v for k, v in params.items() if k not in nested})
        return self

    # ---------------------------------------------------------------- building
    def _initialize_module(self, n_features: int, n_outputs: int):
        options = self._prefixed("module__")
        module = self.module
        if isinstance(module, nn.Module):
            if options:
                raise ValueError(f"module__ parameters {sorted(options)} need a module class or "
                                 "a function that builds the module, not a module instance")
            return copy.deepcopy(module)  # every fit starts from the same initial weights
        if not callable(module):
            raise TypeError(f"module must be a bpnn.nn.Module, a Module class or a function "
                            f"returning one, got {type(module).__name__}")
        target = module.__init__ if isinstance(module, type) else module
        try:
            accepted = inspect.signature(target).parameters
        except (TypeError, ValueError):
            accepted = {}
        sizes = {"n_features_in": n_features, self._output_size_name: n_outputs}
        for name, value in sizes.items():
            if name in accepted and name not in options:
                options[name] = value
        built = module(**options)
        if not isinstance(built, nn.Module):
            raise TypeError(f"module builder returned {type(built).__name__}, not a "
                            "bpnn.nn.Module")
        return built

    def _check_params(self) -> None:
        unknown = [k for k in self._extra_params() if not k.startswith(_PREFIXES)]
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}: besides the named ones, only "
                             "module__<name> and optimizer__<name> parameters are taken")
        check_positive_int("batch_size", self.batch_size)
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, numbers.Integral) or \
                self.epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {self.epochs!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, numbers.Real) or self.lr <= 0:
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")

    # ---------------------------------------------------------------- training
    def fit(self, X, y, sample_weight=None):
        """Build the module and train it for ``epochs`` epochs.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels for the classifier, target values for the regressor.
        sample_weight : array_like of shape (n_samples,), optional
            Per-sample loss weights (multiplied by ``class_weight``'s for the classifier).

        Returns
        -------
        self
        """
        self._check_params()
        X, y = self._validate_X_y(X, y, reset=True)
        sample_weight = self._sample_weight(X, sample_weight)
        y, targets = self._targets(y)
        sample_weight = self._class_sample_weight(y, sample_weight)
        self.seed_ = draw_seed(self.random_state)
        with seeded(self.seed_, self._float_dtype(X)):
            self.module_ = self._initialize_module(X.shape[1], self.n_outputs_)
            optimizer = optim.get(self.optimizer, self.module_.parameters(), lr=self.lr,
                                  **self._prefixed("optimizer__"))
            self.model_ = Model(self.module_, self._default_loss if self.loss is None
                                else self.loss, optimizer)
            self.model_.fit(X.astype(self.model_.dtype, copy=False), targets,
                            batch_size=min(self.batch_size, len(X)), epochs=self.epochs,
                            validation_split=self.validation_fraction,
                            validation_seed=self.seed_, shuffle=bool(self.shuffle),
                            sample_weight=sample_weight,
                            callbacks=copy.deepcopy(list(self.callbacks or [])),
                            verbose=self.verbose)
        self.history_ = {k: list(v) for k, v in self.model_.history.history.items()}
        self.n_iter_ = int(self.model_.epoch)
        return self

    _params_not_saved = ("module", "callbacks", "random_state")

    @classmethod
    def _params_for_loading(cls, params: dict, arrays: dict) -> dict:
        return {**params, "module": nn.Identity()}  # replaced by the saved network

    def _restore_fitted(self) -> None:
        super()._restore_fitted()
        self.module_ = self.model_.network
        self.module = copy.deepcopy(self.module_)

    def _fitted_state(self) -> dict:
        return {**super()._fitted_state(), "history_": self.history_}


class NeuralNetClassifier(_ClassifierPart, ClassifierMixin, _NeuralNetWrapper):
    """Any bpnn network that outputs one logit per class, as a scikit-learn classifier.

    Parameters
    ----------
    module : bpnn.nn.Module, Module class or callable
        The network (copied at each ``fit``), or what builds it: called with the
        ``module__*`` parameters, plus ``n_features_in`` and ``n_classes`` when its
        signature names them.
    optimizer : str or bpnn.optim.Optimizer class, default "adam"
        Built with ``lr`` and the ``optimizer__*`` parameters.
    lr : float, default 0.01
    loss : str or bpnn.nn.Module, optional
        Must take class indices; ``CrossEntropyLoss`` (on logits) by default.
    epochs : int, default 10
    batch_size : int, default 32
    callbacks : list of bpnn.callbacks.Callback, optional
        Copied at each fit, e.g. ``EarlyStopping(monitor="val_loss",
        restore_best_weights=True)`` with ``validation_fraction``.
    validation_fraction : float in [0, 1), default 0.0
        Held out (stratified) for ``val_*`` logs.
    shuffle : bool, default True
    random_state : int, RandomState or None, default None
        An int makes ``fit`` bit-identical run to run.
    verbose : int, default 0
    dtype : {"float32", "float64"} or None, default "float32"
        Default float type while the module is built; None follows ``X``.
    class_weight : dict, "balanced" or None, default None
    **kwargs
        ``module__<name>`` and ``optimizer__<name>`` parameters.

    Attributes
    ----------
    classes_ : ndarray
    module_ : bpnn.nn.Module
        The trained network.
    model_ : bpnn.Model
    history_ : dict
        Per-epoch logs (``loss``, ``val_loss``, ``lr``...).
    n_iter_ : int
        Epochs run.
    n_features_in_, feature_names_in_

    Example
    -------
    >>> from sklearn.datasets import load_iris
    >>> from bpnn import nn
    >>> from bpnn.sklearn import NeuralNetClassifier
    >>> def mlp(n_features_in, n_classes, hidden=16):
    ...     return nn.Sequential(nn.Linear(n_features_in, hidden), nn.ReLU(),
    ...                          nn.Linear(hidden, n_classes))
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NeuralNetClassifier(mlp, epochs=60, random_state=0, module__hidden=32)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    """

    _output_size_name = "n_classes"
    _default_loss = "cross_entropy"
    _binary_single_output = False

    def __init__(self, module, *, optimizer="adam", lr=0.01, loss=None, epochs=10,
                 batch_size=32, callbacks=None, validation_fraction=0.0, shuffle=True,
                 random_state=None, verbose=0, dtype="float32", class_weight=None, **kwargs):
        store_init_params(self, locals(), extra=kwargs)

    def _targets(self, y):
        y = self._encode_classes(y, refit=True)
        if self.multilabel_:
            raise ValueError("NeuralNetClassifier takes class labels, not a multilabel "
                             "indicator matrix (use MLPClassifier for multilabel targets)")
        self.n_outputs_ = max(len(self.classes_), 2)
        self.out_activation_, self.output_is_probability_ = "softmax", False
        return y, self._class_indices(y)


class NeuralNetRegressor(_RegressorPart, RegressorMixin, _NeuralNetWrapper):
    """Any bpnn network as a scikit-learn regressor (one output per target column).

    Parameters are those of :class:`NeuralNetClassifier` without ``class_weight``; a module
    builder may take ``n_features_in`` and ``n_outputs``; ``loss`` defaults to ``"mse"``.

    Attributes
    ----------
    n_outputs_ : int
        Target columns (network outputs).
    module_, model_, history_, n_iter_, n_features_in_, feature_names_in_
        As for :class:`NeuralNetClassifier`.

    Example
    -------
    >>> from sklearn.datasets import make_regression
    >>> from bpnn import nn
    >>> from bpnn.sklearn import NeuralNetRegressor
    >>> X, y = make_regression(n_samples=200, n_features=3, noise=0.1, random_state=0)
    >>> reg = NeuralNetRegressor(nn.Linear(3, 1), lr=0.1, epochs=50, random_state=0)
    >>> reg.fit(X, y / 100).score(X, y / 100) > 0.99
    True
    """

    def _targets(self, y):
        y = np.asarray(y)
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        self.n_outputs_ = targets.shape[1]
        self.out_activation_ = "identity"
        return y, targets

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
