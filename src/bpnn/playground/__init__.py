"""``bpnn playground``: watch a real bpnn network learn, live, in the browser.

A local web app (Starlette + uvicorn, the optional extra ``bpnn[playground]``): toy data sets or
an uploaded CSV, the network diagram, the decision boundary, loss curves and the chain rule of
one sample and weight, each number computed by bpnn's engine on the server.

>>> from bpnn.playground import create_app  # doctest: +SKIP
>>> app = create_app()  # an ASGI app: serve with uvicorn, or test with starlette's TestClient

``import bpnn`` does not import this package (nor Starlette).
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def __getattr__(name: str):
    # Starlette is imported only when the app is asked for, so that the data sets and sessions
    # can be used (and tested) without the web stack.
    if name in __all__:
        from bpnn.playground import server

        return getattr(server, name)
    raise AttributeError(f"module 'bpnn.playground' has no attribute {name!r}")
