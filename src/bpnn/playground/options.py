"""Playground session options: the choices, the limits, and :class:`SessionConfig`.

:meth:`SessionConfig.from_json` checks every option of a ``POST /api/sessions`` request
before anything is built (unknown names, widths, rates, sizes), so a bad request costs nothing.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from bpnn.playground.datasets import TOY_SETS, PlaygroundError

ACTIVATIONS = ("tanh", "relu", "sigmoid", "elu", "leaky_relu", "linear")
OPTIMIZERS = ("sgd", "momentum", "adam", "lbfgs", "lm")
INITIALISERS = ("xavier", "he", "default", "small")
LOSSES = {"binary": ("bce", "mse"), "regression": ("mse",), "multiclass": ("cross_entropy",),
          "classic": ("mse",)}

MAX_HIDDEN_LAYERS = 6
MAX_UNITS = 64
MAX_POINTS = 2000
MAX_EPOCHS_PER_REQUEST = 1000
MAX_LM_JACOBIAN = 2_000_000  # residuals x parameters; LM keeps that matrix in memory


def _number(options: dict, key: str, low: float, high: float, *, integer: bool = False,
            low_open: bool = False):
    value = options[key]
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or (integer and not float(value).is_integer()) or not math.isfinite(value):
        raise PlaygroundError(f"{key} must be {kind}, got {value!r}")
    if value < low or value > high or (low_open and value == low):
        low_text = f"greater than {low:g}" if low_open else f"at least {low:g}"
        raise PlaygroundError(f"{key} must be {low_text} and at most {high:g}, got {value!r}")
    return int(value) if integer else float(value)


def _choice(options: dict, key: str, allowed) -> str:
    value = options[key]
    if value not in allowed:
        raise PlaygroundError(f"unknown {key} {value!r}; choose one of {', '.join(allowed)}")
    return value


@dataclass
class SessionConfig:
    """The options of ``POST /api/sessions``, checked.

    Attributes
    ----------
    dataset : str
        A toy set (``xor``, ``circles``, ``spirals``, ``blobs``, ``sine``, ``mazur``) or
        ``upload`` (then ``upload`` is the id from ``POST /api/uploads``).
    noise, n_points, test_fraction : float, int, float
        Toy-set drawing (the classic ``mazur`` set ignores them).
    hidden : list of int
        Hidden layer widths (at most 6 layers of 64 units).
    activation, loss, init, optimizer : str
    lr, batch_size, l2, dropout, seed : float, int, float, float, int
    """

    dataset: str = "xor"
    noise: float = 0.1
    n_points: int = 500
    test_fraction: float = 0.2
    hidden: list = field(default_factory=lambda: [8, 8])
    activation: str = "tanh"
    loss: str | None = None
    init: str = "xavier"
    optimizer: str = "adam"
    lr: float = 0.03
    batch_size: int = 16
    l2: float = 0.0
    dropout: float = 0.0
    seed: int = 0
    upload: str | None = None

    @classmethod
    def from_json(cls, options) -> SessionConfig:
        """Check a request's options (defaults fill the rest) and return the config.

        Raises
        ------
        PlaygroundError
            400 naming the first bad option.
        """
        if not isinstance(options, dict):
            raise PlaygroundError("the request body must be a JSON object of options")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise PlaygroundError(f"unknown option(s) {', '.join(map(repr, unknown))}; known: "
                                  f"{', '.join(sorted(known))}")
        merged = {**cls().__dict__, **options}
        config = cls()
        config.dataset = _choice(merged, "dataset", (*TOY_SETS, "upload"))
        if config.dataset == "upload":
            if not isinstance(merged["upload"], str):
                raise PlaygroundError("dataset 'upload' needs the 'upload' id that "
                                      "POST /api/uploads returned")
            config.upload = merged["upload"]
        config.noise = _number(merged, "noise", 0.0, 1.0)
        config.n_points = _number(merged, "n_points", 10, MAX_POINTS, integer=True)
        config.test_fraction = _number(merged, "test_fraction", 0.0, 0.9)
        hidden = merged["hidden"]
        if not isinstance(hidden, list) or any(isinstance(h, bool) or not isinstance(h, int)
                                               for h in hidden):
            raise PlaygroundError(f"hidden must be a list of layer widths like [8, 8], "
                                  f"got {hidden!r}")
        if len(hidden) > MAX_HIDDEN_LAYERS:
            raise PlaygroundError(f"at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(hidden)}")
        for width in hidden:
            if not 1 <= width <= MAX_UNITS:
                raise PlaygroundError(f"a hidden layer has 1 to {MAX_UNITS} units in the "
                                      f"playground, got {width}")
        config.hidden = list(hidden)
        config.activation = _choice(merged, "activation", ACTIVATIONS)
        config.init = _choice(merged, "init", INITIALISERS)
        config.optimizer = _choice(merged, "optimizer", OPTIMIZERS)
        config.lr = _number(merged, "lr", 0.0, 10.0, low_open=True)
        config.batch_size = _number(merged, "batch_size", 1, MAX_POINTS, integer=True)
        config.l2 = _number(merged, "l2", 0.0, 1.0)
        config.dropout = _number(merged, "dropout", 0.0, 0.9)
        config.seed = _number(merged, "seed", 0, 2**31 - 1, integer=True)
        if merged["loss"] is not None and merged["loss"] not in ("bce", "mse", "cross_entropy"):
            raise PlaygroundError(f"unknown loss {merged['loss']!r}; choose one of bce, mse, "
                                  "cross_entropy")
        config.loss = merged["loss"]
        if config.optimizer == "lm" and config.l2:
            raise PlaygroundError("Levenberg-Marquardt does not see an L2 penalty (it fits "
                                  "residuals only); set l2 to 0 or choose another optimizer")
        if config.dataset == "mazur":
            config.hidden = [2]
            config.activation = "sigmoid"
        return config
