"""``import bpnn.nn.functional as F``: the differentiable math of :mod:`bpnn.functional`."""

from bpnn.functional import *  # noqa: F401,F403
from bpnn.functional import __all__  # noqa: F401
