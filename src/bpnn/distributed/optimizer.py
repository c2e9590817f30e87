"""``DistributedOptimizer``: sum the ranks' gradients with one ``Allreduce``, then step.

Horovod's recipe: every rank computes the gradient of its share of the global batch, the
gradients are packed into one contiguous buffer, one ``MPI_Allreduce`` sums them, and every
rank applies the same update, so the ranks' weights never drift apart. Each rank scales its
gradient by its share of the global batch (``gradient_weight``), so the sum is the gradient
of the mean loss over the global batch, the one a single process would compute.

Second-order optimizers (those with ``requires_closure``: L-BFGS, BFGS, DFP, conjugate
gradient, Newton, Levenberg-Marquardt) get a closure whose loss and gradient are summed the
same way, so every line-search evaluation and Hessian-vector product is the whole data set's;
Levenberg-Marquardt's ``J'J``, ``J'r`` and sums of squares are summed too.
"""

from __future__ import annotations

import numpy as np

from bpnn.autograd.tensor import Tensor, enable_grad
from bpnn.distributed import runtime


def pack_gradients(params, weight: float, extras=()):
    """One contiguous buffer per dtype: ``weight * grad`` of each parameter, then flags.

    Layout of each buffer: the flattened weighted gradients (zeros where a parameter has
    none), one has-gradient flag per parameter, then ``extras`` (first buffer only). This is
    the only place that knows the layout, so it can later read the optimizer's own flat
    gradient buffer instead of copying.
    """
    by_dtype: dict = {}
    for p in params:
        by_dtype.setdefault(p.data.dtype, []).append(p)
    buffers = []
    for index, (dtype, group) in enumerate(by_dtype.items()):
        sizes = [p.data.size for p in group]
        extra = len(extras) if index == 0 else 0
        buffer = np.zeros(sum(sizes) + len(group) + extra, dtype=dtype)
        start = 0
        for position, (p, size) in enumerate(zip(group, sizes, strict=True)):
            if p.grad is not None:
                np.multiply(p.grad.reshape(-1), weight, out=buffer[start:start + size])
                buffer[sum(sizes) + position] = 1
            start += size
        if extra:
            buffer[-extra:] = extras
        buffers.append((buffer, group, sizes))
    return buffers


def unpack_gradients(buffers) -> list:
    """Write the summed gradients back into ``.grad``; return the summed extras."""
    extras = []
    for index, (buffer, group, sizes) in enumerate(buffers):
        total = sum(sizes)
        start = 0
        for position, (p, size) in enumerate(zip(group, sizes, strict=True)):
            if buffer[total + position] > 0:  # some rank had a gradient for it
                p.grad = buffer[start:start + size].reshape(p.data.shape)
            start += size
        if index == 0:
            extras = [float(v) for v in buffer[total + len(group):]]
    return extras


def allreduce_gradients(params, weight: float, extras=()) -> list:
    """Sum ``weight * grad`` over the ranks into each parameter's ``.grad`` (one Allreduce
    per dtype, one in all for a single-dtype network); return the summed ``extras``."""
    buffers = pack_gradients(params, weight, extras)
    for buffer, _, _ in buffers:
        runtime.allreduce_sum_(buffer)
    return unpack_gradients(buffers)


class _DistributedMixin:
    """Placed before the optimizer's class: step() reduces the gradients first."""

    #: This rank's share of the global batch; ``Model.fit`` sets it per batch.
    gradient_weight: float

    def _trainable(self) -> list:
        return [p for g in self.param_groups for p in g["params"] if p.requires_grad]

    def synchronize(self, extras=()) -> list:
        """Sum the weighted gradients (and ``extras``) over all ranks now.

        Call it before clipping ``.grad`` by the global norm; the next ``step`` then uses
        the summed gradients as they are instead of summing again.
        """
        summed = allreduce_gradients(self._trainable(), self.gradient_weight, extras)
        self._synchronized = not extras
        return summed

    def step(self, closure=None):
        if getattr(self, "requires_closure", False):
            return super().step(_ReducedClosure(self, closure))
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if not self.__dict__.pop("_synchronized", False):
            self.synchronize()
        self.__dict__.pop("_synchronized", None)
        super().step()
        return loss

    # Levenberg-Marquardt's hooks (no effect on other optimizers, which never call them).
    def _normal_equations(self, residuals, jacobian):
        sse, gradient, jtj = super()._normal_equations(residuals, jacobian)
        buffer = np.concatenate([[sse], gradient, jtj.reshape(-1)]).astype(jtj.dtype)
        runtime.allreduce_sum_(buffer)
        n = gradient.size
        return float(buffer[0]), buffer[1:n + 1], buffer[n + 1:].reshape(n, n)

    def _sum_of_squares(self, residuals) -> float:
        buffer = np.array([super()._sum_of_squares(residuals)], dtype=np.float64)
        runtime.allreduce_sum_(buffer)
        return float(buffer[0])


class _ReducedClosure:
    """A closure whose loss and gradients are the whole job's (weighted sum over ranks)."""

    def __init__(self, optimizer, closure):
        self.optimizer, self.closure = optimizer, closure
        if hasattr(closure, "residuals"):
            self.residuals = closure.residuals

    def __call__(self):
        if self.closure is None:
            raise TypeError(f"{type(self.optimizer).__name__}.step needs a closure")
        loss = self.closure()
        value = float(loss.item() if isinstance(loss, Tensor) else loss)
        (total,) = self.optimizer.synchronize([self.optimizer.gradient_weight * value])
        if isinstance(loss, Tensor):
            return Tensor(np.asarray(total, dtype=loss.dtype))
        return total


_CLASSES: dict = {}


def DistributedOptimizer(optimizer, gradient_weight: float | None = None):  # noqa: N802
    """Wrap an optimizer so that every ``step`` first averages the gradients over all ranks.

    Horovod's name and contract: build the optimizer as usual, wrap it, and every rank's
    update is the one a single process would make on the global batch (each rank's batch
    being its share). The wrapped optimizer is an instance of the same class (``Adam``
    stays an ``Adam`` for ``isinstance``, schedulers and checkpoints) and shares its
    parameter groups and state with the original. Weight decay, frozen parameters and
    parameter groups work as in one process; a parameter gets a gradient if any rank
    computed one. To clip by the global gradient norm, call :meth:`synchronize`, clip
    ``.grad``, then ``step()`` (which then does not sum again).

    Parameters
    ----------
    optimizer : bpnn.optim.Optimizer
        Any first- or second-order optimizer, on the same parameters on every rank.
    gradient_weight : float, optional
        This rank's share of the global batch, ``1 / size()`` by default (equal batches);
        set the attribute per step when the ranks' batches differ in size.

    Returns
    -------
    bpnn.optim.Optimizer
        The wrapped optimizer.

    Example
    -------
    >>> import bpnn, bpnn.distributed as dist
    >>> net = bpnn.nn.Linear(3, 1)
    >>> opt = dist.DistributedOptimizer(bpnn.optim.SGD(net.parameters(), lr=0.1))
    >>> type(opt).__name__, opt.gradient_weight
    ('SGD', 1.0)
    """
    if isinstance(optimizer, _DistributedMixin):
        return optimizer
    if not hasattr(optimizer, "param_groups"):
        raise TypeError(f"DistributedOptimizer wraps a bpnn.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    base = type(optimizer)
    cls = _CLASSES.get(base)
    if cls is None:
        cls = _CLASSES[base] = type(base.__name__, (_DistributedMixin, base),
                                    {"__module__": base.__module__,
                                     "__qualname__": base.__qualname__})
    wrapped = object.__new__(cls)
    wrapped.__dict__.update(optimizer.__dict__)  # shares param_groups and state
    wrapped.gradient_weight = 1.0 / runtime.size() if gradient_weight is None \
        else float(gradient_weight)
    return wrapped
