"""Fashion-MNIST with the Keras one-liner: Flatten -> Linear 128 ReLU -> Linear 10, Adam.

As the Keras tutorials: pixels scaled to [0, 1], batch 32, validation_split 0.2 (here a
stratified random 20 %), EarlyStopping restoring the best weights. A second run adds Dropout
and an L2 penalty. Reference points: the Fashion-MNIST benchmark lists an MLP 256-128-100 at
0.8833, scikit-learn's MLPClassifier reaches about 0.877.

Data: /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist), or
``python examples/fashion_mnist_mlp.py --path DIR`` / BPNN_DATA.

Run: python examples/fashion_mnist_mlp.py [--epochs 30] [--path DIR]
"""

import argparse
import time

import bpnn
from bpnn import nn
from bpnn.callbacks import EarlyStopping
from bpnn.regularizers import l2

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--path", default=None, help="folder with the four IDX .gz files")
args = parser.parse_args()

(x_train, y_train), (x_test, y_test) = bpnn.datasets.fashion_mnist(args.path)
x_train, x_test = x_train.astype("float32") / 255.0, x_test.astype("float32") / 255.0


def run(title, network):
    start, cpu_start = time.perf_counter(), time.process_time()
    model = bpnn.Model(network, nn.CrossEntropyLoss(), "adam", metrics=["accuracy"], lr=1e-3)
    stop = EarlyStopping(monitor="val_accuracy", patience=4, restore_best_weights=True,
                         verbose=1)
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, validation_split=0.2,
              callbacks=[stop])
    scores = model.evaluate(x_test, y_test, batch_size=1000)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"{title}: test accuracy {scores['accuracy']:.4f}, test loss {scores['loss']:.4f}, "
          f"best epoch {stop.best_epoch + 1} of {model.epoch}, {elapsed:.0f} s wall, "
          f"{cpu:.0f} s CPU", flush=True)
    return scores["accuracy"]


bpnn.manual_seed(0)  # same initial weights and shuffling on every run
run("MLP 128", nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)))
bpnn.manual_seed(0)
run("MLP 128 + Dropout 0.2 + L2 1e-5", nn.Sequential(
    nn.Flatten(), nn.Linear(784, 128, weight_regularizer=l2(1e-5)), nn.ReLU(), nn.Dropout(0.2),
    nn.Linear(128, 10, weight_regularizer=l2(1e-5)),
))
