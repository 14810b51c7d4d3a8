"""Safe file writing and reading: every file wsss_zoo writes goes through :func:`atomic_open`.

Writes never touch the target until the new content is complete: the bytes go to a fresh temporary
file in the target's folder, created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` (so it can be neither an
existing file nor a planted symbolic link), and ``os.replace`` then swaps the directory entry. A
symbolic link planted at the target is therefore *replaced* by a regular file, never followed, and a
write that fails half-way (full disk, killed process, an exception in the writer) leaves the old file
as it was and no temporary file behind (except after a hard kill, as ``.<name>.<random>.tmp``).

Text files that users give us (split lists, labels files) are read with :func:`read_text_utf8`, which
names the line and byte of invalid UTF-8 instead of raising a bare ``UnicodeDecodeError``.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Type

from .errors import WsssZooError

#: permission bits asked for new files; the process umask applies as for ``open()``
_NEW_FILE_MODE = 0o666
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation on the raw descriptor


def _create_temp(path: Path) -> tuple:
    """A new, exclusively created temporary file next to ``path``: ``(fd, temp path)``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, _NEW_FILE_MODE), tmp
        except FileExistsError:  # a name collision (or a planted entry): draw another name
            continue
    raise FileExistsError(f"could not create a temporary file next to {path}")


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", *, fsync: bool = False, encoding: str = "utf-8") -> Iterator:
    """Open a new temporary file for writing; on success it replaces ``path`` in one step.

    ``mode`` is ``"wb"`` or ``"w"`` (text, ``encoding``). With ``fsync`` the data reach the disk
    before the rename (checkpoints). On any exception the temporary file is removed and ``path``
    is left untouched. Parent folders are created.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'wb' or 'w', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, mode, **({"encoding": encoding} if mode == "w" else {})) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path, write_fn: Callable, mode: str = "wb", *, fsync: bool = False) -> Path:
    """Call ``write_fn(file object)`` on a temporary file, then move it over ``path``; returns ``path``."""
    with atomic_open(path, mode, fsync=fsync) as f:
        write_fn(f)
    return Path(path)


def atomic_write_bytes(path, data: bytes, *, fsync: bool = False) -> Path:
    return atomic_write(path, lambda f: f.write(data), "wb", fsync=fsync)


def atomic_write_text(path, text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` as UTF-8 (``\\n`` line ends on every platform)."""
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_save_image(image, path, format: str = "PNG", **options) -> Path:
    """Save a PIL image atomically (``format`` is given explicitly: the temporary name has no suffix)."""
    return atomic_write(path, lambda f: image.save(f, format=format, **options))


@contextlib.contextmanager
def atomic_path(path, suffix: str = "") -> Iterator[Path]:
    """For writers that insist on a file *name* (``safetensors.save_file``): yield a path inside a new
    private folder (mode 0700, created next to ``path``), then move the file over ``path``.

    Nobody else can plant anything in the private folder, so the writer cannot be led astray; the
    folder is removed afterwards whatever happens.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent)))
    try:
        tmp = folder / f"file{suffix}"
        yield tmp
        if tmp.is_symlink() or not tmp.is_file():
            raise OSError(f"the writer left no regular file for {path}")
        os.replace(tmp, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def open_append(path, encoding: str = "utf-8"):
    """Open a log file for appending, refusing a symbolic link at ``path`` (``O_NOFOLLOW``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | _O_NOFOLLOW | _O_CLOEXEC
    return os.fdopen(os.open(path, flags, _NEW_FILE_MODE), "a", encoding=encoding)


def open_binary(path, *, append: bool):
    """A binary file opened for writing without ever following a symbolic link at ``path``.

    ``append=False``: whatever entry ``path`` names (a planted link included) is removed and a fresh file is
    created with ``O_EXCL | O_NOFOLLOW``. ``append=True``: an existing regular file is opened for appending;
    a link there raises ``OSError`` (``ELOOP``) and nothing is written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if append:
        flags = os.O_WRONLY | os.O_APPEND | _O_NOFOLLOW | _O_CLOEXEC
    else:
        if path.is_symlink() or path.exists():
            path.unlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
    return os.fdopen(os.open(path, flags, _NEW_FILE_MODE), "ab" if append else "wb")


def open_lock(path):
    """A lock file (created if missing) opened without following a symbolic link at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC
    return os.fdopen(os.open(path, flags, _NEW_FILE_MODE), "a")


def read_text_utf8(path, error: Type[WsssZooError], what: str = "file") -> str:
    """The text of a UTF-8 file (a leading byte-order mark is dropped); ``error`` names the line and byte
    of invalid UTF-8 (a binary file, a Latin-1 export) and says how to fix it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{path}:{line}: byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8; the {what} must "
            "be a UTF-8 text file (re-save it as UTF-8, or check that this is the right file)") from None
