"""Hashes and what the cache recorded about each file: trust-on-first-use made checkable.

No checkpoint has a published sha256, so the first download is trust-on-first-use. This module makes
that first use as safe as it can be and every later use checkable:

* a download is admitted only after its body is a checkpoint (:func:`~wsss_zoo.convert.download_format`),
  its size and sha256 match what the registry knows, and then ``<cache>/sha256.json`` records its sha256,
  size, source, the server's validator (ETag / Last-Modified) and the file's fingerprint;
* a cache hit trusts the recorded sha256 only while the fingerprint -- size, mtime, ctime, inode, device
  -- is unchanged. ``ctime`` cannot be set from user space (``touch``, ``cp -p`` and ``os.utime`` set
  mtime, and any of them or a write or a rename moves ctime to *now*), so a same-size, same-mtime
  replacement is still seen and the file is hashed again. A hash that differs from the record is
  reported, never re-recorded;
* :func:`verify_cached` (``wsss-zoo download --verify``) always re-hashes and compares with the record;
  it never writes one.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Optional, Tuple

from ..convert.core import SNIFF_BYTES, download_format, sniff_bytes
from ..errors import CacheError, ChecksumMismatchError, HtmlInsteadOfFileError, NotACheckpointError
from ..fileio import atomic_write_text
from ..registry import ModelEntry, Source
from . import places

RECORDS_FILE = "sha256.json"
#: ``origin`` of a record written after a download from one of the entry's sources
ORIGIN_DOWNLOAD = "download"
#: ``origin`` of a record written for a file found in the cache without one (placed there by hand)
ORIGIN_BY_HAND = "placed by hand"
_FINGERPRINT = ("size", "mtime_ns", "ctime_ns", "inode", "device")


# --------------------------------------------------------------------------- hashing and records
def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(path: Path) -> dict:
    st = Path(path).stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino,
            "device": st.st_dev}


def records_path() -> Path:
    return places.cache_dir() / RECORDS_FILE


def read_records() -> dict:
    """``{name: record}`` from ``<cache>/sha256.json``; unreadable or malformed content counts as no record."""
    path = records_path()  # a WSSS_ZOO_HOME that cannot be used is an error, not "no records"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items()
            if isinstance(v, dict) and isinstance(v.get("sha256"), str) and len(v["sha256"]) == 64}


def record_of(name: str) -> Optional[dict]:
    return read_records().get(name)


def _update_records(name: str, record: Optional[dict]) -> None:
    """Set (or with None, remove) one record; read-modify-write under the records lock, atomic rename."""
    path = records_path()
    places.writable_dir(path.parent)
    with places.file_lock(path):
        records = read_records()
        if record is None:
            records.pop(name, None)
        else:
            records[name] = record
        try:
            atomic_write_text(path, json.dumps(records, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            raise places.cache_error(path.parent, exc) from None


def record_file(name: str, path: Path, sha: str, *, source: str, origin: str, validators=None) -> dict:
    """Record ``name -> {sha256, size, source, origin, date, etag, last_modified, fingerprint}``."""
    record = {"sha256": sha, "source": source, "origin": origin,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    record.update({k: v for k, v in (validators or {}).items() if k in ("etag", "last_modified") and v})
    record.update(fingerprint(path))
    _update_records(name, record)
    return record


def _fingerprint_matches(record: dict, path: Path) -> bool:
    now = fingerprint(path)
    return all(record.get(k) == now[k] for k in _FINGERPRINT)


def origin_of(record: dict) -> str:
    """``download`` or ``placed by hand``; records of wsss_zoo 0.1 have no origin: an http(s) source was a download."""
    origin = record.get("origin")
    if origin in (ORIGIN_DOWNLOAD, ORIGIN_BY_HAND):
        return origin
    return ORIGIN_DOWNLOAD if str(record.get("source", "")).startswith(("http://", "https://")) else ORIGIN_BY_HAND


def _describe(record: dict) -> str:
    how = ("when it was downloaded from " + str(record.get("source")) if origin_of(record) == ORIGIN_DOWNLOAD
           else "when it was found in the cache (placed by hand)")
    return f"{how} on {str(record.get('date', '?'))[:10]}"


# --------------------------------------------------------------------------- admission of downloads
def part_format(part: Path) -> str:
    """The checkpoint format of a finished ``.part``, or raise (deleting it) when it is none we accept."""
    with open(part, "rb") as f:
        head = f.read(SNIFF_BYTES)
    fmt = download_format(head)
    if fmt is None:
        part.unlink(missing_ok=True)
        raise refusal(head)
    return fmt


def refusal(head: bytes) -> Exception:
    """The error for a body whose first bytes are no accepted checkpoint format."""
    kind = sniff_bytes(head)
    if kind == "html":
        return HtmlInsteadOfFileError("the server sent an HTML page (a login, error or interstitial page) "
                                      "instead of the file")
    if kind == "empty":
        return NotACheckpointError("the server sent an empty body instead of the file")
    if kind == "json":
        text = head[:200].decode("utf-8", "replace").strip()
        return NotACheckpointError(f"the server sent a JSON document instead of the file: {text}")
    what = {"zip": "a zip archive that is not a torch checkpoint",
            "pickle": "a pickle that is not a torch checkpoint"}.get(kind, f"bytes starting {head[:8]!r}")
    return NotACheckpointError(f"the server sent {what}; wsss_zoo accepts torch checkpoints (zip or legacy), "
                               "MXNet .params and safetensors files")


def verify_download(entry: ModelEntry, source: Source, part: Path) -> str:
    """Check a finished ``.part`` (a checkpoint format, size, sha256); delete it when bad. Returns its sha256."""
    part_format(part)
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


def admit(entry: ModelEntry, part: Path, target: Path, sha: str, source: Source, validators=None) -> Path:
    """Move a verified ``.part`` onto its cache path and record it; no unrecorded file is ever left there."""
    os.replace(part, target)
    try:
        record_file(entry.name, target, sha, source=source.browser_url, origin=ORIGIN_DOWNLOAD,
                    validators=validators)
    except CacheError:
        target.unlink(missing_ok=True)
        raise
    return target


# --------------------------------------------------------------------------- later uses
def mismatch(message: str) -> None:
    """A file that differs from its recorded sha256: a warning, an error with ``WSSS_ZOO_STRICT_SHA=1``."""
    if places.strict_sha():
        raise ChecksumMismatchError(message)
    warnings.warn(message + f" (set {places.ENV_STRICT_SHA}=1 to make this an error)", stacklevel=4)


def _stale_hint(entry: ModelEntry, path: Path) -> str:
    return (f"delete {path} and download it again (wsss-zoo download {entry.name}); if you replaced it by hand "
            "on purpose, keep it outside the cache and pass it as weights=PATH (--weights PATH)")


def check_cached(entry: ModelEntry, path: Path) -> str:
    """The sha256 of the cached file of ``entry``, checked against the record and the registry.

    A file without a record (placed by hand, as error messages suggest) is hashed and recorded once. A file
    whose fingerprint changed is hashed again; if its hash is the recorded one the fingerprint is refreshed,
    otherwise the change is reported (:func:`mismatch`) and the record is left as it was.
    """
    rec = record_of(entry.name)
    if rec is not None and _fingerprint_matches(rec, path):
        sha = rec["sha256"]
    else:
        sha = sha256_file(path)
        if rec is None or sha == rec["sha256"]:
            source, origin = (rec.get("source", ""), origin_of(rec)) if rec else ("placed by hand", ORIGIN_BY_HAND)
            try:
                record_file(entry.name, path, sha, source=source, origin=origin, validators=rec)
            except CacheError:
                pass  # a read-only cache only loses the record: the file is hashed on every use
        else:
            mismatch(f"the cached file {path} has sha256 {sha}, but {rec['sha256']} was recorded "
                     f"{_describe(rec)}: it changed since (damaged, or replaced); " + _stale_hint(entry, path))
    if entry.sha256 and sha.lower() != entry.sha256:
        mismatch(f"the cached file {path} has sha256 {sha}, but the registry records {entry.sha256} for "
                 f"{entry.name}; it may be a re-packed copy; delete it to download the published file")
    return sha


def check_local_weights(entry: ModelEntry, path: Path, kind: str) -> Optional[str]:
    """The sha256 of a ``weights=`` file, compared with the registry's (warning; strict mode: error).

    Always hashed: the file is the user's, anywhere, and may change between two loads in ways a fingerprint
    of a foreign file system cannot be trusted to show. Safetensors files (the project's own conversions)
    are read as they are, not hashed, and not compared with the upstream hash.
    """
    if kind == "safetensors":
        return None
    sha = sha256_file(path)
    if entry.sha256 and sha.lower() != entry.sha256:
        mismatch(f"weights file {path} has sha256 {sha}, but the registry records {entry.sha256} for "
                 f"{entry.name}; it may be a re-packed copy of the published file")
    return sha


# --------------------------------------------------------------------------- verification
@dataclasses.dataclass(frozen=True)
class Verification:
    """What :func:`verify_cached` found: ``status`` is 'ok', 'not cached', 'mismatch' or 'unrecorded'."""

    name: str
    status: str
    message: str
    sha256: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def verify_cached(entry: ModelEntry) -> Verification:
    """Re-hash the cached file of ``entry`` and compare it with the registry's sha256, else with the record.

    Never records anything: a file that was swapped in the cache stays a mismatch until it is deleted and
    downloaded again.
    """
    path = places.cached_file_path(entry)
    if not path.is_file():
        return Verification(entry.name, "not cached", "not cached")
    sha = sha256_file(path)
    rec = record_of(entry.name)
    if entry.sha256:
        expected, against = entry.sha256, "the registry's"
    elif rec is not None:
        expected, against = rec["sha256"], f"the one recorded {_describe(rec)}"
    else:
        return Verification(entry.name, "unrecorded", (
            f"no recorded sha256 to check {path} against (the record was deleted, or the file was placed there "
            f"before wsss_zoo recorded hashes); delete it and download it again to record one"), sha)
    if sha.lower() == expected.lower():
        return Verification(entry.name, "ok", "ok", sha)
    return Verification(entry.name, "mismatch", (
        f"sha256 MISMATCH: {path} has sha256 {sha}, not {against} ({expected}); " + _stale_hint(entry, path)), sha)


def published_sha(entry: ModelEntry) -> Optional[Tuple[str, str]]:
    """``(sha256, where it comes from)`` of the authors' file: the registry's, else the record of a download
    from one of the entry's current sources; None when neither exists."""
    if entry.sha256:
        return entry.sha256, "the registry's"
    rec = record_of(entry.name)
    current = {s.browser_url for s in entry.current_sources}
    # wsss_zoo 0.1 recorded the URL it requested: the link itself, or Drive's uc?id= form
    current |= {f"https://drive.google.com/uc?id={s.id}&export=download" for s in entry.current_sources if s.id}
    if rec is not None and origin_of(rec) == ORIGIN_DOWNLOAD and rec.get("source") in current:
        return rec["sha256"], f"the one recorded {_describe(rec)}"
    return None
