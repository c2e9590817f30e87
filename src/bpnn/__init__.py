"""bpnn: backpropagation neural networks in NumPy.

Example
-------
>>> import bpnn
>>> from bpnn import nn
>>> net = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1))
>>> loss = nn.functional.mse_loss(net(bpnn.ones(4, 2)), bpnn.zeros(4, 1))
>>> loss.backward()
"""

__version__ = "0.1.0"

from bpnn import (
    callbacks,  # noqa: E402
    data,  # noqa: E402
    datasets,  # noqa: E402
    distributed,  # noqa: E402
    io,  # noqa: E402
    nn,  # noqa: E402
    optim,  # noqa: E402
    plot,  # noqa: E402
    preprocessing,  # noqa: E402
    regularizers,  # noqa: E402
    transforms,  # noqa: E402
)
from bpnn.autograd import (  # noqa: E402
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
from bpnn.backend import (  # noqa: E402
    get_default_dtype,
    get_rng_state,
    manual_seed,
    set_default_dtype,
    set_rng_state,
)
from bpnn.io import SerializationError, load, save  # noqa: E402
from bpnn.train import Ensemble, Model, metrics, summary  # noqa: E402, F401

float32 = "float32"
float64 = "float64"
