"""Transfer learning on Fashion-MNIST: features learned on 5 classes help learn 5 others.

1. Pre-train a small CNN (Conv 16 3x3 -> ReLU -> MaxPool 2 -> Conv 32 3x3 -> ReLU -> MaxPool 2 ->
   Flatten -> Linear 128 -> ReLU -> Linear 5; Adam lr 1e-3, batch 128, 2 epochs) on all 30,000
   training images of classes 0-4 (T-shirt, trouser, pullover, dress, coat) and save its
   network with ``bpnn.save`` (safetensors + JSON).
2. New task: classes 5-9 (sandal, shirt, sneaker, bag, ankle boot) with only 1,000 training
   images (200 per class). Load the pre-trained network, replace its output layer by a new
   ``Linear(128, 5)``, freeze the first convolution (``model.freeze("0")``) and fine-tune the
   rest: (a) everything at lr 1e-3; (b) the pre-trained layers at a lower lr 3e-4 than the new
   head (optimizer parameter groups).
3. Baseline: the same network trained from scratch on the same 1,000 images, same optimizer,
   batch size (32) and number of epochs (30).

All are scored on the 5,000 test images of classes 5-9. The recipe (which layers to freeze,
the learning rates, the epochs) was chosen on a validation split carved from the training
images, never on the test set; the 1,000-image sample is drawn with three seeds, and each
seed's runs use the same images. (With an MLP, 784 -> 256 -> 128 -> 5, freezing its first layer
lost to training from scratch: 0.91 against 0.93 on that validation split. Dense features of
tops and dresses do not describe shoes and bags; the edge detectors of a first convolution do.)

Data: /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist), ``--path DIR`` or
BPNN_DATA. On a machine shared by several processes, ``OPENBLAS_NUM_THREADS=1`` avoids BLAS
threads fighting for cores.

Run: python examples/transfer_learning.py [--pretrain-epochs 2] [--epochs 30] [--seeds 3]
"""

import argparse
import os
import tempfile
import time

import numpy as np

import bpnn
from bpnn import nn

HEAD = "9"  # name of the output layer in the Sequential


def cnn(outputs=5):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 128), nn.ReLU(), nn.Linear(128, outputs))


def small_sample(labels, per_class, seed):
    """Indices of ``per_class`` random rows of each class (the few labelled images)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                           for c in np.unique(labels)])


def fine_tune(pretrained_path, x, y, epochs, seed, pretrained_lr):
    bpnn.manual_seed(seed)
    net = bpnn.load(pretrained_path)
    net[int(HEAD)] = nn.Linear(128, 5)  # a new output layer for the new classes
    pretrained = [p for name, p in net.named_parameters()
                  if not name.startswith(("0.", HEAD + "."))]
    optimizer = bpnn.optim.Adam([
        {"params": pretrained, "lr": pretrained_lr},
        {"params": net[int(HEAD)].parameters()},  # the new head: the default lr
    ], lr=1e-3)
    model = bpnn.Model(net, "cross_entropy", optimizer, metrics=["accuracy"])
    model.freeze("0")  # the first convolution's filters stay as pre-trained
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def from_scratch(x, y, epochs, seed):
    bpnn.manual_seed(seed)
    model = bpnn.Model(cnn(), "cross_entropy", "adam", metrics=["accuracy"], lr=1e-3)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=None, help="folder of the Fashion-MNIST files")
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30, help="epochs on the 1,000 images")
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    start = time.perf_counter()

    (x_train, y_train), (x_test, y_test) = bpnn.datasets.fashion_mnist(args.path)
    x_train = x_train.reshape(-1, 1, 28, 28).astype("float32") / 255
    x_test = x_test.reshape(-1, 1, 28, 28).astype("float32") / 255
    old_train, old_test = y_train < 5, y_test < 5

    bpnn.manual_seed(0)
    pretrained = bpnn.Model(cnn(), "cross_entropy", "adam", metrics=["accuracy"], lr=1e-3)
    pretrained.fit(x_train[old_train], y_train[old_train], epochs=args.pretrain_epochs,
                   batch_size=128, verbose=0)
    old_accuracy = pretrained.evaluate(x_test[old_test], y_test[old_test])["accuracy"]
    path = os.path.join(tempfile.mkdtemp(), "pretrained.bpnn")
    bpnn.save(pretrained.network, path)
    print(f"pre-trained on classes 0-4 ({old_train.sum()} images, {args.pretrain_epochs} "
          f"epochs): test accuracy {old_accuracy:.4f}; saved to {path}", flush=True)

    x_new, y_new = x_train[~old_train], y_train[~old_train] - 5
    x_new_test, y_new_test = x_test[~old_test], y_test[~old_test] - 5
    runs = {
        "conv 1 frozen, rest fine-tuned at lr 1e-3": lambda x, y, s: fine_tune(
            path, x, y, args.epochs, s, pretrained_lr=1e-3),
        "conv 1 frozen, pre-trained at lr 3e-4": lambda x, y, s: fine_tune(
            path, x, y, args.epochs, s, pretrained_lr=3e-4),
        "from scratch": lambda x, y, s: from_scratch(x, y, args.epochs, s),
    }
    results = {name: [] for name in runs}
    for seed in range(args.seeds):
        rows = small_sample(y_new, args.per_class, seed)
        for name, run in runs.items():
            model = run(x_new[rows], y_new[rows], seed)
            results[name].append(model.evaluate(x_new_test, y_new_test)["accuracy"])
        print(f"sample {seed}: " + ", ".join(f"{name}: {scores[-1]:.4f}"
                                             for name, scores in results.items()), flush=True)
    print(f"\nclasses 5-9, {len(rows)} training images, {args.epochs} epochs; test accuracy on "
          f"{(~old_test).sum()} images, mean +- std over {args.seeds} samples:")
    for name, scores in results.items():
        print(f"  {name:44s} {np.mean(scores):.4f} +- {np.std(scores):.4f}")
    print(f"time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
