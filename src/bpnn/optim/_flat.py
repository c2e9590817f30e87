"""One flat vector view of many parameters: what second-order methods do their algebra on.

The vector is a copy (``pack``); ``unpack`` writes it back into each parameter's ``.data`` in
place, so modules keep holding the same Parameter objects.
"""

from __future__ import annotations

import math

from bpnn.backend import xp


class FlatParameters:
    """Pack / unpack a list of parameters (one dtype) to / from one 1-D array.

    Parameters
    ----------
    params : list of Tensor
        The parameters, in a fixed order; they must share one float dtype.

    Raises
    ------
    TypeError
        If the parameters mix float32 and float64 (the flat vector would have to upcast).
    """

    def __init__(self, params):
        self.params = list(params)
        dtypes = {p.data.dtype for p in self.params}
        if len(dtypes) != 1:
            raise TypeError(
                "second-order optimizers keep one flat vector of all parameters, which must "
                f"share one dtype; got {sorted(str(d) for d in dtypes)}"
            )
        self.dtype = dtypes.pop()
        self.sizes = [int(p.data.size) for p in self.params]
        self.numel = sum(self.sizes)
        self.slices = []
        start = 0
        for size in self.sizes:
            self.slices.append(slice(start, start + size))
            start += size

    def pack(self):
        """Return a copy of all parameter values as one flat array."""
        return xp.concatenate([p.data.reshape(-1) for p in self.params])

    def unpack(self, flat) -> None:
        """Write ``flat`` back into the parameters (in place)."""
        for p, part in zip(self.params, self.slices, strict=True):
            p.data[...] = flat[part].reshape(p.data.shape)

    def add_(self, step_size: float, direction) -> None:
        """``params += step_size * direction`` in place (what ``torch.Tensor.add_`` does)."""
        for p, part in zip(self.params, self.slices, strict=True):
            p.data += (step_size * direction[part]).reshape(p.data.shape).astype(
                p.data.dtype, copy=False)

    def grad(self):
        """Return all gradients as one flat array (zeros for parameters without one)."""
        return xp.concatenate([
            xp.zeros(size, dtype=self.dtype) if p.grad is None
            else p.grad.reshape(-1).astype(self.dtype, copy=False)
            for p, size in zip(self.params, self.sizes, strict=True)
        ])

    def zero_grad(self) -> None:
        """Zero the flat gradient buffer."""
        for p in self.params:
            p.grad = None


def is_finite(value) -> bool:
    """Whether a number or array holds no nan / inf."""
    if isinstance(value, float):
        return math.isfinite(value)
    return bool(xp.all(xp.isfinite(value)))
