"""Parameters, gradients and optimizer state as views into one flat buffer per dtype."""

import pathlib

import numpy as np
import pytest

import bpnn
from bpnn import nn
from bpnn.nn import Parameter

DATA = pathlib.Path(__file__).parent / "data"
FIRST_ORDER = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Lion"]
HYPER = {"SGD": {"lr": 0.1, "momentum": 0.9}, "RMSprop": {"lr": 0.01, "momentum": 0.5}}


def _shares(view, flat) -> bool:
    return np.shares_memory(view, flat)


def _grads(params, step):
    for i, p in enumerate(params):
        p.grad = np.random.default_rng([step, i]).standard_normal(p.data.shape).astype(
            p.data.dtype)


def _per_parameter_reference(name, values, steps, groups=None):
    """The same trajectory with one optimizer per parameter: nothing shared, nothing fused."""
    params = [Parameter(v.copy()) for v in values]
    optimizers = [getattr(bpnn.optim, name)([p], **HYPER.get(name, {"lr": 0.05}))
                  for p in params]
    for step in range(steps):
        _grads(params, step)
        for opt in optimizers:
            opt.step()
    return params


def _values(dtype="float32"):
    rng = np.random.default_rng(5)
    return [rng.standard_normal(shape).astype(dtype) for shape in [(4, 3), (3,), (3, 2), (2,)]]


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_fused_step_equals_one_optimizer_per_parameter_bit_for_bit(name):
    values = _values()
    params = [Parameter(v.copy()) for v in values]
    opt = getattr(bpnn.optim, name)(params, **HYPER.get(name, {"lr": 0.05}))
    for step in range(6):
        _grads(params, step)
        opt.step()
    expected = _per_parameter_reference(name, values, 6)
    flat = opt.flat_parameters()[np.dtype(np.float32)]
    for p, q in zip(params, expected, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
        assert _shares(p.data, flat) and p.data.shape == q.data.shape
        for key, value in opt.state[p].items():
            if isinstance(value, np.ndarray):
                assert value.shape == p.data.shape and value.base is not None, key


def test_data_grad_and_state_are_views_into_one_buffer_per_dtype():
    w32, b32 = Parameter(np.ones((3, 2), np.float32)), Parameter(np.ones(2, np.float32))
    w64 = Parameter(np.ones(4, np.float64))
    opt = bpnn.optim.Adam([w32, w64, b32], lr=0.1)
    for p in (w32, w64, b32):
        p.grad = np.full(p.data.shape, 0.5, p.data.dtype)
    opt.step()
    grads = opt.flat_gradients()
    data = opt.flat_parameters()
    assert sorted(str(d) for d in grads) == ["float32", "float64"]
    assert data[np.dtype(np.float32)].size == 8 and data[np.dtype(np.float64)].size == 4
    for p in (w32, w64, b32):
        assert _shares(p.data, data[p.data.dtype]) and _shares(p.grad, grads[p.data.dtype])
        assert p.data.dtype == p.grad.dtype == opt.state[p]["exp_avg"].dtype
    # writing into the flat buffer is writing into the parameters (a broadcast, say)
    data[np.dtype(np.float32)][:] = 7.0
    np.testing.assert_array_equal(w32.data, np.full((3, 2), 7.0, np.float32))


def test_flat_gradients_reduced_in_place_are_what_step_applies():
    a, b = Parameter(np.zeros(3)), Parameter(np.zeros(2))
    opt = bpnn.optim.SGD([a, b], lr=1.0)
    a.grad, b.grad = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0])
    flat = opt.flat_gradients()[np.dtype(np.float64)]
    np.testing.assert_array_equal(flat, [1, 2, 3, 4, 5])
    flat *= 0.5  # e.g. the mean of an Allreduce over two processes
    opt.step()
    np.testing.assert_array_equal(a.data, [-0.5, -1.0, -1.5])
    np.testing.assert_array_equal(b.data, [-2.0, -2.5])


def test_flat_gradients_read_zero_for_parameters_without_gradient():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = bpnn.optim.SGD([a, b], lr=1.0)
    a.grad = b.grad = np.ones(2)
    opt.step()
    a.grad, b.grad = np.full(2, 3.0), None
    np.testing.assert_array_equal(opt.flat_gradients()[np.dtype(np.float64)], [3, 3, 0, 0])
    assert b.grad is None


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_keeps_views_or_clears(set_to_none):
    w = Parameter(np.ones(3, np.float32))
    opt = bpnn.optim.SGD([w], lr=0.1)
    w.grad = np.ones(3, np.float32)
    opt.step()
    flat = opt.flat_gradients()[np.dtype(np.float32)]
    opt.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert w.grad is None
    else:
        np.testing.assert_array_equal(w.grad, np.zeros(3, np.float32))
        assert _shares(w.grad, flat)
        np.testing.assert_array_equal(flat, np.zeros(3, np.float32))


def test_load_state_dict_keeps_views_and_resumes_exactly():
    values = _values()
    params = [Parameter(v.copy()) for v in values]
    opt = bpnn.optim.Adam(params, lr=0.05)
    twin = [Parameter(v.copy()) for v in values]
    twin_opt = bpnn.optim.Adam(twin, lr=0.05)
    for step in range(3):
        _grads(params, step)
        _grads(twin, step)
        opt.step()
        twin_opt.step()
    saved = twin_opt.state_dict()
    assert all(v["exp_avg"].base is None for v in saved["state"].values())  # copies
    opt.load_state_dict(saved)
    flat = opt.flat_parameters()[np.dtype(np.float32)]
    for p in params:
        assert _shares(opt.state[p]["exp_avg"], opt._buffers.state[np.dtype(np.float32)][
            "exp_avg"])
        assert _shares(p.data, flat)
    for step in range(3, 6):
        _grads(params, step)
        _grads(twin, step)
        opt.step()
        twin_opt.step()
    for p, q in zip(params, twin, strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_frozen_parameter_in_the_middle_splits_the_update_and_stays_put():
    values = _values()
    params = [Parameter(v.copy()) for v in values]
    params[1].requires_grad_(False)
    opt = bpnn.optim.Adam(params, lr=0.05)
    twins = [Parameter(v.copy()) for v in values]
    separate = [bpnn.optim.Adam([twins[i]], lr=0.05) for i in (0, 2, 3)]
    for step in range(4):
        _grads(params, step)
        _grads(twins, step)
        opt.step()
        for reference in separate:
            reference.step()
    np.testing.assert_array_equal(params[1].data, values[1])
    assert params[1] not in opt.state
    for i in (0, 2, 3):
        np.testing.assert_array_equal(params[i].data, twins[i].data)
    # unfreezing later: the parameter starts its own state (step 1) beside the others (step 5)
    params[1].requires_grad_(True)
    _grads(params, 4)
    opt.step()
    assert opt.state[params[1]]["step"] == 1 and opt.state[params[0]]["step"] == 5


def test_parameter_groups_with_different_steps_match_separate_optimizers():
    values = _values("float64")
    params = [Parameter(v.copy()) for v in values]
    opt = bpnn.optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.01}], lr=0.05)
    first = [Parameter(v.copy()) for v in values[:2]]
    second = [Parameter(v.copy()) for v in values[2:]]
    ref_first = bpnn.optim.Adam(first, lr=0.05)
    ref_second = bpnn.optim.Adam(second, lr=0.01)
    for step in range(5):
        _grads(params, step)
        _grads(first + second, step)
        if step == 2:  # the second group gets no gradient once: its step count falls behind
            for p in params[2:] + second:
                p.grad = None
        opt.step()
        ref_first.step()
        ref_second.step()
    for p, q in zip(params, first + second, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    assert [opt.state[p]["step"] for p in params] == [5, 5, 4, 4]


def test_add_param_group_lays_the_buffer_out_again():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(3))
    opt = bpnn.optim.SGD([a], lr=0.5, momentum=0.9)
    a.grad = np.ones(2)
    opt.step()
    opt.add_param_group({"params": [b], "lr": 0.1})
    a.grad, b.grad = np.ones(2), np.ones(3)
    opt.step()
    flat = opt.flat_parameters()[np.dtype(np.float64)]
    assert flat.size == 5 and _shares(a.data, flat) and _shares(b.data, flat)
    # a: 1 - 0.5 - 0.5 * (0.9 + 1); b: its first step
    np.testing.assert_allclose(a.data, 1 - 0.5 - 0.5 * 1.9)
    np.testing.assert_allclose(b.data, 0.9)
    np.testing.assert_allclose(opt.state[a]["momentum_buffer"], 1.9)


def test_data_replaced_by_the_user_is_taken_back_into_the_buffer():
    w, b = Parameter(np.zeros(3)), Parameter(np.zeros(2))
    opt = bpnn.optim.SGD([w, b], lr=1.0)
    w.grad, b.grad = np.ones(3), np.ones(2)
    opt.step()
    mine = np.array([10.0, 20.0, 30.0])
    w.data = mine  # same shape and dtype
    w.grad, b.grad = np.ones(3), np.ones(2)
    opt.step()
    np.testing.assert_array_equal(w.data, [9.0, 19.0, 29.0])
    np.testing.assert_array_equal(mine, [10.0, 20.0, 30.0])  # the user's array is not written
    assert _shares(w.data, opt.flat_parameters()[np.dtype(np.float64)])


def test_a_new_shape_without_state_is_laid_out_again_with_state_is_refused():
    w = Parameter(np.zeros(3))
    opt = bpnn.optim.SGD([w], lr=1.0)
    w.grad = np.ones(3)
    opt.step()  # plain SGD keeps no state
    w.data, w.grad = np.zeros(5), np.ones(5)
    opt.step()
    np.testing.assert_array_equal(w.data, -np.ones(5))
    assert opt.flat_parameters()[np.dtype(np.float64)].size == 5

    v = Parameter(np.zeros(3))
    adam = bpnn.optim.Adam([v])
    v.grad = np.ones(3)
    adam.step()
    v.data, v.grad = np.zeros(4), np.ones(4)
    with pytest.raises(ValueError, match=r"parameter 0 changed shape from \(3,\) to \(4,\)"):
        adam.step()


def test_a_module_parameter_replaced_by_a_new_object_is_not_trained_by_the_old_optimizer():
    net = nn.Linear(2, 1)
    opt = bpnn.optim.SGD(net.parameters(), lr=0.1)
    old_weight, bias_before = net.weight, net.bias.data.copy()
    old_values = old_weight.data.copy()
    net.weight = Parameter(np.full((1, 2), 3.0, np.float32))  # torch's optimizer ignores it too
    net(bpnn.ones(1, 2)).sum().backward()
    opt.step()
    np.testing.assert_array_equal(net.weight.data, np.full((1, 2), 3.0, np.float32))
    np.testing.assert_array_equal(old_weight.data, old_values)  # no gradient reached it
    np.testing.assert_allclose(net.bias.data, bias_before - 0.1, rtol=1e-6)


def test_module_cast_to_another_dtype_moves_to_that_dtype_buffer():
    net = nn.Linear(3, 2)
    opt = bpnn.optim.SGD(net.parameters(), lr=0.1)
    net(bpnn.ones(1, 3)).sum().backward()
    opt.step()
    net.to(np.float64)
    net(bpnn.ones(1, 3, dtype="float64")).sum().backward()
    opt.step()
    assert list(opt.flat_parameters()) == [np.dtype(np.float64)]
    assert net.weight.data.dtype == np.float64


def _lbfgs_fit(x, y, flat_first: bool):
    net = nn.Linear(2, 1).to(np.float64)
    net.weight.data[...] = 0.3
    net.bias.data[...] = -0.1
    opt = bpnn.optim.LBFGS(net.parameters())
    if flat_first:
        opt.flat_parameters()  # the parameters become views into the flat buffer first

    def closure():
        opt.zero_grad()
        loss = ((net(x) - bpnn.tensor(y)) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    return net


def test_second_order_optimizers_train_the_same_with_the_flat_layout():
    inputs = np.random.default_rng(1).standard_normal((20, 2))
    y = inputs @ np.array([[1.5], [-2.0]]) + 0.5 + 0.01 * np.sin(np.arange(20))[:, None]
    x = bpnn.tensor(inputs, dtype="float64")
    flat, plain = _lbfgs_fit(x, y, True), _lbfgs_fit(x, y, False)
    np.testing.assert_array_equal(flat.weight.data, plain.weight.data)
    solution = np.linalg.lstsq(np.c_[inputs, np.ones(20)], y, rcond=None)[0].ravel()
    np.testing.assert_allclose(np.r_[flat.weight.data.ravel(), flat.bias.data], solution,
                               atol=1e-4)


def test_a_model_file_saved_before_the_flat_buffers_resumes_bit_identically():
    """Files written by the code before the flat buffers (commit 4d88efd), in tests/optim/data.

    There, ``bpnn.manual_seed(3)``; ``Model(Sequential(Linear(6, 5), ReLU(), Linear(5, 3)),
    CrossEntropyLoss(), "adam", lr=0.05)`` took ``train_step`` on the rows below for steps 0-5,
    saved after step 2 (``adam_step3``) and after step 5 (``adam_step6``). Loading step 3 and
    taking steps 3-5 here must give step 6 exactly.
    """
    model = bpnn.load(DATA / "adam_step3_before_flat_buffers.bpnn")
    expected = bpnn.load(DATA / "adam_step6_before_flat_buffers.bpnn")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((8, 6)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    for step in range(3, 6):
        rows = slice(step % 4 * 2, step % 4 * 2 + 2)
        model.train_step(bpnn.tensor(x[rows]), bpnn.tensor(y[rows]))
    ours = model.network.state_dict()
    theirs = expected.network.state_dict()
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    state, their_state = model.optimizer.state_dict()["state"], expected.optimizer.state_dict()[
        "state"]
    for position, values in their_state.items():
        for key, value in values.items():
            np.testing.assert_array_equal(state[position][key], value, err_msg=key)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_backward_after_zero_grad_and_accumulation_match_torch(torch, set_to_none):
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    net = nn.Linear(3, 2)
    theirs = torch.nn.Linear(3, 2)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(net.weight.data))
        theirs.bias.copy_(torch.from_numpy(net.bias.data))
    ours_opt = bpnn.optim.Adam(net.parameters(), lr=0.1)
    their_opt = torch.optim.Adam(theirs.parameters(), lr=0.1)
    for step in range(4):
        ours_opt.zero_grad(set_to_none=set_to_none)
        their_opt.zero_grad(set_to_none=set_to_none)
        for _ in range(2):  # two backward passes accumulate into .grad
            (net(bpnn.tensor(x * (step + 1))) ** 2).sum().backward()
            (theirs(torch.from_numpy(x * (step + 1))) ** 2).sum().backward()
        ours_opt.step()
        their_opt.step()
        np.testing.assert_allclose(net.weight.data, theirs.weight.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(net.bias.data, theirs.bias.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
