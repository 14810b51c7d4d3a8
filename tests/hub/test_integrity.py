"""Trust-on-first-use made safe: records, If-Range resumes, admission by magic bytes, verification, the
conversion cache keyed by content, and a cache folder that cannot be used (issue 13)."""
import hashlib
import io
import json
import os
import pickle
import zipfile

import pytest
import torch
from fixtures.http_server import Blob, torch_zip_like

import wsss_zoo
from fixtures import hub_models
from wsss_zoo import cache, download, hub
from wsss_zoo.download import limits
from wsss_zoo.errors import (CacheError, ConfigError, DownloadError, HtmlInsteadOfFileError, NotACheckpointError,
                             WsssZooError)
from wsss_zoo.registry.entries import parse_model

PAYLOAD = torch_zip_like(200_000, seed=1)
PAYLOAD2 = torch_zip_like(200_000, seed=2)  # the same file after the author replaced it: same size


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_entry(url, name="toy_model", **extra):
    data = {"method": "init", "task": "init", "dataset": "imagenet", "architecture": {"builder": "none"},
            "layout": "none", "filename": f"{name}.pth", "sources": [{"kind": "url", "url": url}]}
    data.update(extra)
    return parse_model(name, data, f"test: models.{name}", {})


def target_of(entry):
    return cache.cached_file_path(entry)


def nothing_left(entry) -> bool:
    target = target_of(entry)
    return not any(p.exists() for p in (target, cache.part_path(target), cache.part_state_path(target))) and \
        entry.name not in cache.read_records()


# --------------------------------------------------------------------------- records and resumes
def test_first_download_records_sha_size_source_and_validator(server, online):
    server.route("/file.pth", Blob(PAYLOAD))
    entry = make_entry(server.url("/file.pth"))
    path = hub.download(entry, progress=False)
    rec = json.loads(cache.records_path().read_text())["toy_model"]
    assert rec["sha256"] == sha(PAYLOAD) and rec["size"] == len(PAYLOAD)
    assert rec["etag"] == '"v1"' and rec["last_modified"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert rec["source"] == server.url("/file.pth") and rec["origin"] == "download"
    assert rec["inode"] == path.stat().st_ino


def test_file_replaced_between_a_cut_and_the_resume_is_not_spliced(server, online, monkeypatch):
    """The resume (a later call, as after a crash) sends If-Range with the first response's ETag; the server,
    whose file changed, answers with all of the new file, which is what is kept and recorded."""
    blob = Blob(PAYLOAD, cut_first=len(PAYLOAD) // 2)
    server.route("/file.pth", blob)
    entry = make_entry(server.url("/file.pth"))
    monkeypatch.setattr(limits, "RETRIES", 1)
    with pytest.raises(DownloadError):
        download.fetch_entry(entry, target_of(entry), progress=False)
    state = cache.read_part_state(target_of(entry))
    assert state.etag == '"v1"' and cache.part_path(target_of(entry)).stat().st_size > 0
    blob.replace(PAYLOAD2)
    path = download.fetch_entry(entry, target_of(entry), progress=False)
    assert path.read_bytes() == PAYLOAD2  # not PAYLOAD[:cut] + PAYLOAD2[cut:]
    assert cache.record_of("toy_model")["sha256"] == sha(PAYLOAD2)
    assert cache.record_of("toy_model")["etag"] == '"v2"'
    assert server.requests_to("/file.pth")[1][3]["If-Range"] == '"v1"'


def test_server_ignoring_if_range_cannot_splice_either(server, online, monkeypatch):
    """A server that answers every Range with 206 of its *new* file: the 206's ETag differs from the one the
    bytes on disk came with, so they are dropped and the download starts from zero."""
    blob = Blob(PAYLOAD, cut_first=len(PAYLOAD) // 2)
    calls = []

    def ignores_if_range(h, q):
        calls.append(h.headers.get("Range"))
        del h.headers["If-Range"]
        return blob(h, q)

    server.route("/file.pth", ignores_if_range)
    entry = make_entry(server.url("/file.pth"))
    monkeypatch.setattr(limits, "RETRIES", 1)
    with pytest.raises(DownloadError):  # the first call ends with the cut
        download.fetch_entry(entry, target_of(entry), progress=False)
    blob.replace(PAYLOAD2)
    monkeypatch.setattr(limits, "RETRIES", 3)
    assert download.fetch_entry(entry, target_of(entry), progress=False).read_bytes() == PAYLOAD2
    assert calls[1] is not None and calls[2] is None  # a ranged try refused by us, then a fresh one


# --------------------------------------------------------------------------- admission by magic bytes
def _plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("weights/readme.txt", "not a checkpoint")
    return buf.getvalue()


@pytest.mark.parametrize("body, error, words", [
    (b"", NotACheckpointError, "empty body"),
    (b'{"error": {"code": 403, "message": "rate limited"}}', NotACheckpointError, "JSON document"),
    (b'  [{"error": "quota"}]', NotACheckpointError, "JSON document"),
    (b"\n<!doctype html><title>Sign in</title>", HtmlInsteadOfFileError, "HTML page"),
    (_plain_zip(), NotACheckpointError, "zip archive that is not a torch checkpoint"),
    (pickle.dumps({"not": "torch"}, protocol=2), NotACheckpointError, "pickle that is not"),
    (b"GIF89a" + bytes(600), NotACheckpointError, "bytes starting"),
], ids=["empty", "json", "json-list", "html", "zip", "pickle", "gif"])
def test_body_that_is_no_checkpoint_never_enters_the_cache(server, online, body, error, words):
    server.serve_bytes("/file.pth", body)  # 200, application/octet-stream
    entry = make_entry(server.url("/file.pth"))
    with pytest.raises(error, match=words):
        download.fetch_entry(entry, target_of(entry), progress=False)
    assert nothing_left(entry)
    with pytest.raises(error):  # and the next run does not find it either
        hub.resolve_file(entry, progress=False)


def _torch_bytes(**kwargs) -> bytes:
    buf = io.BytesIO()
    torch.save({"w": torch.arange(4.0)}, buf, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize("body", [_torch_bytes(), _torch_bytes(_use_new_zipfile_serialization=False),
                                  _torch_bytes(_use_new_zipfile_serialization=False, pickle_protocol=4),
                                  (0x112).to_bytes(8, "little") + bytes(64)],
                         ids=["torch-zip", "torch-legacy", "torch-legacy-protocol-4", "mxnet"])
def test_checkpoint_formats_are_admitted(server, online, body):
    server.serve_bytes("/file.pth", body)
    entry = make_entry(server.url("/file.pth"))
    assert download.fetch_entry(entry, target_of(entry), progress=False).read_bytes() == body


def test_html_body_trickling_in_is_refused_before_a_byte_is_written(server, online):
    """The first bytes are gathered until there are enough to decide, then refused: no .part ever exists."""
    page = b"<html>" + b" " * 2000 + b"</html>"

    def trickle(h, q):
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(page)))
        h.end_headers()
        for i in range(0, len(page), 100):
            h.wfile.write(page[i:i + 100])
            h.wfile.flush()

    server.route("/file.pth", trickle)
    entry = make_entry(server.url("/file.pth"))
    with pytest.raises(HtmlInsteadOfFileError):
        download.fetch_entry(entry, target_of(entry), progress=False)
    assert nothing_left(entry)


# --------------------------------------------------------------------------- later uses and --verify
def _download(server, data=PAYLOAD):
    server.route("/file.pth", Blob(data))
    entry = make_entry(server.url("/file.pth"))
    return entry, hub.download(entry, progress=False)


def test_swapped_cached_file_is_reported_never_re_recorded(server, online):
    entry, path = _download(server)
    before = cache.records_path().read_bytes()
    path.write_bytes(PAYLOAD2)  # same size
    with pytest.warns(UserWarning, match="was recorded when it was downloaded from"):
        hub.resolve_file(entry)
    assert cache.records_path().read_bytes() == before
    result = cache.verify_cached(entry)
    assert result.status == "mismatch" and not result.ok
    assert sha(PAYLOAD2) in result.message and sha(PAYLOAD) in result.message
    assert f"delete {path} and download it again" in result.message and "replaced it by hand" in result.message
    assert cache.records_path().read_bytes() == before  # --verify never records either


def test_same_size_same_mtime_swap_is_seen(server, online, monkeypatch):
    """``cp -p``/``touch -r`` restore size and mtime, not ctime: the fingerprint differs, the file is re-hashed."""
    entry, path = _download(server)
    st = path.stat()
    path.write_bytes(PAYLOAD2)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    monkeypatch.setenv(cache.ENV_STRICT_SHA, "1")
    with pytest.raises(WsssZooError, match="changed since"):
        hub.resolve_file(entry)


def test_verify_of_an_unrecorded_file_says_so(_isolated_cache):
    entry = make_entry("http://127.0.0.1:9/x.pth")
    target_of(entry).parent.mkdir(parents=True)
    target_of(entry).write_bytes(PAYLOAD)
    result = cache.verify_cached(entry)
    assert result.status == "unrecorded" and "download it again" in result.message
    assert not cache.records_path().exists()


def test_touched_file_with_the_recorded_content_is_accepted(server, online, monkeypatch):
    entry, path = _download(server)
    os.utime(path, (1, 1))
    monkeypatch.setenv(cache.ENV_STRICT_SHA, "1")
    assert hub.resolve_file(entry) == path and cache.verify_cached(entry).ok
    assert cache.record_of(entry.name)["mtime_ns"] == path.stat().st_mtime_ns  # fingerprint refreshed


def test_records_of_the_previous_version_are_understood(_isolated_cache):
    """wsss_zoo 0.1 wrote {sha256, size, source, date, mtime_ns}, the source being the URL it requested."""
    entry = parse_model("toy_drive", {
        "method": "init", "task": "init", "dataset": "imagenet", "architecture": {"builder": "none"},
        "layout": "none", "filename": "toy_drive.pth", "sources": [{"kind": "gdrive", "id": "1AbCdEfGhIjK"}]},
        "test", {})
    path = target_of(entry)
    path.parent.mkdir(parents=True)
    path.write_bytes(PAYLOAD)
    old = {"sha256": sha(PAYLOAD), "size": len(PAYLOAD), "date": "2026-01-01T00:00:00+00:00",
           "mtime_ns": path.stat().st_mtime_ns,
           "source": "https://drive.google.com/uc?id=1AbCdEfGhIjK&export=download"}
    cache.records_path().write_text(json.dumps({"toy_drive": old}))
    assert hub.resolve_file(entry) == path and cache.verify_cached(entry).ok
    assert cache.published_sha(entry)[0] == sha(PAYLOAD)  # a download from the published source
    assert cache.record_of("toy_drive")["origin"] == "download"  # fingerprint added, origin kept


# --------------------------------------------------------------------------- the conversion cache
@pytest.fixture
def tiny(monkeypatch):
    from wsss_zoo.registry import add_entries, clear_entries, model_entry

    add_entries(hub_models.overlay({"hubtest_cam_voc": hub_models.entry()}))
    yield model_entry("hubtest_cam_voc")
    clear_entries()


def _expected(seed):
    return {k.replace("net.head.", "conv."): v for k, v in hub_models.upstream_state_dict(seed=seed).items()}


def _same(sd, expected):
    return set(sd) == set(expected) and all(torch.equal(sd[k], expected[k]) for k in expected)


def test_same_size_same_mtime_replacement_is_converted_again(tiny, tmp_path):
    weights = hub_models.write_upstream(tmp_path / "mine.pth", seed=0)
    sd, _ = hub.load_state_dict(tiny, weights)
    assert _same(sd, _expected(0))
    st = weights.stat()
    hub_models.write_upstream(weights, seed=1)
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert weights.stat().st_size == st.st_size and weights.stat().st_mtime_ns == st.st_mtime_ns
    sd, _ = hub.load_state_dict(tiny, weights)
    assert _same(sd, _expected(1))  # not the stale conversion of seed 0


def test_flipped_bytes_in_a_conversion_are_rebuilt(tiny, tmp_path):
    weights = hub_models.write_upstream(tmp_path / "mine.pth", seed=0)
    hub.load_state_dict(tiny, weights)
    converted = cache.conversion_path(tiny, cache.sha256_file(weights))
    record = json.loads(converted.with_name(converted.name + ".json").read_text())
    assert record["sha256"] == cache.sha256_file(converted) and record["source_sha256"] == cache.sha256_file(weights)
    raw = bytearray(converted.read_bytes())
    raw[-3] ^= 0xFF  # inside the last tensor's data: still a valid safetensors file
    converted.write_bytes(bytes(raw))
    flipped = cache.sha256_file(converted)
    sd, _ = hub.load_state_dict(tiny, weights)
    assert _same(sd, _expected(0))
    rebuilt = json.loads(converted.with_name(converted.name + ".json").read_text())
    assert cache.sha256_file(converted) == rebuilt["sha256"] != flipped


def test_conversion_is_used_without_reading_the_source_again(tiny, tmp_path, monkeypatch):
    weights = hub_models.write_upstream(tmp_path / "mine.pth", seed=0)
    hub.load_state_dict(tiny, weights)
    import wsss_zoo.convert as convert

    monkeypatch.setattr(convert, "read_checkpoint", lambda *a, **k: pytest.fail("the source was read again"))
    sd, _ = hub.load_state_dict(tiny, weights)
    assert _same(sd, _expected(0))


def test_no_room_for_the_converted_copy(tiny, tmp_path, monkeypatch):
    """safetensors reports a full disk as SafetensorError('... os error 28'): the load works from memory."""
    import safetensors
    import safetensors.torch

    def full_disk(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x10" + bytes(100))
        raise safetensors.SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    weights = hub_models.write_upstream(tmp_path / "mine.pth", seed=0)
    with pytest.warns(UserWarning, match="no space left") as warned:
        sd, _ = hub.load_state_dict(tiny, weights)
    assert _same(sd, _expected(0)) and "WSSS_ZOO_HOME" in str(warned[0].message)
    assert list(cache.converted_dir().iterdir()) == []  # nothing half-written


# --------------------------------------------------------------------------- a cache that cannot be used
def test_cache_folder_that_cannot_be_created(server, online, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setenv(cache.ENV_HOME, str(blocker / "cache"))
    server.route("/file.pth", Blob(PAYLOAD))
    entry = make_entry(server.url("/file.pth"))
    with pytest.raises(CacheError, match="WSSS_ZOO_HOME") as err:
        hub.resolve_file(entry, progress=False)
    assert str(blocker / "cache" / "checkpoints") in str(err.value)
    assert server.requests == []


def test_read_only_cache_folder(server, online, tmp_path, monkeypatch):
    """What a read-only mount looks like to access(2) (the tests run as root, for whom chmod means nothing)."""
    from wsss_zoo.cache import places

    home = tmp_path / "ro"
    monkeypatch.setenv(cache.ENV_HOME, str(home))
    (home / "checkpoints").mkdir(parents=True)
    real = os.access
    monkeypatch.setattr(places.os, "access", lambda p, mode, **kw: False if str(home) in str(p) else real(p, mode))
    server.route("/file.pth", Blob(PAYLOAD))
    entry = make_entry(server.url("/file.pth"))
    with pytest.raises(CacheError, match=r"cannot write to the wsss_zoo cache folder .*ro/checkpoints \(read-only\)"):
        hub.resolve_file(entry, progress=False)


def test_full_disk_while_downloading(server, online, monkeypatch):
    """ENOSPC on the .part is the cache's problem, said once: not retried, not blamed on the server."""
    import errno

    from wsss_zoo.download import http

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(http, "open_binary", full)  # how the download opens its .part
    server.route("/file.pth", Blob(PAYLOAD))
    entry = make_entry(server.url("/file.pth"))
    with pytest.raises(CacheError, match=r"checkpoints \(no space left on its device\); free some space, or "
                                         "choose another folder with WSSS_ZOO_HOME"):
        hub.resolve_file(entry, progress=False)
    assert len(server.requests) == 1 and not target_of(entry).exists()


def test_home_with_an_unknown_user(monkeypatch):
    monkeypatch.setenv(cache.ENV_HOME, "~nouser_wsss_zoo/x")
    with pytest.raises(CacheError, match=r"WSSS_ZOO_HOME='~nouser_wsss_zoo/x' cannot be expanded \(there is no user"):
        wsss_zoo.load("drs_vgg16_voc")


# --------------------------------------------------------------------------- yes/no switches
@pytest.mark.parametrize("var", ["WSSS_ZOO_OFFLINE", "HF_HUB_OFFLINE"])
@pytest.mark.parametrize("value", ["y", "enabled", "2"])
def test_unrecognised_offline_values_are_errors(server, online, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    server.route("/file.pth", Blob(PAYLOAD))
    entry = make_entry(server.url("/file.pth"))
    with pytest.raises(ConfigError, match=f"{var}='{value}' is not a yes/no value"):
        hub.resolve_file(entry, progress=False)
    assert server.requests == []  # "y" never silently meant "online"


def test_unrecognised_strict_value_is_an_error(monkeypatch):
    monkeypatch.setenv(cache.ENV_STRICT_SHA, "y")
    entry = make_entry("http://127.0.0.1:9/x.pth", sha256="0" * 64)
    target_of(entry).parent.mkdir(parents=True)
    target_of(entry).write_bytes(PAYLOAD)
    with pytest.raises(ConfigError, match="WSSS_ZOO_STRICT_SHA='y' is not a yes/no value"):
        hub.resolve_file(entry)  # the switch is read on the mismatch


@pytest.mark.parametrize("value, expected", [("1", True), ("TRUE", True), (" Yes ", True), ("on", True),
                                             ("0", False), ("False", False), ("no", False), ("OFF", False),
                                             ("", False)])
def test_switch_values(monkeypatch, value, expected):
    monkeypatch.setenv("WSSS_ZOO_OFFLINE", value)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert cache.is_offline() is expected
