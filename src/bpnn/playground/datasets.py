"""The playground's data: 2-D toy sets, a noisy sine, the classic 2-2-2 example, uploaded tables.

Every set is drawn from its own ``numpy.random.default_rng(seed)``, so a session is the same
for the same seed. Features of the toy sets lie in about [-1, 1] (tanh and sigmoid networks
need no scaling); classes are 0 / 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bpnn.cli.explain import CLASSIC_NETWORK

#: Toy sets by name, with what they are.
TOY_SETS = {
    "xor": "four quadrants, class 1 where x and y have the same sign",
    "circles": "a disc inside a ring",
    "spirals": "two interleaved spirals",
    "blobs": "two Gaussian clouds",
    "sine": "y = sin(pi x) plus noise (regression)",
    "mazur": "the classic 2-2-2 example: one sample, fixed starting weights",
}


class PlaygroundError(ValueError):
    """A request the playground refuses: the message, and the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Dataset:
    """Features and targets split into train and test, with what the network needs to know.

    Attributes
    ----------
    name : str
    task : {"binary", "multiclass", "regression", "classic"}
    x_train, y_train, x_test, y_test : numpy.ndarray
        float64 features; targets are float64 columns (binary: 0 / 1; regression: values;
        classic: the two target outputs) or int64 class indices (multiclass).
    feature_names : list of str
    n_outputs : int
    classes : list
        Class names (binary and multiclass), else empty.
    notes : list of str
        What preparing the data did (from ``bpnn train``'s preprocessing for uploads).
    """

    name: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: list
    n_outputs: int
    classes: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def n_features(self) -> int:
        """Number of input columns."""
        return self.x_train.shape[1]

    def points(self) -> dict:
        """The rows as JSON for the page (targets as plain numbers)."""
        def rows(x, y):
            columns = y.shape[1] if y.ndim == 2 else 1
            return {"x": np.round(x, 5).tolist(),
                    "y": np.round(y, 5).reshape(len(y), columns).tolist()}
        return {"train": rows(self.x_train, self.y_train),
                "test": rows(self.x_test, self.y_test)}


def _xor(rng, n, noise):
    x = rng.uniform(-1, 1, (n, 2))
    x += np.sign(x) * 0.05  # a small margin around the axes, as TensorFlow Playground's
    y = (x[:, 0] * x[:, 1] > 0).astype(np.float64)
    return x + rng.normal(0, noise, x.shape), y


def _circles(rng, n, noise):
    inner = n // 2
    radius = np.concatenate([rng.uniform(0, 0.45, inner), rng.uniform(0.65, 0.95, n - inner)])
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    y = np.concatenate([np.ones(inner), np.zeros(n - inner)])
    return x + rng.normal(0, noise, x.shape), y


def _spirals(rng, n, noise):
    half = n // 2
    turns = np.sqrt(rng.uniform(0, 1, n)) * 1.75 * 2 * np.pi
    arm = np.concatenate([np.zeros(half), np.ones(n - half)])
    angle = turns + np.pi * arm
    radius = turns / (1.75 * 2 * np.pi) * 0.95
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x + rng.normal(0, noise, x.shape), arm


def _blobs(rng, n, noise):
    half = n // 2
    centres = np.array([[-0.45, -0.45], [0.45, 0.45]])
    y = np.concatenate([np.zeros(half), np.ones(n - half)])
    x = centres[y.astype(int)] + rng.normal(0, 0.2 + noise, (n, 2))
    return x, y


def _sine(rng, n, noise):
    x = rng.uniform(-1, 1, (n, 1))
    y = np.sin(np.pi * x[:, 0]) + rng.normal(0, noise, n)
    return x, y


_GENERATORS = {"xor": _xor, "circles": _circles, "spirals": _spirals, "blobs": _blobs,
               "sine": _sine}


def split_rows(n: int, test_fraction: float, rng, labels=None) -> tuple:
    """Shuffled train and test row indices, stratified by class when ``labels`` are given.

    Each class keeps at least one training row; the test part gets ``round(fraction * count)``
    rows of each class (so it may be empty for a tiny set).
    """
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == value)
                                                    for value in np.unique(labels)]
    train, test = [], []
    for rows in groups:
        rows = rng.permutation(rows)
        count = min(int(round(test_fraction * len(rows))), len(rows) - 1)
        test.append(rows[:count])
        train.append(rows[count:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def make_toy(name: str, n_points: int, noise: float, test_fraction: float,
             seed: int) -> Dataset:
    """Draw one of :data:`TOY_SETS` and split it.

    Parameters
    ----------
    name : str
        A key of :data:`TOY_SETS`.
    n_points : int
        Rows in all (ignored for ``mazur``, which has its one sample).
    noise : float
        Standard deviation of the Gaussian jitter added to the points (to ``y`` for sine).
    test_fraction : float
        Share of the rows held out for the test loss.
    seed : int

    Returns
    -------
    Dataset

    Example
    -------
    >>> data = make_toy("xor", 200, 0.0, 0.25, seed=0)
    >>> data.x_train.shape, data.x_test.shape, data.task
    ((150, 2), (50, 2), 'binary')
    """
    if name == "mazur":
        x = np.asarray([CLASSIC_NETWORK["input"]], dtype=np.float64)
        y = np.asarray([CLASSIC_NETWORK["target"]], dtype=np.float64)
        empty = np.zeros((0, 2))
        return Dataset("mazur", "classic", x, y, empty, empty.copy(), ["i1", "i2"], 2)
    rng = np.random.default_rng(seed)
    x, y = _GENERATORS[name](rng, n_points, noise)
    regression = name == "sine"
    train, test = split_rows(len(x), test_fraction, rng, labels=None if regression else y)
    y = y.reshape(-1, 1)
    return Dataset(name, "regression" if regression else "binary", x[train], y[train], x[test],
                   y[test], ["x"] if regression else ["x1", "x2"], 1,
                   classes=[] if regression else [0, 1])
