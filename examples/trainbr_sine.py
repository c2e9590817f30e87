"""Bayesian regularisation (MATLAB's ``trainbr``) against plain Levenberg-Marquardt on sin(x).

A 1-20-1 tanh network (61 parameters) is fitted to 40 noisy samples of sin(x) on [-3, 3]
(noise std 0.1), full batch, ``--iterations`` iterations each, without a validation set; the
test error is measured on 1,000 clean points. Plain LM fits the noise; trainbr learns how much
to penalise the weights (alpha), the noise level (beta) and the effective number of parameters
(gamma) from the data alone.

Run: python examples/trainbr_sine.py [--iterations 300] [--seeds 10] [--plot trainbr_sine.png]
"""

import argparse

import numpy as np

import bpnn
from bpnn import nn

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--iterations", type=int, default=300)
parser.add_argument("--seeds", type=int, default=10, help="data / initialisation seeds 0..N-1")
parser.add_argument("--plot", default=None, help="PNG of seed 0's fits")
args = parser.parse_args()

bpnn.set_default_dtype("float64")
x = np.linspace(-3, 3, 40).reshape(-1, 1)
clean = np.linspace(-3, 3, 1000).reshape(-1, 1)


def fit(optimizer, y, seed):
    bpnn.manual_seed(seed)
    network = nn.Sequential(nn.Linear(1, 20), nn.Tanh(), nn.Linear(20, 1))
    model = bpnn.Model(network, "mse", optimizer)
    model.fit(x, y, epochs=args.iterations, verbose=0)
    return model, float(np.mean((model.predict(clean) - np.sin(clean)) ** 2))


rows, curves = [], {}
for seed in range(args.seeds):
    y = np.sin(x) + 0.1 * np.random.default_rng(seed).normal(size=x.shape)
    regularised, regularised_mse = fit("trainbr", y, seed)
    plain, plain_mse = fit("lm", y, seed)
    br = regularised.optimizer
    rows.append((regularised_mse, plain_mse, br.gamma))
    print(f"seed {seed}: test MSE trainbr {regularised_mse:.5f}, LM {plain_mse:.5f}; gamma "
          f"{br.gamma:.2f} of 61, alpha {br.alpha:.4g}, beta {br.beta:.4g} (noise variance "
          f"estimate {1 / (2 * br.beta):.4f}, true 0.01)", flush=True)
    if seed == 0:
        curves = {"y": y, "trainbr": regularised.predict(clean), "LM": plain.predict(clean)}
rows = np.array(rows)
print(f"median test MSE over {args.seeds} seeds: trainbr {np.median(rows[:, 0]):.5f}, LM "
      f"{np.median(rows[:, 1]):.5f}; trainbr lower in {int((rows[:, 0] < rows[:, 1]).sum())} of "
      f"{args.seeds}; gamma {rows[:, 2].min():.1f}-{rows[:, 2].max():.1f}")

if args.plot:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    axis.plot(clean, np.sin(clean), ":", color="grey", label="sin(x)")
    axis.plot(x, curves["y"], "o", color="black", markersize=4, label="40 noisy samples")
    axis.plot(clean, curves["LM"], color="tab:red", label="LM (no regularisation)")
    axis.plot(clean, curves["trainbr"], color="tab:blue", label="trainbr")
    axis.set_title("1-20-1 tanh network, seed 0")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(args.plot, dpi=100)
    print(f"wrote {args.plot}")
