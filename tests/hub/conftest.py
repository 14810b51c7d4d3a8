"""A local threaded HTTP server (127.0.0.1, ephemeral port) standing in for GitHub, Drive and the Hub."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from wsss_zoo import cache, download


class FakeServer:
    """Routes ``path -> fn(handler, query)``; ``handler.reply(status, body, ...)`` answers.

    Every request is recorded as ``(method, path, query, headers)`` in ``.requests``.
    """

    def __init__(self):
        self.routes = {}
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 5  # bounded reads of a request

            def _dispatch(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                server.requests.append((self.command, parts.path, query, dict(self.headers)))
                fn = server.routes.get((self.command, parts.path)) or server.routes.get(("*", parts.path))
                if fn is None:
                    self.send_error(404)
                    return
                fn(self, query)

            do_GET = do_HEAD = _dispatch

            def reply(self, status, body=b"", content_type="application/octet-stream", headers=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path):
        return self.base + path

    def route(self, path, fn, method="*"):
        self.routes[(method, path)] = fn

    def serve_bytes(self, path, data, content_type="application/octet-stream", extra_headers=None):
        def fn(h, query):
            h.reply(200, data, content_type, extra_headers)

        self.route(path, fn)

    def requests_to(self, path):
        return [r for r in self.requests if r[1] == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    srv = FakeServer()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(autouse=True)
def _clean_download_env(monkeypatch):
    """A developer's own settings must not change what these tests see."""
    for var in (cache.ENV_STRICT_SHA, download.ENV_GDRIVE_URL, download.ENV_GDRIVE_USERCONTENT_URL,
                "HF_ENDPOINT", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def online(monkeypatch):
    """Lift the suite-wide offline mode; retries without sleeping; short timeouts."""
    monkeypatch.delenv("WSSS_ZOO_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(download, "BACKOFF_S", 0.0)
    monkeypatch.setattr(download, "TIMEOUT", (3.0, 5.0))
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
