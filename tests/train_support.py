"""Small networks and scripted callbacks shared by the training tests."""

import bpnn
from bpnn import nn


def make_classifier(dropout=0.0, regularizer=None):
    layers = [nn.Linear(4, 16, weight_regularizer=regularizer), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(16, 3))
    return nn.Sequential(*layers)


def make_model(dropout=0.0, metrics=("accuracy",), optimizer="adam", **options):
    options.setdefault("lr", 0.01)
    return bpnn.Model(make_classifier(dropout), nn.CrossEntropyLoss(), optimizer,
                      metrics=list(metrics), **options)


class Scripted(bpnn.callbacks.Callback):
    """Writes logs[key] = values[epoch] (placed before the callback under test)."""

    def __init__(self, key, values):
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class WeightRecorder(bpnn.callbacks.Callback):
    """Keeps a copy of the weights after each epoch."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())
