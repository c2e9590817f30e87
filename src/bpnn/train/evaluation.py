"""``Model.evaluate`` and ``Model.predict``: scores and outputs in evaluation mode, no graph.

Kept apart from the training loop (``bpnn.train.model``) as Keras keeps its trainer's
evaluation beside ``fit``; :class:`bpnn.Model` inherits these methods.
"""

from __future__ import annotations

from bpnn.autograd.tensor import no_grad, wrap_array
from bpnn.backend import xp
from bpnn.data.loader import DataLoader
from bpnn.train import validation
from bpnn.train.validation import positive_int

DEFAULT_BATCH_SIZE = 32


class EvaluationMixin:
    """The evaluation half of :class:`bpnn.Model` (uses ``network``, ``metrics``, ``test_step``)."""

    def _evaluate_arrays(self, x, y, weights, batch_size: int) -> dict:
        for metric in self.metrics:
            metric.reset()
        arrays = (x, y) if weights is None else (x, y, weights)
        total = 0.0
        with self.network.evaluating(), no_grad():
            for batch in DataLoader(arrays, batch_size=batch_size):
                total += self.test_step(*batch) * len(batch[0])
        scores = {"loss": total / len(x)}
        for metric in self.metrics:
            scores[metric.name] = metric.result()
        return scores

    def evaluate(self, x, y, batch_size=None, sample_weight=None) -> dict:
        """Loss (with the regularisation penalty, as in training) and metrics on a data set.

        Parameters
        ----------
        x, y : array_like
        batch_size : int, default 32
        sample_weight : array_like, optional

        Returns
        -------
        dict
            ``{"loss": ..., "<metric>": ...}``.

        Raises
        ------
        ValueError
            For the same bad input as :meth:`fit`.
        """
        batch_size = positive_int("batch_size", DEFAULT_BATCH_SIZE if batch_size is None
                                   else batch_size)
        x, y, weights = validation.prepare(self, x, y, sample_weight)
        return self._evaluate_arrays(x, y, weights, batch_size)

    def predict(self, x, batch_size=None):
        """The network's outputs for ``x`` (evaluation mode, no graph recorded).

        Parameters
        ----------
        x : array_like
        batch_size : int, default 32

        Returns
        -------
        ndarray
            One output row per sample (logits for a classifier trained with cross-entropy).

        Raises
        ------
        ValueError
            If ``x`` is empty, holds NaN / infinity, or has the wrong feature count.
        """
        batch_size = positive_int("batch_size", DEFAULT_BATCH_SIZE if batch_size is None
                                   else batch_size)
        x, _ = validation.check_x(self, x)
        with self.network.evaluating(), no_grad():
            outputs = [self.network(wrap_array(x[start:start + batch_size])).data
                       for start in range(0, len(x), batch_size)]
        return xp.concatenate(outputs)

