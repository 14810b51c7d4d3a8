"""``hf-hub:ORG/NAME`` (issue 14): a folder written by ``wsss-zoo publish``, served by a fake Hub on
127.0.0.1, loads by repo id -- also for a name the local registry does not know -- and offline afterwards;
a tampered config.json is a clear error."""
import json

import pytest
import torch
from fixtures.http_server import Blob, serve_hub_file
from safetensors.torch import load_file

import wsss_zoo
from fixtures import hub_models
from wsss_zoo import cache, hub, publish
from wsss_zoo.errors import CheckpointMismatchError, ConfigError, OfflineError, WsssZooError
from wsss_zoo.registry import add_entries, clear_entries, is_model

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
NAME = "hubtest_cam_voc"


@pytest.fixture
def published(hf_endpoint, tmp_path):
    """Publish the tiny network from a recorded download, serve the folder as ``org/tiny`` (revision main)."""
    server = hf_endpoint
    upstream = hub_models.write_upstream(tmp_path / "hubtest.pth", seed=5)
    server.route("/files/hubtest.pth", Blob(upstream.read_bytes()))
    add_entries(hub_models.overlay({NAME: hub_models.entry(server.url("/files/hubtest.pth"), metrics=[
        {"dataset": "voc12", "split": "train", "stage": "cam", "miou": 41.5, "crf": False, "source": "test"}])}))
    try:
        wsss_zoo.hub.download(wsss_zoo.registry.model_entry(NAME), progress=False)  # records the sha256
        folder = tmp_path / "folder"
        publish.publish(NAME, folder, progress=False)
        for name in ("config.json", "model.safetensors", "README.md"):
            for revision in ("main", COMMIT):
                serve_hub_file(server, "org/tiny", revision, name, (folder / name).read_bytes(), COMMIT)
        yield server, folder
    finally:
        clear_entries()


def _assert_weights(model, folder):
    expected = load_file(str(folder / "model.safetensors"))
    sd = model.state_dict()
    assert set(sd) == set(expected) and all(torch.equal(sd[k], expected[k]) for k in sd)
    up = hub_models.upstream_state_dict(seed=5)
    assert torch.equal(sd["conv.weight"], up["net.head.weight"])  # the author's tensors, renamed


def test_load_by_repo_id_for_an_unknown_name_then_offline(published, monkeypatch):
    server, folder = published
    clear_entries()
    add_entries(hub_models.overlay({}))  # the method (a plugin's builder) is known, the published name is not
    assert not is_model(NAME)
    model = wsss_zoo.load("hf-hub:org/tiny", device="cpu", progress=False)
    _assert_weights(model, folder)
    assert not model.training and model.wsss_zoo_entry.name == NAME
    assert model.wsss_zoo_entry.preprocess.mean == (0.5, 0.5, 0.5)  # from config.json
    assert cache.hf_cache_dir() in hub.hf_model("hf-hub:org/tiny")[1].parents
    n = len(server.requests)
    monkeypatch.setenv("WSSS_ZOO_OFFLINE", "1")
    _assert_weights(wsss_zoo.load("hf-hub:org/tiny", device="cpu"), folder)
    assert len(server.requests) == n  # offline: the cache only


def test_pinned_commit_makes_no_request_once_cached(published):
    server, folder = published
    wsss_zoo.load(f"hf-hub:org/tiny@{COMMIT}", device="cpu", progress=False)
    n = len(server.requests)
    _assert_weights(wsss_zoo.load(f"hf-hub:org/tiny@{COMMIT}", device="cpu", progress=False), folder)
    assert len(server.requests) == n  # online, but a commit cannot move


def test_weights_from_the_hub_for_a_registry_name(published, monkeypatch):
    server, folder = published
    model = wsss_zoo.load(NAME, weights="hf-hub:org/tiny", device="cpu", progress=False)
    _assert_weights(model, folder)
    assert model.wsss_zoo_entry.layout == "hubtest"  # the registry's entry, the Hub's weights
    add_entries(hub_models.overlay({"hubtest_other_voc": hub_models.entry()}))
    with pytest.raises(ConfigError, match="hf-hub:org/tiny holds 'hubtest_cam_voc', not hubtest_other_voc"):
        wsss_zoo.load("hubtest_other_voc", weights="hf-hub:org/tiny", device="cpu")


def test_offline_without_a_first_download(hf_endpoint, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="config.json of org/never"):
        wsss_zoo.load("hf-hub:org/never", device="cpu")
    assert hf_endpoint.requests == []


@pytest.mark.parametrize("spec", ["hf-hub:", "hf-hub:just-a-name", "hf-hub:org/na me", "hf-hub:../x/y"])
def test_malformed_hub_names(spec):
    with pytest.raises(ConfigError, match="hf-hub:ORG/NAME"):
        wsss_zoo.load(spec)


def test_missing_repo_is_a_download_error(hf_endpoint):
    with pytest.raises(WsssZooError, match="config.json of the Hugging Face repo org/missing"):
        wsss_zoo.load("hf-hub:org/missing", device="cpu")


def _tamper(config: dict, how: str):
    entry = config["entry"]
    if how == "not_json":
        return b"{not json"
    if how == "list":
        return b"[]"
    if how == "no_format":
        config.pop("format")
    elif how == "newer_format":
        config["format_version"] = 99
    elif how == "layout":
        entry["layout"] = "resnet38_eps"
    elif how == "unknown_builder":
        entry["architecture"]["builder"] = "resnet9000"
    elif how == "bad_kwargs":
        entry["architecture"]["kwargs"] = {"num_classes": "many"}
    elif how == "huge_network":
        entry["architecture"]["kwargs"] = {"num_classes": 10 ** 9}
    elif how == "negative_size":
        entry["architecture"]["kwargs"] = {"num_classes": -5}
    elif how == "bad_preprocess":
        entry["preprocess"]["mean"] = [0.5, 0.5]
    elif how == "unknown_field":
        entry["sha265"] = "x"
    elif how == "bad_name":
        config["wsss_zoo_name"] = "../../etc"
    return json.dumps(config).encode()


TAMPERED = {"not_json": "not UTF-8 JSON", "list": "not a wsss_zoo model folder config",
            "no_format": "not a wsss_zoo model folder config", "newer_format": "upgrade wsss_zoo",
            "layout": "entry.layout must be 'canonical'", "unknown_builder": "resnet9000",
            "bad_kwargs": "cannot be built", "huge_network": "does not fit", "negative_size": "cannot be built",
            "bad_preprocess": "preprocess.mean: expected 3 numbers", "unknown_field": "unknown field 'sha265'",
            "bad_name": "model name '../../etc'"}


@pytest.mark.parametrize("how", sorted(TAMPERED))
def test_tampered_config_is_a_clear_error(published, how):
    server, folder = published
    config = json.loads((folder / "config.json").read_text())
    serve_hub_file(server, "org/bad", "main", "config.json", _tamper(config, how), COMMIT)
    serve_hub_file(server, "org/bad", "main", "model.safetensors", (folder / "model.safetensors").read_bytes(),
                   COMMIT)
    with pytest.raises(WsssZooError, match=TAMPERED[how]) as err:
        wsss_zoo.load("hf-hub:org/bad", device="cpu")
    assert "config.json" in str(err.value)
    if how == "huge_network":
        assert isinstance(err.value, CheckpointMismatchError)  # decided on the meta device, nothing allocated


def test_hf_hub_name_takes_no_weights(published):
    with pytest.raises(ConfigError, match="brings its own weights"):
        wsss_zoo.load("hf-hub:org/tiny", weights="x.pth")
