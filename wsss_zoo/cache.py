"""The local cache of checkpoints: where files live, offline mode, hashing and the hash records.

Layout of ``$WSSS_ZOO_HOME`` (default ``<torch hub dir>/wsss_zoo``, i.e. ``~/.cache/torch/hub/wsss_zoo``)::

    checkpoints/<filename>        upstream files exactly as published (verified, then renamed into place)
    checkpoints/<filename>.part   an interrupted download, resumed next time
    converted/<name>-<key>.safetensors   the canonical state dict after the layout rule, pickle-free
    huggingface/                  the optional Hugging Face mirror's cache
    sha256.json                   what was recorded for each file (sha256, size, source, date)

No checkpoint has a published sha256, so the first download is trust-on-first-use: its hash is recorded
and later uses are checked against the record. This module only knows about files; fetching bytes is
:mod:`wsss_zoo.download`, name -> file -> state dict is :mod:`wsss_zoo.hub`.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Optional

from .convert.core import HTML_PREFIXES
from .errors import ChecksumMismatchError, HtmlInsteadOfFileError
from .registry import ModelEntry, Source

ENV_HOME = "WSSS_ZOO_HOME"
ENV_OFFLINE = "WSSS_ZOO_OFFLINE"
ENV_STRICT_SHA = "WSSS_ZOO_STRICT_SHA"
_TRUE = ("1", "true", "yes", "on")


# --------------------------------------------------------------------------- places
def cache_dir() -> Path:
    """``$WSSS_ZOO_HOME``, else ``<torch hub dir>/wsss_zoo`` (``~/.cache/torch/hub/wsss_zoo``)."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    import torch.hub

    return Path(torch.hub.get_dir()) / "wsss_zoo"


def checkpoints_dir() -> Path:
    return cache_dir() / "checkpoints"


def converted_dir() -> Path:
    return cache_dir() / "converted"


def cached_file_path(entry: ModelEntry) -> Path:
    """Where the upstream file of an entry lives in the cache (whether or not it exists yet)."""
    return checkpoints_dir() / entry.filename


def part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def is_offline() -> bool:
    """True when WSSS_ZOO_OFFLINE or HF_HUB_OFFLINE is set to a true value."""
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in (ENV_OFFLINE, "HF_HUB_OFFLINE"))


def strict_sha() -> bool:
    return os.environ.get(ENV_STRICT_SHA, "").strip().lower() in _TRUE


@contextlib.contextmanager
def file_lock(target: Path):
    """Serialise processes writing the same cache file (two downloads would append to one ``.part``)."""
    try:
        import fcntl
    except ImportError:  # no inter-process lock on Windows; the sha256 check still guards the result
        yield
        return
    with open(target.with_name(target.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- hashing and records
def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def records_path() -> Path:
    return cache_dir() / "sha256.json"


def read_records() -> dict:
    try:
        with open(records_path(), encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def record_hash(name: str, path: Path, sha: str, source: str) -> None:
    """Remember ``name -> {sha256, size, source, date, mtime_ns}`` in ``<cache>/sha256.json``."""
    st = Path(path).stat()
    records = read_records()
    records[name] = {"sha256": sha, "size": st.st_size, "source": source,
                     "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                     "mtime_ns": st.st_mtime_ns}
    try:
        path_json = records_path()
        path_json.parent.mkdir(parents=True, exist_ok=True)
        tmp = path_json.with_name(f"{path_json.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path_json)
    except OSError:
        pass  # a read-only cache only loses the record


def _fresh_record(name: str, path: Path) -> Optional[dict]:
    rec = read_records().get(name)
    st = path.stat()
    if rec and rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns:
        return rec
    return None


# --------------------------------------------------------------------------- admission and checks
def looks_like_html(head: bytes) -> bool:
    low = head.lstrip().lower()
    return any(low.startswith(p) for p in HTML_PREFIXES)


def verify_download(entry: ModelEntry, source: Source, part: Path) -> str:
    """Check a finished ``.part`` (not HTML, size, sha256); delete it when bad. Returns its sha256."""
    with open(part, "rb") as f:
        head = f.read(512)
    if looks_like_html(head):
        part.unlink(missing_ok=True)
        raise HtmlInsteadOfFileError("the server sent an HTML page instead of the file")
    size = source.size or entry.size
    actual_size = part.stat().st_size
    if size and actual_size != int(size):
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(f"size {actual_size} bytes, the registry expects {size}")
    sha = sha256_file(part)
    expected = source.sha256 or entry.sha256
    if expected and sha.lower() != expected.lower():
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(f"sha256 {sha}, the registry expects {expected}")
    return sha


def admit(entry: ModelEntry, part: Path, target: Path, sha: str, source: str) -> Path:
    """Move a verified ``.part`` onto its cache path and record its hash."""
    os.replace(part, target)
    record_hash(entry.name, target, sha, source)
    return target


def _mismatch(what: str, path: Path, entry: ModelEntry, got: str, hint: str) -> None:
    msg = (f"{what} {path} has sha256 {got}, but the registry records {entry.sha256} for {entry.name}; "
           f"{hint}")
    if strict_sha():
        raise ChecksumMismatchError(msg)
    warnings.warn(msg + f" (set {ENV_STRICT_SHA}=1 to make this an error)", stacklevel=3)


def check_cached(entry: ModelEntry, path: Path) -> None:
    """On a cache hit: hash a file the cache has no fresh record of once, then trust the record."""
    rec = _fresh_record(entry.name, path)
    sha = rec["sha256"] if rec else sha256_file(path)
    if rec is None:
        record_hash(entry.name, path, sha, "found in cache")
    if entry.sha256 and sha.lower() != entry.sha256:
        _mismatch("the cached file", path, entry, sha,
                  "it may be a re-packed copy; delete it to download the published file")


_LOCAL_HASHES: dict = {}


def check_local_weights(entry: ModelEntry, path: Path, kind: str) -> None:
    """A ``weights=`` file whose sha256 differs from the registry's: warn (strict mode: raise).

    Safetensors files (``kind``, the project's own conversions) are not compared with the upstream hash.
    """
    if not entry.sha256 or kind == "safetensors":
        return
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _LOCAL_HASHES:
        _LOCAL_HASHES[key] = sha256_file(path)
    sha = _LOCAL_HASHES[key]
    if sha.lower() != entry.sha256:
        _mismatch("weights file", path, entry, sha, "it may be a re-packed copy of the published file")


def verify_cached(entry: ModelEntry) -> bool:
    """Re-hash the cached file of ``entry``: True when it matches the registry (or the cache's record)."""
    path = cached_file_path(entry)
    if not path.is_file():
        return False
    sha = sha256_file(path)
    record = read_records().get(entry.name) or {}
    expected = entry.sha256 or record.get("sha256")
    ok = not expected or sha.lower() == str(expected).lower()
    if ok:
        record_hash(entry.name, path, sha, record.get("source", "verified"))
    return ok


def describe_sources(entry: ModelEntry) -> str:
    """The browser links of an entry's current sources (superseded ones are never offered)."""
    links = [s.browser_url for s in entry.sources if not s.superseded and s.browser_url]
    return ", ".join(links) or "none published"


def manual_instructions(entry: ModelEntry, target) -> str:
    """The sentence every download error ends with: where to get the file and where to put it."""
    return (f"download it in a browser from {describe_sources(entry)} and place it at {target}, "
            "or pass weights=<path to the downloaded file>")


# --------------------------------------------------------------------------- converted state dicts
def conversion_key(path: Path, layout: str) -> str:
    st = path.stat()
    raw = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{layout}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def converted_path(entry: ModelEntry, source: Path) -> Path:
    """Where the converted (canonical-key, safetensors) copy of ``source`` for ``entry`` is kept."""
    return converted_dir() / f"{entry.name}-{conversion_key(source, entry.layout)}.safetensors"
