"""Playground sessions: a data set and a real ``bpnn.Model`` trained a few epochs per request.

A :class:`SessionConfig` checks every option of a request before anything is built (unknown
names, widths, rates, sizes), so a bad request costs nothing. A :class:`Session` holds the
network, optimizer and history; :class:`SessionStore` caps how many sessions live at once and
how much memory they may take. Training runs under one lock with each session's own random
state swapped into bpnn's global generator, so a session replays identically for its seed
whatever other sessions do.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import threading
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from bpnn.playground.datasets import TOY_SETS, Dataset, PlaygroundError, make_toy

ACTIVATIONS = ("tanh", "relu", "sigmoid", "elu", "leaky_relu", "linear")
OPTIMIZERS = ("sgd", "momentum", "adam", "lbfgs", "lm")
INITIALISERS = ("xavier", "he", "default", "small")
LOSSES = {"binary": ("bce", "mse"), "regression": ("mse",), "multiclass": ("cross_entropy",),
          "classic": ("mse",)}
# The loss trained -> the per-sample error bpnn explain traces for it. The classic example is
# trained with MSELoss over its two outputs, which for one sample is exactly its 1/2-sum error.
EXPLAIN_ERRORS = {"bce": "binary_cross_entropy", "mse": "mse", "cross_entropy": "cross_entropy"}

MAX_HIDDEN_LAYERS = 6
MAX_UNITS = 64
MAX_POINTS = 2000
MAX_EPOCHS_PER_REQUEST = 1000
MAX_LM_JACOBIAN = 2_000_000  # residuals x parameters; LM keeps that matrix in memory
GRID_SIZE = 48
CURVE_POINTS = 160
SECONDS_PER_REQUEST = 30.0  # a train request stops after this long; epochs_run says how many ran

_TRAIN_LOCK = threading.Lock()


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


def _activation_module(name: str):
    from bpnn import nn

    return {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "elu": nn.ELU,
            "leaky_relu": nn.LeakyReLU, "linear": nn.Identity}[name]()


def _initialise(linear, how: str, activation: str) -> None:
    from bpnn.nn import init

    if how == "xavier":
        init.xavier_uniform_(linear.weight, gain=init.calculate_gain(
            activation if activation in ("tanh", "relu", "sigmoid") else "linear"))
        init.zeros_(linear.bias)
    elif how == "he":
        init.kaiming_normal_(linear.weight, nonlinearity="relu")
        init.zeros_(linear.bias)
    elif how == "small":
        init.normal_(linear.weight, 0.0, 0.1)
        init.zeros_(linear.bias)
    # "default": nn.Linear's own (PyTorch's) initialisation


class Session:
    """One network learning one data set, trained on request.

    Parameters
    ----------
    config : SessionConfig
    data : Dataset

    Raises
    ------
    PlaygroundError
        If the options do not fit the data (a loss the task cannot use, Levenberg-Marquardt
        without the squared error or with too large a Jacobian). A batch larger than the
        training set is the whole set.
    """

    def __init__(self, config: SessionConfig, data: Dataset):
        import bpnn
        from bpnn import nn, regularizers

        self.id = uuid.uuid4().hex[:12]
        self.config, self.data = config, data
        allowed = LOSSES[data.task]
        self.loss_name = config.loss or allowed[0]
        if self.loss_name not in allowed:
            raise PlaygroundError(f"the {data.name} data set ({data.task}) trains with "
                                  f"{' or '.join(allowed)}, not {self.loss_name}")
        if config.optimizer == "lm" and self.loss_name != "mse":
            raise PlaygroundError("Levenberg-Marquardt fits squared errors: choose loss 'mse'")
        n_train = len(data.x_train)
        self.batch_size = min(config.batch_size, n_train)
        if config.optimizer in ("lbfgs", "lm"):
            self.batch_size = n_train  # full-batch methods: one step sees every training row
        widths = [data.n_features, *config.hidden, data.n_outputs]
        self.n_parameters = sum((a + 1) * b for a, b in zip(widths, widths[1:], strict=False))
        if config.optimizer == "lm" and n_train * data.n_outputs * self.n_parameters \
                > MAX_LM_JACOBIAN:
            raise PlaygroundError(
                f"Levenberg-Marquardt would hold a {n_train * data.n_outputs:,} x "
                f"{self.n_parameters:,} Jacobian; use fewer points or units (at most "
                f"{MAX_LM_JACOBIAN:,} entries) or another optimizer")

        self.rng_state = np.random.default_rng(config.seed).bit_generator.state
        self.lock = threading.Lock()
        self.last_used = time.monotonic()
        self.output_activation = "sigmoid" if data.task in ("binary", "classic") else "linear"
        self.activations = [config.activation] * len(config.hidden) + [self.output_activation]
        with self._own_random_state():  # the generator bpnn.manual_seed(seed) would make
            modules, self.linears = [], []
            penalty = regularizers.l2(config.l2) if config.l2 else None
            for number, (fan_in, fan_out) in enumerate(zip(widths, widths[1:], strict=False)):
                linear = nn.Linear(fan_in, fan_out, dtype="float64", weight_regularizer=penalty)
                _initialise(linear, config.init, self.activations[number])
                self.linears.append(linear)
                modules.append(linear)
                if number < len(config.hidden):
                    modules.append(_activation_module(config.activation))
                    if config.dropout:
                        modules.append(nn.Dropout(config.dropout))
            if self.output_activation == "sigmoid":
                modules.append(nn.Sigmoid())
            if config.dataset == "mazur":
                from bpnn.cli.explain import CLASSIC_NETWORK

                for linear, layer in zip(self.linears, CLASSIC_NETWORK["layers"], strict=True):
                    linear.weight.data[...] = np.asarray(layer["weights"])
                    linear.bias.data[...] = layer["bias"]
            self.network = nn.Sequential(*modules)
            loss = {"bce": nn.BCELoss, "mse": nn.MSELoss,
                    "cross_entropy": nn.CrossEntropyLoss}[self.loss_name]()
            self.metric = "accuracy" if data.task in ("binary", "multiclass") else "r2"
            metrics = [self.metric] if data.task != "classic" else []
            name, options = {"sgd": ("sgd", {}), "momentum": ("sgd", {"momentum": 0.9}),
                             "adam": ("adam", {}), "lbfgs": ("lbfgs", {"max_iter": 5}),
                             "lm": ("lm", {})}[config.optimizer]
            self.model = bpnn.Model(self.network, loss, name, metrics=metrics, lr=config.lr,
                                    **options)
        self.steps = 0

    # ------------------------------------------------------------------ bookkeeping
    def memory_bytes(self) -> int:
        """A generous estimate of what the session holds (data, weights, optimizer state)."""
        data = sum(a.nbytes for a in (self.data.x_train, self.data.y_train, self.data.x_test,
                                      self.data.y_test))
        per_parameter = 8 * {"lbfgs": 2 * 100 + 6, "lm": 8}.get(self.config.optimizer, 6)
        jacobian = 0
        if self.config.optimizer == "lm":
            jacobian = 8 * 3 * len(self.data.x_train) * self.data.n_outputs * self.n_parameters
        activations = 8 * len(self.data.x_train) * (sum(self.config.hidden) + 4) * 4
        return data + self.n_parameters * per_parameter + jacobian + activations

    @contextlib.contextmanager
    def _own_random_state(self):
        """Swap this session's generator state into bpnn's global one for the block (under the
        one training lock: nothing else draws from the global generator meanwhile)."""
        from bpnn import backend

        with _TRAIN_LOCK:
            saved = backend.get_rng_state()
            backend.set_rng_state(self.rng_state)
            try:
                yield
            finally:
                self.rng_state = backend.get_rng_state()
                backend.set_rng_state(saved)

    # ------------------------------------------------------------------ training
    def _validation(self):
        if len(self.data.x_test) == 0:
            return None
        return (self.data.x_test, self.data.y_test)

    def train(self, epochs: int) -> dict:
        """Run up to ``epochs`` epochs (fewer if the request's time budget runs out).

        Returns
        -------
        dict
            ``epoch``, ``epochs_run``, ``loss``, ``test_loss`` and ``accuracy`` / ``r2`` (with
            ``test_accuracy`` / ``test_r2``) of the last epoch.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) \
                or not 1 <= epochs <= MAX_EPOCHS_PER_REQUEST:
            raise PlaygroundError(f"epochs must be an integer from 1 to "
                                  f"{MAX_EPOCHS_PER_REQUEST}, got {epochs!r}")
        started = time.perf_counter()
        done = 0
        with self.lock, self._own_random_state():
            while done < epochs:
                chunk = min(epochs - done, 5)
                self.model.fit(self.data.x_train, self.data.y_train, batch_size=self.batch_size,
                               epochs=self.model.epoch + chunk, initial_epoch=self.model.epoch,
                               validation_data=self._validation(), verbose=0,
                               terminate_on_nan=False)  # a learner should see it diverge
                done += chunk
                if time.perf_counter() - started > SECONDS_PER_REQUEST:
                    break
        self.last_used = time.monotonic()
        return {**self.summary(), "epochs_run": done}

    def step(self) -> dict:
        """One optimizer update on the next mini-batch (full batch for L-BFGS and LM: an epoch).

        The epoch count and loss curves move only with whole epochs.
        """
        from bpnn.autograd import Tensor

        if getattr(self.model.optimizer, "requires_closure", False):
            return self.train(1)
        with self.lock, self._own_random_state():
            n = len(self.data.x_train)
            start = (self.steps * self.batch_size) % n
            rows = np.arange(start, min(start + self.batch_size, n))
            self.network.train()
            loss = self.model.train_step(Tensor(self.data.x_train[rows]),
                                         Tensor(self.data.y_train[rows]))
            self.steps += 1
        self.last_used = time.monotonic()
        return {**self.summary(), "step_loss": loss, "steps": self.steps}

    def summary(self) -> dict:
        """The last epoch's numbers (``None`` before the first epoch)."""
        history = self.model.history.history if self.model.epoch else {}

        def last(key):
            values = history.get(key)
            return float(values[-1]) if values else None

        result = {"epoch": self.model.epoch, "loss": last("loss"), "test_loss": last("val_loss")}
        if self.data.task != "classic":
            result[self.metric] = last(self.metric)
            result[f"test_{self.metric}"] = last(f"val_{self.metric}")
        return result

    # ------------------------------------------------------------------ views
    def _predict(self, x: np.ndarray) -> np.ndarray:
        from bpnn.autograd import Tensor, no_grad

        was_training = self.network.training
        self.network.eval()
        try:
            with no_grad():
                return self.network(Tensor(x)).data
        finally:
            self.network.train(was_training)

    def _layer_outputs(self, x: np.ndarray) -> list:
        """Each layer's activations (inputs first) for one row, in eval mode."""
        from bpnn.autograd import Tensor, no_grad

        values = [x.tolist()]
        current = Tensor(x[None, :])
        with no_grad():
            for linear, activation in zip(self.linears, self.activations, strict=True):
                current = _activation_module(activation)(linear(current))
                values.append(current.data[0].tolist())
        return values

    def _view(self) -> dict | None:
        """The decision boundary (2 inputs) or fitted curve (1 input) over the data's range."""
        data = self.data
        everything = np.concatenate([data.x_train, data.x_test])
        low, high = everything.min(axis=0), everything.max(axis=0)
        pad = np.maximum((high - low) * 0.08, 0.1)
        low, high = low - pad, high + pad
        if data.n_features == 1:
            grid = np.linspace(low[0], high[0], CURVE_POINTS)[:, None]
            return {"kind": "curve", "x": np.round(grid[:, 0], 5).tolist(),
                    "y": np.round(self._predict(grid)[:, 0], 5).tolist()}
        if data.n_features != 2 or data.task == "classic":
            return None
        xs = np.linspace(low[0], high[0], GRID_SIZE)
        ys = np.linspace(low[1], high[1], GRID_SIZE)
        mesh = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)  # row-major, y outer
        output = self._predict(mesh)
        view = {"kind": "grid", "size": GRID_SIZE, "x_range": [float(low[0]), float(high[0])],
                "y_range": [float(low[1]), float(high[1])]}
        if data.task == "binary":
            view["values"] = np.round(output[:, 0], 4).tolist()
        elif data.task == "multiclass":
            shifted = np.exp(output - output.max(axis=1, keepdims=True))
            probabilities = shifted / shifted.sum(axis=1, keepdims=True)
            view["classes"] = output.argmax(axis=1).tolist()
            view["values"] = np.round(probabilities.max(axis=1), 4).tolist()
        else:
            view["values"] = np.round(output[:, 0], 4).tolist()
        return view

    def _row(self, sample: int, split: str) -> tuple:
        x, y = (self.data.x_train, self.data.y_train) if split == "train" \
            else (self.data.x_test, self.data.y_test)
        if split not in ("train", "test"):
            raise PlaygroundError(f"split must be 'train' or 'test', got {split!r}")
        if not 0 <= sample < len(x):
            raise PlaygroundError(f"sample must be from 0 to {len(x) - 1} for the {split} rows "
                                  f"of {self.data.name}, got {sample}", status=404 if len(x)
                                  else 400)
        return x[sample], y[sample]

    def state(self, since: int = 0, sample: int = 0, split: str = "train") -> dict:
        """Weights, the boundary or curve, the loss history from epoch ``since`` on, and the
        activations of one sample."""
        with self.lock:
            history = self.model.history.history
            keys = ["loss", "val_loss"] + ([self.metric, f"val_{self.metric}"]
                                           if self.data.task != "classic" else [])
            since = max(0, min(since, self.model.epoch))
            x_row, _ = self._row(sample, split)
            state = {
                **self.summary(),
                "steps": self.steps,
                "sizes": [self.data.n_features, *self.config.hidden, self.data.n_outputs],
                "activations": self.activations,
                "layers": [{"weight": np.round(linear.weight.data, 6).tolist(),
                            "bias": np.round(linear.bias.data, 6).tolist()}
                           for linear in self.linears],
                "node_values": self._layer_outputs(x_row),
                "history": {"since": since,
                            **{key.replace("val_", "test_"): [float(v) for v in
                                                             history.get(key, [])[since:]]
                               for key in keys}},
                "view": self._view(),
            }
        self.last_used = time.monotonic()
        return state

    def explain_spec(self, sample: int = 0, split: str = "train") -> dict:
        """The network and one sample as a ``bpnn explain`` network description."""
        x_row, y_row = self._row(sample, split)
        if self.data.task == "multiclass":
            target = np.zeros(self.data.n_outputs)
            target[int(y_row)] = 1.0
        else:
            target = np.asarray(y_row, dtype=np.float64).reshape(-1)
        error = "half_squared_error" if self.data.task == "classic" \
            else EXPLAIN_ERRORS[self.loss_name]
        return {
            "description": f"{self.data.name}, {split} sample {sample}, epoch {self.model.epoch}",
            "input": [float(v) for v in x_row], "target": target.tolist(),
            "activation": self.config.activation, "learning_rate": self.config.lr,
            "error": error,
            "layers": [{"weights": linear.weight.data.tolist(),
                        "bias": linear.bias.data.tolist(), "activation": activation}
                       for linear, activation in zip(self.linears, self.activations,
                                                     strict=True)],
        }

    def explain(self, sample: int = 0, split: str = "train") -> dict:
        """``bpnn explain``'s trace of one sample through the current network."""
        from bpnn.cli.explain import check_network, trace_backpropagation

        with self.lock:
            spec = check_network(self.explain_spec(sample, split), "the playground network")
        self.last_used = time.monotonic()
        with _TRAIN_LOCK:  # building the trace's layers draws from the global generator
            return trace_backpropagation(spec)

    def describe(self) -> dict:
        """What the page shows about the session: task, loss, sizes, rows, classes, notes."""
        return {"id": self.id, "dataset": self.data.name, "task": self.data.task,
                "loss": self.loss_name, "metric": self.metric if self.data.task != "classic"
                else None, "sizes": [self.data.n_features, *self.config.hidden,
                                     self.data.n_outputs],
                "batch_size": self.batch_size, "n_train": len(self.data.x_train),
                "n_test": len(self.data.x_test), "feature_names": self.data.feature_names,
                "classes": [str(c) for c in self.data.classes], "notes": self.data.notes,
                "config": self.config.__dict__}


class SessionStore:
    """Live sessions and uploaded tables, capped in number and estimated memory.

    Parameters
    ----------
    max_sessions : int, default 8
    max_bytes : int, default 256 MiB
        The sessions' estimated memory together.
    idle_seconds : float, default 600
        A full store first drops sessions unused this long.
    max_uploads : int, default 8
    """

    def __init__(self, max_sessions: int = 8, max_bytes: int = 256 * 2**20,
                 idle_seconds: float = 600.0, max_uploads: int = 8):
        self.max_sessions, self.max_bytes = max_sessions, max_bytes
        self.idle_seconds, self.max_uploads = idle_seconds, max_uploads
        self.sessions: dict = {}
        self.uploads: dict = {}
        self._lock = threading.Lock()

    def _drop_idle(self) -> None:
        now = time.monotonic()
        for key, session in list(self.sessions.items()):
            if now - session.last_used > self.idle_seconds:
                del self.sessions[key]

    def create(self, options) -> Session:
        """Check the options, build the data and the session, and keep it.

        Raises
        ------
        PlaygroundError
            400 for bad options, 404 for an unknown upload, 429 when the store is full.
        """
        config = SessionConfig.from_json(options)
        if config.dataset == "upload":
            table = self.uploads.get(config.upload)
            if table is None:
                raise PlaygroundError(f"no upload {config.upload!r} (uploads live until the "
                                      "server stops, at most "
                                      f"{self.max_uploads} at a time)", status=404)
            data = table.dataset(config.test_fraction, config.seed)
        else:
            data = make_toy(config.dataset, config.n_points, config.noise, config.test_fraction,
                            config.seed)
        session = Session(config, data)
        with self._lock:
            self._drop_idle()
            if len(self.sessions) >= self.max_sessions:
                raise PlaygroundError(f"the playground already runs {len(self.sessions)} "
                                      "sessions, its limit; delete one first", status=429)
            used = sum(s.memory_bytes() for s in self.sessions.values())
            if used + session.memory_bytes() > self.max_bytes:
                raise PlaygroundError(
                    f"this session would need about {session.memory_bytes() / 2**20:.1f} MiB "
                    f"and the sessions may hold {self.max_bytes / 2**20:.0f} MiB together "
                    f"({used / 2**20:.1f} MiB in use); use a smaller network or data set, or "
                    "delete a session", status=429)
            self.sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session:
        """The session with this id, or a 404 ``PlaygroundError``."""
        session = self.sessions.get(session_id)
        if session is None:
            raise PlaygroundError(f"no session {session_id!r} (deleted, or dropped after "
                                  f"{self.idle_seconds:.0f} s unused)", status=404)
        return session

    def delete(self, session_id: str) -> None:
        """Forget a session (404 if there is none)."""
        with self._lock:
            self.get(session_id)
            del self.sessions[session_id]

    def add_upload(self, table) -> str:
        """Keep an uploaded table (the oldest goes when there are too many); returns its id."""
        with self._lock:
            if len(self.uploads) >= self.max_uploads:
                oldest = next(iter(self.uploads))
                del self.uploads[oldest]
            key = uuid.uuid4().hex[:12]
            self.uploads[key] = table
        return key
