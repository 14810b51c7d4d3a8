"""wsss_zoo.load on files written in every published ResNet-38 layout."""
import numpy as np
import pytest
import torch

import wsss_zoo
from fixtures.resnet38_layouts import (MODEL_LAYOUTS, save_upstream, stand_in_for, stand_in_state_dict, table_for,
                                       write_model)
from wsss_zoo.errors import CheckpointMismatchError


def _assert_loaded(model, sd):
    own = model.state_dict()
    for k, v in sd.items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(own[k], v), k
    assert not model.training


def test_cuda_saved_legacy_file_with_counters(tmp_path):
    """EPS's file: raw state dict of CUDA tensors in the torch 0.4 (non-zip) format, 229 keys."""
    sd = stand_in_state_dict(table_for("eps_resnet38_voc"), seed=1)
    path = save_upstream(sd, tmp_path / "checkpoint_cls.pth", legacy=True, cuda_tags=True)
    model = wsss_zoo.load("eps_resnet38_voc", weights=path)
    _assert_loaded(model, sd)
    assert model.fc8.weight.shape == (21, 4096, 1, 1)


def test_torch040_file_without_counters_and_wrapped_prefixed_files(tmp_path):
    sd = stand_in_state_dict(table_for("cda_seam_aff_resnet38_voc"), seed=2, counters=False)
    assert len(sd) == 195
    _assert_loaded(wsss_zoo.load("cda_seam_aff_resnet38_voc", weights=save_upstream(sd, tmp_path / "a.pth")), sd)
    wrapped = save_upstream(sd, tmp_path / "b.pth", legacy=False, prefix="module.", wrapper="state_dict")
    _assert_loaded(wsss_zoo.load("sbnet_aff_resnet38_voc", weights=wrapped), sd)


def test_wrong_family_file_names_the_layout(tmp_path):
    path = write_model("cda_seam_resnet38_voc", tmp_path / "seam.pth")
    with pytest.raises(CheckpointMismatchError, match="resnet38_seam"):
        wsss_zoo.load("cda_psa_aff_resnet38_voc", weights=path)


@pytest.mark.parametrize("name", sorted(MODEL_LAYOUTS))
def test_every_resnet38_name_loads_its_published_layout(tmp_path, name):
    path = write_model(name, tmp_path / f"{name}.pth", seed=5, cuda_tags=True)
    model = wsss_zoo.load(name, weights=path)
    sd = stand_in_for(name, seed=5)
    _assert_loaded(model, sd)
    assert model.wsss_zoo_entry.name == name
    if "coco" in name:
        assert model.fc8.weight.shape[0] in (80, 81) and model.wsss_zoo_entry.dataset == "coco"
    image = np.zeros((24, 32, 3), np.uint8)
    if model.wsss_zoo_entry.inference.cam:
        assert wsss_zoo.cam(model, image, [1], scales=(1.0,), flip=False).shape == (1, 24, 32)
