"""Layers, containers, losses and initialisers."""

from bpnn.nn import functional, init
from bpnn.nn.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from bpnn.nn.basic import Dropout, Dropout2d, Flatten, Identity
from bpnn.nn.container import ModuleList, Sequential
from bpnn.nn.conv import Conv2d
from bpnn.nn.linear import Linear
from bpnn.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from bpnn.nn.module import Module, Parameter
from bpnn.nn.normalization import BatchNorm1d, BatchNorm2d
from bpnn.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from bpnn.nn.registry import (
    get_layer_class,
    module_from_config,
    module_to_config,
    register_activation,
    register_layer,
    registered_activations,
    registered_layers,
)

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dropout", "Dropout2d", "ELU",
    "Flatten", "GELU", "HuberLoss", "Identity", "L1Loss", "LeakyReLU", "Linear", "LogSoftmax",
    "MSELoss", "Module", "ModuleList", "NLLLoss", "Parameter", "ReLU", "Sequential", "Sigmoid",
    "Softmax", "Tanh", "get_layer_class", "init", "module_from_config", "module_to_config",
    "register_activation", "register_layer", "registered_activations", "registered_layers",
    "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "MaxPool2d",
]
