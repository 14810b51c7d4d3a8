"""DeepLab checkpoint layouts: raw ``base.`` dicts, the COCO init, VainF ``model_state`` wrappers."""
import pickle

import numpy as np
import pytest
import torch

import wsss_zoo
from fixtures.deeplab_layouts import (deeplabv1_coco_state_dict, deeplabv2_msc_state_dict, deeplabv3plus_state_dict,
                                      write_deeplabv2_msc, write_deeplabv1_coco, write_vainf_deeplabv3plus)
from wsss_zoo.convert import convert_state_dict, read_checkpoint
from wsss_zoo.errors import CheckpointFormatError
from wsss_zoo import hub
from wsss_zoo.registry import model_entry


def load_state_dict(name, path):
    return hub.load_state_dict(model_entry(name), path)

SMALL = (1, 1, 1, 1)


def test_raw_v2_state_dict_converts_unchanged(tmp_path):
    path = write_deeplabv2_msc(tmp_path / "v2.pth", num_classes=5, n_blocks=SMALL)
    raw = torch.load(str(path), weights_only=True)  # a plain tensor dict: the default torch.load works
    sd, _ = load_state_dict("drs_deeplabv2_resnet101_voc", path)
    assert list(sd) == list(raw) and all(torch.equal(sd[k], raw[k]) for k in raw)


def test_v2_without_the_msc_prefix_gets_it():
    raw = {k[len("base."):]: v for k, v in deeplabv2_msc_state_dict(0, 5, SMALL).items()}
    assert all(k.startswith("base.") for k in convert_state_dict(raw, "deeplabv2_msc"))


def test_coco_init_given_as_v2_is_named(tmp_path):
    path = write_deeplabv1_coco(tmp_path / "coco.pth", n_blocks=SMALL)
    with pytest.raises(CheckpointFormatError, match="deeplabv1_resnet101_coco"):
        load_state_dict("sbnet_deeplabv2_resnet101_voc", path)
    sd, _ = load_state_dict("deeplabv1_resnet101_coco", path)
    assert "fc.weight" in sd and sd["layer1.conv1.bn.num_batches_tracked"] == 0


def test_vainf_wrapper_needs_numpy_scalars_and_unwraps(tmp_path):
    path = write_vainf_deeplabv3plus(tmp_path / "v3p.pth", num_classes=5, layers=SMALL)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(path), weights_only=True)
    raw = read_checkpoint(path)
    assert isinstance(raw["best_score"], np.floating) and "optimizer_state" in raw
    sd, _ = load_state_dict("drs_deeplabv3plus_resnet101_voc", path)
    assert list(sd) == list(raw["model_state"])


def test_vainf_v3_and_separable_heads_are_refused():
    sd = deeplabv3plus_state_dict(0, 5, SMALL)
    v3 = {k: v for k, v in sd.items() if not k.startswith("classifier.")}
    v3["classifier.classifier.0.convs.0.0.weight"] = torch.zeros(1)
    v3.update({"classifier.project.0.weight": torch.zeros(1), "classifier.classifier.3.weight": torch.zeros(1)})
    with pytest.raises(CheckpointFormatError, match="not V3"):
        convert_state_dict({"model_state": v3}, "vainf_deeplabv3plus")
    sep = dict(sd)
    sep["classifier.classifier.0.body.0.weight"] = sep.pop("classifier.classifier.0.weight")
    with pytest.raises(CheckpointFormatError, match="separable"):
        convert_state_dict(sep, "vainf_deeplabv3plus")


def test_module_prefix_is_stripped():
    sd = {"module." + k: v for k, v in deeplabv1_coco_state_dict(0, n_blocks=SMALL).items()}
    assert "layer1.conv1.conv.weight" in convert_state_dict(sd, "deeplabv1_coco_init")


@pytest.mark.slow
@pytest.mark.parametrize("name, writer", [("drs_deeplabv2_resnet101_voc", write_deeplabv2_msc),
                                          ("sbnet_deeplabv2_resnet101_voc", write_deeplabv2_msc),
                                          ("deeplabv1_resnet101_coco", write_deeplabv1_coco),
                                          ("drs_deeplabv3plus_resnet101_voc", write_vainf_deeplabv3plus)])
def test_full_size_files_load_strictly(tmp_path, name, writer):
    model = wsss_zoo.load(name, weights=writer(tmp_path / "w.pth"))
    assert not model.training
