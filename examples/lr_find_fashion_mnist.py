"""The learning-rate finder on the Fashion-MNIST MLP (Flatten, Linear 128 ReLU, Linear 10; Adam).

1. ``model.lr_find`` on the training images (100 batches of 32, lr from 1e-7 to 10), prints the
   suggestions and writes the curve to ``--plot`` (docs/lr_find.png in the README).
2. Trains the same initial network twice, once at the suggested rate and once at Adam's usual
   1e-3, and prints both test accuracies. How the rate is used (``--schedule``):

   - ``onecycle`` (default): as fastai uses its finder's suggestion, the peak of a one-cycle
     schedule (``OneCycleLR`` stepped per batch: warm-up over 30 % of the steps, then cosine
     annealing) for exactly ``--epochs`` epochs (10 by default), batch 32;
   - ``constant``: held constant, as examples/fashion_mnist_mlp.py does (batch 32, a stratified
     20 % validation split, EarlyStopping on the validation accuracy with patience 4
     restoring the best weights, at most ``--epochs`` epochs, 30 by default);
   - ``cosine``: the peak of a cosine annealing to 0 over exactly ``--epochs`` epochs.

Acceptance (issue 17): the suggestion lies in [1e-4, 1e-2] and its test accuracy is within
0.005 of 1e-3's.

Data: /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist), or ``--path DIR``.

Run: python examples/lr_find_fashion_mnist.py [--epochs N] [--seed 0]
[--schedule onecycle|constant|cosine] [--plot docs/lr_find.png]
"""

import argparse
import time

import bpnn
from bpnn import nn
from bpnn.callbacks import EarlyStopping, LearningRateScheduler
from bpnn.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=None,
                    help="epochs (default: 10, or at most 30 with --schedule constant)")
parser.add_argument("--path", default=None, help="folder with the four IDX .gz files")
parser.add_argument("--plot", default="lr_find.png", help="where to write the lr_find curve")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--schedule", choices=("onecycle", "constant", "cosine"),
                    default="onecycle", help="how the rate is used (see above)")
args = parser.parse_args()
epochs = args.epochs or (30 if args.schedule == "constant" else 10)

(x_train, y_train), (x_test, y_test) = bpnn.datasets.fashion_mnist(args.path)
x_train, x_test = x_train.astype("float32") / 255.0, x_test.astype("float32") / 255.0


def new_model(lr):
    bpnn.manual_seed(args.seed)  # the same initial weights and shuffling for every run
    network = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    return bpnn.Model(network, nn.CrossEntropyLoss(), "adam", metrics=["accuracy"], lr=lr)


model = new_model(1e-3)
model.summary(input_shape=(28, 28))
start = time.perf_counter()
found = model.lr_find(x_train, y_train)
print(f"lr_find: {len(found.lrs)} steps in {time.perf_counter() - start:.1f} s, "
      f"diverged: {found.diverged}; suggestions: "
      + ", ".join(f"{name} {lr:.3g}" for name, lr in found.suggestions.items()), flush=True)
found.plot(args.plot)
print(f"wrote {args.plot}")

results = {}
for label, lr in (("suggested", found.suggestion), ("1e-3", 1e-3)):
    model = new_model(lr)
    start = time.perf_counter()
    if args.schedule == "constant":
        stop = EarlyStopping(monitor="val_accuracy", patience=4, restore_best_weights=True)
        model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.2,
                  callbacks=[stop], verbose=0)
        how = f"best epoch {stop.best_epoch + 1} of {model.epoch}"
    else:
        if args.schedule == "onecycle":
            steps = -(-len(x_train) // 32)
            schedule = LearningRateScheduler(
                OneCycleLR(model.optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=steps),
                interval="batch")
        else:
            schedule = LearningRateScheduler(CosineAnnealingLR(model.optimizer, T_max=epochs))
        model.fit(x_train, y_train, batch_size=32, epochs=epochs, callbacks=[schedule],
                  verbose=0)
        how = f"{epochs} epochs, {args.schedule}"
    scores = model.evaluate(x_test, y_test, batch_size=1000)
    results[label] = scores["accuracy"]
    print(f"lr {lr:.3g} ({label}): test accuracy {scores['accuracy']:.4f}, {how}, "
          f"{time.perf_counter() - start:.0f} s", flush=True)
gap = results["suggested"] - results["1e-3"]
inside = 1e-4 <= found.suggestion <= 1e-2
print(f"suggestion {found.suggestion:.3g} in [1e-4, 1e-2]: {inside}; accuracy gap "
      f"{gap:+.4f} (within 0.005: {gap >= -0.005})")
