"""Exponentially weighted averages, as optimizer tutorials show before momentum.

v_t = beta * v_{t-1} + (1 - beta) * theta_t over 30 noisy values, for beta = 0.5 (follows the
noise, averages about 1 / (1 - beta) = 2 values) and beta = 0.9 (smooth, about 10 values, but
late). Starting from v_0 = 0 biases the first values toward 0; dividing by 1 - beta^t (Adam's
bias correction) removes that. Momentum SGD applies this average to gradients.

Run: python examples/ewa.py [--out ewa.png]
"""

import argparse

import numpy as np


def exponentially_weighted_average(values, beta, bias_correction=False):
    """Return v_1..v_n of v_t = beta v_{t-1} + (1 - beta) theta_t, v_0 = 0."""
    averages, v = [], 0.0
    for t, theta in enumerate(values, start=1):
        v = beta * v + (1 - beta) * theta
        averages.append(v / (1 - beta**t) if bias_correction else v)
    return np.array(averages)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="ewa.png", help="PNG file to write")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    days = np.arange(1, 31)
    signal = 10 + 5 * np.sin(days / 30 * 2 * np.pi)  # a smooth trend, e.g. temperature
    noisy = signal + rng.normal(0, 2.0, size=days.size)

    import matplotlib

    matplotlib.use("Agg")  # file output, no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.scatter(days, noisy, color="gray", s=18, label="noisy values")
    ax.plot(days, signal, color="black", lw=1, ls=":", label="underlying trend")
    for beta, color in ((0.5, "tab:blue"), (0.9, "tab:red")):
        ax.plot(days, exponentially_weighted_average(noisy, beta), color=color,
                label=f"beta = {beta} (about {1 / (1 - beta):.0f} values)")
    ax.plot(days, exponentially_weighted_average(noisy, 0.9, bias_correction=True),
            color="tab:red", ls="--", label="beta = 0.9, bias-corrected")
    ax.set_xlabel("t")
    ax.set_ylabel("value")
    ax.set_title("Exponentially weighted averages")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    for beta in (0.5, 0.9):
        error = np.abs(exponentially_weighted_average(noisy, beta, True) - signal).mean()
        print(f"beta = {beta}: mean distance to the trend {error:.2f} "
              f"(raw values: {np.abs(noisy - signal).mean():.2f})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
