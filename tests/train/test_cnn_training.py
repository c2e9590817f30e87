"""A small CNN (conv, batch norm, pooling, dense) trained with Adam follows PyTorch step by step."""

import numpy as np

import bpnn
from bpnn import nn


def _networks(torch, batch_norm: bool):
    def build(module):
        layers = [module.Conv2d(1, 4, 3)]
        if batch_norm:
            layers.append(module.BatchNorm2d(4))
        layers += [module.ReLU(), module.MaxPool2d(2), module.Conv2d(4, 6, 3, padding=1),
                   module.ReLU(), module.AvgPool2d(2), module.Flatten(), module.Linear(24, 3)]
        return module.Sequential(*layers)

    ours, theirs = build(nn), build(torch.nn).double()
    ours.to("float64")
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def test_training_steps_follow_torch(torch):
    for batch_norm in (False, True):
        ours, theirs = _networks(torch, batch_norm)
        optimizer = bpnn.optim.Adam(ours.parameters(), lr=1e-2)
        reference = torch.optim.Adam(theirs.parameters(), lr=1e-2)
        rng = np.random.default_rng(0)
        for _ in range(4):
            x = rng.standard_normal((5, 1, 10, 10))
            y = rng.integers(0, 3, 5)
            optimizer.zero_grad()
            loss = nn.CrossEntropyLoss()(ours(bpnn.Tensor(x)), y)
            loss.backward()
            optimizer.step()
            reference.zero_grad()
            expected = torch.nn.CrossEntropyLoss()(theirs(torch.tensor(x)), torch.tensor(y))
            expected.backward()
            reference.step()
            np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-9)
        state = ours.state_dict()
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(state[key], value.numpy(), rtol=1e-8, atol=1e-10)
