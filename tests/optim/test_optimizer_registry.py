"""bpnn.optim.get by name, the optimizer registry and rebuilding an optimizer from its config."""

import json

import numpy as np
import pytest

import bpnn
from bpnn.nn import Parameter
from bpnn.optim import registry


def _params():
    return [Parameter(np.array([1.0, -2.0, 0.5], dtype=np.float32)),
            Parameter(np.array([[0.3, 0.1]], dtype=np.float32))]


@pytest.mark.parametrize(("name", "cls"), [
    ("sgd", bpnn.optim.SGD), ("SGD", bpnn.optim.SGD), ("Adam", bpnn.optim.Adam),
    ("ADAMW", bpnn.optim.AdamW), ("rmsprop", bpnn.optim.RMSprop),
    ("RMSprop", bpnn.optim.RMSprop), ("adagrad", bpnn.optim.Adagrad),
])
def test_get_by_name_is_case_insensitive(name, cls):
    optimizer = bpnn.optim.get(name, _params(), lr=0.25)
    assert type(optimizer) is cls
    assert optimizer.param_groups[0]["lr"] == 0.25


def test_get_returns_an_instance_unchanged_and_accepts_a_class():
    optimizer = bpnn.optim.Adam(_params())
    assert bpnn.optim.get(optimizer) is optimizer
    assert type(bpnn.optim.get(bpnn.optim.RMSprop, _params())) is bpnn.optim.RMSprop


def test_get_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamax'; known optimizers: "
                                         r"adagrad, adam, adamw, .*rmsprop, .*sgd"):
        bpnn.optim.get("adamax", _params())
    with pytest.raises(ValueError, match="needs the parameters to optimise"):
        bpnn.optim.get("adam")
    with pytest.raises(ValueError, match=r"Adam got unknown hyper-parameter\(s\) \['momentum'\]"):
        bpnn.optim.get("adam", _params(), momentum=0.9)
    with pytest.raises(ValueError, match="already built"):
        bpnn.optim.get(bpnn.optim.SGD(_params()), lr=0.1)
    with pytest.raises(TypeError, match="expected an optimizer name, class or instance, got int"):
        bpnn.optim.get(3, _params())


def test_register_optimizer_adds_a_name_and_refuses_collisions(monkeypatch):
    monkeypatch.setattr(registry, "OPTIMIZERS", dict(registry.OPTIMIZERS))

    class Sign(bpnn.optim.SGD):
        pass

    assert bpnn.optim.register_optimizer("Sign_SGD", Sign) is Sign
    assert type(registry.get("sign_sgd", _params())) is Sign
    # the checkpoint name is the class name, which differs from the registered key here
    assert registry.get_optimizer_class("Sign") is Sign
    with pytest.raises(ValueError, match="optimizer name 'adam' is already taken by Adam"):
        registry.register_optimizer("adam", Sign)
    with pytest.raises(TypeError, match="only subclasses of bpnn.optim.Optimizer"):
        registry.register_optimizer("dict", dict)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_config_and_state_dict_rebuild_an_optimizer_that_continues_identically(name):
    kwargs = {"SGD": {"momentum": 0.9, "nesterov": True}, "Adam": {"amsgrad": True},
              "AdamW": {"betas": (0.8, 0.95)}, "RMSprop": {"centered": True, "momentum": 0.5},
              "Adagrad": {"lr_decay": 0.01}}[name]
    params = _params()
    optimizer = getattr(bpnn.optim, name)(params, lr=0.05, **kwargs)
    rng = np.random.default_rng(3)

    def run(opt, steps):
        for _ in range(steps):
            for p in params:
                p.grad = rng.standard_normal(p.shape).astype(np.float32)
            opt.step()

    run(optimizer, 4)
    config = json.loads(json.dumps(bpnn.optim.optimizer_config(optimizer)))  # plain JSON
    assert config["name"] == name
    state = optimizer.state_dict()
    rebuilt = bpnn.optim.optimizer_from_config(config["name"], params, config["defaults"], state)
    snapshot = [p.data.copy() for p in params]
    rng_state = rng.bit_generator.state
    run(optimizer, 3)
    expected = [p.data.copy() for p in params]
    for p, value in zip(params, snapshot, strict=True):
        p.data[...] = value
    rng.bit_generator.state = rng_state
    run(rebuilt, 3)
    for p, value in zip(params, expected, strict=True):
        np.testing.assert_array_equal(p.data, value)
    if name != "SGD":  # SGD keeps no step count, as in torch
        assert [s["step"] for s in rebuilt.state.values()] == [7, 7]


def test_optimizer_config_turns_tuples_into_lists():
    config = bpnn.optim.optimizer_config(bpnn.optim.AdamW(_params(), betas=(0.5, 0.75)))
    assert config == {"name": "AdamW", "defaults": {
        "lr": 1e-3, "betas": [0.5, 0.75], "eps": 1e-8, "weight_decay": 1e-2, "amsgrad": False,
        "maximize": False}}


def test_get_accepts_a_config_dict_and_keras_learning_rate():
    config = bpnn.optim.optimizer_config(bpnn.optim.RMSprop(_params(), lr=0.3, centered=True))
    rebuilt = bpnn.optim.get(config, _params(), alpha=0.5)
    assert type(rebuilt) is bpnn.optim.RMSprop
    assert (rebuilt.defaults["lr"], rebuilt.defaults["centered"], rebuilt.defaults["alpha"]) == (
        0.3, True, 0.5)
    assert bpnn.optim.get("sgd", _params(), learning_rate=0.2).defaults["lr"] == 0.2
    with pytest.raises(ValueError, match="either lr or learning_rate"):
        bpnn.optim.get("sgd", _params(), lr=0.1, learning_rate=0.2)
    with pytest.raises(ValueError, match=r"needs a 'name' key .*got keys \['defaults'\]"):
        bpnn.optim.get({"defaults": {}}, _params())


@pytest.mark.parametrize("saved_step", [4, 4.0, np.array(4.0)], ids=["int", "float", "0-d array"])
def test_a_step_count_loaded_as_float_or_array_continues_as_int(saved_step):
    params = _params()
    optimizer = bpnn.optim.Adam(params, lr=0.1)
    for p in params:
        p.grad = np.ones(p.shape, dtype=np.float32)
    optimizer.step()
    state = optimizer.state_dict()
    for entry in state["state"].values():
        entry["step"] = saved_step
    optimizer.load_state_dict(state)
    optimizer.step()
    assert [s["step"] for s in optimizer.state.values()] == [5, 5]
    assert all(type(s["step"]) is int for s in optimizer.state.values())


def test_every_optimizer_file_registers_its_class_by_decorator(monkeypatch):
    # the registry module names no optimizer: each file registers itself where it is defined
    for cls in (bpnn.optim.SGD, bpnn.optim.Adam, bpnn.optim.LBFGS, bpnn.optim.Lion):
        assert not hasattr(registry, cls.__name__)
        assert bpnn.optim.OPTIMIZERS[cls.__name__.lower()] is cls
    assert bpnn.optim.OPTIMIZERS["cg"] is bpnn.optim.OPTIMIZERS["conjugate_gradient"]
    monkeypatch.setattr(registry, "OPTIMIZERS", dict(registry.OPTIMIZERS))

    @bpnn.optim.register_optimizer("halving_sgd")
    class HalvingSGD(bpnn.optim.SGD):
        pass

    assert type(bpnn.optim.get("halving_sgd", _params(), lr=0.5)) is HalvingSGD


def test_state_arrays_are_checked_and_cast_by_shape_not_by_name():
    class Decaying(bpnn.optim.SGD):
        """A new optimizer with its own state name, unknown to the base class."""

        def init_state(self, param, group):
            return {"trace": np.zeros_like(param.data), "scale": np.ones(1, param.data.dtype)}

        def update(self, data, grad, state, group):
            state["trace"] *= 0.5
            state["trace"] += grad
            data -= group["lr"] * state["trace"]

    params = _params()
    opt = Decaying(params, lr=0.1)
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.step()
    saved = opt.state_dict()
    wide = {"state": {i: {k: v.astype(np.float64) for k, v in s.items()}
                      for i, s in saved["state"].items()},
            "param_groups": saved["param_groups"]}
    again = Decaying(params, lr=0.1)
    again.load_state_dict(wide)
    for p in params:
        assert again.state[p]["trace"].dtype == np.float32  # cast: shaped like its parameter
        np.testing.assert_array_equal(again.state[p]["trace"], np.ones_like(p.data))
    assert again.state[params[1]]["scale"].dtype == np.float64  # kept: not element state
    wrong = {"state": {0: {"trace": np.zeros(4, np.float32)}},
             "param_groups": saved["param_groups"]}
    with pytest.raises(ValueError, match=r"'trace' of parameter 0 has shape \(4,\), the "
                                         r"parameter has \(3,\)"):
        Decaying(params, lr=0.1).load_state_dict(wrong)
