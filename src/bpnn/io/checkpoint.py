"""Save and load modules and registered kinds (``Model``...): ``save``, ``load``, ``load_weights``.

Loading never runs code from the file: the JSON is parsed by ``json``, the layers are built
from the classes registered with :func:`bpnn.nn.register_layer`, and the tensors are raw
numbers. The whole file is checked (layout, checksum, an architecture small enough for the
numbers the file holds, tensor names, shapes and dtypes against the rebuilt architecture)
before anything is returned, so a bad file raises :class:`SerializationError` and nothing is
half-loaded.

Objects other than modules join through :func:`register_kind`: an object with
``to_checkpoint() -> (meta, arrays)`` is saved under the name of its class (or of the first
base class registered), and loaded with the registered ``loader(meta, arrays)``. The training
layer registers ``"Model"`` this way, so this module never imports it.
"""

from __future__ import annotations

import os

from bpnn import backend
from bpnn.io import limits
from bpnn.io.atomic import atomic_write
from bpnn.io.format import (
    SerializationError,
    encode,
    parse,
    read_tensors,
    total_elements,
    verify_checksum,
)
from bpnn.nn.module import Module
from bpnn.nn.registry import module_from_config, module_to_config

_KINDS: dict = {}


# ---------------------------------------------------------------------------------- kinds
def register_kind(name: str, loader) -> None:
    """Let :func:`save` / :func:`load` handle objects with ``to_checkpoint()``.

    Parameters
    ----------
    name : str
        The kind written in the file; objects whose class (or a base class) has this name are
        saved under it.
    loader : callable
        ``loader(meta, arrays)`` returning the object; ``meta`` is the JSON-decoded dict and
        ``arrays`` a dict of str -> numpy.ndarray, both as ``to_checkpoint()`` returned them.

    Example
    -------
    >>> import bpnn
    >>> class Counter:
    ...     def __init__(self, count=0):
    ...         self.count = count
    ...     def to_checkpoint(self):
    ...         return {"count": self.count}, {}
    ...     @classmethod
    ...     def from_checkpoint(cls, meta, arrays):
    ...         return cls(meta["count"])
    >>> bpnn.io.register_kind("Counter", Counter.from_checkpoint)
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a checkpoint kind needs a non-empty name, got {name!r}")
    if not callable(loader):
        raise TypeError(
            f"the loader of kind {name!r} must be callable, got {type(loader).__name__}"
        )
    if name == "Module":
        raise ValueError("kind 'Module' is built in")
    _KINDS[name] = loader


def _kind_of(obj) -> str | None:
    for cls in type(obj).__mro__:
        if cls.__name__ in _KINDS:
            return cls.__name__
    return None


# ---------------------------------------------------------------------------------- modules
def module_checkpoint(module: Module) -> tuple:
    """Describe ``module`` as ``(meta, arrays)``: architecture JSON and ``state_dict``.

    Parameters
    ----------
    module : bpnn.nn.Module
        Every layer in it must be registered (see :func:`bpnn.nn.register_layer`).

    Returns
    -------
    meta : dict
        ``{"architecture": ..., "frozen": [names], "training": bool}``.
    arrays : dict of str -> numpy.ndarray

    Raises
    ------
    SerializationError
        If a layer is not registered.
    """
    try:
        architecture = module_to_config(module)
    except TypeError as error:
        raise SerializationError(f"cannot save {type(module).__name__}: {error}") from None
    frozen = [name for name, p in module.named_parameters() if not p.requires_grad]
    meta = {"architecture": architecture, "frozen": frozen, "training": bool(module.training)}
    return meta, dict(module.state_dict())


def module_from_checkpoint(meta: dict, arrays: dict, *, where: str = "") -> Module:
    """Rebuild a module from :func:`module_checkpoint`'s output, checking every array first.

    The new layers draw their initial weights without moving the global random generator, so
    loading does not change what a later ``fit`` or dropout draws.

    Parameters
    ----------
    meta : dict
        Holds ``"architecture"`` (and optionally ``"frozen"``, ``"training"``).
    arrays : dict of str -> numpy.ndarray
        Exactly the rebuilt module's state_dict keys, with matching shapes and dtypes.
    where : str, optional
        Prefix for error messages (e.g. the file name).

    Returns
    -------
    bpnn.nn.Module

    Raises
    ------
    SerializationError
        Unknown layer, bad layer arguments, missing / unexpected tensors, wrong shapes or dtypes.
    """
    where = f"{where}: " if where else ""
    if not isinstance(meta, dict) or "architecture" not in meta:
        raise SerializationError(f"{where}the metadata has no 'architecture'")
    limits.check_architecture(meta["architecture"], sum(a.size for a in arrays.values()), where)
    module = _build_without_drawing(meta["architecture"], where)
    expected = module.state_dict()
    _check_arrays_match(expected, arrays, where)
    module.load_state_dict({name: arrays[name] for name in expected})
    frozen = meta.get("frozen", [])
    if not isinstance(frozen, list) or not all(isinstance(name, str) for name in frozen):
        raise SerializationError(f"{where}'frozen' must be a list of parameter names")
    if not isinstance(meta.get("training", True), bool):
        raise SerializationError(f"{where}'training' must be true or false")
    parameters = dict(module.named_parameters())
    unknown = [name for name in frozen if name not in parameters]
    if unknown:
        raise SerializationError(f"{where}frozen parameters {unknown} are not in the architecture")
    for name in frozen:
        parameters[name].requires_grad_(False)
    module.train(bool(meta.get("training", True)))
    return module


def _build_without_drawing(architecture, where: str) -> Module:
    state = backend.get_rng_state()
    try:
        return module_from_config(architecture)
    except KeyError as error:
        message = error.args[0] if error.args else error
        raise SerializationError(f"{where}{message}") from None
    except (TypeError, ValueError, AttributeError, ArithmeticError, RecursionError,
            MemoryError, SyntaxError) as error:  # SyntaxError: NumPy parsing a dtype string
        raise SerializationError(
            f"{where}cannot rebuild the architecture from the file: {error}"
        ) from None
    finally:
        backend.set_rng_state(state)


def _check_arrays_match(expected: dict, arrays: dict, where: str) -> None:
    missing = [name for name in expected if name not in arrays]
    unexpected = [name for name in arrays if name not in expected]
    if missing or unexpected:
        raise SerializationError(
            f"{where}the tensors do not match the architecture: missing {missing}, "
            f"unexpected {unexpected}"
        )
    for name, target in expected.items():
        value = arrays[name]
        if tuple(value.shape) != tuple(target.shape):
            raise SerializationError(
                f"{where}tensor '{name}' has shape {tuple(value.shape)} but the architecture "
                f"expects {tuple(target.shape)}"
            )
        if value.dtype != target.dtype:
            raise SerializationError(
                f"{where}tensor '{name}' is {value.dtype} but the architecture expects "
                f"{target.dtype}"
            )


# ---------------------------------------------------------------------------------- save
def to_checkpoint(obj) -> tuple:
    """``(kind, meta, arrays)`` describing a module or any registered kind.

    Containers of checkpointable objects (an ensemble of models) call this per member.

    Raises
    ------
    SerializationError
        If ``obj`` is neither a module nor of a registered kind with ``to_checkpoint()``.
    """
    if isinstance(obj, Module):
        return ("Module", *module_checkpoint(obj))
    kind = _kind_of(obj)
    if kind is None or not hasattr(obj, "to_checkpoint"):
        known = ", ".join(["Module", *sorted(_KINDS)])
        raise SerializationError(
            f"cannot save a {type(obj).__name__}: bpnn saves {known} "
            "(other objects need to_checkpoint() and bpnn.io.register_kind)"
        )
    meta, arrays = obj.to_checkpoint()
    return kind, meta, arrays


def from_checkpoint(kind: str, meta: dict, arrays: dict, where: str = "<checkpoint>"):
    """Rebuild an object from :func:`to_checkpoint`'s output (inverse of it).

    Raises
    ------
    SerializationError
        Unknown kind, or anything in ``meta`` / ``arrays`` the kind's loader rejects.
    """
    if kind != "Module" and kind not in _KINDS:
        hint = " (import bpnn.train first)" if kind == "Model" else ""
        raise SerializationError(
            f"{where}: the file holds a {kind!r}, which this program cannot load{hint}; "
            f"known kinds: {', '.join(['Module', *sorted(_KINDS)])}"
        )
    if kind == "Module":
        return module_from_checkpoint(meta, arrays, where=where)
    # A loader may set the global generator (a model restores its saved state); if it then
    # fails, put the generator back so that a refused file changes nothing.
    rng_state = backend.get_rng_state()
    try:
        return _KINDS[kind](meta, arrays)
    except SerializationError:
        backend.set_rng_state(rng_state)
        raise
    except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError,
            RecursionError, MemoryError, SyntaxError) as error:
        backend.set_rng_state(rng_state)
        detail = error.args[0] if isinstance(error, KeyError) and error.args else error
        raise SerializationError(f"{where}: cannot rebuild the {kind}: {detail}") from None


def save(obj, path) -> str:
    """Write a module or a model to ``path`` (safetensors + JSON, atomically).

    Parameters
    ----------
    obj : bpnn.nn.Module or bpnn.Model (or any registered kind with ``to_checkpoint()``)
        A model's file also holds the optimizer, callbacks, epoch, history and RNG state,
        so that ``bpnn.load(path).fit(..., initial_epoch=epoch)`` resumes exactly.
    path : str or os.PathLike
        The folder must exist. Any extension; ``.bpnn`` or ``.safetensors`` are customary.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    SerializationError
        If ``obj`` cannot be described (unregistered layer, unknown kind, metadata that is
        not JSON, non-numeric arrays) or holds NaN or infinite weights or optimizer state.
    IsADirectoryError, FileNotFoundError
        If ``path`` is a folder, or its folder does not exist.

    Example
    -------
    >>> import bpnn, tempfile, os
    >>> net = bpnn.nn.Sequential(bpnn.nn.Linear(4, 2), bpnn.nn.ReLU())
    >>> path = bpnn.save(net, os.path.join(tempfile.mkdtemp(), "net.bpnn"))
    >>> bpnn.load(path)(bpnn.ones(1, 4)).shape
    (1, 2)
    """
    kind, meta, arrays = to_checkpoint(obj)
    limits.refuse_non_finite(arrays, kind)
    payload = encode(kind, meta, arrays)
    atomic_write(path, payload)
    return os.fspath(path)


# ---------------------------------------------------------------------------------- load
def load(path):
    """Read a module or model written by :func:`save`.

    Never unpickles and never imports code named in the file: layers come from the registry.
    A model's file restores its optimizer, callbacks, epoch, history and the global RNG state.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    bpnn.nn.Module or bpnn.Model (or another registered kind)

    Raises
    ------
    SerializationError
        Truncated, malformed or foreign file (pickle, zip, safetensors without bpnn metadata),
        unknown layer or kind, tensors that do not match the architecture, newer format version.
        Also for damaged bytes (checksum), absurd shapes or an architecture far larger than the
        numbers in the file, over-deep nesting, and optimizer or callback state that could
        not be used.
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a folder.

    Example
    -------
    >>> import bpnn, tempfile, os
    >>> path = bpnn.save(bpnn.nn.Linear(3, 1), os.path.join(tempfile.mkdtemp(), "lin.bpnn"))
    >>> bpnn.load(path).weight.shape
    (1, 3)
    """
    return decode(_read(path), where=os.fspath(path))


def load_weights(module: Module, path) -> Module:
    """Copy the weights in a module file into an existing ``module`` (like ``load_state_dict``).

    Every tensor name, shape and dtype is checked before anything is copied: on error the
    module is unchanged.

    Parameters
    ----------
    module : bpnn.nn.Module
        Must have exactly the parameters and buffers stored in the file.
    path : str or os.PathLike
        A file written by ``bpnn.save(some_module, path)``.

    Returns
    -------
    bpnn.nn.Module
        ``module``.

    Raises
    ------
    SerializationError
        Bad file, a file that holds something other than a module, or tensors that do not
        match ``module``.

    Example
    -------
    >>> import bpnn, tempfile, os
    >>> path = bpnn.save(bpnn.nn.Linear(3, 1), os.path.join(tempfile.mkdtemp(), "lin.bpnn"))
    >>> bpnn.io.load_weights(bpnn.nn.Linear(3, 1), path).weight.shape
    (1, 3)
    """
    where = os.fspath(path)
    data = _read(path)
    header = parse(data, where)
    if header["kind"] != "Module":
        raise SerializationError(
            f"{where}: holds a {header['kind']}, not a module's weights; use bpnn.load"
        )
    arrays = read_tensors(data, header, where)
    _check_arrays_match(module.state_dict(), arrays, f"{where}: ")
    verify_checksum(data, header, where)
    module.load_state_dict(arrays)
    return module


def read_metadata(path) -> dict:
    """The header of a bpnn file (kind, versions and the decoded ``meta``), without its tensors.

    Returns
    -------
    dict
        ``{"kind", "format_version", "bpnn_version", "meta", "tensors": {name: (dtype, shape)}}``.
    """
    header = parse(_read(path), os.fspath(path))
    return {
        "kind": header["kind"], "format_version": header["format_version"],
        "bpnn_version": header["bpnn_version"], "meta": header["meta"],
        "tensors": {
            name: (str(dtype), shape) for name, (dtype, shape, _) in header["tensors"].items()
        },
    }


def decode(data: bytes, where: str = "<bytes>"):
    """Rebuild the object held in ``data`` (the bytes of a bpnn file); see :func:`load`."""
    header = parse(data, where)
    kind = header["kind"]
    if kind != "Module" and kind not in _KINDS:  # before reading any tensor
        from_checkpoint(kind, {}, {}, where)
    limits.check_architectures(header["meta"], total_elements(header), where)
    arrays = read_tensors(data, header, where)
    # The checksum last: a hand-edited file gets the specific reason (a shape that does not
    # fit...), and a change no other check can see (a weight's value) still gets refused.
    rng_state = backend.get_rng_state()
    result = from_checkpoint(kind, header["meta"], arrays, where)
    try:
        verify_checksum(data, header, where)
    except SerializationError:
        backend.set_rng_state(rng_state)
        raise
    return result


def _read(path) -> bytes:
    if os.path.isdir(path):
        raise IsADirectoryError(f"{os.fspath(path)} is a folder, not a bpnn file")
    with open(path, "rb") as handle:
        return handle.read()


