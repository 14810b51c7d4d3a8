"""Pipelines cda_irn_voc / rib_voc / rib_coco on stand-in weights."""
import numpy as np
import pytest
import torch

import wsss_zoo
from wsss_zoo.errors import MissingWeightsError
from wsss_zoo.pipelines.base import pipeline_class
from wsss_zoo.pipelines.cam import with_flip
from wsss_zoo.pipelines.preprocess import normalize_imagenet
from wsss_zoo.pipelines.irn import irn_cam_maps, propagate_to_edge, random_walk_labels
from wsss_zoo.registry import pipeline_entry


@pytest.fixture(scope="module")
def cda_pipeline(irn_files, _session_home):
    """The CDA pipeline; the IRN input is not padded to 512 here, to keep the tests fast."""
    return wsss_zoo.load_pipeline("cda_irn_voc", weights={"cam": irn_files["cam"], "irn": irn_files["edge"]},
                                  irn_crop_size=None)


def test_cda_pseudo_mask(cda_pipeline, small_image):
    mask = cda_pipeline.pseudo_mask(small_image, [3, 15])
    assert mask.shape == (37, 53) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 3, 15}
    cams = cda_pipeline.cam(small_image, [15, 3])
    assert torch.allclose(cams, wsss_zoo.cam(cda_pipeline.models["cam"], small_image, [3, 15]))


def test_edge_map_padding(cda_pipeline, small_image):
    assert wsss_zoo.model_info("cda_irn_voc")["settings"]["irn_crop_size"] == 512
    with torch.inference_mode():
        edge = cda_pipeline.edge(small_image)
        pair = with_flip(normalize_imagenet(small_image))
        unpadded, _ = cda_pipeline.models["irn"].edge_displacement(pair, crop_size=None)
        padded, _ = cda_pipeline.models["irn"].edge_displacement(pair, crop_size=64)
    assert edge.shape == (1, 10, 14) and float(edge.min()) >= 0 and float(edge.max()) <= 1
    assert torch.equal(edge, unpadded)
    assert not torch.allclose(unpadded, padded)  # zero padding (upstream's 512 on VOC) changes the map


def test_rib_settings_power_and_threshold(cda_pipeline, small_image):
    pipe = pipeline_class("rib")(pipeline_entry("rib_voc"), cda_pipeline.models, {"irn_crop_size": None})
    assert pipe.settings["cam_power"] == 1.3 and pipe.settings["sem_seg_bg_thres"] == 0.27
    with pytest.warns(UserWarning, match="negatives"):
        mask = pipe.pseudo_mask(small_image, [3, 15])
    with torch.inference_mode():
        cams = irn_cam_maps(pipe.models["cam"], small_image, [3, 15]).strided
        edge, _ = pipe.models["irn"].edge_displacement(with_flip(normalize_imagenet(small_image)), crop_size=None)
        rw = propagate_to_edge(cams ** 1.3, edge)
    assert np.array_equal(mask, random_walk_labels(rw, (37, 53), [3, 15], 0.27))


def test_rib_needs_user_irn():
    with pytest.raises(MissingWeightsError, match="irn"):
        wsss_zoo.load_pipeline("rib_voc")
    with pytest.raises(MissingWeightsError, match="irn"):
        wsss_zoo.load_pipeline("rib_coco", weights={"cam": "unused.pth"})


def test_rib_coco_skips_padding():
    assert wsss_zoo.model_info("rib_coco")["settings"]["irn_crop_size"] is None
    assert wsss_zoo.model_info("rib_coco")["settings"]["sem_seg_bg_thres"] == 0.22


@pytest.mark.crf
def test_ir_label_uses_pipeline_thresholds(cda_pipeline, small_image):
    pytest.importorskip("pydensecrf")
    seeds = cda_pipeline.ir_label(small_image, [3, 15])
    assert seeds.shape == (37, 53) and set(np.unique(seeds)) <= {0, 3, 15, 255}
