"""SGD, Adagrad, RMSprop, Adam and AdamW follow torch.optim's trajectories step for step."""

import numpy as np
import pytest

import bpnn
from bpnn.nn import Parameter

STEPS = 25
RELOAD_AT = 12
SHAPES = {"weight": (3, 4), "bias": (4,), "other": (5,)}

CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "maximize": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.7, "weight_decay": 0.2, "nesterov": True,
             "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.3, "eps": 1e-3}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.05, "maximize": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-4}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-3}),
    ("Adam", {"lr": 0.05, "maximize": True}),
    ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1, "maximize": True}),
    ("AdamW", {"lr": 0.05}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.3}),
    ("AdamW", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.05, "betas": (0.5, 0.9), "maximize": True}),
]
TOLERANCES = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 1e-5, "atol": 1e-6}}


def _case_id(case):
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def _initial_values(dtype):
    rng = np.random.default_rng(7)
    return {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}


def _gradient(step, name, value):
    """A quadratic's gradient plus seeded noise: the same function of the same inputs for both."""
    noise = np.random.default_rng([step, len(name)]).standard_normal(value.shape)
    return (0.7 * value + noise).astype(value.dtype)


def _groups(params, kwargs):
    # Two groups with different learning rates; the second overrides lr only.
    return [{"params": [params["weight"], params["bias"]]},
            {"params": [params["other"]], "lr": kwargs["lr"] / 2.5}]


def _bpnn_params(values):
    return {name: Parameter(value.copy()) for name, value in values.items()}


def _torch_params(torch, values):
    return {name: torch.nn.Parameter(torch.from_numpy(value.copy()))
            for name, value in values.items()}


def _step_bpnn(optimizer, params, step):
    for name, p in params.items():
        p.grad = _gradient(step, name, p.data)
    optimizer.step()


def _step_torch(optimizer, params, step):
    for name, p in params.items():
        p.grad = p.new_tensor(_gradient(step, name, p.detach().numpy()))
    optimizer.step()


def follow_reference(torch, bpnn_class, reference_class, kwargs, dtype):
    """Run both optimizers 25 steps on the same gradients, reloading bpnn's halfway.

    Asserts after every step that the parameters agree (dtype kept, ``TOLERANCES``); returns
    ``(optimizer, reference, ours, theirs)`` for checks of the final state.
    """
    values = _initial_values(dtype)
    ours = _bpnn_params(values)
    theirs = _torch_params(torch, values)
    optimizer = bpnn_class(_groups(ours, kwargs), **kwargs)
    reference = reference_class(_groups(theirs, kwargs), **kwargs)

    for step in range(1, STEPS + 1):
        _step_bpnn(optimizer, ours, step)
        _step_torch(reference, theirs, step)
        for key in SHAPES:
            assert ours[key].data.dtype == np.dtype(dtype)
            np.testing.assert_allclose(ours[key].data, theirs[key].detach().numpy(),
                                       err_msg=f"{key} after step {step}", **TOLERANCES[dtype])
        if step == RELOAD_AT:
            # a checkpoint taken now must resume in a fresh optimizer without any difference
            saved = optimizer.state_dict()
            optimizer = bpnn_class(_groups(ours, kwargs), **kwargs)
            optimizer.load_state_dict(saved)
    return optimizer, reference, ours, theirs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_trajectory_matches_torch_with_reload_halfway(torch, case, dtype):
    name, kwargs = case
    optimizer, reference, ours, theirs = follow_reference(
        torch, getattr(bpnn.optim, name), getattr(torch.optim, name), kwargs, dtype)

    # the state carries torch's names and values
    for key, torch_param in theirs.items():
        expected = reference.state[torch_param]
        got = optimizer.state[ours[key]]
        assert set(got) == set(expected), key
        for state_name, value in expected.items():
            if state_name == "step":
                assert got["step"] == STEPS and isinstance(got["step"], int)
                assert float(value) == STEPS
            else:
                assert got[state_name].dtype == np.dtype(dtype)
                np.testing.assert_allclose(got[state_name], value.numpy(), **TOLERANCES[dtype])


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_defaults_equal_torch(torch, name):
    weight = Parameter(np.zeros(2))
    ours = getattr(bpnn.optim, name)([weight]).defaults
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))]).defaults
    for key, value in ours.items():
        assert theirs[key] == value, key


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_frozen_and_gradless_parameters_are_untouched(name):
    trained = Parameter(np.ones(3, dtype=np.float32))
    frozen = Parameter(np.ones(3, dtype=np.float32), requires_grad=False)
    gradless = Parameter(np.ones(3, dtype=np.float32))
    optimizer = getattr(bpnn.optim, name)([trained, frozen, gradless], lr=0.1)
    for _ in range(3):
        trained.grad = np.full(3, 0.5, dtype=np.float32)
        frozen.grad = np.full(3, 0.5, dtype=np.float32)  # a stale gradient must not be applied
        optimizer.step()
    assert np.all(trained.data < 1.0)
    np.testing.assert_array_equal(frozen.data, np.ones(3, dtype=np.float32))
    np.testing.assert_array_equal(gradless.data, np.ones(3, dtype=np.float32))
    assert frozen not in optimizer.state and gradless not in optimizer.state


def test_adam_update_allocates_no_param_sized_arrays_beyond_one_scratch():
    # the hot path of the MLP benchmark: one temporary, float32 throughout
    weight = Parameter(np.ones((64, 32), dtype=np.float32))
    optimizer = bpnn.optim.Adam([weight], lr=0.1)
    weight.grad = np.full((64, 32), 0.25, dtype=np.float32)
    optimizer.step()
    state = optimizer.state[weight]
    assert {state[k].dtype for k in ("exp_avg", "exp_avg_sq")} == {np.dtype(np.float32)}
    # first Adam step moves every coordinate by lr * sign(grad) (up to eps)
    np.testing.assert_allclose(weight.data, np.full((64, 32), 0.9), rtol=1e-6)


INVALID = [
    ("SGD", {"lr": -0.1}, "invalid lr: -0.1"),
    ("SGD", {"momentum": -0.5}, "invalid momentum: -0.5"),
    ("SGD", {"weight_decay": -1}, "invalid weight_decay: -1"),
    ("SGD", {"nesterov": True}, "Nesterov momentum requires a momentum > 0"),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "zero dampening"),
    ("SGD", {"lr": "fast"}, "lr must be a real number >= 0, got 'fast'"),
    ("SGD", {"lr": float("nan")}, "invalid lr: nan"),
    ("Adagrad", {"lr_decay": -0.1}, "invalid lr_decay"),
    ("Adagrad", {"initial_accumulator_value": -1.0}, "invalid initial_accumulator_value"),
    ("Adagrad", {"eps": -1e-10}, "invalid eps"),
    ("RMSprop", {"alpha": -0.99}, "invalid alpha"),
    ("RMSprop", {"momentum": -0.1}, "invalid momentum"),
    ("Adam", {"betas": (1.0, 0.999)}, r"invalid beta parameter at index 0: 1.0 \(it must be in"),
    ("Adam", {"betas": (0.9, -0.1)}, "invalid beta parameter at index 1: -0.1"),
    ("Adam", {"betas": (0.9,)}, r"betas must be a pair \(beta1, beta2\), got \(0.9,\)"),
    ("AdamW", {"weight_decay": -0.01}, "invalid weight_decay"),
    ("AdamW", {"eps": -1.0}, "invalid eps"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), INVALID,
                         ids=[f"{n}-{'-'.join(k)}" for n, k, _ in INVALID])
def test_invalid_hyper_parameters_raise(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(bpnn.optim, name)([Parameter(np.zeros(2))], **kwargs)


def test_loading_a_state_dict_of_another_shape_is_refused():
    source = bpnn.optim.Adam([Parameter(np.zeros(3))])
    source.param_groups[0]["params"][0].grad = np.ones(3)
    source.step()
    target = bpnn.optim.Adam([Parameter(np.zeros(4))])
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 0 has shape \(3,\)"):
        target.load_state_dict(source.state_dict())


def test_rmsprop_momentum_switched_on_later_starts_from_a_zero_buffer(torch):
    # a momentum set after the first step (e.g. by OneCycleLR) starts a zero buffer, as
    # torch's own initial state; torch itself raises KeyError here, so it gets one by hand
    ours = Parameter(np.array([1.0, -2.0]))
    theirs = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    optimizer = bpnn.optim.RMSprop([ours], lr=0.01)
    reference = torch.optim.RMSprop([theirs], lr=0.01, momentum=0.9)
    reference.param_groups[0]["momentum"] = 0.0
    for step in range(1, 6):
        if step == 3:
            optimizer.param_groups[0]["momentum"] = reference.param_groups[0]["momentum"] = 0.9
            reference.state[theirs]["momentum_buffer"] = torch.zeros_like(theirs)
        _step_bpnn(optimizer, {"x": ours}, step)
        _step_torch(reference, {"x": theirs}, step)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
