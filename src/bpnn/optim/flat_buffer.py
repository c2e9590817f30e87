"""One contiguous buffer per dtype for the parameters, gradients and per-element state.

Each parameter's ``.data`` (and, after a step, ``.grad`` and every state array shaped like it)
is a view into a 1-D buffer, so that an optimizer updates consecutive parameters with one pass
per operation over all of them, as torch's ``foreach`` / ``fused`` implementations do, and so
that data-parallel training can reduce every gradient with one collective call.

A parameter whose ``.data`` or ``.grad`` the user replaced by a new array is copied back into
its place before the next update (the buffer stays the one truth); a new shape or dtype lays the
buffers out afresh.
"""

from __future__ import annotations

from bpnn.backend import xp


class _Slot:
    __slots__ = ("param", "dtype", "start", "stop", "shape", "data", "grad", "views", "flat")


class FlatBuffers:
    """Lay ``params`` out in one buffer per dtype (in their order) and point them at it.

    Parameters
    ----------
    params : list of Tensor
        Distinct parameters, in the optimizer's order.
    states : dict
        The optimizer's ``state`` (parameter -> dict); arrays shaped like their parameter are
        moved into the state buffers too.
    """

    def __init__(self, params, states: dict):
        self.slots: dict = {}
        sizes: dict = {}
        order = []
        for p in params:
            if id(p) in self.slots:
                continue
            slot = _Slot()
            slot.param, slot.dtype, slot.shape, slot.views = p, p.data.dtype, p.data.shape, {}
            slot.start = sizes.get(slot.dtype, 0)
            slot.stop = sizes[slot.dtype] = slot.start + int(p.data.size)
            self.slots[id(p)] = slot
            order.append(slot)
        #: dtype -> 1-D array of every parameter's values
        self.data = {dtype: xp.empty(size, dtype=dtype) for dtype, size in sizes.items()}
        #: dtype -> 1-D array of every parameter's gradient
        self.grad = {dtype: xp.zeros(size, dtype=dtype) for dtype, size in sizes.items()}
        #: dtype -> state name -> 1-D array
        self.state: dict = {dtype: {} for dtype in sizes}
        self.order = order
        for slot in order:
            p = slot.param
            slot.flat = self.data[slot.dtype]
            slot.data = self.data[slot.dtype][slot.start:slot.stop].reshape(slot.shape)
            slot.grad = self.grad[slot.dtype][slot.start:slot.stop].reshape(slot.shape)
            xp.copyto(slot.data, p.data)
            p.data = slot.data
            if p.grad is not None:
                xp.copyto(slot.grad, p.grad, casting="same_kind")
                p.grad = slot.grad
            state = states.get(p)
            if state:
                self.adopt_state(p, state)

    def current(self) -> bool:
        """Whether every parameter's ``.data`` is still its view (nobody replaced it)."""
        return all(slot.param.data is slot.data for slot in self.order)

    def fits(self, params) -> bool:
        """Whether every parameter still has the shape and dtype it was laid out with."""
        for p in params:
            slot = self.slots.get(id(p))
            if slot is None or (p.data is not slot.data and (
                    p.data.shape != slot.shape or p.data.dtype != slot.dtype)):
                return False
        return True

    def gather(self, p) -> None:
        """Bring a parameter back into its place if the user replaced ``.data`` or ``.grad``."""
        self.gather_data(p)
        self.gather_grad(p)

    def gather_data(self, p) -> None:
        """Copy ``p.data`` into its slot of the buffer if the user replaced the array."""
        slot = self.slots[id(p)]
        if p.data is not slot.data:
            xp.copyto(slot.data, p.data)
            p.data = slot.data

    def gather_grad(self, p) -> None:
        """Copy ``p.grad`` into its slot of the gradient buffer (a view already there stays)."""
        slot = self.slots[id(p)]
        grad = p.grad
        if grad is not None and grad is not slot.grad:
            if grad.shape != slot.shape:
                raise ValueError(f"a gradient of shape {grad.shape} was assigned to a parameter "
                                 f"of shape {slot.shape}")
            xp.copyto(slot.grad, grad, casting="same_kind")
            p.grad = slot.grad

    def adopt_state(self, p, state: dict) -> None:
        """Move the state arrays shaped like ``p`` into the state buffers (views in ``state``)."""
        slot = self.slots[id(p)]
        views = slot.views
        for name, value in state.items():
            if value is not views.get(name) and isinstance(value, xp.ndarray) \
                    and value.shape == slot.shape:
                view = self.state_view(slot, name)
                xp.copyto(view, value, casting="same_kind")
                state[name] = view

    def state_view(self, slot, name: str):
        """The view of state array ``name`` for ``slot`` (made in the state buffer on first use)."""
        view = slot.views.get(name)
        if view is None:
            buffers = self.state[slot.dtype]
            flat = buffers.get(name)
            if flat is None:
                flat = buffers[name] = xp.zeros_like(self.data[slot.dtype])
            view = slot.views[name] = flat[slot.start:slot.stop].reshape(slot.shape)
        return view

    def run_arrays(self, first, last):
        """``(data, grad, state buffers)`` of slots ``first`` to ``last`` as 1-D views."""
        part = slice(first.start, last.stop)
        states = {name: flat[part] for name, flat in self.state[first.dtype].items()}
        return self.data[first.dtype][part], self.grad[first.dtype][part], states
