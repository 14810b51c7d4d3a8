"""Typed entries: parsed once, read-only, every error names the file, the entry and the field."""
import json

import pytest

from wsss_zoo import registry
from wsss_zoo.errors import RegistryError
from wsss_zoo.registry.entries import Preprocess, parse_model, parse_pipeline
from wsss_zoo.registry.loader import build_catalog, registry_path


def _builtin():
    return json.loads(registry_path().read_text(encoding="utf-8"))


def test_entries_are_typed_and_match_the_json():
    raw = _builtin()["models"]["eps_resnet38_voc"]
    e = registry.model_entry("eps_resnet38_voc")
    assert (e.name, e.method, e.task, e.dataset, e.builder, e.layout) == (
        "eps_resnet38_voc", "EPS", "cam", "voc", "resnet38_eps", "resnet38_eps")
    assert dict(e.builder_kwargs) == {"num_classes": 21}
    assert e.inference.cam.recipe == "eps" and e.inference.cam.scales == (0.5, 1.0, 1.5, 2.0) and e.inference.cam.flip
    assert e.preprocess == Preprocess("RGB", 255.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "float64")
    assert [s.id for s in e.sources] == [s["id"] for s in raw["sources"]]
    assert [s.id for s in e.current_sources] == [raw["sources"][0]["id"]]  # the superseded link is not current
    assert e.to_dict() == dict(raw, name="eps_resnet38_voc")
    kazuto = registry.model_entry("sbnet_deeplabv2_resnet101_voc").preprocess
    assert (kazuto.channel_order, kazuto.scale, kazuto.mean, kazuto.std) == ("BGR", 1.0, (104.008, 116.669, 122.675), None)
    assert registry.model_entry("drs_vgg16_voc").preprocess.arithmetic == "float32"  # torchvision transforms
    pipe = registry.pipeline_entry("rib_voc")
    assert pipe.recipe == "rib" and pipe.user_weights_required == ("irn",) and pipe.license.spdx is None


def test_entries_are_read_only():
    e = registry.model_entry("cda_irn_resnet50_voc")
    with pytest.raises(TypeError, match="read-only"):
        e.builder_kwargs["num_classes"] = 3
    with pytest.raises(AttributeError):
        e.layout = "x"
    copy = e.with_cam(scales=[1.0])
    assert copy.inference.cam.scales == (1.0,) and e.inference.cam.scales == (1.0, 0.5, 1.5, 2.0)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("layout"), "models.eps_resnet38_voc.layout: missing"),
    (lambda m: m.update(task="segmentaton"), "did you mean 'segmentation'"),
    (lambda m: m.update(sha265="0" * 64), "unknown field 'sha265'; did you mean 'sha256'"),
    (lambda m: m.update(sha256="xyz"), "models.eps_resnet38_voc.sha256: must be 64 hexadecimal digits"),
    (lambda m: m.update(filename="../../etc/passwd"), "must be a plain file name"),
    (lambda m: m["inference"]["cam"].update(scales=[1.0, -2]), "inference.cam.scales: must be positive"),
    (lambda m: m["inference"]["cam"].update(flip="yes"), "inference.cam.flip: expected true or false"),
    (lambda m: m["sources"][0].update(kind="ftp"), "sources[0].kind: 'ftp' is not one of"),
    (lambda m: m["preprocess"].update(channel_order="BRG"), "preprocess.channel_order"),
    (lambda m: m["preprocess"].update(std=[0.2, 0.2]), "preprocess.std: expected 3 numbers"),
    (lambda m: m["metrics"].append({"dataset": "voc12", "split": "train", "stage": "cam", "miou": 150}),
     "metrics[0].miou: expected a percentage"),
    (lambda m: m.update(method="NOPE"), "models.eps_resnet38_voc.method: 'NOPE' is not a method"),
])
def test_a_malformed_model_entry_names_the_file_entry_and_field(change, message):
    doc = _builtin()
    change(doc["models"]["eps_resnet38_voc"])
    with pytest.raises(RegistryError) as err:
        build_catalog(doc)
    assert message in str(err.value) and str(err.value).startswith("checkpoints.json: ")


@pytest.mark.parametrize("change, message", [
    (lambda p: p["roles"].update(cam="eps_resnet38_vco"), "roles.cam: no model 'eps_resnet38_vco'; did you mean"),
    (lambda p: p.update(user_weights_required=["aff"]), "user_weights_required: names role(s) ['aff']"),
    (lambda p: p.update(crf={"where": "x"}), "pipelines.eps_voc.crf.preset: missing"),
    (lambda p: p.update(needs_saliency=1), "needs_saliency: expected true or false"),
])
def test_a_malformed_pipeline_entry_names_the_field(change, message):
    doc = _builtin()
    change(doc["pipelines"]["eps_voc"])
    with pytest.raises(RegistryError, match="pipelines.eps_voc"):
        build_catalog(doc)
    with pytest.raises(RegistryError) as err:
        build_catalog(doc)
    assert message in str(err.value)


def test_parse_functions_on_minimal_entries():
    m = parse_model("mine", {"method": "init", "task": "init", "dataset": "imagenet",
                             "architecture": {"builder": "resnet38d"}, "layout": "mxnet_resnet38"}, "x: models.mine", {})
    assert m.filename == "mine.pth" and m.role == "init" and m.preprocess == Preprocess() and m.sources == ()
    assert not m.license.redistributable  # no licence record: never re-hosted
    with pytest.raises(RegistryError, match="x: pipelines.p.roles: a pipeline needs at least one role"):
        parse_pipeline("p", {"method": "EPS", "dataset": "voc", "recipe": "eps", "roles": {}}, "x: pipelines.p",
                       {"EPS": {}})
