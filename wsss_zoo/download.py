"""Transport behind :func:`wsss_zoo.hub.resolve_file`: get an entry's bytes from the network into the cache.

Order after a cache miss: the optional Hugging Face mirror (``WSSS_ZOO_HF_REPO="org/name[@rev]"``,
only for entries whose ``license.redistributable`` is true), then each of the entry's current sources:
``github_release`` / ``url`` (plain HTTP, redirects followed) and ``gdrive`` (the ``uc?id=`` link,
then the confirm page parsed as gdown does it, ``wkentaro/gdown:gdown/download.py``).

Invariants: bytes go to ``<target>.part`` (resumed with ``Range`` after a cut), HTML is never
written, the part is checked (size, sha256, not HTML) and only then renamed onto the target, so a
failed download never leaves a file at the target path. Every error says which URLs were tried and
where to place a manually downloaded file.
"""
from __future__ import annotations

import os
import re
import time
import warnings
from html.parser import HTMLParser
from pathlib import Path
from typing import List, Optional, Tuple
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from . import cache
from .errors import (ChecksumMismatchError, DownloadError, DriveQuotaError, HtmlInsteadOfFileError,
                     OfflineError)
from .registry import ModelEntry, Source

GDRIVE_URL = "https://drive.google.com/uc"
GDRIVE_USERCONTENT_URL = "https://drive.usercontent.google.com/download"
ENV_GDRIVE_URL = "WSSS_ZOO_GDRIVE_URL"
ENV_GDRIVE_USERCONTENT_URL = "WSSS_ZOO_GDRIVE_USERCONTENT_URL"
ENV_HF_REPO = "WSSS_ZOO_HF_REPO"

TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
RETRIES = 3  # attempts per source for connection errors, 429 and 5xx
BACKOFF_S = 1.0  # sleep before retry i is BACKOFF_S * 2**i
MAX_DRIVE_HOPS = 4  # confirm pages followed before giving up
MAX_HTML_BYTES = 4 << 20
CHUNK = 1 << 16  # a cut connection loses at most the chunk being read
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0 Safari/537.36 wsss_zoo")
QUOTA_WORDING = re.compile(r"too many users|quota|exceeded|try again later", re.I)

DRIVE_PERMISSION_HINT = ("Google Drive answered with a page that has no download link: the file may not be "
                         "shared with 'Anyone with the link', may have been deleted, or has had too many "
                         "accesses recently")


class _Transient(Exception):
    """A failure worth retrying (connection cut, timeout, 429/5xx); the ``.part`` is kept."""


# --------------------------------------------------------------------------- public entry point
def fetch_entry(entry: ModelEntry, target: Path, progress: bool = True) -> Path:
    """Download the file of ``entry`` to ``target`` (mirror first, then the sources in order).

    Returns the path of the verified file: ``target``, or the mirror's safetensors file in the
    Hugging Face cache under ``<cache>/huggingface``. Raises :class:`OfflineError` in offline mode
    before any network call, else a :class:`DownloadError` subclass naming every URL tried.
    """
    target = Path(target)
    offline = cache.is_offline()
    tried: List[Tuple[str, Exception]] = []
    mirror = hf_mirror(entry)
    if mirror is not None:
        try:
            return _fetch_hf(entry, *mirror, progress=progress, local_only=offline)
        except Exception as exc:  # a mirror problem never hides the original sources
            tried.append((_hf_browser_url(entry, *mirror), exc))
            if not offline:
                warnings.warn(f"Hugging Face mirror {mirror[0]} failed for {entry.name} "
                              f"({type(exc).__name__}: {exc}); falling back to the original sources",
                              stacklevel=2)
    if offline:
        raise OfflineError(
            f"offline mode is on ({cache.ENV_OFFLINE}/HF_HUB_OFFLINE) and {entry.name} is not cached; "
            + cache.manual_instructions(entry, target))
    sources = [s for s in entry.current_sources if s.kind != "file"]
    if not sources and not tried:
        raise DownloadError(f"no source of {entry.name} can be downloaded automatically; "
                            + cache.manual_instructions(entry, target))
    target.parent.mkdir(parents=True, exist_ok=True)
    import requests

    had_target = target.is_file()
    with cache.file_lock(target), requests.Session() as session:
        if target.is_file() and not had_target:  # another process finished it while we waited
            return target
        session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})  # byte offsets for Range
        for source in sources:
            url = _source_url(source)
            try:
                _fetch_source(session, entry, source, target, progress)
                return target
            except DownloadError as exc:
                tried.append((url, exc))
            except (requests.RequestException, OSError) as exc:  # bad URL, TLS, disk full, ...
                tried.append((url, DownloadError(f"{type(exc).__name__}: {exc}")))
    raise _combined_error(entry, target, tried)


# --------------------------------------------------------------------------- Hugging Face mirror
def hf_mirror(entry: ModelEntry) -> Optional[Tuple[str, Optional[str]]]:
    """``(repo_id, revision)`` from ``WSSS_ZOO_HF_REPO`` when the entry may be re-hosted, else None."""
    spec = os.environ.get(ENV_HF_REPO, "").strip()
    if not spec or not entry.license.redistributable:
        return None
    repo, _, rev = spec.partition("@")
    return repo, (rev or None)


def hf_filename(entry: ModelEntry) -> str:
    return f"{entry.name}.safetensors"


def _hf_browser_url(entry: ModelEntry, repo: str, revision: Optional[str]) -> str:
    from huggingface_hub import constants

    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    return f"{endpoint}/{repo}/blob/{revision or 'main'}/{hf_filename(entry)}"


def _fetch_hf(entry: ModelEntry, repo: str, revision: Optional[str], *, progress: bool, local_only: bool) -> Path:
    """The mirror's ``<name>.safetensors`` through ``hf_hub_download`` (HF_ENDPOINT read at call time).

    ``local_only`` (offline mode) looks in the cache folder only: even ``local_files_only=True``
    lets huggingface_hub make side requests (its agent-registry fetch), so it is not called at all.
    """
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from tqdm import tqdm

    hf_cache = str(cache.cache_dir() / "huggingface")
    if local_only:
        found = try_to_load_from_cache(repo, hf_filename(entry), cache_dir=hf_cache, revision=revision)
        if not isinstance(found, str):
            raise OfflineError(f"{hf_filename(entry)} of {repo} is not in {hf_cache}")
        path = Path(found)
    else:
        class _Silent(tqdm):
            def __init__(self, *args, **kwargs):
                kwargs["disable"] = True
                super().__init__(*args, **kwargs)

        kwargs = dict(revision=revision, cache_dir=hf_cache, endpoint=os.environ.get("HF_ENDPOINT") or None)
        if not progress:
            kwargs["tqdm_class"] = _Silent
        try:
            path = Path(hf_hub_download(repo, hf_filename(entry), **kwargs))
        except TypeError:  # an older huggingface_hub without tqdm_class
            kwargs.pop("tqdm_class", None)
            path = Path(hf_hub_download(repo, hf_filename(entry), **kwargs))
    from .convert import sniff_file

    kind = sniff_file(path)
    if kind != "safetensors":
        raise DownloadError(f"the mirror's {path.name} is not a safetensors file (it looks like {kind})")
    return path


# --------------------------------------------------------------------------- one source
def _source_url(source: Source) -> str:
    if source.kind == "gdrive":
        return f"{_drive_base()}?id={source.id}&export=download"
    return str(source.url)


def _drive_id(url: str) -> Optional[str]:
    """The file id of a drive.google.com link given as a plain ``url`` source."""
    if "drive.google.com" not in url:
        return None
    m = re.search(r"/file/d/([\w-]+)", url) or re.search(r"[?&]id=([\w-]+)", url)
    return m.group(1) if m else None


def _fetch_source(session, entry: ModelEntry, source: Source, target: Path, progress: bool) -> None:
    """Download one source to ``<target>.part``, verify it, rename it onto ``target``."""
    file_id = source.id if source.kind == "gdrive" else _drive_id(source.url or "")
    part = cache.part_path(target)
    for fresh_retry in (False, True):
        resumed = part.is_file() and part.stat().st_size > 0
        if file_id:
            _with_retries(lambda: _drive_attempt(session, file_id, part, progress, target.name))
        else:
            _with_retries(lambda: _http_attempt(session, source.url, part, progress, target.name,
                                                source.size or entry.size))
        try:
            sha = cache.verify_download(entry, source, part)
            break
        except ChecksumMismatchError:
            if resumed and not fresh_retry:  # the old part may come from another file: start over once
                continue
            raise
    cache.admit(entry, part, target, sha, _source_url(source))


def _with_retries(attempt) -> None:
    import requests

    last: Exception = DownloadError("no attempt made")
    for i in range(RETRIES):
        try:
            return attempt()
        except (_Transient, requests.ConnectionError, requests.Timeout) as exc:
            last = exc
            if i + 1 < RETRIES:
                time.sleep(BACKOFF_S * 2 ** i)
    raise DownloadError(f"gave up after {RETRIES} attempts ({type(last).__name__}: {last}); "
                        "a partial .part file is kept and resumed next time")


def _get(session, url: str, part: Path, params=None, resume: bool = True):
    """GET with ``Range`` when a part exists (and ``resume``); 429/5xx are transient, other 4xx final."""
    have = part.stat().st_size if resume and part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    resp = session.get(url, params=params, headers=headers, stream=True, timeout=TIMEOUT, allow_redirects=True)
    if resp.status_code == 429 or resp.status_code >= 500:
        resp.close()
        raise _Transient(f"HTTP {resp.status_code} from {resp.url}")
    if resp.status_code >= 400 and resp.status_code != 416:
        resp.close()
        raise DownloadError(f"HTTP {resp.status_code} {resp.reason} from {resp.url}")
    return resp


def _http_attempt(session, url: str, part: Path, progress: bool, desc: str, size=None) -> None:
    with _get(session, url, part) as resp:
        _stream_to_part(resp, part, progress, desc, size)


# --------------------------------------------------------------------------- Google Drive
def _drive_base() -> str:
    return os.environ.get(ENV_GDRIVE_URL) or GDRIVE_URL


def _rebase_drive_url(url: str) -> str:
    """Point the published Drive hosts at overridden bases (tests, corporate proxies)."""
    for default, current in ((GDRIVE_USERCONTENT_URL, os.environ.get(ENV_GDRIVE_USERCONTENT_URL)),
                             ("https://drive.google.com/uc", os.environ.get(ENV_GDRIVE_URL))):
        if current and url.startswith(default):
            return current + url[len(default):]
    return url


def _drive_attempt(session, file_id: str, part: Path, progress: bool, desc: str) -> None:
    url, params = _drive_base(), {"id": file_id, "export": "download"}
    seen = set()
    for hop in range(MAX_DRIVE_HOPS):
        # no Range on the uc?id= page: Drive answers a ranged request for its HTML page with 416;
        # small files come straight from it (200, written from the start), large ones after a form
        with _get(session, url, part, params=params, resume=hop > 0) as resp:
            if not _is_html_response(resp):
                _stream_to_part(resp, part, progress, desc, None)
                return
            page = resp.raw.read(MAX_HTML_BYTES, decode_content=True).decode("utf-8", "replace")
            nxt = parse_drive_page(page, resp.url)
        if nxt in seen:
            break
        seen.add(nxt)
        url, params = _rebase_drive_url(nxt), None
    raise HtmlInsteadOfFileError(f"Google Drive kept answering with confirmation pages; {DRIVE_PERMISSION_HINT}")


class _DrivePageParser(HTMLParser):
    """Collects the ``#download-form`` (action, inputs), ``/uc?export=download`` links, error captions."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.form_action: Optional[str] = None
        self.form_inputs: List[Tuple[str, str]] = []
        self.links: List[str] = []
        self.errors: List[str] = []
        self.title = ""
        self._in_form = False
        self._capture: Optional[str] = None  # "error" | "title"

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form" and a.get("id") == "download-form":
            self._in_form = True
            self.form_action = a.get("action", "")
        elif tag == "input" and self._in_form and a.get("name") and a.get("type", "").lower() == "hidden":
            self.form_inputs.append((a["name"], a.get("value", "")))
        elif tag == "a" and a.get("href", "").startswith("/uc?export=download"):
            self.links.append(a["href"])
        elif tag == "p" and "uc-error-subcaption" in a.get("class", "").split():
            self._capture = "error"
            self.errors.append("")
        elif tag == "title":
            self._capture = "title"

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag in ("p", "title"):
            self._capture = None

    def handle_data(self, data):
        if self._capture == "error":
            self.errors[-1] += data
        elif self._capture == "title":
            self.title += data


def parse_drive_page(page: str, base_url: str) -> str:
    """The next URL to follow from a Drive interstitial, or raise the matching error.

    First match wins: the ``#download-form`` action with its hidden inputs as query, a legacy
    ``href="/uc?export=download..."`` link, a JSON ``"downloadUrl"``; then the
    ``uc-error-subcaption`` text (quota wording -> :class:`DriveQuotaError`); else
    :class:`HtmlInsteadOfFileError` with the permission hint.
    """
    p = _DrivePageParser()
    p.feed(page)
    p.close()
    if p.form_action is not None:
        action = urlsplit(urljoin(base_url, p.form_action or GDRIVE_USERCONTENT_URL))
        query = dict(parse_qsl(action.query, keep_blank_values=True))
        query.update(p.form_inputs)  # hidden inputs override what the action already carries
        return urlunsplit(action._replace(query=urlencode(query)))
    if p.links:
        return urljoin(base_url, p.links[0])
    m = re.search(r'"downloadUrl":"([^"]+)', page)
    if m:
        return m.group(1).replace("\\u003d", "=").replace("\\u0026", "&")
    caption = " ".join(" ".join(e.split()) for e in p.errors if e.strip())
    if QUOTA_WORDING.search(caption) or QUOTA_WORDING.search(p.title):
        raise DriveQuotaError(f"Google Drive quota exceeded: {caption or p.title.strip()} "
                              "(wait up to 24 hours, or download it in a signed-in browser)")
    if caption:
        raise HtmlInsteadOfFileError(f"Google Drive says: {caption}")
    raise HtmlInsteadOfFileError(DRIVE_PERMISSION_HINT)


# --------------------------------------------------------------------------- streaming bytes
def _is_html_response(resp) -> bool:
    return "text/html" in resp.headers.get("Content-Type", "").lower()


def _stream_to_part(resp, part: Path, progress: bool, desc: str, size=None) -> None:
    """Append (206) or write (200) the body to ``part``; a cut connection raises :class:`_Transient`."""
    import requests
    from tqdm import tqdm

    if _is_html_response(resp):
        raise HtmlInsteadOfFileError(f"{resp.url} answered with an HTML page (a login, error or interstitial "
                                     "page) instead of the file")
    have = part.stat().st_size if part.is_file() else 0
    if resp.status_code == 416:  # nothing left to send: the part may already be complete
        total = re.search(r"/(\d+)", resp.headers.get("Content-Range", ""))
        if not (total and int(total.group(1)) == have):
            part.unlink(missing_ok=True)
            raise _Transient("the server refused to resume the partial download; starting over")
        return
    if resp.status_code == 206:
        start = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
        if not start or int(start.group(1)) != have:
            part.unlink(missing_ok=True)
            raise _Transient("the server resumed at the wrong offset; starting over")
    else:
        have = 0
    length = resp.headers.get("Content-Length")
    total = have + int(length) if length and length.isdigit() else (int(size) if size else None)
    written = have
    out = None
    try:
        with tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=desc, disable=not progress) as bar:
            for chunk in resp.iter_content(CHUNK):
                if not chunk:
                    continue
                if out is None:
                    if written == 0 and cache.looks_like_html(chunk[:512]):
                        raise HtmlInsteadOfFileError(f"{resp.url} sent an HTML page instead of the file")
                    out = open(part, "ab" if have else "wb")
                out.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError, requests.Timeout) as exc:
        raise _Transient(f"connection lost after {written} bytes ({type(exc).__name__})") from exc
    finally:
        if out is not None:
            out.close()
    if out is None and have == 0:
        open(part, "wb").close()  # an empty body is an (empty) file; verification decides
    if total is not None and length and written < total:
        raise _Transient(f"connection closed after {written} of {total} bytes")


# --------------------------------------------------------------------------- errors
def _combined_error(entry: ModelEntry, target: Path, tried: List[Tuple[str, Exception]]) -> DownloadError:
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
