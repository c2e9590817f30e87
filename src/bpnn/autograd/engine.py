"""The backward pass: order the graph once, then apply the chain rule node by node.

The order is an iterative depth-first post-order (no recursion limit, the same order every
run); gradients of intermediate nodes live in a dict only until they are consumed, and each
node's saved arrays are dropped after use unless ``retain_graph`` is set.
"""

from __future__ import annotations

_FREED_MESSAGE = (
    "trying to backward through the graph a second time: its saved values were freed after the "
    "first backward(); call backward(retain_graph=True) the first time if you need to do this"
)


def topological_order(root_fn) -> list:
    """Return the graph's functions with every producer before its consumers.

    A node is marked when it is expanded, not when it is pushed: a node pushed early through
    one path but expanded later must still be finished before the consumers that reach it.
    """
    order, expanded, stack = [], set(), [(root_fn, False)]
    while stack:
        fn, done = stack.pop()
        if done:
            order.append(fn)
            continue
        if id(fn) in expanded:
            continue
        expanded.add(id(fn))
        stack.append((fn, True))
        for parent in reversed(fn.parents):
            producer = parent._ctx
            if producer is not None and id(producer) not in expanded:
                stack.append((producer, False))
    return order


def _free(fn) -> None:
    fn.__dict__.clear()
    fn.parents = ()
    fn.freed = True


def run_backward(root, gradient, retain_graph: bool = False) -> None:
    """Backpropagate ``gradient`` (d objective / d root) to every leaf that requires grad."""
    root_fn = root._ctx
    if root_fn is None:  # a leaf: its gradient is the seed itself
        root.grad = gradient if root.grad is None else root.grad + gradient
        return
    if root_fn.freed:
        raise RuntimeError(_FREED_MESSAGE)
    pending = {id(root_fn): gradient}
    owned = set()  # ids of arrays already stored in some leaf's .grad (never alias two leaves)
    for fn in reversed(topological_order(root_fn)):
        if fn.freed:
            raise RuntimeError(_FREED_MESSAGE)
        grad = pending.pop(id(fn))
        if fn.retained is not None:
            retained = fn.retained
            retained.grad = grad if retained.grad is None else retained.grad + grad
        for tensor, input_grad in zip(fn.parents, fn.backward(grad), strict=True):
            if input_grad is None or not tensor.requires_grad:
                continue
            data = tensor.data
            if input_grad.shape != data.shape:
                raise RuntimeError(
                    f"{type(fn).__name__}.backward returned a gradient of shape "
                    f"{input_grad.shape} for an input of shape {data.shape}"
                )
            producer = tensor._ctx
            if producer is not None:
                key = id(producer)
                previous = pending.get(key)
                pending[key] = input_grad if previous is None else previous + input_grad
            elif tensor.grad is None:
                if input_grad.dtype != data.dtype:
                    input_grad = input_grad.astype(data.dtype)
                elif id(input_grad) in owned or input_grad.base is not None:
                    input_grad = input_grad.copy()
                owned.add(id(input_grad))
                tensor.grad = input_grad
            else:
                tensor.grad = tensor.grad + input_grad
        if not retain_graph:
            _free(fn)
