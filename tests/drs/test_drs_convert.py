"""DRS checkpoint layouts: wrapper dicts with numpy scalars, features/layer aliases, family mix-ups."""
import pickle

import numpy as np
import pytest
import torch

import wsss_zoo
from fixtures.drs_layouts import TRUNK, drs_state_dict
from wsss_zoo.convert import convert_state_dict, read_checkpoint
from wsss_zoo.errors import CheckpointFormatError, CheckpointMismatchError


def test_fixture_key_tables_match_the_sheet():
    cls, ref = drs_state_dict(0, learnable=True), drs_state_dict(0, learnable=False)
    assert len(cls) == 76 and len(ref) == 60
    assert sum(k.endswith(".fc.0.weight") for k in cls) == 16
    assert cls["features.24.weight"] is cls["layer5_conv1.weight"]  # shared storage, as torch.save keeps it


def test_published_wrapper_needs_numpy_scalars_and_loads_safely(drs_files):
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(drs_files["cls"]), weights_only=True)  # why read_checkpoint allow-lists numpy scalars
    raw = read_checkpoint(drs_files["cls"])
    assert isinstance(raw["miou"], np.floating) and set(raw) == {"model", "optimizer", "epoch", "iter", "miou"}


def test_classifier_loads_and_keeps_the_published_values(drs_files):
    model = wsss_zoo.load("drs_vgg16_voc", weights=drs_files["cls"])
    sd = drs_state_dict(0, learnable=True)
    for idx, name, _, _ in TRUNK:
        assert torch.equal(getattr(model, name).weight, sd[f"features.{idx}.weight"])
    assert torch.equal(model.extra_relu2.fc[0].weight, sd["extra_relu2.fc.0.weight"])
    assert torch.equal(model.extra_conv4.bias, sd["extra_conv4.bias"])
    assert not model.training


def test_refine_loads(drs_files):
    model = wsss_zoo.load("drs_refine_vgg16_voc", weights=drs_files["refine"])
    sd = drs_state_dict(1, learnable=False)
    assert torch.equal(model.layer3_conv3.weight, sd["features.14.weight"])


@pytest.mark.parametrize("keep", ["features.", "layer"])
def test_either_alias_set_alone_is_enough(keep):
    sd = drs_state_dict(0, learnable=True)
    trunk_prefixes = ("features.",) + tuple(f"{name}." for _, name, _, _ in TRUNK)
    one_set = {k: v for k, v in sd.items() if not k.startswith(trunk_prefixes) or k.startswith(keep)}
    out = convert_state_dict({"model": one_set}, "drs_vgg")
    assert len(out) == 50 and torch.equal(out["layer1_conv2.weight"], sd["features.2.weight"])


def test_disagreeing_aliases_are_refused():
    sd = drs_state_dict(0, learnable=True)
    sd["features.0.weight"] = sd["features.0.weight"] + 1
    with pytest.raises(CheckpointFormatError, match="alias"):
        convert_state_dict(sd, "drs_vgg")


def test_classifier_file_given_as_refine_says_which_file_it_is(drs_files):
    with pytest.raises(CheckpointFormatError, match="drs_vgg16_voc"):
        wsss_zoo.load("drs_refine_vgg16_voc", weights=drs_files["cls"])


def test_refine_file_given_as_classifier_names_the_missing_controllers(drs_files):
    with pytest.raises(CheckpointMismatchError) as info:
        wsss_zoo.load("drs_vgg16_voc", weights=drs_files["refine"])
    assert "fc.0.weight" in str(info.value) and "drs_vgg_refine" in str(info.value)


def test_torchvision_imagenet_vgg16_maps_onto_the_trunk():
    from wsss_zoo.models.vgg_drs import imagenet_vgg16_trunk
    from wsss_zoo.models.vgg_drs import VGG16DRS

    sd = {f"features.{idx}.{p}": torch.zeros(1) for idx, _, _, _ in TRUNK for p in ("weight", "bias")}
    sd["classifier.0.weight"] = torch.zeros(1)
    out = imagenet_vgg16_trunk(sd)
    assert len(out) == 26 and set(out) <= set(VGG16DRS().state_dict())


def test_a_resaved_plain_state_dict_loads_the_same(tmp_path, drs_files):
    """A user re-saving only the state dict (no wrapper, no numpy) loads the same way."""
    path = tmp_path / "plain.pth"
    torch.save(drs_state_dict(0, learnable=True), str(path))
    a = wsss_zoo.load("drs_vgg16_voc", weights=path)
    b = wsss_zoo.load("drs_vgg16_voc", weights=drs_files["cls"])
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
