"""User overlays over checkpoints.json: WSSS_ZOO_REGISTRY files and add_entries(), validated like the built-ins."""
import functools
import hashlib
import http.server
import json
import os
import threading

import numpy as np
import pytest
import torch

import wsss_zoo
from tests.fixtures import irn_layouts
from wsss_zoo import hub, registry
from wsss_zoo.errors import ChecksumMismatchError, RegistryError, UnknownNameError


@pytest.fixture(autouse=True)
def _no_overlays(monkeypatch):
    monkeypatch.delenv(registry.ENV_REGISTRY, raising=False)
    registry.clear_entries()
    yield
    registry.clear_entries()


@pytest.fixture(scope="module")
def irn_cam_file(tmp_path_factory):
    return irn_layouts.write_irn_cam(tmp_path_factory.mktemp("overlay") / "my_run.pth", 20, seed=4)


def _write(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_new_name_based_on_a_published_one_loads_a_local_training_run(tmp_path, monkeypatch, irn_cam_file):
    overlay = _write(tmp_path / "mine.json", {"models": {"my_irn_run": {
        "base": "cda_irn_resnet50_voc", "description": "my CDA re-training, seed 3",
        "sources": [{"kind": "file", "path": str(irn_cam_file)}]}}})
    monkeypatch.setenv(registry.ENV_REGISTRY, str(overlay))
    entry = registry.model_entry("my_irn_run")
    base = registry.model_entry("cda_irn_resnet50_voc")
    assert (entry.builder, entry.layout, entry.inference, entry.preprocess) == (
        base.builder, base.layout, base.inference, base.preprocess)
    assert entry.metrics == () and not entry.license.redistributable  # the authors' numbers are not inherited
    assert entry.origin == str(overlay) and "my_irn_run" in wsss_zoo.list_models("my_*")
    net = wsss_zoo.load("my_irn_run", device="cpu")
    raw = torch.load(irn_cam_file, weights_only=True)
    assert torch.equal(net.classifier.weight, raw["classifier.weight"])
    monkeypatch.delenv(registry.ENV_REGISTRY)
    with pytest.raises(UnknownNameError):
        registry.model_entry("my_irn_run")


def test_several_overlay_files_and_a_pipeline_over_the_new_network(tmp_path, monkeypatch, irn_cam_file):
    a = _write(tmp_path / "a.json", {"models": {"my_irn_run": {
        "base": "cda_irn_resnet50_voc", "sources": [{"kind": "file", "path": str(irn_cam_file)}]}}})
    b = _write(tmp_path / "b.json", {"pipelines": {"my_irn_voc": {
        "base": "cda_irn_voc", "roles": {"cam": "my_irn_run"}, "settings": {"sem_seg_bg_thres": 0.3}}}})
    monkeypatch.setenv(registry.ENV_REGISTRY, os.pathsep.join([str(a), str(b)]))
    pipe = registry.pipeline_entry("my_irn_voc")
    assert dict(pipe.roles) == {"cam": "my_irn_run", "irn": "cda_irn_edge_resnet50_voc"}
    assert pipe.settings["sem_seg_bg_thres"] == 0.3 and pipe.settings["beta"] == 10 and pipe.metrics == ()


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_a_published_name_pointed_at_a_mirror_with_its_sha256(tmp_path, monkeypatch, irn_cam_file):
    served = tmp_path / "www"
    served.mkdir()
    (served / "res50_cam.pth").write_bytes(irn_cam_file.read_bytes())
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Files, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/res50_cam.pth"
        sha = hashlib.sha256(irn_cam_file.read_bytes()).hexdigest()
        monkeypatch.delenv("WSSS_ZOO_OFFLINE", raising=False)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        registry.add_entries({"models": {"cda_irn_resnet50_voc": {"sources": [{"kind": "url", "url": url}],
                                                                  "sha256": sha}}})
        entry = registry.model_entry("cda_irn_resnet50_voc")
        assert entry.sha256 == sha and [s.url for s in entry.current_sources] == [url]
        assert entry.metrics and entry.license.spdx == "MIT"  # everything else stays the published record
        path = hub.download(entry, progress=False)
        assert path.read_bytes() == irn_cam_file.read_bytes()
        registry.clear_entries()
        registry.add_entries({"models": {"cda_irn_rib_copy": {
            "base": "rib_resnet50_voc", "sources": [{"kind": "url", "url": url}], "sha256": "0" * 64}}})
        with pytest.raises(ChecksumMismatchError):
            hub.download(registry.model_entry("cda_irn_rib_copy"), progress=False)
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("overlay, message", [
    ({"model": {}}, "unknown top-level key 'model'; did you mean 'models'?"),
    ({"models": {"x": {"base": "eps_resnet38_vco"}}}, "models.x.base: no model 'eps_resnet38_vco' to start from; did you"),
    ({"models": {"x": {"base": "eps_resnet38_voc", "sha265": "0"}}}, "models.x: unknown field 'sha265'"),
    ({"models": {"x": {"base": "eps_resnet38_voc", "filename": "../x.pth"}}}, "models.x.filename"),
    ({"models": {"eps_voc": {"base": "eps_resnet38_voc"}}}, "models.eps_voc: 'eps_voc' is already a pipeline name"),
    ({"models": {"eps_resnet38_voc": {"base": "eps_base_resnet38_voc"}}}, "'base' makes a new entry"),
    ({"models": {"x": {"task": "cam"}}}, "models.x.architecture.builder: missing"),
    ({"pipelines": {"p": {"base": "eps_voc", "roles": {"cam": "nope"}}}}, "pipelines.p.roles.cam: no model 'nope'"),
    ({"models": {"bad name!": {}}}, "model name 'bad name!'"),
])
def test_a_malformed_overlay_is_refused_and_names_file_and_field(tmp_path, overlay, message):
    path = _write(tmp_path / "extra.json", overlay)
    with pytest.raises(RegistryError) as err:
        registry.add_entries(path)
    assert message in str(err.value) and str(path) in str(err.value)
    assert registry.list_models() == sorted(registry.list_models())  # the registry is unchanged and works


def test_overlay_files_that_are_not_json(tmp_path, monkeypatch):
    (tmp_path / "broken.json").write_text("{\"models\": {", encoding="utf-8")
    monkeypatch.setenv(registry.ENV_REGISTRY, str(tmp_path / "broken.json"))
    with pytest.raises(RegistryError, match="broken.json is not valid JSON"):
        registry.list_models()
    monkeypatch.setenv(registry.ENV_REGISTRY, str(tmp_path / "missing.json"))
    with pytest.raises(RegistryError, match="missing.json does not exist"):
        registry.list_models()
    (tmp_path / "latin1.json").write_bytes(b'{"models": {"\xe9": {}}}')
    monkeypatch.setenv(registry.ENV_REGISTRY, str(tmp_path / "latin1.json"))
    with pytest.raises(RegistryError, match="not UTF-8"):
        registry.list_models()


def test_add_entries_takes_a_dict_and_can_be_cleared():
    assert registry.add_entries({"models": {"my_eps": {"base": "eps_resnet38_voc"}}}) == ["my_eps"]
    assert registry.model_entry("my_eps").origin == "add_entries()"
    with pytest.raises(RegistryError, match="JSON data"):
        registry.add_entries({"models": {"y": {"base": "eps_resnet38_voc", "notes": object()}}})
    registry.clear_entries()
    assert not registry.is_model("my_eps")


def test_preprocess_of_the_entry_is_what_inference_applies(irn_cam_file):
    """Changing an entry's preprocess (here its mean) changes the CAM: the normalisation is read from the registry."""
    image = np.random.default_rng(0).integers(0, 255, (40, 52, 3), dtype=np.uint8)
    registry.add_entries({"models": {"my_a": {"base": "cda_irn_resnet50_voc",
                                               "sources": [{"kind": "file", "path": str(irn_cam_file)}]}}})
    plain = wsss_zoo.cam(wsss_zoo.load("my_a", device="cpu"), image, [1, 15], scales=[1.0])
    registry.add_entries({"models": {"my_b": {"base": "cda_irn_resnet50_voc",
                                               "sources": [{"kind": "file", "path": str(irn_cam_file)}],
                                               "preprocess": {"mean": [0.2, 0.2, 0.2]}}}})
    shifted = wsss_zoo.cam(wsss_zoo.load("my_b", device="cpu"), image, [1, 15], scales=[1.0])
    assert registry.model_entry("my_b").preprocess.mean == (0.2, 0.2, 0.2)
    assert not torch.allclose(plain, shifted, atol=1e-3)
    # and the same normalisation computed by hand gives the same CAM as the entry-driven run
    net = wsss_zoo.load("my_b", device="cpu")
    x = (image.astype(np.float64) / 255 - 0.2) / np.array([0.229, 0.224, 0.225])
    x = torch.from_numpy(x.astype(np.float32).transpose(2, 0, 1))[None]
    with torch.inference_mode():
        logits = torch.relu(net.cam_logits(torch.cat([x, x.flip(-1)])))[:, [0, 14]]
    fused = logits[0] + logits[1].flip(-1)
    up = torch.nn.functional.interpolate(fused[None], size=(48, 64), mode="bilinear", align_corners=False)[0, :, :40, :52]
    expected = up / (up.flatten(1).max(1).values[:, None, None] + 1e-5)
    assert torch.allclose(shifted, expected, atol=1e-4)


def test_relative_file_paths_are_relative_to_the_overlay_and_edits_are_seen(tmp_path, monkeypatch, irn_cam_file):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "mine.pth").write_bytes(irn_cam_file.read_bytes())
    overlay = _write(runs / "extra.json", {"models": {"my_rel": {
        "base": "cda_irn_resnet50_voc", "sources": [{"kind": "file", "path": "mine.pth"}]}}})
    monkeypatch.chdir(tmp_path)  # another folder than the overlay's
    monkeypatch.setenv(registry.ENV_REGISTRY, "runs/extra.json")
    assert registry.model_entry("my_rel").sources[0].path == str(runs / "mine.pth")
    assert hub.resolve_file(registry.model_entry("my_rel")) == runs / "mine.pth"
    time_before = overlay.stat().st_mtime_ns
    _write(overlay, {"models": {"my_rel": {"base": "cda_irn_resnet50_voc", "description": "edited",
                                           "sources": [{"kind": "file", "path": "mine.pth"}]}}})
    os.utime(overlay, ns=(time_before + 10**9, time_before + 10**9))
    assert registry.model_entry("my_rel").description == "edited"  # an edit in place is not hidden by a cache
    monkeypatch.chdir(runs)  # the same relative WSSS_ZOO_REGISTRY now names no file
    with pytest.raises(RegistryError, match="does not exist"):
        registry.model_entry("my_rel")
