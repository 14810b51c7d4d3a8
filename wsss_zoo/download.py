"""Transport behind :func:`wsss_zoo.hub.resolve_file`: get an entry's file onto disk, verified.

Order after a cache miss: the optional Hugging Face mirror (``WSSS_ZOO_HF_REPO="org/name[@rev]"``,
only for entries whose ``license.redistributable`` is true), then each of ``entry["sources"]``:
``github_release`` / ``url`` (plain HTTP, redirects followed) and ``gdrive`` (the ``uc?id=`` link,
then the confirm page parsed as gdown does it, ``wkentaro/gdown:gdown/download.py``).

Invariants: bytes go to ``<target>.part`` (resumed with ``Range`` after a cut), HTML is never
written, the part is checked (size, sha256, not HTML) and only then renamed onto the target, so a
failed download never leaves a file at the target path. Every error says which URLs were tried and
where to place a manually downloaded file.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import time
import warnings
from html.parser import HTMLParser
from pathlib import Path
from typing import List, Optional, Tuple
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from . import hub
from .convert.core import HTML_PREFIXES, sniff_file
from .errors import (ChecksumMismatchError, DownloadError, DriveQuotaError, HtmlInsteadOfFileError,
                     OfflineError)

GDRIVE_URL = "https://drive.google.com/uc"
GDRIVE_USERCONTENT_URL = "https://drive.usercontent.google.com/download"
ENV_GDRIVE_URL = "WSSS_ZOO_GDRIVE_URL"
ENV_GDRIVE_USERCONTENT_URL = "WSSS_ZOO_GDRIVE_USERCONTENT_URL"
ENV_HF_REPO = "WSSS_ZOO_HF_REPO"
ENV_STRICT_SHA = "WSSS_ZOO_STRICT_SHA"

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
def fetch_entry(entry: dict, target: Path, progress: bool = True) -> Path:
    """Download the file of ``entry`` to ``target`` (mirror first, then the sources in order).

    Returns the path of the verified file: ``target``, or the mirror's safetensors file in the
    Hugging Face cache under ``<cache>/huggingface``. Raises :class:`OfflineError` in offline mode
    before any network call, else a :class:`DownloadError` subclass naming every URL tried.
    """
    target = Path(target)
    offline = hub.is_offline()
    tried: List[Tuple[str, Exception]] = []
    mirror = hf_mirror(entry)
    if mirror is not None:
        try:
            return _fetch_hf(entry, *mirror, progress=progress, local_only=offline)
        except Exception as exc:  # a mirror problem never hides the original sources
            tried.append((_hf_browser_url(entry, *mirror), exc))
            if not offline:
                warnings.warn(f"Hugging Face mirror {mirror[0]} failed for {entry['name']} "
                              f"({type(exc).__name__}: {exc}); falling back to the original sources",
                              stacklevel=2)
    if offline:
        raise OfflineError(
            f"offline mode is on ({hub.ENV_OFFLINE}/HF_HUB_OFFLINE) and {entry['name']} is not cached; "
            + manual_instructions(entry, target))
    sources = automatic_sources(entry)
    if not sources and not tried:
        raise DownloadError(f"no source of {entry['name']} can be downloaded automatically; "
                            + manual_instructions(entry, target))
    target.parent.mkdir(parents=True, exist_ok=True)
    import requests

    had_target = target.is_file()
    with _download_lock(target), requests.Session() as session:
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


@contextlib.contextmanager
def _download_lock(target: Path):
    """Serialise processes downloading the same file (they would append to one ``.part``)."""
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


def automatic_sources(entry: dict) -> List[dict]:
    """The sources to try, in registry order.

    ``manual`` ones (Drive folders) need a browser. ``superseded`` ones (older links that may hold
    another training run) are tried only when the registry has a sha256 to reject a different file.
    """
    out = [s for s in entry.get("sources") or [] if not s.get("manual")]
    current = [s for s in out if not s.get("superseded")]
    return current + ([s for s in out if s.get("superseded")] if entry.get("sha256") else [])


def manual_instructions(entry: dict, target) -> str:
    """The sentence every download error ends with: where to get the file and where to put it."""
    return (f"download it in a browser from {hub.describe_sources(entry)} and place it at {target}, "
            "or pass weights=<path to the downloaded file>")


def strict_sha() -> bool:
    return os.environ.get(ENV_STRICT_SHA, "").strip().lower() in ("1", "true", "yes", "on")


# --------------------------------------------------------------------------- Hugging Face mirror
def hf_mirror(entry: dict) -> Optional[Tuple[str, Optional[str]]]:
    """``(repo_id, revision)`` from ``WSSS_ZOO_HF_REPO`` when the entry may be re-hosted, else None."""
    spec = os.environ.get(ENV_HF_REPO, "").strip()
    lic = entry.get("license")
    if not spec or not (isinstance(lic, dict) and lic.get("redistributable") is True):
        return None
    repo, _, rev = spec.partition("@")
    return repo, (rev or None)


def hf_filename(entry: dict) -> str:
    return f"{entry['name']}.safetensors"


def _hf_browser_url(entry: dict, repo: str, revision: Optional[str]) -> str:
    from huggingface_hub import constants

    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    return f"{endpoint}/{repo}/blob/{revision or 'main'}/{hf_filename(entry)}"


def _fetch_hf(entry: dict, repo: str, revision: Optional[str], *, progress: bool, local_only: bool) -> Path:
    """The mirror's ``<name>.safetensors`` through ``hf_hub_download`` (HF_ENDPOINT read at call time).

    ``local_only`` (offline mode) looks in the cache folder only: even ``local_files_only=True``
    lets huggingface_hub make side requests (its agent-registry fetch), so it is not called at all.
    """
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from tqdm import tqdm

    cache = str(hub.cache_dir() / "huggingface")
    if local_only:
        found = try_to_load_from_cache(repo, hf_filename(entry), cache_dir=cache, revision=revision)
        if not isinstance(found, str):
            raise OfflineError(f"{hf_filename(entry)} of {repo} is not in {cache}")
        path = Path(found)
    else:
        class _Silent(tqdm):
            def __init__(self, *args, **kwargs):
                kwargs["disable"] = True
                super().__init__(*args, **kwargs)

        kwargs = dict(revision=revision, cache_dir=cache, endpoint=os.environ.get("HF_ENDPOINT") or None)
        if not progress:
            kwargs["tqdm_class"] = _Silent
        try:
            path = Path(hf_hub_download(repo, hf_filename(entry), **kwargs))
        except TypeError:  # an older huggingface_hub without tqdm_class
            kwargs.pop("tqdm_class", None)
            path = Path(hf_hub_download(repo, hf_filename(entry), **kwargs))
    kind = sniff_file(path)
    if kind != "safetensors":
        raise DownloadError(f"the mirror's {path.name} is not a safetensors file (it looks like {kind})")
    return path


# --------------------------------------------------------------------------- one source
def _source_url(source: dict) -> str:
    if source.get("kind") == "gdrive":
        return f"{_drive_base()}?id={source['id']}&export=download"
    return str(source.get("url", f"<source without url: {source}>"))


def _drive_id(url: str) -> Optional[str]:
    """The file id of a drive.google.com link given as a plain ``url`` source."""
    if "drive.google.com" not in url:
        return None
    m = re.search(r"/file/d/([\w-]+)", url) or re.search(r"[?&]id=([\w-]+)", url)
    return m.group(1) if m else None


def _fetch_source(session, entry: dict, source: dict, target: Path, progress: bool) -> None:
    """Download one source to ``<target>.part``, verify it, rename it onto ``target``."""
    kind = source.get("kind", "url")
    if kind == "gdrive":
        file_id = source["id"]
    elif kind in ("github_release", "url") and source.get("url"):
        file_id = _drive_id(source["url"])
    else:
        raise DownloadError(f"unsupported source kind {kind!r}")
    part = part_path(target)
    for fresh_retry in (False, True):
        resumed = part.is_file() and part.stat().st_size > 0
        if file_id:
            _with_retries(lambda: _drive_attempt(session, file_id, part, progress, target.name))
        else:
            _with_retries(lambda: _http_attempt(session, source["url"], part, progress, target.name,
                                                source.get("size") or entry.get("size")))
        try:
            sha = verify_part(entry, source, part)
            break
        except ChecksumMismatchError:
            if resumed and not fresh_retry:  # the old part may come from another file: start over once
                continue
            raise
    os.replace(part, target)
    record_hash(entry["name"], target, sha, _source_url(source))


def part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def verify_part(entry: dict, source: dict, part: Path) -> str:
    """Check a finished ``.part`` (not HTML, size, sha256); delete it when bad. Returns its sha256."""
    with open(part, "rb") as f:
        head = f.read(512)
    if _looks_like_html(head):
        part.unlink(missing_ok=True)
        raise HtmlInsteadOfFileError("the server sent an HTML page instead of the file")
    size = source.get("size") or entry.get("size")
    actual_size = part.stat().st_size
    if size and actual_size != int(size):
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(f"size {actual_size} bytes, the registry expects {size}")
    sha = hub.sha256_file(part)
    expected = source.get("sha256") or entry.get("sha256")
    if expected and sha.lower() != str(expected).lower():
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(f"sha256 {sha}, the registry expects {expected}")
    return sha


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
def _looks_like_html(head: bytes) -> bool:
    low = head.lstrip().lower()
    return any(low.startswith(p) for p in HTML_PREFIXES)


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
                    if written == 0 and _looks_like_html(chunk[:512]):
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
def _combined_error(entry: dict, target: Path, tried: List[Tuple[str, Exception]]) -> DownloadError:
    kinds = {type(exc) for _, exc in tried}
    if len(kinds) == 1 and issubclass(next(iter(kinds)), DownloadError):
        cls = next(iter(kinds))
    elif ChecksumMismatchError in kinds:
        cls = ChecksumMismatchError
    elif all(isinstance(exc, HtmlInsteadOfFileError) for _, exc in tried):
        cls = HtmlInsteadOfFileError
    else:
        cls = DownloadError
    lines = [f"could not download {entry['name']}; tried:"]
    lines += [f"  {url}: {type(exc).__name__}: {exc}" for url, exc in tried]
    lines.append(manual_instructions(entry, target))
    return cls("\n".join(lines))


# --------------------------------------------------------------------------- the cache's sha256 record
def records_path() -> Path:
    return hub.cache_dir() / "sha256.json"


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


def _mismatch(what: str, path: Path, entry: dict, got: str, hint: str) -> None:
    msg = (f"{what} {path} has sha256 {got}, but the registry records {entry['sha256']} for {entry['name']}; "
           f"{hint}")
    if strict_sha():
        raise ChecksumMismatchError(msg)
    warnings.warn(msg + f" (set {ENV_STRICT_SHA}=1 to make this an error)", stacklevel=3)


def check_cached(entry: dict, path: Path) -> None:
    """On a cache hit: hash a file the cache has no fresh record of once, then trust the record."""
    rec = _fresh_record(entry["name"], path)
    sha = rec["sha256"] if rec else hub.sha256_file(path)
    if rec is None:
        record_hash(entry["name"], path, sha, "found in cache")
    if entry.get("sha256") and sha.lower() != str(entry["sha256"]).lower():
        _mismatch("the cached file", path, entry, sha,
                  "it may be a re-packed copy; delete it to download the published file")


_LOCAL_HASHES: dict = {}


def check_local_weights(entry: dict, path: Path) -> None:
    """A ``weights=`` file whose sha256 differs from the registry's: warn (strict mode: raise).

    Safetensors files (the project's own conversions) are not compared with the upstream hash.
    """
    if not entry.get("sha256"):
        return
    if sniff_file(path) == "safetensors":
        return
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _LOCAL_HASHES:
        _LOCAL_HASHES[key] = hub.sha256_file(path)
    sha = _LOCAL_HASHES[key]
    if sha.lower() != str(entry["sha256"]).lower():
        _mismatch("weights file", path, entry, sha, "it may be a re-packed copy of the published file")


def verify_cached(entry: dict) -> bool:
    """Re-hash the cached file of ``entry``: True when it matches the registry (or the cache's record)."""
    path = hub.cached_file_path(entry)
    if not path.is_file():
        return False
    sha = hub.sha256_file(path)
    expected = entry.get("sha256") or (read_records().get(entry["name"]) or {}).get("sha256")
    ok = not expected or sha.lower() == str(expected).lower()
    if ok:
        record_hash(entry["name"], path, sha, (read_records().get(entry["name"]) or {}).get("source", "verified"))
    return ok
