"""Google Drive: the ``uc?id=`` link, its confirmation pages read by ``gdown``, the file through :mod:`.http`.

Drive answers ``https://drive.google.com/uc?id=<ID>&export=download`` with the file (small files) or with
an HTML interstitial (virus-scan warning for large files, quota, permission). Reading that page is the
part that broke whenever Google changed it, in every hand-written downloader (torchvision's included,
which uses ``gdown`` since 0.17), so it is ``gdown``'s: ``gdown.download.get_url_from_gdrive_confirmation``
turns a page into the next URL (the ``#download-form`` action with its hidden inputs, a legacy
``/uc?export=download`` link, a JSON ``downloadUrl``) or raises with Drive's own error text.

The bytes themselves are *not* fetched by ``gdown.download``, because it cannot keep guarantees the
cache relies on (gdown 6.5.1, ``gdown/download.py``):

* it resumes a ``.part`` with the validator of a *new* response, not the one the bytes on disk came
  with (``_iter_response_chunks`` takes ``ETag`` from the response it has just opened), so a file
  replaced on Drive between a cut and a resume in a later process is spliced from both versions;
* for a file id it always requests ``https://drive.google.com/uc``, and for any other host it skips
  the confirmation flow (``_get_download_response``: ``if not gdrive_file_id: return res``), so it
  cannot be pointed at a test server or a proxy of the Drive hosts;
* it writes the body before anything can look at it (an HTML or JSON body reaches the disk), reads in
  512 KiB pieces that a 1 byte/s server never completes, does not retry 429/503 or honour
  ``Retry-After``, and saves cookies to ``~/.cache/gdown`` by default.

So :mod:`.http` streams every body, and ``WSSS_ZOO_GDRIVE_URL`` / ``WSSS_ZOO_GDRIVE_USERCONTENT_URL``
move the Drive hosts (tests, proxies), including the hosts in the URLs that gdown reads from a page.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional
from urllib.parse import urljoin, urlsplit

from ..errors import DownloadError, DriveQuotaError, HtmlInsteadOfFileError
from .http import is_html, open_resumable, read_page, write_response
from .limits import Budget, Limits

GDRIVE_URL = "https://drive.google.com/uc"
GDRIVE_USERCONTENT_URL = "https://drive.usercontent.google.com/download"
ENV_GDRIVE_URL = "WSSS_ZOO_GDRIVE_URL"
ENV_GDRIVE_USERCONTENT_URL = "WSSS_ZOO_GDRIVE_USERCONTENT_URL"
MAX_DRIVE_HOPS = 4  # confirmation pages followed before giving up
QUOTA_WORDING = re.compile(r"too many users|quota|exceeded|try again later", re.I)
DRIVE_PERMISSION_HINT = ("Google Drive answered with a page that has no download link: the file may not be "
                         "shared with 'Anyone with the link', may have been deleted, or has had too many "
                         "accesses recently")


def drive_base() -> str:
    return os.environ.get(ENV_GDRIVE_URL) or GDRIVE_URL


def drive_id(url: str) -> Optional[str]:
    """The file id of a drive.google.com / docs.google.com link given as a plain ``url`` source (gdown's rules)."""
    if (urlsplit(url).hostname or "") not in ("drive.google.com", "docs.google.com"):
        return None
    try:
        from gdown.parse_url import parse_url
    except ImportError:
        raise DownloadError("Google Drive downloads need the gdown package (pip install gdown)") from None
    file_id, _ = parse_url(url)
    return file_id


def source_url(file_id: str) -> str:
    return f"{drive_base()}?id={file_id}&export=download"


def rebase(url: str) -> str:
    """Point the published Drive hosts at the overridden bases (tests, corporate proxies)."""
    bases = ((GDRIVE_USERCONTENT_URL, os.environ.get(ENV_GDRIVE_USERCONTENT_URL)),
             (GDRIVE_URL, os.environ.get(ENV_GDRIVE_URL)),
             ("https://docs.google.com/uc", os.environ.get(ENV_GDRIVE_URL)))
    for default, current in bases:
        if current and url.startswith(default):
            return current + url[len(default):]
    return url


def _gdown_page_reader():
    try:
        from gdown.download import get_url_from_gdrive_confirmation
        from gdown.exceptions import FileURLRetrievalError
    except ImportError:
        raise DownloadError("Google Drive downloads need the gdown package (pip install gdown)") from None
    return get_url_from_gdrive_confirmation, FileURLRetrievalError


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def page_error(page: str, gdown_message: str) -> HtmlInsteadOfFileError:
    """The error for a Drive page without a download link: quota, Drive's own words, or the permission hint."""
    caption = re.search(r'class="uc-error-subcaption"[^>]*>(.*?)</p>', page, re.S | re.I)
    title = re.search(r"<title>(.*?)</title>", page, re.S | re.I)
    said = _text(caption.group(1)) if caption else ""
    title_text = _text(title.group(1)) if title else ""
    if QUOTA_WORDING.search(said) or QUOTA_WORDING.search(title_text):
        return DriveQuotaError(f"Google Drive quota exceeded: {said or title_text} "
                               "(wait up to 24 hours, or download it in a signed-in browser)")
    if said:
        return HtmlInsteadOfFileError(f"Google Drive says: {said}")
    return HtmlInsteadOfFileError(f"{DRIVE_PERMISSION_HINT} (gdown: {_text(gdown_message)[:200]})")


def next_url(page: str, base_url: str) -> str:
    """The URL to follow from a Drive interstitial (read by gdown), rebased; or the matching error."""
    read, retrieval_error = _gdown_page_reader()
    try:
        url = read(page)
    except retrieval_error as exc:
        raise page_error(page, str(exc)) from None
    return rebase(urljoin(base_url, url))


def drive_attempt(session, file_id: str, target: Path, *, key: str, budget: Budget, limits: Limits,
                  progress: bool) -> None:
    """One attempt at a Drive file: ``uc?id=`` (never ranged: Drive answers a ranged request for its page
    with 416), then each confirmation page's next URL, ranged when a part may be resumed."""
    url, params = drive_base(), {"id": file_id, "export": "download"}
    seen = set()
    for hop in range(MAX_DRIVE_HOPS):
        resp, have = open_resumable(session, url, target, key, budget, params=params, allow_range=hop > 0)
        with resp:
            if not is_html(resp):
                write_response(resp, target, key=key, have=have, budget=budget, limits=limits, progress=progress)
                return
            page = read_page(resp, budget)
            base = resp.url
        nxt = next_url(page, base)
        if nxt in seen:
            break
        seen.add(nxt)
        url, params = nxt, None
    raise HtmlInsteadOfFileError(f"Google Drive kept answering with confirmation pages; {DRIVE_PERMISSION_HINT}")
