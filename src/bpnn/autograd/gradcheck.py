"""Finite-difference check of backpropagated gradients."""

from __future__ import annotations

from bpnn.autograd.tensor import Tensor
from bpnn.backend import xp


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when analytic and numerical gradients disagree."""


def _as_outputs(result) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Compare backpropagated gradients of ``fn`` with central finite differences in float64.

    Every output element's gradient with respect to every input element that requires grad is
    checked (the full Jacobian), as ``torch.autograd.gradcheck`` does.

    Parameters
    ----------
    fn : callable
        Takes the tensors in ``inputs`` and returns a tensor or a tuple of tensors.
    inputs : Tensor or sequence of Tensor
        Float tensors; those with ``requires_grad=True`` are checked. They are copied to
        float64 first, so float32 inputs are checked in float64.
    eps : float, default 1e-6
        Finite-difference step.
    atol, rtol : float
        Tolerances: ``|analytic - numerical| <= atol + rtol * |numerical|`` element-wise.
    raise_exception : bool, default True
        Raise :class:`GradcheckError` on a mismatch instead of returning False.

    Returns
    -------
    bool
        True when every gradient matches.

    Raises
    ------
    GradcheckError
        When a gradient differs, naming the input, the element and both values.

    Example
    -------
    >>> import bpnn
    >>> x = bpnn.randn(3, dtype="float64", requires_grad=True)
    >>> bpnn.gradcheck(lambda t: (t * t).sum(), [x])
    True
    """
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    inputs = [
        Tensor(t.data.astype(xp.float64), requires_grad=t.requires_grad)
        if isinstance(t, Tensor) and t.dtype.kind == "f" else t
        for t in inputs
    ]
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck needs at least one input tensor with requires_grad=True")

    def evaluate() -> list:
        return [o.data.astype(xp.float64).ravel().copy() for o in _as_outputs(fn(*inputs))]

    outputs = _as_outputs(fn(*inputs))
    for out_index, output in enumerate(outputs):
        if not output.requires_grad:
            continue
        flat_size = output.data.size
        analytic = {i: xp.zeros((flat_size, inputs[i].data.size)) for i in checked}
        for k in range(flat_size):
            for i in checked:
                inputs[i].grad = None
            seed = xp.zeros(flat_size)
            seed[k] = 1.0
            output.backward(seed.reshape(output.shape).astype(output.dtype), retain_graph=True)
            for i in checked:
                grad = inputs[i].grad
                if grad is not None:
                    analytic[i][k] = grad.ravel()
        for i in checked:
            data = inputs[i].data
            flat = data.reshape(-1)
            for j in range(flat.size):
                original = flat[j]
                flat[j] = original + eps
                plus = evaluate()[out_index]
                flat[j] = original - eps
                minus = evaluate()[out_index]
                flat[j] = original
                numerical = (plus - minus) / (2 * eps)
                difference = xp.abs(analytic[i][:, j] - numerical)
                bad = difference > atol + rtol * xp.abs(numerical)
                if bad.any():
                    k = int(xp.argmax(bad))
                    message = (
                        f"gradient mismatch for input {i}, element {j}, output {out_index}[{k}]: "
                        f"backprop {analytic[i][k, j]!r} vs finite differences {numerical[k]!r}"
                    )
                    if raise_exception:
                        raise GradcheckError(message)
                    return False
    for i in checked:
        inputs[i].grad = None
    return True
