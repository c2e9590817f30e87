"""The solver side of ``MLPClassifier`` / ``MLPRegressor``: parameters, network, training loop.

:class:`_MLPBase` checks scikit-learn's parameters, builds the network (Glorot initialisation,
``alpha`` as scikit-learn's L2 term), picks the optimizer and runs the epochs;
:class:`_Convergence` is scikit-learn's per-epoch bookkeeping and stopping rule. The public
classes in :mod:`bpnn.sklearn.mlp` add only target encoding and their documentation.
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from bpnn import nn, optim, regularizers
from bpnn.callbacks import Callback
from bpnn.sklearn._base import (
    _NeuralNetBase,
    check_fraction,
    check_positive_int,
    draw_seed,
    seeded,
)
from bpnn.train.model import Model

STOCHASTIC_SOLVERS = ("sgd", "adam", "adamw", "rmsprop")
#: Full-batch solvers: one of their iterations is one epoch (``n_iter_`` counts iterations).
BATCH_SOLVERS = ("lbfgs", "bfgs", "cg", "lm")
_ACTIVATIONS = {"identity": nn.Identity, "logistic": nn.Sigmoid, "tanh": nn.Tanh,
                "relu": nn.ReLU}
_LEARNING_RATES = ("constant", "invscaling", "adaptive")


class _Convergence(Callback):
    """scikit-learn's per-epoch bookkeeping and stopping rule, as a bpnn callback."""

    def __init__(self, estimator, n_samples: int, validation=None):
        super().__init__()
        self.estimator, self.n_samples = estimator, n_samples
        self.validation = validation

    def on_epoch_end(self, epoch, logs=None):
        est, model = self.estimator, self.model
        est.n_iter_ += 1
        est.t_ += self.n_samples
        est.loss_ = float(logs["loss"])
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        if self.validation is not None:
            score = est._validation_score(*self.validation)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            worse = score < est.best_validation_score_ + est.tol
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_weights = copy.deepcopy(model.get_weights())
        else:
            worse = est.loss_ > est.best_loss_ - est.tol
            est.best_loss_ = min(est.best_loss_, est.loss_)
        est._no_improvement_count = est._no_improvement_count + 1 if worse else 0
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            _set_lr(model.optimizer, est.learning_rate_init / (est.t_ + 1) ** est.power_t)
        if est.solver in BATCH_SOLVERS:
            # scikit-learn's full-batch solver stops on its own tolerances, not on patience.
            stop = bool(getattr(model.optimizer, "converged", False))
        else:
            stop = est._no_improvement_count > est.n_iter_no_change
        if stop and est.solver == "sgd" and est.learning_rate == "adaptive":
            lr = model.optimizer.param_groups[0]["lr"]
            if lr > 1e-6:
                _set_lr(model.optimizer, lr / 5.0)
                est._no_improvement_count = 0
                stop = False
                if est.verbose:
                    print(f"Setting learning rate to {lr / 5.0:f}")
        if stop:
            est._converged = True
            model.stop_training = True

    def on_train_end(self, logs=None):
        self.validation = None  # nothing big stays referenced from the fitted model


def _set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class _MLPBase(_NeuralNetBase):
    """Parameters, network, optimizer and training loop shared by the MLP estimators.

    Subclasses declare the parameters in their ``__init__`` (scikit-learn reads the signature)
    and store them with :func:`~bpnn.sklearn._base.store_init_params`.
    """

    _default_learning_rate_init = 1e-3

    # ---------------------------------------------------------------- parameters
    def _hidden_sizes(self) -> list:
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
               for s in sizes):
            raise ValueError(f"hidden_layer_sizes must hold positive integers, got "
                             f"{self.hidden_layer_sizes!r}")
        return [int(s) for s in sizes]

    def _check_params(self) -> None:
        self._hidden_sizes()
        choices = {"activation": tuple(_ACTIVATIONS),
                   "solver": STOCHASTIC_SOLVERS + BATCH_SOLVERS,
                   "learning_rate": _LEARNING_RATES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, "
                                 f"got {getattr(self, name)!r}")
        check_positive_int("max_iter", self.max_iter)
        check_positive_int("n_iter_no_change", self.n_iter_no_change)
        if self.batch_size != "auto":
            check_positive_int("batch_size", self.batch_size)
        for name in ("alpha", "tol", "power_t"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        for name in ("learning_rate_init", "epsilon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name in ("momentum", "beta_1", "beta_2", "dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                    0 <= value <= 1 if name == "momentum" else 0 <= value < 1):
                raise ValueError(f"{name} must be in [0, 1{']' if name == 'momentum' else ')'}"
                                 f", got {value!r}")
        if self.early_stopping:
            check_fraction("validation_fraction", self.validation_fraction)

    # ---------------------------------------------------------------- building
    def _loss_and_head(self, n_outputs: int):
        """(loss, output layer after the last Linear or None, out_activation_).

        The losses are scikit-learn's (see :mod:`bpnn.sklearn.losses`), so the gradient
        steps, ``loss_`` and ``tol`` mean what they mean there.
        """
        raise NotImplementedError

    def _build_model(self, n_features: int, n_outputs: int, n_batch: int,
                     weight_scale: float = 1.0) -> Model:
        loss, head, self.out_activation_ = self._loss_and_head(n_outputs)
        self.output_is_probability_ = head is not None
        # scikit-learn adds alpha / 2 * ||W||^2 / batch size to its loss; adamw decays instead.
        l2 = 0.0 if self.solver == "adamw" else self.alpha * weight_scale / (2.0 * n_batch)
        penalty = regularizers.l2(l2) if l2 > 0 else None
        factor = 2.0 if self.activation == "logistic" else 6.0
        sizes = [n_features, *self._hidden_sizes()]
        layers = []
        for fan_in, fan_out in zip(sizes, sizes[1:], strict=False):
            layers.append(nn.Linear(fan_in, fan_out, weight_regularizer=penalty))
            if self.batch_norm:
                layers.append(nn.BatchNorm1d(fan_out))
            layers.append(_ACTIVATIONS[self.activation]())
            if self.dropout:
                layers.append(nn.Dropout(self.dropout))
        layers.append(nn.Linear(sizes[-1], n_outputs, weight_regularizer=penalty))
        for layer in layers:
            if isinstance(layer, nn.Linear):
                nn.init.glorot_uniform_linear_(layer.weight, layer.bias, factor)
        if head is not None:
            layers.append(head)
        network = nn.Sequential(*layers)
        return Model(network, loss, self._optimizer(network.parameters()))

    def _optimizer(self, params):
        solver, lr = self.solver, self.learning_rate_init
        betas, eps = (self.beta_1, self.beta_2), self.epsilon
        if solver == "sgd":
            return optim.SGD(params, lr=lr, momentum=self.momentum,
                             nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        if solver == "adam":
            return optim.Adam(params, lr=lr, betas=betas, eps=eps)
        if solver == "adamw":
            return optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=self.alpha)
        if solver == "rmsprop":
            return optim.RMSprop(params, lr=lr, eps=eps, momentum=self.momentum)
        if solver == "lbfgs":
            return optim.LBFGS(params, max_iter=1, max_eval=25, tolerance_grad=self.tol)
        if solver == "bfgs":
            return optim.BFGS(params, max_eval=25, tolerance_grad=self.tol)
        if solver == "cg":
            return optim.ConjugateGradient(params, max_eval=25, tolerance_grad=self.tol)
        params = list(params)
        n_weights = sum(int(p.data.size) for p in params)
        # Jacobian rows by backprop cost one backward pass per residual; columns by central
        # differences two forward passes per weight: take the cheaper.
        jacobian = "backprop" if self._n_residuals <= 2 * n_weights else "central_difference"
        return optim.LevenbergMarquardt(params, tolerance_grad=self.tol, jacobian=jacobian)

    # ---------------------------------------------------------------- training
    def _fit(self, X, y, sample_weight, incremental: bool, classes=None):
        self._check_params()
        fitted = self.__sklearn_is_fitted__()
        first = not fitted or (not incremental and not self.warm_start)
        X, y = self._validate_X_y(X, y, reset=first)
        sample_weight = self._sample_weight(X, sample_weight)
        y, targets = self._targets(y, refit=first, classes=classes)
        sample_weight = self._class_sample_weight(y, sample_weight)
        weight_scale = 1.0
        if sample_weight is not None and sample_weight.sum() > 0:
            # scikit-learn divides a batch's weighted loss and its penalty by the batch's weight
            # sum; bpnn divides by the batch size. Weights rescaled to average 1, with the
            # penalty scaled alike, give scikit-learn's objective (exactly on a full batch).
            weight_scale = len(sample_weight) / float(sample_weight.sum())
            sample_weight = sample_weight * weight_scale
        if first:
            self.seed_ = draw_seed(self.random_state)
            seed = self.seed_
        else:  # a continued fit draws a fresh, still reproducible stream
            seed = (self.seed_ + 7919 * (len(self.loss_curve_) + 1)) % np.iinfo(np.int32).max
        early_stopping = self.early_stopping and not incremental
        validation = None
        if early_stopping:
            stratify = y if self._is_classifier and not self.multilabel_ else None
            arrays = [X, y, targets] + ([sample_weight] if sample_weight is not None else [])
            split = train_test_split(*arrays, random_state=seed,
                                     test_size=self.validation_fraction, stratify=stratify)
            X, X_val, y, y_val, targets = split[0], split[1], split[2], split[3], split[4]
            sample_weight = split[6] if sample_weight is not None else None
            validation = (X_val, y_val)
        n_samples = len(X)
        if self.solver in BATCH_SOLVERS:
            batch_size = None
            n_batch = n_samples
        else:
            batch_size = min(200 if self.batch_size == "auto" else self.batch_size, n_samples)
            n_batch = batch_size
        self._n_residuals = targets.size if targets.ndim == 2 else len(targets) * self._n_outputs()
        with seeded(seed, self._float_dtype(X)):
            if first:
                self.n_outputs_ = targets.shape[1] if targets.ndim == 2 else self._n_outputs()
                self.model_ = self._build_model(X.shape[1], self.n_outputs_, n_batch,
                                                weight_scale)
                self.n_iter_, self.t_, self.loss_curve_ = 0, 0, []
                self._no_improvement_count = 0
                self.best_loss_ = None if early_stopping else np.inf
                self.validation_scores_ = [] if early_stopping else None
                self.best_validation_score_ = -np.inf if early_stopping else None
            elif not incremental:  # warm start: same weights, a fresh optimizer (scikit-learn)
                network = self.model_.network
                self.model_ = Model(network, self.model_.loss,
                                    self._optimizer(network.parameters()))
                self._no_improvement_count = 0
            if early_stopping and self.validation_scores_ is None:
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
            if not early_stopping and self.best_loss_ is None:
                self.best_loss_ = np.inf
            self.n_iter_ = 0  # per call, as in scikit-learn; t_ and loss_curve_ accumulate
            self._converged, self._best_weights = False, None
            callback = _Convergence(self, n_samples, validation)
            self.model_.fit(X.astype(self.model_.dtype, copy=False), targets,
                            batch_size=batch_size, epochs=1 if incremental else self.max_iter,
                            shuffle=bool(self.shuffle), sample_weight=sample_weight,
                            callbacks=[callback], verbose=0)
        if early_stopping and self.restore_best_weights and self._best_weights is not None:
            self.model_.set_weights(self._best_weights)
        self._best_weights = None
        if early_stopping:
            self.best_validation_score_ = float(self.best_validation_score_)
        else:
            self.best_loss_ = float(self.best_loss_)
        if not incremental and not self._converged:
            solver = "Stochastic Optimizer" if self.solver in STOCHASTIC_SOLVERS else \
                f"Solver {self.solver!r}"
            warnings.warn(f"{solver}: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning,
                          stacklevel=3)
        return self

    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X``, ``y`` (``max_iter`` epochs at most).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array_like of shape (n_samples,), optional
            Per-sample loss weights; as in scikit-learn, a batch's loss is their weighted
            average and the L2 penalty is divided by their sum (rescaled once over the data
            set, so exactly so for full batches).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    # ---------------------------------------------------------------- sklearn-shaped weights
    def _linear_layers(self):
        if not self.__sklearn_is_fitted__():
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet")
        return [m for m in self.model_.network if isinstance(m, nn.Linear)]

    @property
    def coefs_(self) -> list:
        """Weight matrices shaped ``(fan_in, fan_out)`` as in scikit-learn (copies)."""
        return [np.array(layer.weight.data.T) for layer in self._linear_layers()]

    @property
    def intercepts_(self) -> list:
        """Bias vectors, one per layer (copies)."""
        return [np.array(layer.bias.data) for layer in self._linear_layers()]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
