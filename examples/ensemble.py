"""An ensemble of networks on the phone-price data, beside each of its members.

Five identical MLPs (20 -> 64 -> 64 -> 4, ReLU, Adam lr 1e-3, batch 32, 60 epochs, no
regularisation, so each one overfits a little) are trained by bagging: member i starts from
seed i and learns from a bootstrap sample of the training rows (``Ensemble.fit_bagging``). The
ensemble averages their class probabilities (``method="mean"``) or takes a majority vote
(``method="vote"``). Averaging cancels part of each member's variance (Breiman, "Bagging
predictors", 1996). The ensemble is saved to one file and loaded back to check it predicts the
same.

Data: Kaggle "Mobile Price Classification" (Abhishek Sharma, 2018), bundled with bpnn;
standardised with statistics of the training part, stratified 75/25 split. The number of
epochs is fixed in advance; the test set is only used for the final figures.

Run: python examples/ensemble.py [--members 5] [--epochs 60] [--out ensemble.bpnn]
"""

import argparse
import os
import tempfile
import time

import numpy as np

import bpnn
from bpnn import nn
from bpnn.preprocessing import StandardScaler, train_test_split


def build():
    net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                        nn.Linear(64, 4))
    return bpnn.Model(net, "cross_entropy", "adam", metrics=["accuracy"], lr=1e-3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", default=None, help="where to save the ensemble (default: a "
                                                    "temporary folder)")
    args = parser.parse_args()
    start = time.perf_counter()

    x, y = bpnn.datasets.phone_price()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, stratify=y,
                                                        random_state=0)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)

    ensemble = bpnn.Ensemble.fit_bagging(build, x_train, y_train, n_members=args.members,
                                         seed=0, epochs=args.epochs, batch_size=32, verbose=0)
    members = ensemble.evaluate_members(x_test, y_test)
    for i, scores in enumerate(members):
        print(f"member {i} (seed {i}, bootstrap sample)  test accuracy {scores['accuracy']:.4f}  "
              f"(log-loss {scores['loss']:.4f})")
    accuracies = [scores["accuracy"] for scores in members]
    print(f"members: mean accuracy {np.mean(accuracies):.4f}, best {max(accuracies):.4f}, "
          f"mean log-loss {np.mean([scores['loss'] for scores in members]):.4f}")
    mean_scores = ensemble.evaluate(x_test, y_test)
    voted = bpnn.Ensemble(ensemble.models, method="vote")
    print(f"ensemble, mean of probabilities   test accuracy {mean_scores['accuracy']:.4f}  "
          f"(log-loss {mean_scores['loss']:.4f})")
    print(f"ensemble, majority vote           test accuracy "
          f"{voted.evaluate(x_test, y_test)['accuracy']:.4f}")

    path = args.out or os.path.join(tempfile.mkdtemp(), "ensemble.bpnn")
    bpnn.save(ensemble, path)
    loaded = bpnn.load(path)
    same = np.array_equal(loaded.predict(x_test), ensemble.predict(x_test))
    print(f"saved to {path} ({os.path.getsize(path) / 1024:.0f} KiB); loaded copy predicts "
          f"identically: {same}")
    print(f"time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
