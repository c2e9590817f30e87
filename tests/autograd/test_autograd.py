"""The engine and Tensor ops: PyTorch as oracle, finite differences, graph semantics, errors."""

import numpy as np
import pytest

import bpnn


def run_both(torch, fn_ours, fn_torch, arrays, dtype="float64", tol=1e-10):
    ours = [bpnn.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out, ref = fn_ours(*ours), fn_torch(*theirs)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    upstream = np.random.default_rng(3).standard_normal(out.shape).astype(dtype)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    for mine, theirs_ in zip(ours, theirs, strict=True):
        expected = theirs_.grad.numpy() if theirs_.grad is not None else np.zeros_like(mine.data)
        got = mine.grad if mine.grad is not None else np.zeros_like(mine.data)
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
        assert got.dtype == np.dtype(dtype)


BINARY = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / (b * b + 1)),
    ("pow", lambda a, b: (a * a + 1) ** b),
    ("rsub_scalar", lambda a, b: 2.5 - a * b),
    ("rdiv_scalar", lambda a, b: 3.0 / (a * a + 1) + b),
    ("pow_scalar", lambda a, b: a**3 + b**2),
]
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((4,), ())]


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("name,fn", BINARY, ids=[b[0] for b in BINARY])
def test_broadcasting_binary_ops_match_torch(torch, rng, dtype, tol, shapes, name, fn):
    a, b = (rng.standard_normal(s) for s in shapes)
    run_both(torch, fn, fn, [a, b], dtype, tol)


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                                    ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 2))], ids=str)
def test_matmul_matches_torch(torch, rng, shapes):
    a, b = (rng.standard_normal(s) for s in shapes)
    run_both(torch, lambda x, y: x @ y, lambda x, y: x @ y, [a, b])


UNARY = [
    ("exp", lambda t: t.exp(), lambda t: t.exp()),
    ("log", lambda t: (t * t + 0.5).log(), lambda t: (t * t + 0.5).log()),
    ("sqrt", lambda t: (t * t + 0.5).sqrt(), lambda t: (t * t + 0.5).sqrt()),
    ("abs", lambda t: t.abs(), lambda t: t.abs()),
    ("neg", lambda t: -t, lambda t: -t),
    ("clip", lambda t: t.clip(-0.5, 0.7), lambda t: t.clamp(-0.5, 0.7)),
    ("clip_low", lambda t: t.clip(min=0.1), lambda t: t.clamp(min=0.1)),
    ("sum", lambda t: t.sum(), lambda t: t.sum()),
    ("sum_axis", lambda t: t.sum(axis=1), lambda t: t.sum(dim=1)),
    ("sum_keep", lambda t: t.sum(axis=(0, 2), keepdims=True),
     lambda t: t.sum(dim=(0, 2), keepdim=True)),
    ("mean", lambda t: t.mean(), lambda t: t.mean()),
    ("mean_axis", lambda t: t.mean(axis=-1), lambda t: t.mean(dim=-1)),
    ("mean_keep", lambda t: t.mean(axis=0, keepdims=True), lambda t: t.mean(dim=0, keepdim=True)),
    ("max", lambda t: t.max(), lambda t: t.amax()),
    ("max_axis", lambda t: t.max(axis=1), lambda t: t.amax(dim=1)),
    ("min_keep", lambda t: t.min(axis=2, keepdims=True), lambda t: t.amin(dim=2, keepdim=True)),
    ("reshape", lambda t: t.reshape(4, -1) * 2, lambda t: t.reshape(4, -1) * 2),
    ("transpose", lambda t: t.transpose(0, 2), lambda t: t.transpose(0, 2)),
    ("permute", lambda t: t.permute(1, 2, 0), lambda t: t.permute(1, 2, 0)),
    ("T", lambda t: t.reshape(6, 4).T, lambda t: t.reshape(6, 4).T),
    ("flatten", lambda t: t.flatten(1), lambda t: t.flatten(1)),
    ("slice", lambda t: t[:, 1:, ::2], lambda t: t[:, 1:, ::2]),
    ("int_index", lambda t: t[1, 0], lambda t: t[1, 0]),
    ("fancy_repeat", lambda t: t[[0, 0, 1]], lambda t: t[[0, 0, 1]]),
    ("fancy_pairs", lambda t: t[[0, 1, 1], [2, 0, 2]], lambda t: t[[0, 1, 1], [2, 0, 2]]),
    ("bool_mask", lambda t: t[t.data > 0], lambda t: t[t > 0]),
    ("unsqueeze", lambda t: t.unsqueeze(1), lambda t: t.unsqueeze(1)),
    ("relu_method", lambda t: t.relu(), lambda t: t.relu()),
    ("sigmoid_method", lambda t: t.sigmoid(), lambda t: t.sigmoid()),
    ("tanh_method", lambda t: t.tanh(), lambda t: t.tanh()),
]


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("name,ours,theirs", UNARY, ids=[u[0] for u in UNARY])
def test_unary_ops_match_torch(torch, rng, dtype, tol, name, ours, theirs):
    run_both(torch, ours, theirs, [rng.standard_normal((2, 3, 4))], dtype, tol)


def test_max_ties_split_gradient_like_torch_amax(torch):
    data = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    run_both(torch, lambda t: t.max(axis=1), lambda t: t.amax(dim=1), [data])
    run_both(torch, lambda t: t.max(), lambda t: t.amax(), [data])


def test_clip_at_boundary_matches_torch(torch):
    data = np.array([-1.0, -0.5, 0.0, 0.7, 2.0])
    run_both(torch, lambda t: t.clip(-0.5, 0.7), lambda t: t.clamp(-0.5, 0.7), [data])


def test_concatenate_stack_where_match_torch(torch, rng):
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    run_both(torch, lambda x, y: bpnn.concatenate([x, y], axis=0) * 3,
             lambda x, y: torch.cat([x, y], dim=0) * 3, [a, b])
    run_both(torch, lambda x, y: bpnn.stack([x, y], axis=1),
             lambda x, y: torch.stack([x, y], dim=1), [a, c])
    cond = a > 0
    run_both(torch, lambda x, y: bpnn.where(cond, x, y),
             lambda x, y: torch.where(torch.tensor(cond), x, y), [a, c])
    run_both(torch, lambda x, y: bpnn.where(cond, x, y[0]),
             lambda x, y: torch.where(torch.tensor(cond), x, y[0]), [a, c])


COMPOSITES = [
    ("broadcast_chain", lambda a, b: ((a * b).exp() / (1 + b.abs())).sum(axis=0)),
    ("softplus", lambda a, b: (1 + (a - b).exp()).log()),
    ("norm", lambda a, b: ((a - b) ** 2).sum(axis=1).sqrt()),
    ("diamond", lambda a, b: (lambda h: h * h + h.exp() - h / (b * b + 1))(a * b + a)),
    ("reuse_many", lambda a, b: a * a * a + a @ b.T @ a),
]


@pytest.mark.parametrize("name,fn", COMPOSITES, ids=[c[0] for c in COMPOSITES])
def test_composites_gradcheck(rng, name, fn):
    a = bpnn.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    b = bpnn.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    assert bpnn.gradcheck(fn, [a, b], atol=1e-7, rtol=1e-6)


def test_gradcheck_detects_a_wrong_backward(rng):
    class WrongSquare(bpnn.Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, grad):
            return (grad * 3 * self.x,)  # should be 2x

    x = bpnn.tensor(rng.standard_normal(4), requires_grad=True)
    with pytest.raises(bpnn.GradcheckError, match="gradient mismatch"):
        bpnn.gradcheck(lambda t: WrongSquare.apply(t), [x])
    assert not bpnn.gradcheck(lambda t: WrongSquare.apply(t), [x], raise_exception=False)


def test_diamond_graph_accumulates_both_paths():
    x = bpnn.tensor(2.0, requires_grad=True)
    h = x * 3
    y = h * h + h  # h is used three times
    y.backward()
    assert x.grad == pytest.approx(3 * (2 * 6 + 1))


def test_gradients_accumulate_until_zeroed():
    w = bpnn.tensor([1.0, -2.0], requires_grad=True)
    (w * 3).sum().backward()
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad, [3 + 2, 3 - 4])
    w.grad = None
    (w * 3).sum().backward()
    np.testing.assert_allclose(w.grad, [3, 3])


def test_leaf_gradients_never_alias():
    a = bpnn.tensor([1.0, 2.0], requires_grad=True)
    b = bpnn.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad += 10
    np.testing.assert_allclose(b.grad, [1.0, 1.0])


def test_second_backward_through_freed_graph_is_a_clear_error():
    x = bpnn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = bpnn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4.0, 8.0])


def test_retain_grad_exposes_intermediate_gradient():
    x = bpnn.tensor([1.0, 2.0], requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, [6.0, 12.0])


def test_deep_graph_has_no_recursion_limit():
    x = bpnn.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001**5000, rel=1e-4)


def test_no_grad_and_detach():
    w = bpnn.tensor([1.0], requires_grad=True)
    with bpnn.no_grad():
        y = w * 2
    assert not y.requires_grad and y.is_leaf
    z = (w * 2).detach()
    assert not z.requires_grad
    assert np.shares_memory(z.numpy(), (w * 1).numpy()) is False

    @bpnn.no_grad()
    def predict(t):
        return t * 3

    assert not predict(w).requires_grad
    assert bpnn.is_grad_enabled()


def test_dtypes_are_kept_and_never_upcast():
    x32 = bpnn.randn(3, 2, requires_grad=True)
    assert x32.dtype == np.float32
    y = (x32 * 2.5 + 1) / 3.0
    assert y.dtype == np.float32
    y.sum().backward()
    assert x32.grad.dtype == np.float32
    x64 = bpnn.randn(3, 2, dtype="float64")
    with pytest.raises(TypeError, match="dtype mismatch: float32 and float64"):
        x32 + x64
    with pytest.raises(TypeError, match="never upcasts"):
        x32 * np.ones((3, 2))
    bpnn.set_default_dtype("float64")
    assert bpnn.tensor([1.0]).dtype == np.float64
    assert bpnn.zeros(2).dtype == np.float64
    assert bpnn.tensor(np.ones(2, dtype=np.float32)).dtype == np.float32


def test_factories_follow_the_seed():
    bpnn.manual_seed(42)
    a = bpnn.randn(3, 3).numpy().copy()
    b = bpnn.rand(5).numpy().copy()
    bpnn.manual_seed(42)
    np.testing.assert_array_equal(a, bpnn.randn(3, 3).numpy())
    np.testing.assert_array_equal(b, bpnn.rand(5).numpy())
    assert bpnn.arange(5).dtype == np.int64
    assert bpnn.arange(0.0, 1.0, 0.25).dtype == np.float32
    assert bpnn.zeros((2, 3)).shape == (2, 3) and bpnn.ones(2, 3).numpy().sum() == 6
    assert bpnn.full((2,), 7.0).tolist() == [7.0, 7.0]


def test_comparisons_give_boolean_tensors_without_grad():
    x = bpnn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = x > 1.5
    assert mask.dtype == bool and not mask.requires_grad
    assert mask.tolist() == [False, True, True]
    assert (x == 2.0).tolist() == [False, True, False]


def test_item_numpy_and_repr():
    x = bpnn.tensor([[1.5]], requires_grad=True)
    assert x.item() == 1.5
    assert isinstance(x.numpy(), np.ndarray)
    assert "requires_grad=True" in repr(x)
    with pytest.raises(ValueError, match="one element"):
        bpnn.ones(2).item()


def test_bad_input_errors_name_the_shapes():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        bpnn.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(ValueError, match=r"shapes \(3,\) and \(4,\) cannot be broadcast"):
        bpnn.ones(3) + bpnn.ones(4)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned"):
        bpnn.ones(2, 3) @ bpnn.ones(4, 5)
    with pytest.raises(RuntimeError, match=r"non-scalar tensor of shape \(2, 2\)"):
        (bpnn.ones(2, 2, requires_grad=True) * 2).backward()
    with pytest.raises(ValueError,
                       match=r"gradient has shape \(3,\) but the tensor has shape \(2,\)"):
        (bpnn.ones(2, requires_grad=True) * 2).backward(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        bpnn.ones(2).sum().backward()
    with pytest.raises(ValueError,
                       match=r"cannot reshape a tensor of shape \(2, 3\) into \(4, 2\)"):
        bpnn.ones(2, 3).reshape(4, 2)
    with pytest.raises(RuntimeError, match="in-place assignment"):
        bpnn.ones(2, requires_grad=True)[0] = 3.0


def test_engine_rejects_a_backward_with_the_wrong_shape():
    class BadShape(bpnn.Function):
        def forward(self, x):
            return x.sum()

        def backward(self, grad):
            return (np.ones(7),)

    x = bpnn.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError,
                       match=r"BadShape.backward returned a gradient of shape \(7,\)"):
        BadShape.apply(x).backward()
