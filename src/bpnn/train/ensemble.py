"""``Ensemble``: combine several trained networks by averaging or voting.

Averaging the class probabilities of networks trained from different seeds or on bootstrap
samples (bagging, Breiman 1996) usually beats each member; see ``examples/ensemble.py``.
"""

from __future__ import annotations

import math
import numbers

from bpnn import backend, io, nn
from bpnn.autograd.tensor import Tensor, no_grad
from bpnn.backend import xp
from bpnn.functional.activation import softmax_array, stable_sigmoid
from bpnn.train import metrics as metrics_module

_METHODS = ("mean", "vote")


def _softmax(z):
    return softmax_array(z, axis=1)


_sigmoid = stable_sigmoid


def _identity(z):
    return z


# How a member's raw output becomes something worth averaging, chosen from its loss:
# logits -> probabilities, log-probabilities -> probabilities, anything else as it is.
def _probability_transform(loss):
    if isinstance(loss, nn.CrossEntropyLoss):
        return _softmax
    if isinstance(loss, nn.BCEWithLogitsLoss):
        return _sigmoid
    if isinstance(loss, nn.NLLLoss):
        return xp.exp
    return _identity


class Ensemble:
    """Several trained models (or networks) predicting together.

    Parameters
    ----------
    models : sequence of bpnn.Model or bpnn.nn.Module
        Trained members with the same output shape.
    method : {"mean", "vote"}, default "mean"
        ``"mean"``: weighted average of the members' outputs, turned into probabilities first
        when a member's loss says they are logits (cross-entropy: softmax; BCE with logits:
        sigmoid; NLL: exp). ``"vote"``: each member votes for its top class with its weight;
        ties go to the lowest class index.
    weights : sequence of float, optional
        Non-negative member weights (normalised to sum to 1); equal by default.

    Attributes
    ----------
    histories : list of bpnn.callbacks.History
        Set by :meth:`fit_bagging`.

    Example
    -------
    >>> import numpy as np, bpnn
    >>> from bpnn import nn
    >>> x = np.random.default_rng(0).normal(size=(60, 3)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("int64")
    >>> def build():
    ...     return bpnn.Model(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)),
    ...                       "cross_entropy", "adam", metrics=["accuracy"], lr=0.05)
    >>> ensemble = bpnn.Ensemble.fit_bagging(build, x, y, n_members=3, epochs=2, verbose=0)
    >>> ensemble.predict(x).shape
    (60, 2)
    """

    def __init__(self, models, method: str = "mean", weights=None):
        models = list(models)
        if not models:
            raise ValueError("an Ensemble needs at least one model")
        for i, model in enumerate(models):
            if not isinstance(model, nn.Module) and not hasattr(model, "predict"):
                raise TypeError(f"ensemble member {i} is a {type(model).__name__}; members "
                                "must be bpnn.Model or bpnn.nn.Module")
        if method not in _METHODS:
            raise ValueError(f"method must be 'mean' or 'vote', got {method!r}")
        if weights is None:
            weights = [1.0] * len(models)
        weights = [float(w) for w in weights]
        if len(weights) != len(models):
            raise ValueError(f"got {len(weights)} weights for {len(models)} models")
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"weights must be finite, non-negative and not all zero, "
                             f"got {weights}")
        total = sum(weights)
        self.models, self.method = models, method
        self.weights = [w / total for w in weights]
        self.histories: list = []

    def __len__(self) -> int:
        return len(self.models)

    def __repr__(self) -> str:
        return f"Ensemble({len(self.models)} members, method={self.method!r})"

    # ---------------------------------------------------------------- predictions
    def _member_output(self, model, x, batch_size):
        if not isinstance(model, nn.Module):
            return _probability_transform(getattr(model, "loss", None))(
                model.predict(x, batch_size=batch_size))
        parameters = list(model.parameters())
        dtype = parameters[0].dtype if parameters else backend.get_default_dtype()
        with model.evaluating(), no_grad():
            data = x.data if isinstance(x, Tensor) else xp.asarray(x)
            return model(Tensor(data.astype(dtype, copy=False))).data

    def predict_members(self, x, batch_size=None) -> list:
        """Each member's output for ``x`` (probabilities where its loss gives logits).

        Returns
        -------
        list of ndarray
        """
        outputs = [self._member_output(m, x, batch_size) for m in self.models]
        shapes = {o.shape for o in outputs}
        if len(shapes) > 1:
            raise ValueError(f"ensemble members disagree on the output shape: {sorted(shapes)}")
        return outputs

    def predict(self, x, batch_size=None):
        """The ensemble's prediction for ``x``.

        Parameters
        ----------
        x : array_like
        batch_size : int, optional
            Passed to each member's ``predict``.

        Returns
        -------
        ndarray
            ``"mean"``: the weighted mean output (probabilities for classifiers), in the
            members' dtype. ``"vote"``: the winning class index per sample (int64).
        """
        return self._combine(self.predict_members(x, batch_size))

    def _combine(self, outputs):
        if self.method == "mean":
            dtype = outputs[0].dtype
            total = xp.zeros_like(outputs[0])
            for weight, output in zip(self.weights, outputs, strict=True):
                total += dtype.type(weight) * output
            return total
        first = outputs[0]
        if first.ndim != 2 or first.shape[1] < 2:
            raise ValueError("method='vote' needs one score per class (outputs shaped "
                             f"(n, classes)), got {first.shape}")
        votes = xp.zeros(first.shape, dtype=xp.float64)
        rows = xp.arange(len(first))
        for weight, output in zip(self.weights, outputs, strict=True):
            votes[rows, output.argmax(axis=1)] += weight
        return votes.argmax(axis=1).astype(xp.int64)

    # ---------------------------------------------------------------- scores
    def _metric_names(self, metrics):
        if metrics is not None:
            return [metrics] if isinstance(metrics, str) else list(metrics)
        first = self.models[0]
        names = [m.name for m in getattr(first, "metrics", [])]
        return names or ["accuracy"]

    def _scores(self, output, y, names, loss) -> dict:
        scores = {}
        if loss is not None:
            scores["loss"] = loss
        for name in names:
            metric = metrics_module.get(name)
            scores[metric.name] = metric(y, output)
        return scores

    @staticmethod
    def _probability_loss(combined, y, loss):
        """``loss`` of an output that :func:`_probability_transform` made (probabilities)."""
        if loss is None:
            return None
        transform = _probability_transform(loss)
        y_array = xp.asarray(getattr(y, "data", y))
        reduction = getattr(loss, "reduction", "mean")
        if transform is _softmax or transform is xp.exp:
            tiny = xp.finfo(combined.dtype).tiny
            log_probs = Tensor(xp.log(xp.maximum(combined, tiny)))
            value = nn.NLLLoss(reduction=reduction)(log_probs, Tensor(y_array.astype(xp.int64)))
        elif transform is _sigmoid:
            target = y_array.astype(combined.dtype).reshape(combined.shape)
            value = nn.BCELoss(reduction=reduction)(Tensor(combined), Tensor(target))
        else:
            target = y_array.astype(combined.dtype).reshape(combined.shape)
            value = loss(Tensor(combined), Tensor(target))
        return float(value.data)

    def evaluate(self, x, y, metrics=None, batch_size=None) -> dict:
        """Scores of the ensemble's prediction on ``(x, y)``.

        Parameters
        ----------
        x, y : array_like
        metrics : sequence of str, optional
            Metric names (``"accuracy"``, ``"f1"``, ``"mse"``...); by default the first
            member's metrics, or accuracy.
        batch_size : int, optional

        Returns
        -------
        dict
            The metrics, plus ``"loss"`` for ``method="mean"`` when the members have a loss:
            that loss on the averaged output (for classifiers: the negative log-likelihood of
            the averaged probabilities).
        """
        names = self._metric_names(metrics)
        outputs = self.predict_members(x, batch_size)
        combined = self._combine(outputs)
        if self.method == "vote":
            one_hot = xp.zeros(outputs[0].shape, dtype=outputs[0].dtype)
            one_hot[xp.arange(len(combined)), combined] = 1
            return self._scores(one_hot, y, names, None)
        loss = self._probability_loss(combined, y, getattr(self.models[0], "loss", None))
        return self._scores(combined, y, names, loss)

    def evaluate_members(self, x, y, metrics=None, batch_size=None) -> list:
        """Each member's scores on ``(x, y)`` (same metrics and loss as :meth:`evaluate`).

        Returns
        -------
        list of dict
        """
        names = self._metric_names(metrics)
        outputs = self.predict_members(x, batch_size)
        return [self._scores(output, y, names,
                             self._probability_loss(output, y, getattr(model, "loss", None)))
                for model, output in zip(self.models, outputs, strict=True)]

    # ---------------------------------------------------------------- training
    @classmethod
    def fit_bagging(cls, build, x, y, n_members: int = 5, bootstrap: bool = True,
                    seed: int = 0, method: str = "mean", weights=None, **fit_options):
        """Train ``n_members`` models, each from its own seed and (by default) bootstrap sample.

        Member ``i`` is built after ``bpnn.manual_seed(seed + i)``, so its initial weights,
        bootstrap sample, shuffling and dropout all follow from that seed; the ensemble is
        reproducible.

        Parameters
        ----------
        build : callable
            ``build() -> bpnn.Model``, a fresh compiled model per call.
        x, y : array_like
            Training data.
        n_members : int, default 5
        bootstrap : bool, default True
            Train each member on ``len(x)`` rows drawn with replacement (bagging); ``False``
            trains every member on all rows, differing only by seed.
        seed : int, default 0
        method, weights
            As in :class:`Ensemble`.
        **fit_options
            Passed to each ``Model.fit`` (``epochs``, ``batch_size``, ``validation_data``,
            ``callbacks``...). Prefer ``validation_data`` to ``validation_split``: a split of a
            bootstrap sample shares rows with its training part.

        Returns
        -------
        Ensemble
            With ``histories`` holding each member's training history.
        """
        if isinstance(n_members, bool) or not isinstance(n_members, numbers.Integral) \
                or n_members < 1:
            raise ValueError(f"n_members must be a positive integer, got {n_members!r}")
        x_array = x.data if isinstance(x, Tensor) else xp.asarray(x)
        y_array = y.data if isinstance(y, Tensor) else xp.asarray(y)
        if len(x_array) != len(y_array):
            raise ValueError(f"x and y have different numbers of samples: {len(x_array)} and "
                             f"{len(y_array)}")
        models, histories = [], []
        for i in range(int(n_members)):
            backend.manual_seed(seed + i)
            model = build()
            if not hasattr(model, "fit"):
                raise TypeError(f"build() must return a bpnn.Model, got {type(model).__name__}")
            if bootstrap:
                rows = backend.get_rng().integers(0, len(x_array), len(x_array))
                histories.append(model.fit(x_array[rows], y_array[rows], **fit_options))
            else:
                histories.append(model.fit(x_array, y_array, **fit_options))
            models.append(model)
        ensemble = cls(models, method=method, weights=weights)
        ensemble.histories = histories
        return ensemble

    # ---------------------------------------------------------------- checkpoints
    def to_checkpoint(self):
        """``(meta, arrays)`` holding every member's own checkpoint (see :func:`bpnn.save`)."""
        members, arrays = [], {}
        for i, model in enumerate(self.models):
            kind, meta, member_arrays = io.to_checkpoint(model)
            members.append({"kind": kind, "meta": meta})
            arrays.update({f"members.{i}.{name}": value for name, value in member_arrays.items()})
        return {"method": self.method, "weights": self.weights, "members": members}, arrays

    @classmethod
    def from_checkpoint(cls, meta: dict, arrays: dict) -> Ensemble:
        """Rebuild an ensemble from :meth:`to_checkpoint`'s output.

        Loading leaves the global random generator as it was (members' saved generator
        states are not applied: they matter to resuming one model, not to predicting).
        """
        members = meta["members"]
        owned = tuple(f"members.{i}." for i in range(len(members)))
        stray = [name for name in arrays if not name.startswith(owned)]
        if stray:
            raise ValueError(f"tensors {stray[:5]} belong to no ensemble member")
        state = backend.get_rng_state()
        try:
            models = []
            for i, member in enumerate(members):
                prefix = f"members.{i}."
                own = {name[len(prefix):]: value for name, value in arrays.items()
                       if name.startswith(prefix)}
                models.append(io.from_checkpoint(member["kind"], member["meta"], own,
                                                 f"ensemble member {i}"))
        finally:
            backend.set_rng_state(state)
        return cls(models, method=meta["method"], weights=meta["weights"])


io.register_kind("Ensemble", Ensemble.from_checkpoint)
