"""Atomic writes of files and folders, and the cleaning of what a killed writer left.

Every writer in bpnn (``bpnn.save``, the command line's model folders and prediction files)
goes through :func:`atomic_write` or :class:`AtomicFolder`:

* the new content is written under a hidden temporary name beside the target
  (``.NAME.<random>.tmp`` for a file, ``.NAME.<random>.tmp-dir`` for a folder), flushed and
  fsynced, then renamed into place, so a reader sees the old or the new content, never a mix;
* while it writes, the writer holds an advisory lock (``fcntl.flock``) on its temporary, so a
  later writer can tell a temporary whose writer was killed (no lock held) from one being
  written, and deletes the former before writing;
* folders are replaced under a lock on their parent folder, so that concurrent writers of one
  target take turns, and the previous folder is parked under a hidden name that the next
  writer restores if a kill left the target missing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import secrets
import shutil
import sys

try:  # POSIX; elsewhere temporaries are cleaned only by the writer that made them
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

_FILE_SUFFIX = ".tmp"
_FOLDER_SUFFIX = ".tmp-dir"
_PREVIOUS_SUFFIX = ".previous"


def _temporary_pattern(base: str, suffix: str):
    return re.compile(re.escape(f".{base}.") + r"[0-9a-f]{8,}" + re.escape(suffix))


def _try_lock(fd: int) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _abandoned(path: str) -> bool:
    """Whether nobody holds the lock on ``path`` (a file or a folder); it is then stale."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return _try_lock(fd)
    finally:
        os.close(fd)  # releases the probe's lock at once


def clean_stale(target) -> list:
    """Delete temporaries of ``target`` left by writers that were killed; return their paths.

    A temporary whose writer is alive is locked and kept.
    """
    target = os.path.abspath(os.fspath(target))
    folder, base = os.path.split(target)
    removed = []
    patterns = [_temporary_pattern(base, _FILE_SUFFIX), _temporary_pattern(base, _FOLDER_SUFFIX)]
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not any(p.fullmatch(name) for p in patterns):
            continue
        path = os.path.join(folder, name)
        if _abandoned(path):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            removed.append(path)
    return removed


def _check_target(path: str) -> tuple:
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path!r}: folder {folder!r} does not exist")
    return path, folder, os.path.basename(path)


def atomic_write(path, payload=None, *, writer=None) -> str:
    """Write a file atomically: temporary beside it, fsync, ``os.replace``.

    Parameters
    ----------
    path : str or os.PathLike
        The target; its folder must exist.
    payload : bytes, optional
        The content.
    writer : callable, optional
        ``writer(handle)`` writing the content to a binary file handle (instead of
        ``payload``).

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    IsADirectoryError
        If ``path`` is a folder.
    FileNotFoundError
        If its folder does not exist.
    """
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {os.fspath(path)!r}: it is a folder")
    path, folder, base = _check_target(path)
    clean_stale(path)
    temp, fd = _create_locked(folder, base, _FILE_SUFFIX, _new_file)
    try:
        with os.fdopen(fd, "wb") as handle:
            if writer is not None:
                writer(handle)
            else:
                handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(temp, path)  # while still locked: nobody may take it for stale
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_folder(folder)
    return path


def _new_file(path: str) -> int:
    # 0o666 minus the umask: the same permissions a plain open() would give.
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)


def _new_folder(path: str) -> int:
    os.mkdir(path)
    return os.open(path, os.O_RDONLY)


def _create_locked(folder: str, base: str, suffix: str, create) -> tuple:
    """A new temporary under a random name, locked by us; ``(path, fd)``.

    Another writer's :func:`clean_stale` may probe it between creation and locking; then the
    lock fails or the name no longer leads to our inode, and we start again under a new name.
    """
    while True:
        temp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}{suffix}")
        try:
            fd = create(temp)
        except FileExistsError:
            continue
        except FileNotFoundError:
            if not os.path.isdir(folder):
                raise
            continue  # our new folder was probed and removed before we could open it
        try:
            if _try_lock(fd) and os.stat(temp).st_ino == os.fstat(fd).st_ino:
                return temp, fd
        except OSError:
            pass
        os.close(fd)


def _exchange(first: str, second: str) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    global _RENAMEAT2
    if _RENAMEAT2 is None:
        _RENAMEAT2 = False
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                _RENAMEAT2 = ctypes.CDLL(None, use_errno=True).renameat2
    if not _RENAMEAT2:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = _RENAMEAT2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second),
                        rename_exchange)
    return result == 0


_RENAMEAT2 = None


def fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows cannot open folders, and needs not)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def target_lock(path):
    """Lock the folder holding ``path`` (blocking): concurrent writers take turns.

    The lock is on the parent folder itself, so nothing is left beside the target.
    """
    fd = os.open(os.path.dirname(os.path.abspath(os.fspath(path))), os.O_RDONLY)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class AtomicFolder:
    """Build a folder under a hidden temporary name; :meth:`commit` puts it in place.

    ``os.mkdir`` errors (no permission...) propagate as ``OSError`` from the constructor.

    Parameters
    ----------
    path : str or os.PathLike
        The target folder; its parent must exist.

    Notes
    -----
    The temporary folder is locked while it is built, so writers killed mid-way leave
    something the next writer recognises and deletes. :meth:`commit` runs under a lock on
    the parent folder. On Linux it swaps the new folder and the old one in one atomic step
    (``renameat2(RENAME_EXCHANGE)``), so the target is never missing. Elsewhere it parks the
    previous folder as ``.NAME.<random>.previous``, renames the new one in, then deletes the
    parked one; a writer killed between the two renames leaves the parked folder, which the
    next commit restores first. Concurrent commits take turns, so the target always ends as
    one complete folder.
    """

    def __init__(self, path):
        self.path, parent, base = _check_target(path)
        self._parent, self._base = parent, base
        clean_stale(self.path)
        self.temporary, self._fd = _create_locked(parent, base, _FOLDER_SUFFIX, _new_folder)

    def file(self, name: str) -> str:
        """The path of ``name`` inside the folder being built."""
        return os.path.join(self.temporary, name)

    def commit(self) -> str:
        """Replace the target with the new folder (serialised with other writers)."""
        with target_lock(self.path):
            self._restore_parked()
            if os.path.isdir(self.path) and _exchange(self.temporary, self.path):
                # One atomic step: the target was never missing; the old folder now sits
                # under our temporary name (unlocked once we let go: stale if we die now).
                fsync_folder(self._parent)
                shutil.rmtree(self.temporary, ignore_errors=True)
                self._release()
                return self.path
            parked = None
            if os.path.lexists(self.path):
                parked = os.path.join(
                    self._parent, f".{self._base}.{secrets.token_hex(6)}{_PREVIOUS_SUFFIX}")
                os.rename(self.path, parked)
            os.rename(self.temporary, self.path)
            fsync_folder(self._parent)
            if parked is not None:
                shutil.rmtree(parked, ignore_errors=True)
        self._release()
        return self.path

    def _restore_parked(self) -> None:
        pattern = _temporary_pattern(self._base, _PREVIOUS_SUFFIX)
        parked = [name for name in os.listdir(self._parent) if pattern.fullmatch(name)]
        for name in parked:
            full = os.path.join(self._parent, name)
            if not os.path.lexists(self.path):
                os.rename(full, self.path)  # a killed commit: the previous folder comes back
            else:
                shutil.rmtree(full, ignore_errors=True)

    def discard(self) -> None:
        """Delete the folder being built (the target is untouched)."""
        shutil.rmtree(self.temporary, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
