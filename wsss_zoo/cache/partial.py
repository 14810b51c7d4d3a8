"""What is remembered beside an interrupted download (``<file>.part.json``), so that any later process may
resume the ``.part`` safely.

A ``.part`` is resumed only with ``Range`` *and* ``If-Range: <validator>``, the validator (strong ETag, else
Last-Modified) being the one the server sent with the bytes already on disk. A server whose file changed
answers ``If-Range`` with the whole new file (200) and the download starts from zero; without a validator,
or when the bytes on disk were decoded from a ``Content-Encoding`` (their offsets are not the server's),
the part is never resumed. The record is written atomically before the first byte of the part.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

from ..fileio import atomic_write_text
from . import places


@dataclasses.dataclass(frozen=True)
class PartState:
    """The response that started a ``.part``: its source, validators, content encoding and total size."""

    source: str
    etag: Optional[str] = None
    last_modified: Optional[str] = None
    encoding: str = "identity"
    total: Optional[int] = None

    @property
    def validator(self) -> Optional[str]:
        """What ``If-Range`` may carry: a strong ETag (``W/`` ones are not allowed there), else Last-Modified."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified

    @property
    def resumable(self) -> bool:
        return self.validator is not None and self.encoding == "identity"

    def validators(self) -> dict:
        return {"etag": self.etag, "last_modified": self.last_modified}


def read_part_state(target: Path) -> Optional[PartState]:
    """The record of ``target``'s ``.part``, or None when there is none or it is unreadable."""
    try:
        data = json.loads(places.part_state_path(target).read_text(encoding="utf-8"))
        fields = {f.name for f in dataclasses.fields(PartState)}
        if not isinstance(data, dict) or not isinstance(data.get("source"), str) or set(data) - fields:
            return None
        state = PartState(**data)
    except (OSError, ValueError, TypeError):
        return None
    if not all(isinstance(v, (str, type(None))) for v in (state.etag, state.last_modified)):
        return None
    if not isinstance(state.encoding, str) or not isinstance(state.total, (int, type(None))):
        return None
    return state


def write_part_state(target: Path, state: PartState) -> None:
    atomic_write_text(places.part_state_path(target), json.dumps(dataclasses.asdict(state), sort_keys=True) + "\n")


def discard_part(target: Path) -> None:
    """Remove an interrupted download and its record."""
    places.part_path(target).unlink(missing_ok=True)
    places.part_state_path(target).unlink(missing_ok=True)
