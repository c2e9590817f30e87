"""Every function in bpnn.nn.functional against PyTorch (forward, backward) and finite differences.
"""

import numpy as np
import pytest
from oracle import compare

import bpnn
import bpnn.nn.functional as F


def _cases(rng):
    x = rng.standard_normal((4, 5)) * 3
    x[0, 0] = 0.0  # relu / leaky_relu / elu exactly at the kink
    big = np.array([[-800.0, -30.0, 0.0, 30.0, 800.0]])  # stability at large |x|
    return x, big


ACTIVATIONS = [
    ("relu", F.relu, lambda T, t: T.nn.functional.relu(t)),
    ("leaky_relu", lambda t: F.leaky_relu(t, 0.2), lambda T, t: T.nn.functional.leaky_relu(t, 0.2)),
    ("elu", lambda t: F.elu(t, 1.3), lambda T, t: T.nn.functional.elu(t, 1.3)),
    ("sigmoid", F.sigmoid, lambda T, t: T.sigmoid(t)),
    ("tanh", F.tanh, lambda T, t: T.tanh(t)),
    ("gelu", F.gelu, lambda T, t: T.nn.functional.gelu(t)),
    ("gelu_tanh", lambda t: F.gelu(t, "tanh"),
     lambda T, t: T.nn.functional.gelu(t, approximate="tanh")),
    ("softmax", lambda t: F.softmax(t, dim=1), lambda T, t: T.softmax(t, dim=1)),
    ("softmax0", lambda t: F.softmax(t, dim=0), lambda T, t: T.softmax(t, dim=0)),
    ("log_softmax", lambda t: F.log_softmax(t, dim=1), lambda T, t: T.log_softmax(t, dim=1)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,ours,theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activations_match_torch(torch, rng, dtype, name, ours, theirs):
    x, big = _cases(rng)
    compare(torch, ours, lambda t: theirs(torch, t), [x], dtype)
    if name != "softmax0":
        compare(torch, ours, lambda t: theirs(torch, t), [big], dtype)


@pytest.mark.parametrize("name,ours,theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activations_gradcheck(rng, name, ours, theirs):
    x = rng.standard_normal((3, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from kinks
    assert bpnn.gradcheck(ours, [bpnn.tensor(x, requires_grad=True)], atol=1e-7, rtol=1e-6)


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh', got 'erf'"):
        F.gelu(bpnn.ones(2), "erf")


def test_sigmoid_saturates_without_overflow():
    with np.errstate(over="raise"):
        out = F.sigmoid(bpnn.tensor(np.array([-1000.0, 1000.0])))
    np.testing.assert_array_equal(out.numpy(), [0.0, 1.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_shape", [(6,), (2, 3)])
def test_linear_matches_torch(torch, rng, dtype, bias, batch_shape):
    x = rng.standard_normal(batch_shape + (4,))
    w = rng.standard_normal((3, 4))
    b = rng.standard_normal(3)
    if bias:
        compare(torch, F.linear, torch.nn.functional.linear, [x, w, b], dtype)
    else:
        compare(torch, F.linear, torch.nn.functional.linear, [x, w], dtype)


def test_linear_gradcheck(rng):
    tensors = [bpnn.tensor(rng.standard_normal(s), requires_grad=True)
               for s in [(5, 4), (3, 4), (3,)]]
    assert bpnn.gradcheck(F.linear, tensors, atol=1e-7, rtol=1e-6)


def test_linear_rejects_wrong_feature_count():
    with pytest.raises(ValueError, match="expected input with 4 features, got 3"):
        F.linear(bpnn.ones(2, 3), bpnn.ones(5, 4))


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse", "l1", "huber", "huber_small_delta"])
def test_regression_losses_match_torch(torch, rng, dtype, reduction, name):
    x, t = rng.standard_normal((6, 3)) * 2, rng.standard_normal((6, 3))
    x[0, 0] = t[0, 0]  # zero residual: l1's derivative is 0 there
    tf = torch.nn.functional
    pairs = {
        "mse": (F.mse_loss, tf.mse_loss, {}),
        "l1": (F.l1_loss, tf.l1_loss, {}),
        "huber": (F.huber_loss, tf.huber_loss, {}),
        "huber_small_delta": (F.huber_loss, tf.huber_loss, {"delta": 0.3}),
    }
    ours, theirs, kw = pairs[name]
    compare(torch, lambda a, b: ours(a, b, reduction=reduction, **kw),
                       lambda a, b: theirs(a, b, reduction=reduction, **kw), [x, t], dtype,
                       wants_grad=[True, True])


CE_OPTIONS = [
    {},
    {"weight": [0.2, 1.0, 3.0, 0.5]},
    {"label_smoothing": 0.1},
    {"weight": [0.2, 1.0, 3.0, 0.5], "label_smoothing": 0.25},
    {"ignore_index": 2},
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", CE_OPTIONS, ids=lambda o: ",".join(o) or "plain")
def test_cross_entropy_class_targets_match_torch(torch, rng, dtype, reduction, options):
    logits = rng.standard_normal((7, 4)) * 3
    logits[0] = [500.0, -500.0, 0.0, 1.0]  # huge logits stay finite
    labels = np.array([0, 1, 2, 3, 2, 1, 0])
    kw_ours = dict(options, reduction=reduction)
    kw_torch = dict(options, reduction=reduction)
    if "weight" in options:
        kw_torch["weight"] = torch.tensor(np.array(options["weight"], dtype=dtype))
    compare(
        torch, lambda a: F.cross_entropy(a, labels, **kw_ours),
        lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(labels), **kw_torch),
        [logits], dtype,
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", CE_OPTIONS[:4], ids=lambda o: ",".join(o) or "plain")
def test_cross_entropy_probability_targets_match_torch(torch, rng, dtype, reduction, options):
    logits = rng.standard_normal((5, 4))
    probs = rng.random((5, 4))
    probs /= probs.sum(axis=1, keepdims=True)
    kw_torch = dict(options, reduction=reduction)
    if "weight" in options:
        kw_torch["weight"] = torch.tensor(np.array(options["weight"], dtype=dtype))
    compare(
        torch, lambda a, p: F.cross_entropy(a, p, reduction=reduction, **options),
        lambda a, p: torch.nn.functional.cross_entropy(a, p, **kw_torch),
        [logits, probs], dtype, wants_grad=[True, False],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_and_unbatched_match_torch(torch, rng, reduction):
    logits = rng.standard_normal((2, 3, 4, 5))
    labels = rng.integers(0, 3, size=(2, 4, 5))
    compare(
        torch, lambda a: F.cross_entropy(a, labels, reduction=reduction),
        lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(labels), reduction=reduction),
        [logits], "float64",
    )
    single = rng.standard_normal(3)
    compare(
        torch, lambda a: F.cross_entropy(a, np.array(2), reduction=reduction),
        lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(2), reduction=reduction),
        [single], "float64",
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [{}, {"weight": [1.0, 2.0, 0.5]}, {"ignore_index": 1}],
                         ids=lambda o: ",".join(o) or "plain")
def test_nll_loss_matches_torch(torch, rng, reduction, options):
    logp = np.log(rng.dirichlet(np.ones(3), size=6))
    labels = np.array([0, 1, 2, 2, 1, 0])
    kw_torch = dict(options, reduction=reduction)
    if "weight" in options:
        kw_torch["weight"] = torch.tensor(np.array(options["weight"]))
    compare(
        torch, lambda a: F.nll_loss(a, labels, reduction=reduction, **options),
        lambda a: torch.nn.functional.nll_loss(a, torch.tensor(labels), **kw_torch),
        [logp], "float64",
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_matches_torch(torch, rng, dtype, reduction, weighted):
    p = rng.uniform(0.02, 0.98, size=(5, 2))
    t = rng.integers(0, 2, size=(5, 2)).astype(float)
    w = rng.uniform(0.5, 2.0, size=(5, 2))
    kw = {"weight": w} if weighted else {}
    kw_t = {"weight": torch.tensor(w.astype(dtype))} if weighted else {}
    compare(
        torch, lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction, **kw),
        lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, reduction=reduction, **kw_t),
        [p, t], dtype, wants_grad=[True, False],
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, [0.5, 3.0]])
def test_bce_with_logits_matches_torch(torch, rng, dtype, reduction, pos_weight):
    x = rng.standard_normal((5, 2)) * 4
    x[0] = [200.0, -200.0]  # saturated logits stay finite
    t = rng.random((5, 2))
    kw = {"pos_weight": pos_weight} if pos_weight else {}
    kw_t = {"pos_weight": torch.tensor(np.array(pos_weight, dtype=dtype))} if pos_weight else {}
    compare(
        torch, lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction, **kw),
        lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
            a, b, reduction=reduction, **kw_t),
        [x, t], dtype, wants_grad=[True, True],
    )


LOSS_GRADCHECKS = [
    ("mse", lambda a, t: F.mse_loss(a, t)),
    ("l1", lambda a, t: F.l1_loss(a, t, reduction="sum")),
    ("huber", lambda a, t: F.huber_loss(a, t, delta=0.7)),
    ("bce_logits", lambda a, t: F.binary_cross_entropy_with_logits(a, t.sigmoid())),
    ("bce", lambda a, t: F.binary_cross_entropy(a.sigmoid(), t.sigmoid(), reduction="sum")),
    ("ce_probs", lambda a, t: F.cross_entropy(a, F.softmax(t, dim=1), label_smoothing=0.1)),
    ("ce_labels", lambda a, t: F.cross_entropy(a, np.array([0, 2, 1]), weight=[1.0, 2.0, 3.0, 4.0],
                                               label_smoothing=0.2)),
    ("nll", lambda a, t: F.nll_loss(F.log_softmax(a, dim=1), np.array([3, 0, 1]))),
]


@pytest.mark.parametrize("name,fn", LOSS_GRADCHECKS, ids=[c[0] for c in LOSS_GRADCHECKS])
def test_losses_gradcheck(rng, name, fn):
    a = bpnn.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    t = bpnn.tensor(rng.standard_normal((3, 4)), requires_grad=name in ("mse", "huber"))
    assert bpnn.gradcheck(fn, [a, t], atol=1e-7, rtol=1e-6)


def test_dropout_scales_and_reproduces():
    x = bpnn.ones(2000, requires_grad=True)
    bpnn.manual_seed(3)
    first = F.dropout(x, 0.25)
    bpnn.manual_seed(3)
    second = F.dropout(x, 0.25)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    kept = first.numpy() != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(first.numpy()[kept], 1 / 0.75, rtol=1e-6)
    first.sum().backward()
    np.testing.assert_allclose(x.grad, first.numpy())  # gradient = mask * scale
    assert F.dropout(x, 0.25, training=False) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_loss_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"input shape \(4, 1\) and target shape \(4,\) differ"):
        F.mse_loss(bpnn.zeros(4, 1), bpnn.zeros(4))
    with pytest.raises(ValueError, match=r"target label 5 is outside \[0, 2\]"):
        F.cross_entropy(bpnn.zeros(2, 3), np.array([0, 5]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(bpnn.zeros(2), bpnn.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match="probabilities"):
        F.binary_cross_entropy(bpnn.tensor([1.5]), bpnn.tensor([1.0]))
