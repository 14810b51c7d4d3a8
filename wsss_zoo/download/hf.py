"""Files from the Hugging Face Hub: the optional mirror of redistributable files, and ``hf-hub:`` repos.

Everything goes through ``huggingface_hub.hf_hub_download`` into ``<cache>/huggingface`` (its own cache
layout; ``HF_ENDPOINT`` is read at each call, not only at import). In offline mode
(``WSSS_ZOO_OFFLINE`` / ``HF_HUB_OFFLINE``) the cache folder is looked up with ``try_to_load_from_cache``
and huggingface_hub is not called at all: even ``local_files_only=True`` lets it make side requests.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple

from .. import cache
from ..errors import DownloadError, OfflineError, WsssZooError
from ..registry import ModelEntry

ENV_HF_REPO = "WSSS_ZOO_HF_REPO"


def endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def browser_url(repo: str, revision: Optional[str], filename: str) -> str:
    return f"{endpoint()}/{repo}/blob/{revision or 'main'}/{filename}"


def hub_file(repo: str, filename: str, revision: Optional[str] = None, *, progress: bool = True) -> Path:
    """Path of ``filename`` of Hub repo ``repo`` in the cache, downloaded first unless offline."""
    hf_cache = cache.hf_cache_dir()
    if cache.is_offline():
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo, filename, cache_dir=str(hf_cache), revision=revision)
        if not isinstance(found, str):
            raise OfflineError(f"offline mode is on ({cache.ENV_OFFLINE}/{cache.ENV_HF_OFFLINE}) and {filename} of "
                               f"{repo} is not in {hf_cache}; run once online to cache it")
        return Path(found)
    cache.writable_dir(hf_cache)
    from huggingface_hub import hf_hub_download
    from tqdm import tqdm

    class _Silent(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    kwargs = dict(revision=revision, cache_dir=str(hf_cache), endpoint=os.environ.get("HF_ENDPOINT") or None)
    if not progress:
        kwargs["tqdm_class"] = _Silent
    try:
        try:
            return Path(hf_hub_download(repo, filename, **kwargs))
        except TypeError:  # an older huggingface_hub without tqdm_class
            kwargs.pop("tqdm_class", None)
            return Path(hf_hub_download(repo, filename, **kwargs))
    except WsssZooError:
        raise
    except Exception as exc:  # noqa: BLE001 - huggingface_hub's errors (HTTP, not found, validation, network)
        raise DownloadError(f"cannot get {filename} of the Hugging Face repo {repo}"
                            f"{'@' + revision if revision else ''} from {endpoint()} "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''})") from None


# --------------------------------------------------------------------------- the mirror
def hf_mirror(entry: ModelEntry) -> Optional[Tuple[str, Optional[str]]]:
    """``(repo_id, revision)`` from ``WSSS_ZOO_HF_REPO`` when the entry may be re-hosted, else None."""
    spec = os.environ.get(ENV_HF_REPO, "").strip()
    if not spec or not entry.license.redistributable:
        return None
    repo, _, rev = spec.partition("@")
    return repo, (rev or None)


def mirror_filename(entry: ModelEntry) -> str:
    return f"{entry.name}.safetensors"


def fetch_mirror(entry: ModelEntry, repo: str, revision: Optional[str], *, progress: bool) -> Path:
    """The mirror's ``<name>.safetensors``, checked to be a safetensors file."""
    from ..convert import sniff_file

    path = hub_file(repo, mirror_filename(entry), revision, progress=progress)
    kind = sniff_file(path)
    if kind != "safetensors":
        raise DownloadError(f"the mirror's {path.name} is not a safetensors file (it looks like {kind})")
    return path
