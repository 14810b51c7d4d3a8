"""Transport behind :func:`wsss_zoo.hub.resolve_file`: get an entry's bytes from the network into the cache.

Order after a cache miss: the optional Hugging Face mirror (``WSSS_ZOO_HF_REPO="org/name[@rev]"``, only for
entries whose ``license.redistributable`` is true, :mod:`.hf`), then each of the entry's current sources
(superseded and manual ones are never tried): ``github_release`` / ``url`` (:mod:`.http`) and ``gdrive``
(:mod:`.drive`, confirmation pages read by gdown). Time limits and retries: :mod:`.limits`.

Invariants: bytes go to ``<target>.part`` (resumed with ``Range`` + ``If-Range`` only), a body that is no
checkpoint is refused before it is written, the finished part is checked (format, size, sha256) and only
then renamed onto the target and recorded, so a failed download never leaves a file at the target path.
Every error says which URLs were tried and where to place a manually downloaded file.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import List, Tuple

from .. import cache
from ..errors import CacheError, ChecksumMismatchError, DownloadError, HtmlInsteadOfFileError, OfflineError
from ..registry import ModelEntry, Source
from . import drive, hf, http, limits
from .drive import (ENV_GDRIVE_URL, ENV_GDRIVE_USERCONTENT_URL, GDRIVE_URL, GDRIVE_USERCONTENT_URL, next_url,
                    page_error)
from .hf import ENV_HF_REPO, fetch_mirror, hf_mirror, hub_file, mirror_filename


def fetch_entry(entry: ModelEntry, target: Path, progress: bool = True) -> Path:
    """Download the file of ``entry`` to ``target`` (mirror first, then the sources in order).

    Returns the path of the verified file: ``target``, or the mirror's safetensors file in the
    Hugging Face cache under ``<cache>/huggingface``. Raises :class:`OfflineError` in offline mode
    before any network call, :class:`CacheError` when the cache cannot be written, else a
    :class:`DownloadError` subclass naming every URL tried.
    """
    target = Path(target)
    offline = cache.is_offline()
    tried: List[Tuple[str, Exception]] = []
    mirror = hf_mirror(entry)
    if mirror is not None:
        try:
            return fetch_mirror(entry, *mirror, progress=progress)
        except CacheError:
            raise
        except Exception as exc:  # noqa: BLE001 - a mirror problem never hides the original sources
            tried.append((hf.browser_url(mirror[0], mirror[1], mirror_filename(entry)), exc))
            if not offline:
                warnings.warn(f"Hugging Face mirror {mirror[0]} failed for {entry.name} "
                              f"({type(exc).__name__}: {exc}); falling back to the original sources", stacklevel=2)
    if offline:
        raise OfflineError(f"offline mode is on ({cache.ENV_OFFLINE}/{cache.ENV_HF_OFFLINE}) and {entry.name} is "
                           "not cached; " + cache.manual_instructions(entry, target))
    sources = [s for s in entry.current_sources if s.kind != "file"]
    if not sources and not tried:
        raise DownloadError(f"no source of {entry.name} can be downloaded automatically; "
                            + cache.manual_instructions(entry, target))
    cache.writable_dir(target.parent)
    lim = limits.Limits.current()
    import requests

    had_target = target.is_file()
    with cache.file_lock(target), http.new_session() as session:
        if target.is_file() and not had_target:  # another process finished it while we waited
            return target
        for source in sources:
            try:
                fetch_source(session, entry, source, target, lim, progress)
                return target
            except CacheError:
                raise  # a full or read-only cache fails every source alike
            except DownloadError as exc:
                tried.append((source.browser_url, exc))
            except (requests.RequestException, OSError) as exc:  # bad URL, TLS, ...
                tried.append((source.browser_url, DownloadError(f"{type(exc).__name__}: {exc}")))
    raise combined_error(entry, target, tried)


def fetch_source(session, entry: ModelEntry, source: Source, target: Path, lim: "limits.Limits",
                 progress: bool) -> Path:
    """Download one source to ``<target>.part``, verify it, rename it onto ``target`` and record it."""
    file_id = source.id if source.kind == "gdrive" else drive.drive_id(source.url or "")
    key = source.browser_url
    budget = limits.Budget(lim, f"the download of {drive.source_url(file_id) if file_id else source.url}")
    part = cache.part_path(target)
    for fresh_retry in (False, True):
        resumed = part.is_file() and part.stat().st_size > 0
        if file_id:
            attempt = lambda: drive.drive_attempt(session, file_id, target, key=key, budget=budget,  # noqa: E731
                                                  limits=lim, progress=progress)
        else:
            attempt = lambda: http.http_attempt(session, source.url, target, key=key, budget=budget,  # noqa: E731
                                                limits=lim, progress=progress, size_hint=source.size or entry.size)
        limits.with_retries(attempt, budget, lim)
        state = cache.read_part_state(target)
        try:
            sha = cache.verify_download(entry, source, part)
            break
        except ChecksumMismatchError:
            cache.discard_part(target)
            if resumed and not fresh_retry:  # belt and braces: a resumed part that fails starts over once
                continue
            raise
        except DownloadError:
            cache.discard_part(target)
            raise
    cache.admit(entry, part, target, sha, source, state.validators() if state else None)
    cache.discard_part(target)  # the part's record
    return target


def combined_error(entry: ModelEntry, target: Path, tried: List[Tuple[str, Exception]]) -> DownloadError:
    kinds = {type(exc) for _, exc in tried}
    if len(kinds) == 1 and issubclass(next(iter(kinds)), DownloadError):
        cls = next(iter(kinds))
    elif ChecksumMismatchError in kinds:
        cls = ChecksumMismatchError
    elif all(isinstance(exc, HtmlInsteadOfFileError) for _, exc in tried):
        cls = HtmlInsteadOfFileError
    else:
        cls = DownloadError
    lines = [f"could not download {entry.name}; tried:"]
    lines += [f"  {url}: {type(exc).__name__}: {exc}" for url, exc in tried]
    lines.append(cache.manual_instructions(entry, target))
    return cls("\n".join(lines))


__all__ = ["ENV_GDRIVE_URL", "ENV_GDRIVE_USERCONTENT_URL", "ENV_HF_REPO", "GDRIVE_URL", "GDRIVE_USERCONTENT_URL",
           "combined_error", "drive", "fetch_entry", "fetch_mirror", "fetch_source", "hf", "hf_mirror", "http",
           "hub_file", "limits", "next_url", "page_error"]
