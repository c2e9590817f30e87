"""Lion against the paper's update written with torch's in-place ops (torch has no Lion)."""

import numpy as np
import pytest
from test_first_order_optimizers import TOLERANCES, follow_reference

import bpnn


def _torch_lion(torch):
    """Chen et al. (2023), Algorithm 2, as lucidrains/lion-pytorch's ``update_fn``."""

    class ReferenceLion(torch.optim.Optimizer):
        def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0,
                     maximize=False):
            super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay,
                                      "maximize": maximize})

        @torch.no_grad()
        def step(self):
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = -p.grad if group["maximize"] else p.grad
                    state = self.state[p]
                    if not state:
                        state["exp_avg"] = torch.zeros_like(p)
                    exp_avg = state["exp_avg"]
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                    update = exp_avg.clone().mul_(beta1).add(grad, alpha=1 - beta1).sign_()
                    p.add_(update, alpha=-group["lr"])
                    exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)

    return ReferenceLion


CASES = [{"lr": 0.01}, {"lr": 0.01, "weight_decay": 0.5}, {"lr": 0.02, "betas": (0.8, 0.95)},
         {"lr": 0.01, "weight_decay": 0.1, "maximize": True}]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kwargs", CASES, ids=lambda k: "-".join(f"{a}={b}" for a, b in k.items()))
def test_lion_follows_the_reference_for_25_steps_with_reload(torch, kwargs, dtype):
    optimizer, reference, ours, theirs = follow_reference(
        torch, bpnn.optim.Lion, _torch_lion(torch), kwargs, dtype)
    for key, torch_param in theirs.items():
        np.testing.assert_allclose(optimizer.state[ours[key]]["exp_avg"],
                                   reference.state[torch_param]["exp_avg"].numpy(),
                                   **TOLERANCES[dtype])


def test_lion_is_reachable_by_name_and_checks_its_arguments():
    w = bpnn.nn.Parameter(np.zeros(2))
    assert type(bpnn.optim.get("lion", [w], lr=0.1)) is bpnn.optim.Lion
    with pytest.raises(ValueError, match="invalid beta parameter at index 1"):
        bpnn.optim.Lion([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="invalid lr"):
        bpnn.optim.Lion([w], lr=-1.0)
