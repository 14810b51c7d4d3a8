"""Hangs and transport (issue 13): deadline, stall detection, Retry-After, Content-Encoding the client did not
ask for. Every server here runs on 127.0.0.1; waits are recorded instead of slept where the test can."""
import gzip
import hashlib
import time

import pytest
from fixtures.http_server import Blob, torch_zip_like

from wsss_zoo import cache, download
from wsss_zoo.download import limits
from wsss_zoo.errors import ConfigError, DownloadError
from wsss_zoo.registry.entries import parse_model

PAYLOAD = torch_zip_like(120_000, seed=3)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def make_entry(url, **extra):
    data = {"method": "init", "task": "init", "dataset": "imagenet", "architecture": {"builder": "none"},
            "layout": "none", "filename": "toy_model.pth", "sources": [{"kind": "url", "url": url}]}
    data.update(extra)
    return parse_model("toy_model", data, "test: models.toy_model", {})


def fetch(entry):
    return download.fetch_entry(entry, cache.cached_file_path(entry), progress=False)


def dripping(data: bytes, piece: int, every_s: float, max_s: float = 4.0):
    """A server that promises ``data`` and sends ``piece`` bytes every ``every_s`` seconds (for ``max_s`` at most)."""
    def fn(h, q):
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("ETag", '"v1"')
        h.end_headers()
        start = time.monotonic()
        try:
            for i in range(0, len(data), piece):
                if time.monotonic() - start > max_s:
                    break
                h.wfile.write(data[i:i + piece])
                h.wfile.flush()
                time.sleep(every_s)
        except OSError:  # the client gave up
            pass
        h.close_connection = True

    return fn


@pytest.fixture
def waits(monkeypatch):
    """Record the waits of the retry loop instead of sleeping."""
    recorded = []
    monkeypatch.setattr(limits, "sleep", recorded.append)
    return recorded


# --------------------------------------------------------------------------- deadline and stalls
def test_a_trickling_server_hits_the_deadline(server, online, monkeypatch):
    """1 byte per 20 ms never trips the 5 s read timeout; the 1 s deadline ends it."""
    monkeypatch.setenv(limits.ENV_DEADLINE, "1")
    monkeypatch.setenv(limits.ENV_MIN_RATE, "0")
    server.route("/slow.pth", dripping(PAYLOAD, 1, 0.02))
    entry = make_entry(server.url("/slow.pth"))
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"did not finish within 1 s \(WSSS_ZOO_DOWNLOAD_DEADLINE\)") as err:
        fetch(entry)
    assert time.monotonic() - start < 3.0
    assert str(cache.cached_file_path(entry)) in str(err.value)  # where to put a file downloaded by hand
    assert not cache.cached_file_path(entry).exists()


def test_a_stalled_transfer_is_given_up_after_its_retries(server, online, monkeypatch, waits):
    monkeypatch.setenv(limits.ENV_MIN_RATE, "20000")  # bytes/s
    monkeypatch.setenv(limits.ENV_STALL_WINDOW, "0.3")
    server.route("/slow.pth", dripping(PAYLOAD, 50, 0.01))  # about 5 kB/s
    entry = make_entry(server.url("/slow.pth"))
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"stalled: .* below the minimum of 20000 bytes/s "
                                            r"\(WSSS_ZOO_DOWNLOAD_MIN_RATE\)"):
        fetch(entry)
    assert time.monotonic() - start < 3.0
    assert len(server.requests_to("/slow.pth")) == limits.RETRIES


def test_a_stall_is_resumed_from_where_it_stopped(server, online, monkeypatch, waits):
    """The first response stalls after some bytes; the retry continues them with Range + If-Range."""
    monkeypatch.setenv(limits.ENV_MIN_RATE, "20000")
    monkeypatch.setenv(limits.ENV_STALL_WINDOW, "0.3")
    blob, slow = Blob(PAYLOAD), dripping(PAYLOAD, 50, 0.01)
    server.route("/file.pth", lambda h, q: blob(h, q) if h.headers.get("Range") else slow(h, q))
    entry = make_entry(server.url("/file.pth"), sha256=PAYLOAD_SHA)
    assert fetch(entry).read_bytes() == PAYLOAD
    second = server.requests_to("/file.pth")[1][3]
    assert second["Range"].startswith("bytes=") and second["If-Range"] == '"v1"'


@pytest.mark.parametrize("var, value", [(limits.ENV_DEADLINE, "soon"), (limits.ENV_MIN_RATE, "-1"),
                                        (limits.ENV_STALL_WINDOW, "0"), (limits.ENV_MAX_WAIT, "nan")])
def test_limit_settings_are_checked(server, online, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    server.route("/file.pth", Blob(PAYLOAD))
    with pytest.raises(ConfigError, match=var):
        fetch(make_entry(server.url("/file.pth")))
    assert server.requests == []


# --------------------------------------------------------------------------- Retry-After
def _busy_then(status, retry_after, then):
    calls = []

    def fn(h, q):
        calls.append(time.monotonic())
        if len(calls) == 1:
            return h.reply(status, b"busy", content_type="text/plain", headers={"Retry-After": retry_after})
        return then(h, q)

    return fn


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_honoured(server, online, waits, status):
    server.route("/file.pth", _busy_then(status, "7", Blob(PAYLOAD)))
    assert fetch(make_entry(server.url("/file.pth"))).read_bytes() == PAYLOAD
    assert waits == [7.0]  # not the 0 s backoff of these tests


def test_retry_after_http_date_is_honoured(server, online, waits):
    import email.utils

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.route("/file.pth", _busy_then(503, when, Blob(PAYLOAD)))
    assert fetch(make_entry(server.url("/file.pth"))).read_bytes() == PAYLOAD
    assert len(waits) == 1 and 27 <= waits[0] <= 31


def test_retry_after_beyond_the_limit_gives_up_at_once(server, online, waits):
    server.route("/file.pth", _busy_then(429, "3600", Blob(PAYLOAD)))
    with pytest.raises(DownloadError, match=r"retry after 3600 s \(Retry-After\), longer than the 120 s"):
        fetch(make_entry(server.url("/file.pth")))
    assert waits == [] and len(server.requests) == 1


def test_retry_after_beyond_the_deadline_gives_up(server, online, waits, monkeypatch):
    monkeypatch.setenv(limits.ENV_DEADLINE, "5")
    server.route("/file.pth", _busy_then(503, "60", Blob(PAYLOAD)))
    with pytest.raises(DownloadError, match="after the deadline of 5 s"):
        fetch(make_entry(server.url("/file.pth")))
    assert waits == []


# --------------------------------------------------------------------------- Content-Encoding
def test_gzip_body_sent_despite_identity_is_decoded_and_verified(server, online):
    server.route("/file.pth", Blob(PAYLOAD, encoding="gzip"))
    assert len(gzip.compress(PAYLOAD)) > len(PAYLOAD)  # noise does not compress: Content-Length > file size
    entry = make_entry(server.url("/file.pth"), sha256=PAYLOAD_SHA)
    assert fetch(entry).read_bytes() == PAYLOAD
    assert server.requests[0][3]["Accept-Encoding"] == "identity"


def test_cut_gzip_body_is_restarted_not_resumed(server, online):
    """The bytes on disk are decoded ones; a Range on the encoded representation cannot continue them."""
    encoded_size = len(gzip.compress(PAYLOAD, mtime=0))
    server.route("/file.pth", Blob(PAYLOAD, encoding="gzip", cut_first=encoded_size // 2))
    entry = make_entry(server.url("/file.pth"), sha256=PAYLOAD_SHA)
    assert fetch(entry).read_bytes() == PAYLOAD
    assert [r[3].get("Range") for r in server.requests_to("/file.pth")] == [None, None]


def test_undecodable_encoding_is_refused(server, online):
    server.serve_bytes("/file.pth", PAYLOAD, extra_headers={"Content-Encoding": "br"})
    entry = make_entry(server.url("/file.pth"))
    with pytest.raises(DownloadError, match="Content-Encoding 'br'"):
        fetch(entry)
    assert not cache.cached_file_path(entry).exists()


def test_damaged_gzip_body_is_an_error(server, online):
    server.serve_bytes("/file.pth", b"\x1f\x8b\x08\x00" + bytes(64), extra_headers={"Content-Encoding": "gzip"})
    entry = make_entry(server.url("/file.pth"))
    with pytest.raises(DownloadError, match="cannot be decoded"):
        fetch(entry)
    assert not cache.cached_file_path(entry).exists()
