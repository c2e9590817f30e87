"""Gradient descent against second-order optimizers on three small problems.

Nine optimizers - gradient descent, SGD with momentum, Adam, conjugate gradient (PR+), BFGS,
DFP, L-BFGS, Newton and Levenberg-Marquardt - each train the same network from the same
initial weights, full batch, in float64, until the mean squared error falls below a target:

- XOR: a 2-4-1 tanh network, target MSE 1e-6;
- sin(x) on [-3, 3] (64 points): a 1-10-1 tanh network, target MSE 1e-4;
- phone price (2,000 phones, 20 standardised features): a 20-8-4 tanh network fitted by MSE
  to one-hot price classes (a least-squares loss, so that Levenberg-Marquardt applies; it gets
  its Jacobian by central differences here: 8,000 residuals against 204 parameters), target
  MSE 0.01.

Newton builds the dense Hessian (2 n gradient evaluations) for the two small networks and
switches to Newton-CG for the 204-parameter one (``hessian="auto"``).

First-order methods stop after 20,000 iterations, the others after 2,000, and every run after
180 s. It prints a Markdown table (iterations, closure evaluations - one per iteration for
first-order methods -, wall time, final MSE) and saves loss against iteration and against
time in one PNG.

Run: python examples/optimizers.py [--output docs/optimizers.png] [--problems xor sine phone]
"""

import argparse
import time

import numpy as np

import bpnn
import bpnn.functional as F
from bpnn import nn, optim

FIRST_ORDER_CAP, SECOND_ORDER_CAP, TIME_CAP = 20_000, 2_000, 180.0


def xor_problem():
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    return "XOR (2-4-1)", x, y, (2, 4, 1), 1e-6, 1


def sine_problem():
    x = np.linspace(-3.0, 3.0, 64)[:, None]
    return "sin(x) (1-10-1)", x, np.sin(x), (1, 10, 1), 1e-4, 0


def phone_problem():
    x, labels = bpnn.datasets.phone_price()
    x = x.astype(np.float64)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return "phone price (20-8-4)", x, np.eye(4)[labels], (20, 8, 4), 1e-2, 0


PROBLEMS = {"xor": xor_problem, "sine": sine_problem, "phone": phone_problem}


def methods(problem: str):
    """(label, factory) pairs; learning rates were picked as the fastest stable ones of a few."""
    gd_lr = {"xor": 0.5, "sine": 0.1, "phone": 0.5}[problem]
    lm_jacobian = "central_difference" if problem == "phone" else "backprop"
    return [
        ("gradient descent", lambda p: optim.SGD(p, lr=gd_lr)),
        ("SGD + momentum 0.9", lambda p: optim.SGD(p, lr=gd_lr / 5, momentum=0.9)),
        ("Adam", lambda p: optim.Adam(p, lr=0.01)),
        ("conjugate gradient (PR+)", lambda p: optim.ConjugateGradient(p)),
        ("BFGS", lambda p: optim.BFGS(p)),
        ("DFP", lambda p: optim.DFP(p)),
        ("L-BFGS", lambda p: optim.LBFGS(p, max_iter=1, max_eval=25)),
        ("Newton", lambda p: optim.Newton(p)),
        ("Levenberg-Marquardt", lambda p: optim.LevenbergMarquardt(p, jacobian=lm_jacobian)),
    ]


def network(sizes, seed):
    bpnn.manual_seed(seed)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), nn.Tanh()]
    return nn.Sequential(*layers[:-1])


def train(make_optimizer, x, y, sizes, seed, target):
    """Run one optimizer to ``target``; returns per-iteration losses and times, and counts."""
    net = network(sizes, seed)
    opt = make_optimizer(net.parameters())
    x_t, y_t = bpnn.tensor(x), bpnn.tensor(y)

    def closure():
        opt.zero_grad()
        loss = F.mse_loss(net(x_t), y_t)
        loss.backward()
        return loss

    closure.residuals = lambda: net(x_t) - y_t
    second_order = getattr(opt, "requires_closure", False)
    cap = SECOND_ORDER_CAP if second_order else FIRST_ORDER_CAP
    with bpnn.no_grad():
        losses, times = [F.mse_loss(net(x_t), y_t).item()], [0.0]
    elapsed = 0.0
    for _ in range(cap):
        start = time.perf_counter()
        if second_order:
            opt.step(closure)
        else:
            closure()
            opt.step()
        elapsed += time.perf_counter() - start
        with bpnn.no_grad():  # monitoring, outside the timed part
            losses.append(F.mse_loss(net(x_t), y_t).item())
        times.append(elapsed)
        stalled = second_order and getattr(opt, "converged", False)
        if losses[-1] < target or elapsed > TIME_CAP or stalled:
            break
    evaluations = opt.global_state["func_evals"] if second_order else len(losses) - 1
    return losses, times, evaluations


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="docs/optimizers.png")
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    args = parser.parse_args()
    bpnn.set_default_dtype("float64")  # second-order methods want float64
    results = {}
    print("| problem | optimizer | iterations | evaluations | time (s) | final MSE |")
    print("|---|---|---:|---:|---:|---:|")
    for key in args.problems:
        title, x, y, sizes, target, seed = PROBLEMS[key]()
        results[title] = (target, [])
        for label, make in methods(key):
            losses, times, evaluations = train(make, x, y, sizes, seed, target)
            results[title][1].append((label, losses, times))
            reached = "" if losses[-1] < target else " (not reached)"
            print(f"| {title} | {label} | {len(losses) - 1:,} | {evaluations:,} | "
                  f"{times[-1]:.2f} | {losses[-1]:.2e}{reached} |", flush=True)
    plot(results, args.output)
    print(f"figure: {args.output}")


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(12, 3.6 * len(results)), squeeze=False)
    for row, (title, (target, runs)) in enumerate(results.items()):
        for label, losses, times in runs:
            axes[row, 0].semilogy(np.arange(len(losses)), losses, label=label)
            axes[row, 1].semilogy(np.maximum(times, 1e-4), losses, label=label)
        for column, xlabel in enumerate(("iteration", "wall time (s)")):
            axis = axes[row, column]
            axis.set_xscale("log")
            axis.axhline(target, color="grey", linestyle=":", linewidth=1)
            axis.set_xlabel(xlabel)
            axis.set_ylabel("MSE")
            axis.set_title(title)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
