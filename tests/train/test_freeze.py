"""Transfer learning: freezing by pattern, lower learning rates for pre-trained layers, new head."""

import numpy as np
import pytest

import bpnn
from bpnn import nn


def _data(classes=3, n=96):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, rng.integers(0, classes, n)


def _network():
    return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 12), nn.ReLU(),
                         nn.Linear(12, 3))


def test_frozen_layers_do_not_move_and_the_rest_trains(tmp_path):
    x, y = _data()
    model = bpnn.Model(_network(), "cross_entropy", "adam", lr=0.01)
    assert model.freeze("0", "2.weight") == ["0.weight", "0.bias", "2.weight"]
    before = model.get_weights()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    after = model.get_weights()
    for name in ("0.weight", "0.bias", "2.weight"):
        np.testing.assert_array_equal(after[name], before[name])
    for name in ("2.bias", "4.weight", "4.bias"):
        assert not np.array_equal(after[name], before[name]), name
    # Adam never created state for the frozen tensors.
    assert model.network[0].weight not in model.optimizer.state

    loaded = bpnn.load(bpnn.save(model, tmp_path / "frozen.bpnn"))
    assert [n for n, p in loaded.network.named_parameters() if not p.requires_grad] == [
        "0.weight", "0.bias", "2.weight"]
    assert loaded.unfreeze() == [n for n, _ in loaded.network.named_parameters()]
    assert all(p.requires_grad for p in loaded.network.parameters())


def test_freeze_by_glob_and_by_module():
    model = bpnn.Model(_network(), "cross_entropy")
    assert model.freeze("*.bias") == ["0.bias", "2.bias", "4.bias"]
    model.unfreeze()
    model.network[2].requires_grad_(False)
    assert [n for n, p in model.network.named_parameters() if not p.requires_grad] == [
        "2.weight", "2.bias"]
    with pytest.raises(ValueError, match=r"no parameter matches \['9'\]; parameters are: 0.weight"):
        model.freeze("9")


def test_pretrained_layers_get_a_lower_learning_rate_and_a_new_head():
    x, y = _data(classes=5)
    pretrained = _network()
    pretrained[4] = nn.Linear(12, 5)  # replace the output layer: 5 new classes
    body = [p for name, p in pretrained.named_parameters() if not name.startswith("4.")]
    optimizer = bpnn.optim.SGD([{"params": body, "lr": 1e-4},
                                {"params": pretrained[4].parameters()}], lr=0.1)
    model = bpnn.Model(pretrained, "cross_entropy", optimizer)
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=len(x), shuffle=False, verbose=0)
    after = model.get_weights()
    # One full-batch SGD step: w - lr * grad, with each group's own lr.
    reference = _network()
    reference[4] = nn.Linear(12, 5)
    reference.load_state_dict(before)
    nn.CrossEntropyLoss()(reference(bpnn.tensor(x)), bpnn.tensor(y)).backward()
    for name, parameter in reference.named_parameters():
        lr = 0.1 if name.startswith("4.") else 1e-4
        np.testing.assert_allclose(after[name], before[name] - lr * parameter.grad,
                                   rtol=1e-6, atol=1e-7, err_msg=name)
        assert not np.array_equal(after[name], before[name]), name
    assert model.predict(x).shape == (len(x), 5)
