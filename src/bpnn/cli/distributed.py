"""``mpirun -n N bpnn train ...``: every rank trains its share, rank 0 alone speaks and writes.

``Model.fit`` trains data-parallel by itself under ``mpirun``; this module makes the rest of a
command behave as one process would: ranks other than 0 print nothing and write their model
folder (or predictions) to a private temporary folder that is removed afterwards, so the output
appears once and the files are written once. A rank that fails prints its error and aborts the
whole job (``MPI_Abort``), so no rank waits forever for a rank that is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile

from bpnn.cli.errors import CLIError


def run_command(handler, args) -> int:
    """``handler(args)``, as one rank of an MPI job when ``mpirun`` started ``bpnn``."""
    from bpnn import distributed

    if not distributed.launched_by_mpi():
        return handler(args)
    distributed.init()
    if distributed.size() == 1:
        return handler(args)
    private = None
    try:
        with contextlib.ExitStack() as stack:
            if distributed.rank() != 0:
                private = tempfile.mkdtemp(prefix="bpnn-rank-")
                for name in ("out", "output"):  # the files this rank would write
                    if hasattr(args, name):  # unset (a default beside the data) too
                        chosen = getattr(args, name) or "model"
                        setattr(args, name, os.path.join(private, os.path.basename(
                            os.path.normpath(chosen))))
                devnull = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115
                stack.enter_context(contextlib.redirect_stdout(devnull))
                stack.enter_context(contextlib.redirect_stderr(devnull))
            code = handler(args)
        distributed.barrier()  # rank 0 has written everything when any rank exits
        return code
    except CLIError as error:
        distributed.abort(f"bpnn: error: {error}", error.exit_code)
    except BaseException as error:  # noqa: BLE001 - any failure must end the other ranks too
        distributed.abort(f"bpnn: error: {type(error).__name__}: {error}", 1)
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
        sys.stdout.flush()
    return 1  # pragma: no cover - abort does not return
