"""A small ONNX graph builder: unique names, constants as initializers, nodes in order."""

from __future__ import annotations

import numpy as np

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 3  # LabelEncoder with string keys needs 2; onnxruntime runs 1-5


class ExportError(ValueError):
    """A network or model folder that cannot be written as ONNX, said in the user's words."""


def require_onnx():
    """The ``onnx`` module, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx is in the onnx and test extras
        raise ImportError("ONNX export needs the onnx package: pip install 'bpnn[onnx]'") from None
    return onnx


class GraphBuilder:
    """Collect nodes and initializers under names that never collide.

    Parameters
    ----------
    reserved : iterable of str
        Names already used by the graph's inputs and outputs.
    """

    def __init__(self, reserved=()):
        self.nodes, self.initializers = [], []
        self.uses_ml = False
        self._taken = set(reserved)

    def name(self, hint: str) -> str:
        """``hint``, or ``hint_2``, ``hint_3``... if taken; the name is then taken."""
        candidate, count = hint, 1
        while candidate in self._taken:
            count += 1
            candidate = f"{hint}_{count}"
        self._taken.add(candidate)
        return candidate

    def constant(self, array, hint: str) -> str:
        """Store ``array`` (kept in its dtype; strings as an object array) as an initializer."""
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def add(self, op: str, inputs, hint: str, domain: str = "", output: str | None = None,
            **attributes) -> str:
        """Append one node; returns its (single) output's name (``output`` if given)."""
        from onnx import helper

        result = output if output is not None else self.name(hint)
        if domain == ML_DOMAIN:
            self.uses_ml = True
        self.nodes.append(helper.make_node(op, list(inputs), [result], name=self.name(f"{hint}/op"),
                                           domain=domain or None, **attributes))
        return result

    def rename(self, current: str, final: str) -> None:
        """Give the value ``current`` the graph output name ``final``."""
        if self.nodes and self.nodes[-1].output[0] == current:
            self.nodes[-1].output[0] = final
        else:  # an input passed straight through (an empty network, only Identity / Dropout)
            self.add("Identity", [current], "identity", output=final)
