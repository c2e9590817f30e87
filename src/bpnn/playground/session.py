"""One playground session: a data set and a real ``bpnn.Model`` trained a few epochs per request.

Training runs under one lock with each session's own random state swapped into bpnn's global
generator, so a session replays identically for its seed whatever other sessions do.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import numpy as np

from bpnn.playground.datasets import Dataset, PlaygroundError
from bpnn.playground.options import LOSSES, MAX_EPOCHS_PER_REQUEST, MAX_LM_JACOBIAN, SessionConfig

# The loss trained -> the per-sample error bpnn explain traces for it. The classic example is
# trained with MSELoss over its two outputs, which for one sample is exactly its 1/2-sum error.
EXPLAIN_ERRORS = {"bce": "binary_cross_entropy", "mse": "mse", "cross_entropy": "cross_entropy"}

GRID_SIZE = 48
CURVE_POINTS = 160
SECONDS_PER_REQUEST = 30.0  # a train request stops after this long; epochs_run says how many ran

_TRAIN_LOCK = threading.Lock()


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
