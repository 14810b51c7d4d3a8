"""Which output files of a run are complete: a record ``(file name, size)`` per file, made after its rename.

Each rank appends a line to ``<out>/.completed.rank<R>.jsonl`` as soon as a file is in place (so a killed
run keeps the record of what it finished); at the end, rank 0 folds these journals into the ``completed``
map of ``manifest.json`` and removes them. A resumed run skips a file only when it is a regular file whose
size equals its record: a file present but not on record, or of another size (a copy cut short, a file
truncated by a crash after the rename, someone else's file), is computed again.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Dict

from ..fileio import open_append

MANIFEST = "manifest.json"
JOURNAL_PATTERN = ".completed.rank*.jsonl"


def journal_path(out_dir, rank: int) -> Path:
    return Path(out_dir) / f".completed.rank{rank}.jsonl"


def _valid(name, size) -> bool:
    return (isinstance(name, str) and name and "/" not in name and "\\" not in name
            and isinstance(size, int) and not isinstance(size, bool) and size >= 0)


def read_completed(out_dir) -> Dict[str, int]:
    """``{file name: size}`` from ``manifest.json`` then every rank's journal (later records win).

    Both are files in the output folder, so anything unreadable or malformed in them is ignored (the
    files it would have vouched for are computed again).
    """
    out_dir = Path(out_dir)
    records: Dict[str, int] = {}
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        completed = manifest.get("completed") if isinstance(manifest, dict) else None
        if isinstance(completed, dict):
            records.update((k, v) for k, v in completed.items() if _valid(k, v))
    except (OSError, ValueError, RecursionError):
        pass
    for journal in sorted(out_dir.glob(JOURNAL_PATTERN)):
        try:
            lines = journal.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):  # a line cut by a kill, or garbage
                continue
            if isinstance(entry, dict) and _valid(entry.get("file"), entry.get("size")):
                records[entry["file"]] = entry["size"]
    return records


def is_complete(path: Path, records: Dict[str, int]) -> bool:
    """Whether ``path`` is a regular file (not a link) whose size is on record."""
    size = records.get(path.name)
    if size is None:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def verified(out_dir, records: Dict[str, int]) -> Dict[str, int]:
    """The records whose files are still complete (for the manifest)."""
    out_dir = Path(out_dir)
    return {name: size for name, size in sorted(records.items()) if is_complete(out_dir / name, records)}


def remove_journals(out_dir) -> None:
    for journal in Path(out_dir).glob(JOURNAL_PATTERN):
        journal.unlink(missing_ok=True)


class Journal:
    """This rank's append-only completion records (opened on the first record, without following links)."""

    def __init__(self, out_dir, rank: int):
        self.path = journal_path(out_dir, rank)
        self._file = None
        if self.path.is_symlink():  # our own name: a link planted there is dropped, never written through
            self.path.unlink()

    def record(self, path: Path) -> None:
        size = os.lstat(path).st_size
        if self._file is None:
            self._file = open_append(self.path)
        self._file.write(json.dumps({"file": path.name, "size": size}) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
