"""Plain HTTP(S) transport: one request, one response body streamed into ``<target>.part``.

Guarantees of :func:`write_response`:

* a fresh body is refused before its first byte is written when it is HTML, empty, JSON or not a
  checkpoint (:func:`wsss_zoo.convert.download_format` on its first bytes);
* a ``.part`` is resumed only with ``Range`` + ``If-Range`` (:mod:`wsss_zoo.cache.partial`); a 206 whose
  offset, validator or encoding does not fit the bytes on disk discards them and starts again;
* a ``Content-Encoding`` the server sends despite ``Accept-Encoding: identity`` (gzip, deflate) is
  decoded; the decoded bytes are what is checked and kept, and such a part is never resumed (its
  offsets are not the server's);
* bodies are read with ``read1`` (whatever has arrived, at most :data:`CHUNK`), so the deadline and
  the stall watch of :mod:`.limits` see every byte, even from a server sending one per second;
* a body shorter than its ``Content-Length`` is a cut connection (retried, resumed), never a file.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, Optional

from .. import cache
from ..convert.core import SNIFF_BYTES, download_format
from ..errors import DownloadError, HtmlInsteadOfFileError
from ..fileio import open_binary
from .limits import Budget, Limits, RateWatch, Transient, retry_after

CHUNK = 1 << 16  # a cut connection loses at most the chunk being read
MAX_PAGE_BYTES = 4 << 20  # the most of an HTML page (a Drive interstitial) that is read
DECODED_ENCODINGS = ("gzip", "x-gzip", "deflate")
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0 Safari/537.36 wsss_zoo")


def new_session():
    import requests

    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})  # byte offsets for Range
    return session


# --------------------------------------------------------------------------- requests
def request(session, url: str, budget: Budget, *, params=None, headers=None):
    """GET (streamed, redirects followed); 429 and 5xx are :class:`Transient` (with ``Retry-After``), other
    4xx final. Connection failures and timeouts are transient too."""
    import requests

    try:
        resp = session.get(url, params=params, headers=headers or {}, stream=True, timeout=budget.timeout(),
                           allow_redirects=True)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise Transient(f"{type(exc).__name__}: {exc}") from None
    status = resp.status_code
    if status == 429 or status >= 500:
        wait = retry_after(resp.headers.get("Retry-After")) if status in (429, 503) else None
        resp.close()
        raise Transient(f"HTTP {status} from {resp.url}", retry_after=wait)
    if status >= 400 and status != 416:
        resp.close()
        raise DownloadError(f"HTTP {status} {resp.reason} from {resp.url}")
    return resp


def open_resumable(session, url: str, target: Path, key: str, budget: Budget, *, params=None,
                   allow_range: bool = True):
    """Request ``url``, asking for the rest of ``target``'s ``.part`` when it may be resumed.

    Returns ``(response, have)``: ``have`` is the size of the part the request asked to continue (0: none).
    """
    part = cache.part_path(target)
    if part.is_symlink():  # planted: never resumed, never written through (removed when the fresh part opens)
        cache.discard_part(target)
    state = cache.read_part_state(target)
    have = part.stat().st_size if part.is_file() else 0
    headers = {}
    if allow_range and have and state is not None and state.source == key and state.resumable:
        headers = {"Range": f"bytes={have}-", "If-Range": state.validator}
    resp = request(session, url, budget, params=params, headers=headers)
    return resp, (have if headers else 0)


def is_html(resp) -> bool:
    return "text/html" in resp.headers.get("Content-Type", "").lower()


def content_encoding(resp) -> str:
    """'identity' or the one encoding that is decoded; anything else (br, stacked encodings) is refused."""
    value = resp.headers.get("Content-Encoding", "").strip().lower()
    if value in ("", "identity"):
        return "identity"
    if value in DECODED_ENCODINGS:
        return value
    raise DownloadError(f"{resp.url} sent the file with Content-Encoding {value!r}, which wsss_zoo does not decode")


# --------------------------------------------------------------------------- bodies
def iter_body(resp, budget: Budget, watch: Optional[RateWatch], limit: Optional[int] = None) -> Iterator[bytes]:
    """The (decoded) body in pieces as they arrive; deadline and stall checked between pieces."""
    import requests
    import urllib3

    raw = resp.raw
    read = getattr(raw, "read1", None) or raw.read  # urllib3 < 2 has no read1: whole chunks
    received = 0
    while limit is None or received < limit:
        budget.check(f" ({received} bytes of the last response had arrived)")
        try:
            data = read(CHUNK, decode_content=True)
        except urllib3.exceptions.DecodeError as exc:
            raise DownloadError(f"the {resp.headers.get('Content-Encoding')} body from {resp.url} cannot be "
                                f"decoded ({exc})") from None
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise Transient(f"connection lost after {received} bytes ({type(exc).__name__})") from None
        if not data:
            return
        received += len(data)
        if watch is not None:
            watch.update(received)
        yield data


def read_page(resp, budget: Budget) -> str:
    """An HTML page (at most :data:`MAX_PAGE_BYTES`) as text."""
    return b"".join(iter_body(resp, budget, None, MAX_PAGE_BYTES))[:MAX_PAGE_BYTES].decode("utf-8", "replace")


def _content_range(resp) -> Optional[tuple]:
    m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", "").strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), (None if m.group(3) == "*" else int(m.group(3)))


def _fits_part(resp, state, have: int) -> bool:
    """A 206 continues the bytes on disk: right offset, same representation, same validator, same total."""
    rng = _content_range(resp)
    if not have or state is None or rng is None or rng[0] != have or content_encoding(resp) != "identity":
        return False
    if state.total is not None and rng[2] is not None and rng[2] != state.total:
        return False
    etag, modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
    return not ((etag and state.etag and etag != state.etag)
                or (modified and state.last_modified and modified != state.last_modified))


def write_response(resp, target: Path, *, key: str, have: int, budget: Budget, limits: Limits, progress: bool,
                   size_hint=None) -> None:
    """Append (206) or write from zero (200) the body to ``target``'s ``.part``; see the module doc."""
    from tqdm import tqdm

    part = cache.part_path(target)
    if is_html(resp):
        raise HtmlInsteadOfFileError(f"{resp.url} answered with an HTML page (a login, error or interstitial "
                                     "page) instead of the file")
    if resp.status_code == 416:  # nothing left to send: the part may be complete
        rng = re.search(r"/(\d+)", resp.headers.get("Content-Range", ""))
        if have and rng and int(rng.group(1)) == have:
            return
        cache.discard_part(target)
        raise Transient("the server refused to resume the partial download; starting over")
    encoding = content_encoding(resp)
    length = resp.headers.get("Content-Length", "")
    length = int(length) if length.isdigit() else None
    fresh = resp.status_code != 206
    if not fresh and not _fits_part(resp, cache.read_part_state(target), have):
        cache.discard_part(target)
        raise Transient("the server resumed with other bytes than those on disk (offset, validator or encoding "
                        "changed); starting over")
    if fresh:
        have = 0
        cache.discard_part(target)  # 200 to If-Range: the file changed; start from zero
    total = (have + length) if (length is not None and encoding == "identity") else (int(size_hint) if size_hint
                                                                                     else None)
    body = iter_body(resp, budget, RateWatch(limits))
    head = b""
    if fresh:  # decide on the first bytes before any of them is written
        for data in body:
            head += data
            if len(head) >= SNIFF_BYTES:
                break
        if download_format(head) is None:
            raise cache.refusal(head)
        state = cache.PartState(key, resp.headers.get("ETag"), resp.headers.get("Last-Modified"), encoding,
                                total if encoding == "identity" else None)
        _write_or_fail(part, lambda: cache.write_part_state(target, state))
    out = _write_or_fail(part, lambda: open_binary(part, append=not fresh))
    with out, tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name,
                   disable=not progress) as bar:
        for data in ([head] if head else []), body:
            for piece in data:
                _write_or_fail(part, lambda: out.write(piece))
                bar.update(len(piece))
    if length is not None and resp.raw.tell() < length:  # raw (encoded) bytes against Content-Length
        raise Transient(f"connection closed after {resp.raw.tell()} of {length} bytes")


def _write_or_fail(part: Path, action):
    """Run a write into the cache; a full or read-only disk is a :class:`CacheError`, not a retry."""
    try:
        return action()
    except OSError as exc:
        raise cache.cache_error(part.parent, exc) from None


def http_attempt(session, url: str, target: Path, *, key: str, budget: Budget, limits: Limits, progress: bool,
                 size_hint=None) -> None:
    """One attempt at a plain URL (GitHub release, any HTTP server)."""
    resp, have = open_resumable(session, url, target, key, budget)
    with resp:
        write_response(resp, target, key=key, have=have, budget=budget, limits=limits, progress=progress,
                       size_hint=size_hint)
