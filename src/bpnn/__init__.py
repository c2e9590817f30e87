"""bpnn: backpropagation neural networks in NumPy.

Example
-------
>>> import bpnn
>>> from bpnn import nn
>>> net = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1))
>>> loss = nn.functional.mse_loss(net(bpnn.ones(4, 2)), bpnn.zeros(4, 1))
>>> loss.backward()
"""

from bpnn import (
    callbacks,
    data,
    datasets,
    distributed,
    io,
    nn,
    optim,
    plot,
    preprocessing,
    regularizers,
    transforms,
)
from bpnn.autograd import (
    Function,
    GradcheckError,
    Tensor,
    abs,
    arange,
    cat,
    clamp,
    clip,
    concatenate,
    enable_grad,
    exp,
    full,
    gradcheck,
    is_grad_enabled,
    log,
    no_grad,
    ones,
    ones_like,
    rand,
    randn,
    sqrt,
    stack,
    tensor,
    where,
    zeros,
    zeros_like,
)
from bpnn.backend import (
    get_default_dtype,
    get_rng_state,
    manual_seed,
    set_default_dtype,
    set_rng_state,
)
from bpnn.io import SerializationError, load, save
from bpnn.train import Ensemble, Model, metrics, summary  # noqa: F401
from bpnn.version import __version__  # noqa: F401

float32 = "float32"
float64 = "float64"
