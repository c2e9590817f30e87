"""``summary``: Keras' ``model.summary()`` with torchinfo's counts (mult-adds, memory).

Every module of the network gets a row (nesting shown by indentation), in definition order.
With an input shape, one sample goes through the network in evaluation mode without a graph
(no dropout mask drawn, so the global generator does not move) and each layer's output shape
is recorded. The counts follow torchinfo 1.8's rules, so that the totals equal its own on a
PyTorch network built alike:

- parameters: every parameter once; "trainable" are those with ``requires_grad``;
- multiply-adds per sample: for a layer without children that holds parameters, the number of
  parameters named ``weight`` and ``bias`` times the number of output positions for a
  convolution (output height x width), or times 1 otherwise (a Linear layer: ``in x out +
  out``; a batch norm: ``2 x channels``, however large the image, as torchinfo counts);
- forward/backward pass size: twice (values and gradients) the output bytes of every layer
  without children that holds parameters, for one sample.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

from bpnn import nn
from bpnn.autograd.tensor import no_grad, wrap_array
from bpnn.backend import xp


@dataclass
class LayerRow:
    """One module's line of the summary.

    Attributes
    ----------
    name : str
        Dotted name in the network (``""`` for the network itself).
    kind : str
        Class name.
    depth : int
        Nesting depth (0 for the network).
    output_shape : tuple or None
        Output shape for one sample, batch dimension first (None without an input shape).
    params, trainable_params : int
        Parameters held by this module itself (not by its children).
    mult_adds : int
        Multiply-adds per sample (torchinfo's rule; 0 where unknown or none).
    is_leaf : bool
        Whether the module has no children.
    output_bytes : int
        Bytes of the output for one sample, counted for leaf layers with parameters (what
        torchinfo's forward/backward pass size adds up).
    """

    name: str
    kind: str
    depth: int
    output_shape: tuple | None = None
    params: int = 0
    trainable_params: int = 0
    mult_adds: int = 0
    is_leaf: bool = True
    output_bytes: int = 0

    @property
    def trainable(self) -> str:
        """``"yes"``, ``"no"``, ``"partly"`` or ``"--"`` (no parameters)."""
        if self.params == 0:
            return "--"
        if self.trainable_params == self.params:
            return "yes"
        return "no" if self.trainable_params == 0 else "partly"


@dataclass
class Summary:
    """What :func:`summary` measured; ``str(summary)`` is the printed table.

    Attributes
    ----------
    rows : list of LayerRow
    input_shape : tuple or None
        One sample's shape (without the batch dimension).
    total_params, trainable_params, non_trainable_params : int
    param_bytes : int
        Memory of the parameters.
    mult_adds : int or None
        Forward multiply-adds per sample (None without an input shape).
    input_bytes, forward_backward_bytes : int or None
        One sample's input, and the activations kept for the backward pass (torchinfo's
        "forward/backward pass size"), in bytes.
    """

    rows: list = field(default_factory=list)
    input_shape: tuple | None = None
    total_params: int = 0
    trainable_params: int = 0
    param_bytes: int = 0
    mult_adds: int | None = None
    input_bytes: int | None = None
    forward_backward_bytes: int | None = None

    @property
    def non_trainable_params(self) -> int:
        """Parameters that do not train (frozen)."""
        return self.total_params - self.trainable_params

    def lines(self) -> list:
        """The table and totals as lines of text."""
        header = ("Layer (type)", "Output shape", "Param #", "Trainable", "Mult-adds")
        table = []
        for row in self.rows:
            label = f"{'  ' * row.depth}{row.kind}" + (f" ({row.name})" if row.name else "")
            shape = "--" if row.output_shape is None else str(list(row.output_shape))
            table.append((label, shape, f"{row.params:,}" if row.params else "--",
                          row.trainable, f"{row.mult_adds:,}" if row.mult_adds else "--"))
        widths = [max(len(header[i]), *(len(r[i]) for r in table)) for i in range(5)]

        def line(cells):
            return "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(cells, widths, strict=True)))

        rule = "=" * len(line(header))
        out = [rule, line(header), rule, *(line(cells) for cells in table), rule,
               f"Total params: {self.total_params:,}",
               f"Trainable params: {self.trainable_params:,}",
               f"Non-trainable params: {self.non_trainable_params:,}",
               f"Params size: {_megabytes(self.param_bytes)}"]
        if self.mult_adds is not None:
            out += [f"Mult-adds per sample: {self.mult_adds:,}",
                    f"Input size per sample: {_megabytes(self.input_bytes)}",
                    f"Forward/backward pass size per sample: "
                    f"{_megabytes(self.forward_backward_bytes)}"]
        else:
            out.append("(give an input shape for output shapes, mult-adds and activation memory)")
        out.append(rule)
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.2f} MB ({count:,} bytes)"


def _is_convolution(module) -> bool:
    return "Conv" in type(module).__name__  # torchinfo's test


def _mult_adds(module, output_shape) -> int:
    """torchinfo's rule for one leaf module and a batch-of-one output shape."""
    count = sum(int(p.data.size) for name, p in module._parameters.items()
                if p is not None and name in ("weight", "bias"))
    if _is_convolution(module):
        return count * math.prod(output_shape[:1] + output_shape[2:])
    return count * output_shape[0]


def _record_outputs(network, sample):
    """Run ``sample`` through ``network``; ``{id(module): output shape}`` for every module.

    Each module's ``forward`` is wrapped on the instance for the run, then removed. A
    Sequential runs its children plainly in order (not ReLU / MaxPool2d swapped), so each
    row shows the shape that layer's own definition gives.
    """
    shapes: dict = {}
    wrapped = []

    def recorder(module, forward):
        def recording_forward(*args, **kwargs):
            output = forward(*args, **kwargs)
            shapes[id(module)] = tuple(output.shape)
            return output
        return recording_forward

    def plain_sequential(module):
        def forward(x):
            for child in module:
                x = child(x)
            return x
        return forward

    for module in network.modules():
        forward = plain_sequential(module) if isinstance(module, nn.Sequential) \
            else module.forward
        object.__setattr__(module, "forward", recorder(module, forward))
        wrapped.append(module)
    was_training = {id(m): m.training for m in wrapped}
    network.eval()
    try:
        with no_grad():
            network(wrap_array(sample))
    finally:
        for module in wrapped:
            module.__dict__.pop("forward", None)
            object.__setattr__(module, "training", was_training[id(module)])
    return shapes


def summary(module, input_shape=None, file=None, dtype=None) -> Summary:
    """Layers, output shapes, parameter counts, multiply-adds and memory of a network.

    Parameters
    ----------
    module : bpnn.nn.Module
    input_shape : tuple of int, optional
        One sample's shape, without the batch dimension (``(784,)``, ``(1, 28, 28)``). Without
        it, output shapes, mult-adds and activation memory are not shown.
    file : file-like or False, optional
        Where to print the table (standard output by default; ``False``: do not print).
    dtype : str, optional
        The dtype of the dry run's input (the network's parameter dtype by default).

    Returns
    -------
    Summary
        The measured values; ``str()`` of it is the printed table.

    Raises
    ------
    TypeError
        If ``module`` is not a bpnn Module.
    ValueError
        If ``input_shape`` is not a tuple of positive integers or does not fit the network.

    Example
    -------
    >>> import bpnn
    >>> from bpnn import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> s = bpnn.summary(net, (4,), file=False)
    >>> s.total_params, s.mult_adds
    (58, 58)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"summary needs a bpnn.nn.Module, got {type(module).__name__}")
    if input_shape is not None:
        if isinstance(input_shape, int):
            input_shape = (input_shape,)
        input_shape = tuple(input_shape)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                   for d in input_shape):
            raise ValueError(f"input_shape must be one sample's shape as positive integers, "
                             f"without the batch dimension, e.g. (784,); got {input_shape}")
    parameters = list(module.parameters())
    if dtype is None:
        dtype = parameters[0].dtype if parameters else "float32"
    shapes = {}
    if input_shape is not None:
        sample = xp.zeros((1, *input_shape), dtype=dtype)
        try:
            shapes = _record_outputs(module, sample)
        except (ValueError, IndexError) as error:
            raise ValueError(f"input_shape {input_shape} does not fit the network: "
                             f"{error}") from None
    result = Summary(input_shape=input_shape)
    seen = set()
    for name, child in module.named_modules():
        own = [p for p in child._parameters.values() if p is not None and id(p) not in seen]
        seen.update(id(p) for p in own)
        row = LayerRow(name=name, kind=type(child).__name__,
                       depth=0 if not name else name.count(".") + 1,
                       output_shape=shapes.get(id(child)),
                       params=sum(int(p.data.size) for p in own),
                       trainable_params=sum(int(p.data.size) for p in own if p.requires_grad),
                       is_leaf=not child._modules)
        if row.is_leaf and row.params and row.output_shape is not None:
            row.mult_adds = _mult_adds(child, row.output_shape)
            row.output_bytes = math.prod(row.output_shape) * xp.dtype(dtype).itemsize
        result.rows.append(row)
        result.param_bytes += sum(int(p.data.nbytes) for p in own)
    result.total_params = sum(row.params for row in result.rows)
    result.trainable_params = sum(row.trainable_params for row in result.rows)
    if input_shape is not None:
        result.mult_adds = sum(row.mult_adds for row in result.rows)
        result.input_bytes = math.prod(input_shape) * xp.dtype(dtype).itemsize
        result.forward_backward_bytes = 2 * sum(row.output_bytes for row in result.rows)
    if file is not False:
        print(result, file=sys.stdout if file is None else file)
    return result
