"""wsss_zoo.download against a local server: redirects, Drive pages, resume, hashes, offline, HF mirror."""
import hashlib
import json
import warnings

import pytest
import torch
from fixtures.http_server import Blob, torch_zip_like

from wsss_zoo import cache, download, hub
from wsss_zoo.cache import records
from wsss_zoo.download import limits
from wsss_zoo.registry.entries import Source, parse_model
from wsss_zoo.errors import (CacheError, ChecksumMismatchError, DownloadError, DriveQuotaError, HtmlInsteadOfFileError,
                             OfflineError)

PAYLOAD = torch_zip_like(300_000)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
DRIVE_ID = "1AbC-dEf_toyfile"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make_entry(sources, sha256=None, size=None, name="toy_model", **extra):
    data = {"method": "init", "task": "init", "dataset": "imagenet", "architecture": {"builder": "none"},
            "layout": "none", "filename": f"{name}.pth", "sha256": sha256, "size": size, "sources": sources}
    data.update(extra)
    return parse_model(name, data, f"test: models.{name}", {})


def target_of(entry):
    return cache.cached_file_path(entry)


def assert_nothing_written(entry):
    target = target_of(entry)
    assert not target.exists()
    assert not cache.part_path(target).exists()


# --------------------------------------------------------------------------- plain HTTP
def test_github_release_redirect_end_to_end(server, online):
    server.route("/releases/download/asset/toy.pth",
                 lambda h, q: h.reply(302, headers={"Location": server.url("/objects/signed-blob")}))
    server.serve_bytes("/objects/signed-blob", PAYLOAD)
    entry = make_entry([{"kind": "github_release", "url": server.url("/releases/download/asset/toy.pth")}],
                       sha256=PAYLOAD_SHA, size=len(PAYLOAD))
    path = hub.resolve_file(entry, progress=False)
    assert path == target_of(entry)
    assert path.read_bytes() == PAYLOAD
    assert not cache.part_path(path).exists()
    n = len(server.requests)
    assert hub.resolve_file(entry, progress=False) == path  # cache hit: no request
    assert len(server.requests) == n


def test_html_page_served_as_the_file(server, online):
    server.serve_bytes("/file.pth", b"<html><body>Sign in</body></html>", content_type="text/html; charset=utf-8")
    entry = make_entry([{"kind": "url", "url": server.url("/file.pth")}])
    with pytest.raises(HtmlInsteadOfFileError) as err:
        download.fetch_entry(entry, target_of(entry), progress=False)
    assert_nothing_written(entry)
    msg = str(err.value)
    assert server.url("/file.pth") in msg and str(target_of(entry)) in msg and "weights=" in msg


def test_html_body_with_binary_content_type_is_not_written(server, online, monkeypatch):
    server.serve_bytes("/file.pth", b"  <!DOCTYPE html><html>quota</html>")
    entry = make_entry([{"kind": "url", "url": server.url("/file.pth")}])
    verified = []
    monkeypatch.setattr(cache, "verify_download", lambda *args: verified.append(args))
    with pytest.raises(HtmlInsteadOfFileError):
        download.fetch_entry(entry, target_of(entry), progress=False)
    assert verified == []  # refused while streaming: no byte of it reached the .part
    assert_nothing_written(entry)


def test_verify_part_deletes_an_html_part(tmp_path):
    part = tmp_path / "x.pth.part"
    part.write_bytes(b"\n<html><body>Google Drive - Virus scan warning</body></html>")
    with pytest.raises(HtmlInsteadOfFileError):
        cache.verify_download(make_entry([]), Source("url", "http://x"), part)
    assert not part.exists()


def _cut_then_resume_route(server, path, data):
    half = len(data) // 2
    server.route(path, Blob(data, cut_first=half))
    return half


def test_cut_connection_is_resumed_with_range(server, online):
    half = _cut_then_resume_route(server, "/big.pth", PAYLOAD)
    entry = make_entry([{"kind": "url", "url": server.url("/big.pth")}], sha256=PAYLOAD_SHA)
    path = download.fetch_entry(entry, target_of(entry), progress=False)
    assert path.read_bytes() == PAYLOAD
    assert cache.sha256_file(path) == PAYLOAD_SHA
    reqs = server.requests_to("/big.pth")
    assert len(reqs) == 2
    assert "Range" not in reqs[0][3]
    start = int(reqs[1][3]["Range"].split("=")[1].rstrip("-"))  # what had arrived before the cut
    assert 0 < start <= half


def test_leftover_part_is_resumed_on_the_next_call(server, online, monkeypatch):
    """A cut download given up on (one attempt) is resumed by the next call, with If-Range."""
    half = _cut_then_resume_route(server, "/big.pth", PAYLOAD)
    entry = make_entry([{"kind": "url", "url": server.url("/big.pth")}], sha256=PAYLOAD_SHA)
    monkeypatch.setattr(limits, "RETRIES", 1)
    with pytest.raises(DownloadError, match="kept and resumed"):
        download.fetch_entry(entry, target_of(entry), progress=False)
    part = cache.part_path(target_of(entry))
    have = part.stat().st_size
    assert 0 < have <= half and not target_of(entry).exists()
    path = download.fetch_entry(entry, target_of(entry), progress=False)
    assert path.read_bytes() == PAYLOAD
    second = server.requests_to("/big.pth")[1][3]
    assert second["Range"] == f"bytes={have}-" and second["If-Range"] == '"v1"'
    assert not part.exists() and not cache.part_state_path(target_of(entry)).exists()


def test_sha256_mismatch_removes_everything(server, online):
    server.serve_bytes("/file.pth", PAYLOAD)
    entry = make_entry([{"kind": "url", "url": server.url("/file.pth")}], sha256="0" * 64)
    with pytest.raises(ChecksumMismatchError) as err:
        download.fetch_entry(entry, target_of(entry), progress=False)
    assert_nothing_written(entry)
    assert PAYLOAD_SHA in str(err.value) and str(target_of(entry)) in str(err.value)


def test_part_without_its_record_is_never_resumed(server, online):
    """Bytes on disk whose validator is unknown (no .part.json) are not continued: the download starts over."""
    server.route("/file.pth", Blob(PAYLOAD))
    entry = make_entry([{"kind": "url", "url": server.url("/file.pth")}])
    part = cache.part_path(target_of(entry))
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"XYZ")  # e.g. left by an older version, or by another file
    assert download.fetch_entry(entry, target_of(entry), progress=False).read_bytes() == PAYLOAD
    assert [r[3].get("Range") for r in server.requests_to("/file.pth")] == [None]


def test_unknown_sha_is_recorded(server, online):
    server.serve_bytes("/file.pth", PAYLOAD)
    entry = make_entry([{"kind": "url", "url": server.url("/file.pth")}])
    download.fetch_entry(entry, target_of(entry), progress=False)
    rec = json.loads((cache.cache_dir() / "sha256.json").read_text())["toy_model"]
    assert rec["sha256"] == PAYLOAD_SHA
    assert rec["size"] == len(PAYLOAD)
    assert rec["source"] == server.url("/file.pth")
    assert rec["date"][:2] == "20"


def test_size_mismatch_is_refused(server, online):
    server.serve_bytes("/file.pth", PAYLOAD)
    entry = make_entry([{"kind": "url", "url": server.url("/file.pth")}], size=len(PAYLOAD) + 1)
    with pytest.raises(ChecksumMismatchError):
        download.fetch_entry(entry, target_of(entry), progress=False)
    assert_nothing_written(entry)


def test_server_errors_are_retried_and_sources_tried_in_order(server, online):
    calls = []

    def flaky(h, q):
        calls.append(1)
        h.reply(503, b"busy", content_type="text/plain") if len(calls) < 2 else h.reply(200, PAYLOAD)

    server.route("/gone.pth", lambda h, q: h.reply(404, b"no", content_type="text/plain"))
    server.route("/flaky.pth", flaky)
    entry = make_entry([{"kind": "url", "url": server.url("/gone.pth")},
                        {"kind": "url", "url": server.url("/flaky.pth")}], sha256=PAYLOAD_SHA)
    assert download.fetch_entry(entry, target_of(entry), progress=False).read_bytes() == PAYLOAD
    assert len(server.requests_to("/gone.pth")) == 1  # a 404 is final
    assert len(calls) == 2


def test_all_sources_failing_names_every_url(server, online):
    server.route("/a.pth", lambda h, q: h.reply(404, b"no", content_type="text/plain"))
    entry = make_entry([{"kind": "url", "url": server.url("/a.pth")},
                        {"kind": "url", "url": "http://127.0.0.1:9/refused.pth"}])
    with pytest.raises(DownloadError) as err:
        download.fetch_entry(entry, target_of(entry), progress=False)
    msg = str(err.value)
    assert server.url("/a.pth") in msg and "127.0.0.1:9/refused.pth" in msg and str(target_of(entry)) in msg
    assert_nothing_written(entry)


def test_no_sources_says_where_to_place_the_file(online):
    entry = make_entry([])
    with pytest.raises(DownloadError, match="downloaded automatically") as err:
        download.fetch_entry(entry, target_of(entry), progress=False)
    assert str(target_of(entry)) in str(err.value)


def test_manual_and_superseded_sources(server, online):
    server.serve_bytes("/old.pth", b"another training run")
    server.serve_bytes("/new.pth", PAYLOAD)
    folder = "https://drive.google.com/drive/folders/1FoLdEr"
    sources = [{"kind": "url", "url": folder, "manual": True},
               {"kind": "url", "url": server.url("/old.pth"), "superseded": True},
               {"kind": "url", "url": server.url("/new.pth")}]
    entry = make_entry(sources)  # a superseded link may hand over another training run
    assert [s.url for s in entry.current_sources] == [sources[2]["url"]]
    assert download.fetch_entry(entry, target_of(entry), progress=False).read_bytes() == PAYLOAD
    assert not server.requests_to("/old.pth")
    only_manual = make_entry(sources[:1])
    with pytest.raises(DownloadError, match="downloaded automatically") as err:
        download.fetch_entry(only_manual, target_of(only_manual), progress=False)
    assert folder in str(err.value)
    # superseded links are never tried, not even with a sha256, and never offered in the error
    server.route("/new.pth", lambda h, q: h.reply(404, b"gone", content_type="text/plain"))
    server.serve_bytes("/old.pth", PAYLOAD)
    entry = make_entry(sources[::-1], sha256=PAYLOAD_SHA, name="toy_model_2")
    with pytest.raises(DownloadError) as err:
        download.fetch_entry(entry, target_of(entry), progress=False)
    assert not server.requests_to("/old.pth") and server.url("/old.pth") not in str(err.value)


# --------------------------------------------------------------------------- Google Drive
CONFIRM_PAGE = "".join("""<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<div class="uc-main"><p class="uc-warning-subcaption">toy_model.pth (290K) is too large for Google to scan.</p>
<form id="download-form" action="{action}" method="get">
<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button" value="Download anyway"/>
<input type="hidden" name="id" value="{id}"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="9f0e-uuid"></form>
</div></body></html>""".splitlines())  # one line, as Google serves it

QUOTA_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>
<div class="uc-main"><p class="uc-error-caption">Sorry, you can't view or download this file at this time.</p>
<p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please try accessing
the file again later. If the file you are trying to access is particularly large or is shared with many people,
it may take up to 24 hours to be able to view or download the file.</p></div></body></html>"""


def drive_file(h, q):
    if q.get("confirm") == "t" and q.get("uuid") == "9f0e-uuid" and q.get("id") == DRIVE_ID:
        h.reply(200, PAYLOAD, headers={"Content-Disposition": "attachment; filename=\"toy_model.pth\""})
    else:
        h.reply(400, b"bad confirm", content_type="text/plain")


def drive_page(server, page: str):
    server.route("/uc", lambda h, q: h.reply(200, page.encode(), content_type="text/html; charset=utf-8"))


@pytest.fixture
def drive(server, monkeypatch):
    monkeypatch.setenv(download.ENV_GDRIVE_URL, server.url("/uc"))
    monkeypatch.setenv(download.ENV_GDRIVE_USERCONTENT_URL, server.url("/usercontent/download"))
    return server


@pytest.mark.parametrize("action", ["local", "published"])
def test_drive_confirm_form_ends_in_the_file(drive, online, action):
    # "published": the page carries Google's real action URL, rebased onto the overridden base
    form_action = drive.url("/usercontent/download") if action == "local" else download.GDRIVE_USERCONTENT_URL
    drive.route("/uc", lambda h, q: h.reply(200, CONFIRM_PAGE.format(action=form_action, id=DRIVE_ID).encode(),
                                         content_type="text/html; charset=utf-8"))
    drive.route("/usercontent/download", drive_file)
    entry = make_entry([{"kind": "gdrive", "id": DRIVE_ID}], sha256=PAYLOAD_SHA)
    path = hub.resolve_file(entry, progress=False)
    assert path.read_bytes() == PAYLOAD
    first, second = drive.requests_to("/uc")[0], drive.requests_to("/usercontent/download")[0]
    assert first[2] == {"id": DRIVE_ID, "export": "download"}
    assert second[2] == {"id": DRIVE_ID, "export": "download", "confirm": "t", "uuid": "9f0e-uuid"}


def test_drive_download_resumes_after_a_cut(drive, online):
    drive.route("/uc", lambda h, q: h.reply(200, CONFIRM_PAGE.format(action=drive.url("/usercontent/download"),
                                                                   id=DRIVE_ID).encode(), content_type="text/html"))
    _cut_then_resume_route(drive, "/usercontent/download", PAYLOAD)
    entry = make_entry([{"kind": "gdrive", "id": DRIVE_ID}], sha256=PAYLOAD_SHA)
    assert download.fetch_entry(entry, target_of(entry), progress=False).read_bytes() == PAYLOAD
    assert [("Range" in r[3]) for r in drive.requests] == [False, False, False, True]  # page, cut, page, rest


def test_drive_direct_file_with_content_disposition(drive, online):
    drive.serve_bytes("/uc", PAYLOAD, extra_headers={"Content-Disposition": "attachment; filename=x.pth"})
    entry = make_entry([{"kind": "gdrive", "id": DRIVE_ID}])
    assert download.fetch_entry(entry, target_of(entry), progress=False).read_bytes() == PAYLOAD
    assert len(drive.requests) == 1


def test_drive_quota_page(drive, online):
    drive.route("/uc", lambda h, q: h.reply(200, QUOTA_PAGE.encode(), content_type="text/html"))
    entry = make_entry([{"kind": "gdrive", "id": DRIVE_ID}])
    with pytest.raises(DriveQuotaError) as err:
        download.fetch_entry(entry, target_of(entry), progress=False)
    assert_nothing_written(entry)
    msg = str(err.value)
    assert "Too many users" in msg
    assert f"https://drive.google.com/file/d/{DRIVE_ID}/view" in msg and str(target_of(entry)) in msg


def test_drive_page_without_link_gets_the_permission_hint(drive, online):
    drive.route("/uc", lambda h, q: h.reply(200, b"<html><body>Sign in to continue</body></html>",
                                         content_type="text/html"))
    entry = make_entry([{"kind": "gdrive", "id": DRIVE_ID}])
    with pytest.raises(HtmlInsteadOfFileError, match="Anyone with the link") as err:
        download.fetch_entry(entry, target_of(entry), progress=False)
    assert not isinstance(err.value, DriveQuotaError)
    assert_nothing_written(entry)


def test_drive_pages_are_read_by_gdown(monkeypatch):
    """Each kind of interstitial gdown knows leads to its next URL, moved onto the overridden Drive hosts."""
    import importlib

    gdown_download = importlib.import_module("gdown.download")  # the module (gdown.download is its function)
    calls = []
    real = gdown_download.get_url_from_gdrive_confirmation
    monkeypatch.setattr(gdown_download, "get_url_from_gdrive_confirmation",
                        lambda page: calls.append(page) or real(page))
    base = "https://drive.google.com/uc?id=X&export=download"
    legacy = '<a id="uc-download-link" href="/uc?export=download&amp;confirm=AbCd&amp;id=X">Download anyway</a>'
    assert download.next_url(legacy, base) == "https://docs.google.com/uc?export=download&confirm=AbCd&id=X"
    monkeypatch.setenv(download.ENV_GDRIVE_URL, "http://127.0.0.1:9/uc")
    assert download.next_url(legacy, base) == "http://127.0.0.1:9/uc?export=download&confirm=AbCd&id=X"
    js = ('<script>var c = {"downloadUrl":'
          '"https://drive.usercontent.google.com/download?id\\u003dX\\u0026confirm\\u003dt"}')
    monkeypatch.setenv(download.ENV_GDRIVE_USERCONTENT_URL, "http://127.0.0.1:9/dl")
    assert download.next_url(js, base) == "http://127.0.0.1:9/dl?id=X&confirm=t"
    assert len(calls) == 3  # the pages were read by gdown, not by a parser of ours


@pytest.mark.parametrize("page, error, words", [
    ('<title>Google Drive</title><p class="uc-error-subcaption">Too many users have viewed or downloaded this '
     'file recently.</p>', DriveQuotaError, "Too many users"),
    (QUOTA_PAGE, DriveQuotaError, "Too many users"),  # a caption over several lines
    ('<p class="uc-error-subcaption">Sorry, the file you have requested does not exist.</p>',
     HtmlInsteadOfFileError, "does not exist"),
    ("<html><body>Sign in</body></html>", HtmlInsteadOfFileError, "Anyone with the link"),
])
def test_drive_pages_without_a_link(page, error, words):
    with pytest.raises(error, match=words) as err:
        download.next_url(page, "https://drive.google.com/uc?id=X")
    assert (err.type is DriveQuotaError) == (error is DriveQuotaError)


def test_plain_url_to_drive_is_handled_as_drive(drive, online):
    drive.serve_bytes("/uc", PAYLOAD, extra_headers={"Content-Disposition": "attachment; filename=x.pth"})
    entry = make_entry([{"kind": "url", "url": f"https://drive.google.com/file/d/{DRIVE_ID}/view?usp=sharing"}])
    assert download.fetch_entry(entry, target_of(entry), progress=False).read_bytes() == PAYLOAD
    assert drive.requests[0][2]["id"] == DRIVE_ID


# --------------------------------------------------------------------------- offline
@pytest.mark.parametrize("var", ["WSSS_ZOO_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_mode_makes_no_request(server, online, monkeypatch, var):
    monkeypatch.setenv(var, "1")
    monkeypatch.setenv(download.ENV_HF_REPO, f"org/mirror@{COMMIT}")
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    server.serve_bytes("/file.pth", PAYLOAD)
    entry = make_entry([{"kind": "url", "url": server.url("/file.pth")}], license={"redistributable": True})
    with pytest.raises(OfflineError) as err:
        hub.resolve_file(entry, progress=False)
    assert str(target_of(entry)) in str(err.value)
    assert server.requests == []
    assert_nothing_written(entry)


# --------------------------------------------------------------------------- Hugging Face mirror
def _safetensors_bytes():
    from safetensors.torch import save

    return save({"conv.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3)})


def fake_hub(server, data, filename="toy_model.safetensors"):
    """Imitates ``HEAD/GET {endpoint}/{repo}/resolve/{revision}/{file}`` of the Hub."""
    etag = hashlib.sha256(data).hexdigest()
    path = f"/org/mirror/resolve/{COMMIT}/{filename}"
    server.serve_bytes(path, data, extra_headers={"X-Repo-Commit": COMMIT, "ETag": f'"{etag}"'})
    return path


@pytest.fixture
def mirror(hf_endpoint, monkeypatch):
    monkeypatch.setenv(download.ENV_HF_REPO, f"org/mirror@{COMMIT}")
    return hf_endpoint


def test_hf_mirror_is_used_for_redistributable_entries(mirror, monkeypatch):
    data = _safetensors_bytes()
    hub_path = fake_hub(mirror, data)
    mirror.serve_bytes("/file.pth", PAYLOAD)
    entry = make_entry([{"kind": "url", "url": mirror.url("/file.pth")}], license={"redistributable": True})
    path = hub.resolve_file(entry, progress=False)
    assert path.read_bytes() == data
    assert cache.cache_dir() / "huggingface" in path.parents
    assert mirror.requests_to(hub_path) and {r[1] for r in mirror.requests} == {hub_path}
    n = len(mirror.requests)
    assert hub.resolve_file(entry, progress=False) == path  # pinned commit: served from the cache
    assert len(mirror.requests) == n
    # offline afterwards: the mirror's local copy is found without any request
    monkeypatch.setenv("WSSS_ZOO_OFFLINE", "1")
    assert hub.resolve_file(entry, progress=False) == path
    assert len(mirror.requests) == n


@pytest.mark.parametrize("license", [None, {"spdx": None, "redistributable": False}])
def test_hf_mirror_skipped_without_redistribution_right(mirror, license):
    fake_hub(mirror, _safetensors_bytes())
    mirror.serve_bytes("/file.pth", PAYLOAD)
    entry = make_entry([{"kind": "url", "url": mirror.url("/file.pth")}], license=license)
    assert hub.resolve_file(entry, progress=False).read_bytes() == PAYLOAD
    assert [r[1] for r in mirror.requests] == ["/file.pth"]


def test_hf_mirror_failure_falls_back_with_a_warning(mirror):
    mirror.serve_bytes("/file.pth", PAYLOAD)  # the mirror repo answers 404
    entry = make_entry([{"kind": "url", "url": mirror.url("/file.pth")}], license={"redistributable": True})
    with pytest.warns(UserWarning, match="falling back to the original sources"):
        path = hub.resolve_file(entry, progress=False)
    assert path.read_bytes() == PAYLOAD and path == target_of(entry)


# --------------------------------------------------------------------------- hashes of local and cached files
def test_local_weights_with_wrong_sha_warn_or_raise(tmp_path, monkeypatch):
    weights = tmp_path / "repacked.pth"
    weights.write_bytes(PAYLOAD)
    entry = make_entry([], sha256="f" * 64)
    with pytest.warns(UserWarning, match="re-packed"):
        assert hub.resolve_file(entry, weights) == weights
    monkeypatch.setenv(cache.ENV_STRICT_SHA, "1")
    with pytest.raises(ChecksumMismatchError, match=str(weights)):
        hub.resolve_file(entry, weights)
    converted = tmp_path / "converted.safetensors"
    converted.write_bytes(_safetensors_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hub.resolve_file(entry, converted) == converted  # our own conversions have another hash
        assert hub.resolve_file(make_entry([], sha256=PAYLOAD_SHA), weights) == weights


def test_cached_file_is_hashed_once_and_verify_cached(online, server, monkeypatch):
    server.serve_bytes("/file.pth", PAYLOAD)
    entry = make_entry([{"kind": "url", "url": server.url("/file.pth")}], sha256=PAYLOAD_SHA)
    assert cache.verify_cached(entry).status == "not cached"
    path = hub.download(entry, progress=False)
    calls = []
    real = records.sha256_file
    monkeypatch.setattr(records, "sha256_file", lambda p: calls.append(p) or real(p))
    for _ in range(3):
        assert hub.resolve_file(entry) == path
    assert calls == []  # the download's own record is trusted
    assert cache.verify_cached(entry).ok and len(calls) == 1
    path.write_bytes(PAYLOAD[:-1] + b"\0")
    assert cache.verify_cached(entry).status == "mismatch"


def test_manually_placed_file_with_wrong_sha_warns_once_hashed(monkeypatch):
    entry = make_entry([], sha256="e" * 64)
    target = target_of(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(PAYLOAD)
    calls = []
    real = records.sha256_file
    monkeypatch.setattr(records, "sha256_file", lambda p: calls.append(p) or real(p))
    for _ in range(2):
        with pytest.warns(UserWarning, match="cached file"):
            assert hub.resolve_file(entry) == target
    assert len(calls) == 1
    monkeypatch.setenv(cache.ENV_STRICT_SHA, "1")
    with pytest.raises(ChecksumMismatchError):
        hub.resolve_file(entry)
    assert cache.verify_cached(entry).status == "mismatch"
    assert target.exists()  # the user's file is never deleted


def test_links_planted_at_the_part_and_lock_are_never_written_through(server, online, tmp_path):
    """A symlink at ``<cache>/checkpoints/<file>.part`` used to make the download overwrite its target, and
    the cache entry became a link; the part is now created afresh (O_EXCL|O_NOFOLLOW), the link never followed."""
    import os

    server.serve_bytes("/file.pth", PAYLOAD)
    entry = make_entry([{"kind": "url", "url": server.url("/file.pth")}], sha256=PAYLOAD_SHA)
    target = target_of(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"precious")
    os.symlink(victim, cache.part_path(target))
    path = hub.resolve_file(entry, progress=False)
    assert victim.read_bytes() == b"precious"
    assert path == target and not path.is_symlink() and path.read_bytes() == PAYLOAD
    # a link at the lock file is refused: no byte goes to its target, the error says which folder
    other = make_entry([{"kind": "url", "url": server.url("/file.pth")}], name="toy_model_2")
    lock = target_of(other).with_name(target_of(other).name + ".lock")
    os.symlink(victim, lock)
    with pytest.raises(CacheError) as err:
        hub.resolve_file(other, progress=False)
    assert victim.read_bytes() == b"precious" and str(lock.parent) in str(err.value)
