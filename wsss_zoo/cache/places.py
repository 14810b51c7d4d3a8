"""Where the cache lives, whether the network may be used, and the yes/no environment switches.

Every folder the cache writes to goes through :func:`writable_dir`, so a read-only, full or misplaced cache
is one :class:`~wsss_zoo.errors.CacheError` naming the folder and ``WSSS_ZOO_HOME`` instead of a raw
``OSError`` from deep inside a download.
"""
from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from ..errors import CacheError, ConfigError
from ..fileio import open_lock
from ..registry import ModelEntry

ENV_HOME = "WSSS_ZOO_HOME"
ENV_OFFLINE = "WSSS_ZOO_OFFLINE"
ENV_HF_OFFLINE = "HF_HUB_OFFLINE"
ENV_STRICT_SHA = "WSSS_ZOO_STRICT_SHA"
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


# --------------------------------------------------------------------------- switches
def env_flag(var: str) -> bool:
    """A yes/no environment variable: 1/true/yes/on or 0/false/no/off (any case), unset or empty = no.

    Anything else is a :class:`ConfigError`: ``WSSS_ZOO_OFFLINE=y`` must not quietly mean "online".
    """
    raw = os.environ.get(var)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigError(f"{var}={raw!r} is not a yes/no value: set it to 1, true, yes or on (or 0, false, no, off), "
                      "or unset it")


def is_offline() -> bool:
    """True when ``WSSS_ZOO_OFFLINE`` or ``HF_HUB_OFFLINE`` is on (both are checked, so a typo in either fails)."""
    return any([env_flag(ENV_OFFLINE), env_flag(ENV_HF_OFFLINE)])


def strict_sha() -> bool:
    """``WSSS_ZOO_STRICT_SHA``: a file whose sha256 differs from the recorded one is an error, not a warning."""
    return env_flag(ENV_STRICT_SHA)


# --------------------------------------------------------------------------- places
def cache_dir() -> Path:
    """``$WSSS_ZOO_HOME``, else ``<torch hub dir>/wsss_zoo`` (``~/.cache/torch/hub/wsss_zoo``)."""
    env = os.environ.get(ENV_HOME, "")
    if env.strip():
        expanded = os.path.expanduser(env.strip())
        if expanded.startswith("~"):  # expanduser leaves ~user alone when there is no such user
            user = expanded[1:].split("/", 1)[0].split(os.sep, 1)[0]
            why = f"there is no user {user!r}" if user else "the home folder is unknown"
            raise CacheError(f"{ENV_HOME}={env!r} cannot be expanded ({why}); set {ENV_HOME} to an absolute "
                             "folder path, e.g. /data/wsss_zoo")
        return Path(expanded)
    import torch.hub

    return Path(torch.hub.get_dir()) / "wsss_zoo"


def checkpoints_dir() -> Path:
    return cache_dir() / "checkpoints"


def converted_dir() -> Path:
    return cache_dir() / "converted"


def hf_cache_dir() -> Path:
    """The Hugging Face cache of the mirror and of ``hf-hub:`` names (huggingface_hub's own layout)."""
    return cache_dir() / "huggingface"


def cached_file_path(entry: ModelEntry) -> Path:
    """Where the upstream file of an entry lives in the cache (whether or not it exists yet)."""
    return checkpoints_dir() / entry.filename


def part_path(target: Path) -> Path:
    """The interrupted download of ``target``, resumed next time."""
    return target.with_name(target.name + ".part")


def part_state_path(target: Path) -> Path:
    """The record kept beside a ``.part``: source, validator (ETag / Last-Modified), content encoding."""
    return target.with_name(target.name + ".part.json")


# --------------------------------------------------------------------------- write access
def cache_error(folder: Path, exc: OSError, doing: str = "write to") -> CacheError:
    """The one message for a cache folder that cannot be used: which folder, why, how to choose another."""
    if getattr(exc, "errno", None) == errno.ENOSPC:
        why = "no space left on its device"
        fix = "free some space"
    else:
        why = exc.strerror or str(exc)
        fix = "make it writable"
    return CacheError(f"cannot {doing} the wsss_zoo cache folder {folder} ({why}); {fix}, or choose another "
                      f"folder with {ENV_HOME}=/path/to/folder")


def writable_dir(folder: Path) -> Path:
    """Create ``folder`` if needed and check that files can be created in it; :class:`CacheError` if not."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cache_error(folder, exc, "create") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise cache_error(folder, PermissionError(errno.EACCES, "read-only"))
    return folder


@contextlib.contextmanager
def file_lock(target: Path):
    """Serialise processes writing the same cache file (two downloads would append to one ``.part``)."""
    try:
        import fcntl
    except ImportError:  # no inter-process lock on Windows; the sha256 check still guards the result
        yield
        return
    lock = target.with_name(target.name + ".lock")
    try:
        handle = open_lock(lock)  # a link planted at the lock path is refused (ELOOP), not followed
    except OSError as exc:
        raise cache_error(lock.parent, exc) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- what to tell the user
def describe_sources(entry: ModelEntry) -> str:
    """The browser links of an entry's sources; superseded ones (another training run) are never offered."""
    links = [s.browser_url for s in entry.sources if not s.superseded and s.browser_url]
    return ", ".join(links) or "none published"


def manual_instructions(entry: ModelEntry, target) -> str:
    """The sentence every download error ends with: where to get the file and where to put it."""
    return (f"download it in a browser from {describe_sources(entry)} and place it at {target}, "
            "or pass weights=<path to the downloaded file>")
