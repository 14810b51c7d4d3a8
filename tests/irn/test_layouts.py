"""IRN-family checkpoint layouts: key sets from the fact sheets, alias folding, loading by name."""
from collections import OrderedDict

import pytest
import torch

import wsss_zoo
from tests.fixtures import irn_layouts
from wsss_zoo.convert import convert_state_dict, read_checkpoint
from wsss_zoo.errors import CheckpointFormatError, CheckpointMismatchError
from wsss_zoo.models import build_model
from wsss_zoo.registry import model_entry

N_BN_COUNTERS = 53  # ResNet-50 BatchNorm layers


def _canonical_cam_keys(prefix="resnet50."):
    keys = [k for k, _ in irn_layouts.resnet50_entries(prefix) if not k.endswith("num_batches_tracked")]
    return set(keys) | {"classifier.weight"}


def _canonical_edge_keys():
    keys = {k for k, _ in irn_layouts.resnet50_entries("resnet50.") if not k.endswith("num_batches_tracked")}
    keys.add("mean_shift.running_mean")
    for name, *_ in irn_layouts.EDGE_HEADS + irn_layouts.DP_HEADS:
        keys |= {f"{name}.0.weight", f"{name}.1.weight", f"{name}.1.bias"}
    keys |= {"fc_edge6.weight", "fc_edge6.bias", "fc_dp7.0.weight", "fc_dp7.1.weight", "fc_dp7.1.bias", "fc_dp7.3.weight"}
    return keys


def test_fixture_counts_match_fact_sheets():
    cam = irn_layouts.irn_cam_state_dict(calibrate=False)
    edge = irn_layouts.irn_edge_state_dict(calibrate=False, n_src=4)
    assert len(cam) == 956 and len(edge) == 1056
    assert len(irn_layouts.irn_edge_state_dict(calibrate=False, path_buffers=False)) == 1035
    assert sum(n for n, _ in irn_layouts.PATH_GROUPS_R10) == 152
    assert len({id(v) for v in cam.values()}) == 319  # aliases share tensors (cda.md / rib.md)
    assert cam["backbone.0.4.0.conv1.weight"] is cam["resnet50.layer1.0.conv1.weight"]
    assert edge["backbone.1.0.0.conv1.weight"] is edge["resnet50.layer1.0.conv1.weight"]
    assert edge["dp_layers.6.4.running_mean"] is edge["mean_shift.running_mean"]


def test_cam_conversion_folds_aliases():
    raw = irn_layouts.irn_cam_state_dict(num_classes=80, calibrate=False)
    sd = convert_state_dict(raw, "irn_cam")
    assert set(sd) == _canonical_cam_keys()
    assert len(sd) == 318 - N_BN_COUNTERS + 1
    assert torch.equal(sd["classifier.weight"], raw["newly_added.0.weight"])
    assert set(sd) == {k for k in build_model(model_entry("rib_resnet50_coco")).state_dict() if not k.endswith("num_batches_tracked")}


def test_cam_conversion_from_aliases_only():
    raw = irn_layouts.irn_cam_state_dict(calibrate=False)
    only_aliases = OrderedDict((k, v) for k, v in raw.items() if k.startswith(("backbone.", "newly_added.")))
    sd = convert_state_dict(only_aliases, "irn_cam")
    assert set(sd) == _canonical_cam_keys()
    assert torch.equal(sd["resnet50.layer4.2.conv3.weight"], raw["resnet50.layer4.2.conv3.weight"])


def test_alias_disagreement_is_an_error():
    raw = irn_layouts.irn_cam_state_dict(calibrate=False)
    raw["stage3.0.1.conv2.weight"] = raw["stage3.0.1.conv2.weight"] + 1
    with pytest.raises(CheckpointFormatError, match="alias"):
        convert_state_dict(raw, "irn_cam")


def test_edge_conversion_drops_training_buffers():
    raw = irn_layouts.irn_edge_state_dict(calibrate=False, n_src=4)
    sd = convert_state_dict(raw, "irn_edge")
    assert set(sd) == _canonical_edge_keys()
    assert not any(k.startswith(("path_indices", "disp_target", "stage", "backbone", "edge_layers", "dp_layers"))
                   for k in sd)
    assert torch.equal(sd["mean_shift.running_mean"], raw["fc_dp7.4.running_mean"])
    assert torch.equal(sd["fc_edge6.bias"], raw["edge_layers.5.bias"])
    own = {k for k in build_model(model_entry("cda_irn_edge_resnet50_voc")).state_dict() if not k.endswith("num_batches_tracked")}
    assert set(sd) == own


@pytest.mark.parametrize("name,file,classes", [
    ("cda_irn_resnet50_voc", "cam", 20), ("rib_resnet50_voc", "cam", 20), ("rib_resnet50_coco", "cam80", 80)])
def test_load_cam_networks(irn_files, name, file, classes):
    model = wsss_zoo.load(name, weights=irn_files[file])
    raw = read_checkpoint(irn_files[file])
    assert model.classifier.weight.shape == (classes, 2048, 1, 1)
    assert torch.equal(model.classifier.weight, raw["classifier.weight"])
    assert torch.equal(model.resnet50.layer3[4].bn2.running_var, raw["stage3.0.4.bn2.running_var"])
    assert not model.training and model.wsss_zoo_entry.name == name


def test_load_edge_network(edge_model, irn_files):
    raw = read_checkpoint(irn_files["edge"])
    assert torch.equal(edge_model.mean_shift.running_mean, raw["mean_shift.running_mean"])
    assert torch.equal(edge_model.fc_dp7[3].weight, raw["dp_layers.6.3.weight"])
    assert torch.equal(edge_model.resnet50.layer1[0].conv1.weight, raw["stage2.0.0.conv1.weight"])


def test_load_wrapped_file(irn_files, tmp_path):
    raw = read_checkpoint(irn_files["cam"])
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": OrderedDict(("module." + k, v) for k, v in raw.items())}, path)
    model = wsss_zoo.load("cda_irn_resnet50_voc", weights=path)
    assert torch.equal(model.classifier.weight, raw["classifier.weight"])


def test_wrong_family_errors(irn_files):
    with pytest.raises(CheckpointFormatError, match="cda_irn_edge_resnet50_voc"):
        wsss_zoo.load("cda_irn_resnet50_voc", weights=irn_files["edge"])
    with pytest.raises(CheckpointFormatError, match="rib_resnet50_voc"):
        wsss_zoo.load("cda_irn_edge_resnet50_voc", weights=irn_files["cam"])
    with pytest.raises(CheckpointMismatchError, match="classifier.weight"):
        wsss_zoo.load("rib_resnet50_voc", weights=irn_files["cam80"])
