"""Save and load modules and training checkpoints: safetensors + JSON, no pickle, atomic writes.

The package is split by concern:

* :mod:`bpnn.io.format`: the file layout (safetensors + JSON metadata + checksum), parsed and
  checked before any array is allocated; :class:`SerializationError`;
* :mod:`bpnn.io.atomic`: the one atomic-write helper every bpnn writer uses, folder commits,
  and the cleaning of temporaries left by killed writers;
* :mod:`bpnn.io.limits`: size and finiteness limits checked before building or writing;
* :mod:`bpnn.io.optimizer_state`: optimizer state checked at load time;
* :mod:`bpnn.io.checkpoint`: ``save`` / ``load`` / ``load_weights`` and the registry of kinds.

Writes are atomic: the bytes go to a hidden temporary file in the same folder
(``.<name>.<random>.tmp``), which is flushed and fsynced before ``os.replace`` puts it in place,
so a crash or ``kill -9`` mid-save leaves the previous file intact; the next save to that
folder deletes the temporaries of killed writers.
"""

from bpnn.io.atomic import AtomicFolder, atomic_write, clean_stale
from bpnn.io.checkpoint import (
    decode,
    from_checkpoint,
    load,
    load_weights,
    module_checkpoint,
    module_from_checkpoint,
    read_metadata,
    register_kind,
    save,
    to_checkpoint,
)
from bpnn.io.format import FORMAT_NAME, FORMAT_VERSION, SerializationError, encode
from bpnn.io.optimizer_state import check_optimizer_state

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "AtomicFolder", "SerializationError", "atomic_write",
    "check_optimizer_state", "clean_stale", "decode", "encode", "from_checkpoint", "load",
    "load_weights", "module_checkpoint", "module_from_checkpoint", "read_metadata",
    "register_kind", "save", "to_checkpoint",
]
