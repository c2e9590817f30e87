"""Modules, losses, init and the classic 2-2-2 worked example."""

import math

import numpy as np
import pytest

import bpnn
from bpnn import nn


def copy_linear_into_torch(torch, ours, theirs):
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        if ours.bias is not None:
            theirs.bias.copy_(torch.tensor(ours.bias.data))


MODULES = [
    ("relu", lambda: nn.ReLU(), lambda T: T.nn.ReLU()),
    ("leaky", lambda: nn.LeakyReLU(0.1), lambda T: T.nn.LeakyReLU(0.1)),
    ("elu", lambda: nn.ELU(0.5), lambda T: T.nn.ELU(0.5)),
    ("sigmoid", lambda: nn.Sigmoid(), lambda T: T.nn.Sigmoid()),
    ("tanh", lambda: nn.Tanh(), lambda T: T.nn.Tanh()),
    ("gelu_tanh", lambda: nn.GELU("tanh"), lambda T: T.nn.GELU(approximate="tanh")),
    ("softmax", lambda: nn.Softmax(dim=1), lambda T: T.nn.Softmax(dim=1)),
    ("logsoftmax", lambda: nn.LogSoftmax(dim=1), lambda T: T.nn.LogSoftmax(dim=1)),
    ("flatten", lambda: nn.Flatten(), lambda T: T.nn.Flatten()),
    ("identity", lambda: nn.Identity(), lambda T: T.nn.Identity()),
]


def _compare_module(torch, ours, theirs, x, rng, tol):
    """Output and input gradient of a stateless module against torch's on the same input."""
    a, b = bpnn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(a), theirs(b)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(out.shape).astype(x.dtype)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=tol, atol=tol)
    return out


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("name", sorted(nn.registered_activations()))
def test_every_registered_activation_matches_torch_with_defaults(torch, rng, dtype, tol, name):
    """A new activation is checked here without a new row: torch.nn's class of the same name."""
    layer = nn.registered_activations()[name]()
    reference = getattr(torch.nn, type(layer).__name__)()
    out = _compare_module(torch, layer, reference, rng.standard_normal((4, 6)).astype(dtype) * 3,
                          rng, tol)
    assert out.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("name,ours,theirs", MODULES, ids=[m[0] for m in MODULES])
def test_stateless_modules_match_torch(torch, rng, dtype, tol, name, ours, theirs):
    _compare_module(torch, ours(), theirs(torch), rng.standard_normal((4, 6)).astype(dtype), rng,
                    tol)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_mlp_forward_and_gradients_match_torch(torch, rng, dtype, tol):
    bpnn.set_default_dtype(dtype)
    torch_dtype = getattr(torch, dtype)
    ours = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 6),
                                 torch.nn.ReLU(), torch.nn.Linear(6, 3)).to(torch_dtype)
    for i in (0, 2, 4):
        copy_linear_into_torch(torch, ours[i], theirs[i])
    x = rng.standard_normal((10, 5)).astype(dtype)
    y = rng.integers(0, 3, 10)
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)(ours(bpnn.tensor(x)), y)
    ref = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(theirs(torch.tensor(x)), torch.tensor(y))
    assert loss.dtype == np.dtype(dtype)
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=tol)
    loss.backward()
    ref.backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert p.grad.dtype == np.dtype(dtype), name
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=tol, atol=tol, err_msg=name)


LOSS_MODULES = [
    ("mse", lambda: nn.MSELoss(), lambda T: T.nn.MSELoss(), "float"),
    ("l1", lambda: nn.L1Loss(reduction="sum"), lambda T: T.nn.L1Loss(reduction="sum"), "float"),
    ("huber", lambda: nn.HuberLoss(delta=0.5), lambda T: T.nn.HuberLoss(delta=0.5), "float"),
    ("ce", lambda: nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5]),
     lambda T: T.nn.CrossEntropyLoss(weight=T.tensor([1.0, 2.0, 0.5], dtype=T.float64)), "labels"),
    ("nll", lambda: nn.NLLLoss(), lambda T: T.nn.NLLLoss(), "labels"),
    ("bce", lambda: nn.BCELoss(), lambda T: T.nn.BCELoss(), "prob"),
    ("bcelogits", lambda: nn.BCEWithLogitsLoss(pos_weight=[2.0, 2.0, 2.0]),
     lambda T: T.nn.BCEWithLogitsLoss(pos_weight=T.tensor([2.0, 2.0, 2.0], dtype=T.float64)),
     "binary"),
]


@pytest.mark.parametrize("name,ours,theirs,kind", LOSS_MODULES, ids=[m[0] for m in LOSS_MODULES])
def test_loss_modules_match_torch(torch, rng, name, ours, theirs, kind):
    x = rng.standard_normal((5, 3))
    if kind == "prob":
        x = 1 / (1 + np.exp(-x))
    if kind == "labels":
        target_np = rng.integers(0, 3, 5)
    elif kind in ("prob", "binary"):
        target_np = rng.integers(0, 2, (5, 3)).astype(float)
    else:
        target_np = rng.standard_normal((5, 3))
    a, b = bpnn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    loss, ref = ours()(a, target_np), theirs(torch)(b, torch.tensor(target_np))
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-10)
    loss.backward()
    ref.backward()
    np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_classic_222_worked_example():
    """The 2-2-2 network of the classic step-by-step backpropagation example."""
    bpnn.set_default_dtype("float64")
    net = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 2), nn.Sigmoid())
    net[0].weight.data[...] = [[0.15, 0.20], [0.25, 0.30]]
    net[0].bias.data[...] = [0.35, 0.35]
    net[2].weight.data[...] = [[0.40, 0.45], [0.50, 0.55]]
    net[2].bias.data[...] = [0.60, 0.60]
    out = net(bpnn.tensor([[0.05, 0.10]]))
    loss = ((out - bpnn.tensor([[0.01, 0.99]])) ** 2).sum() / 2
    np.testing.assert_allclose(out.numpy(), [[0.75136507, 0.772928465]], atol=1e-8)
    assert loss.item() == pytest.approx(0.298371109, abs=1e-9)
    loss.backward()
    bpnn.optim.SGD(net.parameters(), lr=0.5).step()
    np.testing.assert_allclose(net[2].weight.data, [[0.35891648, 0.408666186],
                                                    [0.511301270, 0.561370121]], atol=1e-8)
    np.testing.assert_allclose(net[0].weight.data, [[0.149780716, 0.19956143],
                                                    [0.24975114, 0.29950229]], atol=1e-8)


def test_float32_network_stays_float32():
    net = nn.Sequential(nn.Linear(3, 4), nn.ELU(), nn.Linear(4, 2), nn.LogSoftmax())
    x = bpnn.randn(5, 3)
    out = net(x)
    out.sum().backward()
    assert out.dtype == np.float32
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in net.parameters())


def test_module_registration_and_traversal():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
            self.head = nn.Linear(4, 2, bias=False)
            self.scale = nn.Parameter(np.ones(1, dtype=np.float32))

        def forward(self, x):
            return self.head(self.body(x)) * self.scale

    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "head.weight"]
    assert [n for n, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "head"]
    assert net.count_parameters() == 1 + 12 + 4 + 8
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.head = nn.Identity()
    assert "head.weight" not in dict(net.named_parameters())
    assert "(body): Sequential(" in repr(net)


def test_freeze_by_module_and_pattern():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    net[0].requires_grad_(False)
    assert not net[0].weight.requires_grad and net[2].weight.requires_grad
    net.unfreeze()
    assert net.freeze("2.*") == ["2.weight", "2.bias"]
    net(bpnn.ones(4, 2)).sum().backward()
    assert net[2].weight.grad is None and net[0].weight.grad is not None
    with pytest.raises(ValueError, match="no parameter matches"):
        net.freeze("decoder")


def test_state_dict_round_trip_and_errors():
    a = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    b = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    state = a.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    b.load_state_dict(state)
    x = bpnn.randn(5, 3)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    state["0.weight"] += 1  # a copy: the module is unchanged
    assert not np.array_equal(state["0.weight"], a[0].weight.data)

    bad = dict(a.state_dict())
    bad["1.weight"] = np.zeros((3, 4))
    before = b.state_dict()
    with pytest.raises(ValueError, match=r"state_dict\['1.weight'\] has shape \(3, 4\) but the "
                                         r"module expects \(2, 4\)"):
        b.load_state_dict(bad)
    for key, value in b.state_dict().items():  # nothing half-loaded
        np.testing.assert_array_equal(value, before[key])
    missing = dict(a.state_dict())
    del missing["1.bias"]
    missing["extra"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['1.bias'\], unexpected keys \['extra'\]"):
        b.load_state_dict(missing)
    result = b.load_state_dict(missing, strict=False)
    assert result.missing_keys == ["1.bias"] and result.unexpected_keys == ["extra"]


def test_weights_can_be_set_by_hand():
    layer = nn.Linear(2, 1)
    layer.weight.data[...] = np.array([[2.0, -1.0]])
    layer.bias.data[...] = 0.5
    assert layer(bpnn.tensor([[1.0, 1.0]])).item() == pytest.approx(1.5)


def test_linear_rejects_wrong_feature_count():
    with pytest.raises(ValueError, match=r"expected input with 784 features, got 783"):
        nn.Linear(784, 10)(bpnn.ones(2, 783))
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        nn.Linear(0, 3)


def test_default_linear_init_matches_torch_bounds():
    bpnn.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = layer.weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert np.abs(layer.bias.data).max() <= bound


@pytest.mark.parametrize("nonlinearity,param", [("linear", None), ("sigmoid", None), ("tanh", None),
                                                 ("relu", None), ("leaky_relu", None),
                                                 ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain_matches_torch(torch, nonlinearity, param):
    assert nn.init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param))


@pytest.mark.parametrize("name,kwargs,expected_std", [
    ("xavier_uniform_", {}, math.sqrt(2 / (200 + 300))),
    ("xavier_normal_", {"gain": 2.0}, 2 * math.sqrt(2 / (200 + 300))),
    ("kaiming_uniform_", {"nonlinearity": "relu"}, math.sqrt(2 / 200)),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2 / 300)),
    ("kaiming_normal_", {"a": 0.2}, math.sqrt(2 / (1 + 0.04)) / math.sqrt(200)),
    ("normal_", {"mean": 1.0, "std": 0.3}, 0.3),
    ("uniform_", {"a": -2.0, "b": 2.0}, 4 / math.sqrt(12)),
])
def test_initialisers_have_the_documented_spread(torch, name, kwargs, expected_std):
    ours = nn.Parameter(np.zeros((300, 200), dtype=np.float32))
    getattr(nn.init, name)(ours, **kwargs)
    theirs = torch.empty(300, 200)
    getattr(torch.nn.init, name)(theirs, **kwargs)
    assert ours.data.std() == pytest.approx(expected_std, rel=0.02)
    assert ours.data.std() == pytest.approx(theirs.std().item(), rel=0.03)
    assert ours.dtype == np.float32


@pytest.mark.parametrize("factor", [6.0, 2.0])  # scikit-learn's MLP: 2 for logistic units
def test_glorot_uniform_linear_draws_weight_and_bias_as_scikit_learn(factor):
    layer = nn.Linear(200, 300)
    bound = math.sqrt(factor / (200 + 300))
    assert nn.init.glorot_uniform_linear_(layer.weight, layer.bias, factor) is layer.weight
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.95 * bound
        assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_constant_initialisers():
    p = nn.Parameter(np.empty((2, 3), dtype=np.float32))
    assert nn.init.zeros_(p).data.sum() == 0
    assert nn.init.ones_(p).data.sum() == 6
    assert nn.init.constant_(p, 0.5).data.sum() == 3


def test_regularization_loss_adds_penalties_to_backprop():
    layer = nn.Linear(2, 1, weight_regularizer=bpnn.regularizers.l1_l2(l1=0.1, l2=0.01))
    layer.weight.data[...] = [[1.0, -2.0]]
    net = nn.Sequential(layer, nn.ReLU())
    penalty = net.regularization_loss()
    assert penalty.item() == pytest.approx(0.1 * 3 + 0.01 * 5)
    penalty.backward()
    np.testing.assert_allclose(layer.weight.grad, [[0.1 + 0.02, -0.1 - 0.04]], rtol=1e-6)
    assert nn.Sequential(nn.Linear(2, 1)).regularization_loss() is None


def test_dropout_module_respects_train_and_eval():
    drop = nn.Dropout(0.5)
    x = bpnn.ones(1000)
    assert (drop(x).numpy() == 0).mean() > 0.4
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())


def test_architecture_round_trips_through_the_registry():
    net = nn.Sequential(nn.Linear(4, 3, weight_regularizer=bpnn.regularizers.l2(0.1)),
                        nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(3, 2), nn.Softmax(dim=1))
    config = nn.module_to_config(net)
    rebuilt = nn.module_from_config(config)
    assert repr(rebuilt) == repr(net)
    assert rebuilt[0].weight_regularizer.l2 == 0.1
    with pytest.raises(KeyError, match="unknown layer 'Mystery'"):
        nn.module_from_config({"class": "Mystery", "config": {}})


def test_evaluating_switches_to_eval_and_restores_the_mode_after_an_error():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    with pytest.raises(RuntimeError, match="inside"):
        with net.evaluating():
            assert not net.training and not net[1].training
            raise RuntimeError("inside")
    assert net.training and net[1].training
    net.eval()
    with net.evaluating():
        pass
    assert not net.training


@pytest.mark.parametrize("name,cls", [("mse", "MSELoss"), ("MAE", "L1Loss"),
                                      ("sparse_categorical_crossentropy", "CrossEntropyLoss"),
                                      ("bce_with_logits", "BCEWithLogitsLoss")])
def test_loss_names(name, cls):
    assert type(nn.loss.get(name)).__name__ == cls
    loss = nn.HuberLoss(delta=0.5)
    assert nn.loss.get(loss) is loss


def test_unknown_loss_lists_the_names():
    with pytest.raises(ValueError, match="unknown loss 'hinge'; .* one of: bce, bce_with_logits"):
        nn.loss.get("hinge")
