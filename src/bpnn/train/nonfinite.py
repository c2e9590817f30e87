"""Non-finite values never pass silently: inputs refused, diverging training stopped.

``Model.fit`` adds a :class:`DivergenceGuard` unless ``terminate_on_nan=False`` (or the user
passes a :class:`~bpnn.callbacks.TerminateOnNaN` of their own): the first batch whose loss or
gradient is NaN or infinite is not applied, training stops with the weights of the last good
batch, and ``fit`` raises :class:`TrainingDivergedError` naming the epoch and batch.
"""

from __future__ import annotations

import math

from bpnn.backend import xp
from bpnn.callbacks.terminate_on_nan import TerminateOnNaN


class TrainingDivergedError(FloatingPointError):
    """Training produced a NaN or infinite loss or gradient; the message says where.

    The model keeps the weights of the last good batch.
    """


class DivergenceGuard(TerminateOnNaN):
    """``TerminateOnNaN`` that ``fit`` turns into :class:`TrainingDivergedError` (no print)."""

    def on_before_update(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        problem = None
        if loss is not None and not xp.isfinite(loss):
            problem = f"the loss is {loss}"
        else:
            with xp.errstate(over="ignore", invalid="ignore"):  # the dot may overflow: fine
                for name, parameter in self.model.network.named_parameters():
                    grad = parameter.grad
                    if grad is not None and not _all_finite(grad):
                        problem = f"the gradient of {name} is not finite"
                        break
        if problem is None:
            return True
        self.terminated_at = (self.epoch, batch)
        self.problem = problem
        return False

    def raise_if_tripped(self) -> None:
        """Raise :class:`TrainingDivergedError` if a batch was stopped."""
        if self.terminated_at is None:
            return
        epoch, batch = self.terminated_at
        raise TrainingDivergedError(
            f"training diverged at epoch {epoch + 1}, batch {batch}: {self.problem}; the "
            "weights are those of the last good batch (lower the learning rate, scale the "
            "inputs, or pass terminate_on_nan=False to train on regardless)")


def _all_finite(array) -> bool:
    """Exact, and cheap when the answer is yes: one BLAS dot product on the common path.

    A NaN or infinity anywhere makes the dot product non-finite; only then (or when huge
    finite values overflow it) is every element examined.
    """
    flat = array.reshape(-1)
    if xp.isfinite(xp.vdot(flat, flat)):
        return True
    return bool(xp.isfinite(array).all())


def guard_for(callbacks: list, enabled: bool):
    """The guard ``fit`` adds, or None when disabled or the user brought a TerminateOnNaN."""
    if not enabled or any(isinstance(c, TerminateOnNaN) for c in callbacks):
        return None
    return DivergenceGuard()


def refuse_non_finite(values, name: str, dtype) -> None:
    """Raise ValueError naming the first sample (and column) that is not finite in ``dtype``.

    ``values`` are the data as given; a finite float64 of 1e300 overflows to infinity in
    float32, and is refused with that explanation.
    """
    if values.dtype.kind != "f":
        return
    with xp.errstate(over="ignore"):
        cast = values.astype(dtype, copy=False)
    if xp.isfinite(cast).all():
        return
    bad = ~xp.isfinite(cast)
    position = tuple(int(i[0]) for i in xp.nonzero(bad))
    sample = position[0] if position else 0
    where = f"first in sample {sample})" + (f" in column {position[1]}" if len(position) == 2
                                             else (f" at {position[1:]}" if len(position) > 2
                                                   else ""))
    value = float(values[position])
    if math.isfinite(value):
        raise ValueError(
            f"{name} holds {value!r} ({where}, which overflows to infinity in the "
            f"model's {xp.dtype(dtype)} (scale or clip the inputs)")
    raise ValueError(f"{name} contains NaN or infinity ({where}: {value!r}")


def class_weight_table(class_weight: dict, labels, dtype):
    """Per-class weights as an array indexed by label, checked before it is allocated.

    Raises
    ------
    ValueError
        For a key that is not a class index, or a weight that is not a finite non-negative
        number. Keys beyond the labels present are ignored (no sample has them).
    """
    import numbers

    n_classes = int(labels.max()) + 1 if labels.size else 0
    for label, value in class_weight.items():
        if isinstance(label, bool) or not isinstance(label, numbers.Integral) or label < 0:
            raise ValueError(f"class_weight keys must be class indices, got {label!r}")
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not xp.isfinite(value) or value < 0):
            raise ValueError(f"class_weight[{label}] must be a finite non-negative number, "
                             f"got {value!r}")
    # Sized by the labels present, never by the keys: a class that no sample has weights
    # nothing, and a key of 10**9 must not allocate 10**9 weights.
    table = xp.ones(n_classes, dtype=dtype)
    for label, value in class_weight.items():
        if label < n_classes:
            table[int(label)] = value
    return table
