"""``bpnn playground``: serve the local web app that trains bpnn networks live."""

from __future__ import annotations

import argparse

from bpnn.cli.errors import CLIError


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text}")
    return value


def add_parser(subparsers, parents) -> None:
    """Add the ``playground`` subcommand to ``bpnn``'s parser."""
    parser = subparsers.add_parser(
        "playground", parents=parents, help="watch backpropagation learn, in the browser",
        description="Serve a local web page that trains bpnn networks live on toy data sets or "
                    "a small CSV file: network diagram, decision boundary, loss curves and the "
                    "chain rule of one weight. Needs the extra: pip install 'bpnn[playground]'.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=_port, default=8765, help="port (default: 8765)")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not open the page in a web browser")
    parser.set_defaults(handler=run)


def _check_address(host: str, port: int) -> None:
    """Refuse a port that is taken (or a host that is not this machine's) in one line."""
    import errno
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        hint = "; choose another --port" if error.errno == errno.EADDRINUSE else ""
        raise CLIError(f"cannot listen on {host}:{port}: {error.strerror or error}{hint}") \
            from None


def run(args) -> int:
    """Entry point of ``bpnn playground``."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise CLIError("the playground needs Starlette and uvicorn: "
                       "pip install 'bpnn[playground]'") from None
    from bpnn.playground import serve

    _check_address(args.host, args.port)
    where = "this machine only" if args.host in ("127.0.0.1", "localhost", "::1") \
        else "every machine that can reach this address"
    print(f"bpnn playground: http://{args.host}:{args.port}/ (listening on {args.host}: "
          f"{where}; Ctrl-C stops)", flush=True)
    serve(args.host, args.port, open_browser=not args.no_browser)
    return 0
