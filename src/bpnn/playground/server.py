"""The playground's web app: the JSON API and the page, on Starlette.

Routes (every error is JSON ``{"error": message}`` with a 4xx status):

- ``GET /`` the page; ``GET /static/...`` its script and style (shipped in the package);
- ``GET /api/options`` the choices the page offers and the limits;
- ``POST /api/uploads?name=FILE&target=COLUMN`` a CSV file as the request body;
- ``POST /api/sessions`` create; ``DELETE /api/sessions/{id}`` delete;
- ``POST /api/sessions/{id}/train`` ``{"epochs": N}``; ``POST /api/sessions/{id}/step``;
- ``GET /api/sessions/{id}/state?since=E&sample=S&split=train``;
- ``GET /api/sessions/{id}/data`` the points;
- ``GET /api/sessions/{id}/explain?sample=S[&text=1]`` bpnn explain's trace (and its text).

Training runs in Starlette's thread pool, so the server keeps answering while a session trains.
"""

from __future__ import annotations

import json
import math
import os
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bpnn.cli.errors import CLIError
from bpnn.cli.explain import render
from bpnn.playground import sessions as sessions_module
from bpnn.playground.datasets import TOY_SETS, PlaygroundError
from bpnn.playground.uploads import MAX_UPLOAD_BYTES, read_table, receive_limited

MAX_JSON_BYTES = 64 * 1024


def _finite(value):
    """JSON has no NaN or infinity: a diverged network's numbers become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


class _JSON(JSONResponse):
    def render(self, content) -> bytes:
        try:
            return super().render(content)
        except ValueError:  # NaN or infinity somewhere
            return super().render(_finite(content))


def _static_dir() -> str:
    return str(resources.files("bpnn.playground") / "static")


async def _json_body(request: Request):
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_JSON_BYTES:
        raise PlaygroundError(f"the request body is larger than {MAX_JSON_BYTES:,} bytes; "
                              "options are a small JSON object", status=413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise PlaygroundError(f"the request body is larger than {MAX_JSON_BYTES:,} bytes",
                                  status=413)
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PlaygroundError(f"the request body is not valid JSON: {error}") from None


def _int_query(request: Request, key: str, default: int) -> int:
    text = request.query_params.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise PlaygroundError(f"{key} must be an integer, got {text!r}") from None
    if value < 0:
        raise PlaygroundError(f"{key} must not be negative, got {value}")
    return value


def create_app(store: sessions_module.SessionStore | None = None) -> Starlette:
    """Build the playground's Starlette application.

    Parameters
    ----------
    store : SessionStore, optional
        Where sessions live (a new one with the default limits if not given).

    Returns
    -------
    starlette.applications.Starlette

    Example
    -------
    >>> from starlette.testclient import TestClient  # doctest: +SKIP
    >>> client = TestClient(create_app())  # doctest: +SKIP
    >>> client.post("/api/sessions", json={"dataset": "xor"}).json()["id"]  # doctest: +SKIP
    """
    store = store if store is not None else sessions_module.SessionStore()

    async def index(request):
        return FileResponse(os.path.join(_static_dir(), "index.html"))

    async def options(request):
        return _JSON({
            "datasets": TOY_SETS, "activations": sessions_module.ACTIVATIONS,
            "optimizers": sessions_module.OPTIMIZERS, "inits": sessions_module.INITIALISERS,
            "losses": sessions_module.LOSSES, "defaults": sessions_module.SessionConfig().__dict__,
            "limits": {"hidden_layers": sessions_module.MAX_HIDDEN_LAYERS,
                       "units": sessions_module.MAX_UNITS,
                       "points": sessions_module.MAX_POINTS,
                       "epochs_per_request": sessions_module.MAX_EPOCHS_PER_REQUEST,
                       "upload_bytes": MAX_UPLOAD_BYTES,
                       "sessions": store.max_sessions}})

    async def upload(request):
        name = request.query_params.get("name") or "upload.csv"
        path = await receive_limited(request.stream(), request.headers.get("content-length"))
        try:
            table = await run_in_threadpool(read_table, path, os.path.basename(name),
                                            request.query_params.get("target"))
        finally:
            os.unlink(path)
        key = store.add_upload(table)
        return _JSON({"upload": key, **table.describe()}, status_code=201)

    async def create(request):
        options = await _json_body(request)
        session = await run_in_threadpool(store.create, options)
        return _JSON({"id": session.id, **session.describe()}, status_code=201)

    async def delete(request):
        store.delete(request.path_params["id"])
        return _JSON({"deleted": request.path_params["id"]})

    async def train(request):
        session = store.get(request.path_params["id"])
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise PlaygroundError('the body must be a JSON object like {"epochs": 10}')
        unknown = sorted(set(body) - {"epochs"})
        if unknown:
            raise PlaygroundError(f"unknown option(s) {', '.join(map(repr, unknown))}; "
                                  'train takes {"epochs": N}')
        return _JSON(await run_in_threadpool(session.train, body.get("epochs", 1)))

    async def step(request):
        session = store.get(request.path_params["id"])
        return _JSON(await run_in_threadpool(session.step))

    async def state(request):
        session = store.get(request.path_params["id"])
        result = await run_in_threadpool(
            session.state, _int_query(request, "since", 0), _int_query(request, "sample", 0),
            request.query_params.get("split", "train"))
        return _JSON(result)

    async def data(request):
        session = store.get(request.path_params["id"])
        return _JSON(session.data.points())

    async def explain(request):
        session = store.get(request.path_params["id"])
        trace = await run_in_threadpool(session.explain, _int_query(request, "sample", 0),
                                        request.query_params.get("split", "train"))
        if request.query_params.get("text") == "1":  # as `bpnn explain` prints it, too
            trace = {**trace, "text": render(trace, "text")}
        return _JSON(trace)

    async def refused(request, error: PlaygroundError):
        return _JSON({"error": str(error)}, status_code=error.status)

    async def data_error(request, error: CLIError):
        return _JSON({"error": str(error)}, status_code=400)

    async def bug(request, error: Exception):
        # Bad input is refused above with a 4xx; reaching here is a bug in the playground.
        return _JSON({"error": f"internal error: {type(error).__name__}: {error}"},
                            status_code=500)

    async def http_error(request, error: HTTPException):
        return _JSON({"error": error.detail}, status_code=error.status_code)

    routes = [
        Route("/", index),
        Route("/api/options", options),
        Route("/api/uploads", upload, methods=["POST"]),
        Route("/api/sessions", create, methods=["POST"]),
        Route("/api/sessions/{id}", delete, methods=["DELETE"]),
        Route("/api/sessions/{id}/train", train, methods=["POST"]),
        Route("/api/sessions/{id}/step", step, methods=["POST"]),
        Route("/api/sessions/{id}/state", state),
        Route("/api/sessions/{id}/data", data),
        Route("/api/sessions/{id}/explain", explain),
        Mount("/static", app=StaticFiles(directory=_static_dir()), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={PlaygroundError: refused,
                                                       CLIError: data_error,
                                                       HTTPException: http_error,
                                                       Exception: bug})
    app.state.store = store
    return app


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True) -> None:
    """Serve the playground with uvicorn until interrupted (Ctrl-C).

    Parameters
    ----------
    host : str, default "127.0.0.1"
        The loopback address by default: only this machine can reach the page.
    port : int, default 8765
    open_browser : bool, default True
        Open the page in the default web browser once the server is up.
    """
    import threading
    import webbrowser

    import uvicorn

    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"
    config = uvicorn.Config(create_app(), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    if open_browser:
        def _open_when_started():
            import time

            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                webbrowser.open(url)

        threading.Thread(target=_open_when_started, daemon=True).start()
    server.run()
