"""DRS inference: localisation maps, refined maps and the pseudo-label rule (drs.md 5-6, upstream-semantics "DRS").

The networks are exercised on small square working sizes (24/32/40 in a 32 frame instead of 256/320/384 in 320) to stay fast;
the chain checks rebuild upstream's loop from torchvision transforms and the networks' upstream-style
``forward(x, label, size)``.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image

import wsss_zoo
from wsss_zoo.errors import ConfigError, SaliencyError
from wsss_zoo.pipelines.drs import drs_pseudo_label

SIZES, FRAME = (24, 32, 40), 32
IDS = [3, 15]


@pytest.fixture(scope="module")
def image():
    rng = np.random.RandomState(0)
    img = np.kron(rng.randint(0, 256, (6, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # 48 x 64 blocks
    return np.clip(img.astype(int) + rng.randint(-20, 20, img.shape), 0, 255).astype(np.uint8)[:45, :61]


def _small(model):
    model.wsss_zoo_entry = model.wsss_zoo_entry.with_cam(scales=list(SIZES), working_size=FRAME)
    return model


@pytest.fixture(scope="module")
def models(drs_files):
    return {role: wsss_zoo.load(name, weights=drs_files[role])
            for role, name in (("cls", "drs_vgg16_voc"), ("refine", "drs_refine_vgg16_voc"))}


def _upstream_frame(image):
    """utils/LoadData.test_data_loader: PIL bilinear square resize, ToTensor, Normalize."""
    pil = Image.fromarray(image).resize((FRAME, FRAME), Image.BILINEAR)
    return TF.normalize(TF.to_tensor(pil), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).unsqueeze(0)


def _label(ids):
    vec = torch.zeros(1, 20)
    vec[0, [i - 1 for i in ids]] = 1
    return vec


def test_pseudo_label_rule_on_hand_made_maps():
    maps = np.array([[[0.5, 1.2, 0.95, 0.10, 0.3, 0.95, 0.5, 0.15]],
                     [[0.3, 0.1, 0.95, 0.15, 0.6, 0.92, 0.5, 1.30]]], dtype=np.float32)
    salient = np.array([[False, False, False, True, True, True, True, False]])
    # bg wins off saliency unless a map > 1; 3 channels > 0.9 -> 255; salient bg -> 255; ties -> lower index
    expected = [0, 3, 255, 255, 15, 3, 3, 15]
    assert drs_pseudo_label(maps, IDS, salient).tolist() == [expected]
    maps[1, 0, 7] = 0.19  # below the object threshold: zeroed, background (1.0) wins
    assert drs_pseudo_label(maps, IDS, salient)[0, 7] == 0


def test_drs_cam_equals_the_upstream_chain(models, image):
    model = _small(models["cls"])
    cam = wsss_zoo.cam(model, image, IDS)
    with torch.no_grad():
        fused = torch.zeros(1, 20, FRAME, FRAME)
        for s in SIZES:
            x = F.interpolate(_upstream_frame(image), size=(s, s), mode="bilinear", align_corners=False)
            fused = torch.maximum(fused, model(x, _label(IDS), size=(FRAME, FRAME))[1])
        expected = F.interpolate(fused, size=image.shape[:2], mode="bilinear", align_corners=False)[0, [2, 14]]
    assert cam.shape == (2,) + image.shape[:2] and cam.dtype == torch.float32
    assert torch.allclose(cam, expected, atol=1e-6)
    assert 0 <= cam.min() and cam.max() < 1


def test_drs_cam_rows_do_not_depend_on_the_other_labels(models, image):
    model = _small(models["cls"])
    assert torch.equal(wsss_zoo.cam(model, image, [15])[0], wsss_zoo.cam(model, image, IDS)[1])


def test_refine_cam_is_the_raw_max_fused_output_at_full_size(models, image):
    model = _small(models["refine"])
    maps = wsss_zoo.cam(model, image, IDS)
    with torch.no_grad():
        fused = torch.zeros(1, 20, *image.shape[:2])
        for s in SIZES:
            x = F.interpolate(_upstream_frame(image), size=(s, s), mode="bilinear", align_corners=False)
            fused = torch.maximum(fused, model(x, _label(IDS), size=image.shape[:2]))
    assert torch.allclose(maps, fused[0, [2, 14]], atol=1e-6)


def test_pipeline_pseudo_mask_matches_the_21_channel_rule(drs_files, image):
    pipe = wsss_zoo.load_pipeline("drs_voc", weights=drs_files, scales=list(SIZES), working_size=FRAME)
    saliency = np.zeros(image.shape[:2], np.uint8)
    saliency[10:35, 15:50] = 200
    saliency[0, 0] = 50  # not salient: the rule is '> 50'
    with torch.no_grad():
        refine = pipe.models["refine"]
        maps = torch.zeros(1, 20, *image.shape[:2])
        for s in SIZES:
            x = F.interpolate(_upstream_frame(image), size=(s, s), mode="bilinear", align_corners=False)
            maps = torch.maximum(maps, refine(x, _label(IDS), size=image.shape[:2]))
    maps = maps[0].numpy()
    maps[maps < 0.2] = 0
    sal = (saliency > 50).astype(np.float32)
    pred = np.concatenate([1 - sal[None], maps])
    count = (pred > 0.9).sum(0)
    expected = pred.argmax(0).astype(np.uint8)
    expected[count > 2] = 255
    expected[(sal == 1) & (expected == 0)] = 255
    out = pipe.pseudo_mask(image, IDS, saliency=saliency)
    assert out.dtype == np.uint8 and out.shape == image.shape[:2]
    assert np.array_equal(out, expected)
    assert torch.equal(pipe.cam(image, IDS), wsss_zoo.cam(_small(pipe.models["cls"]), image, IDS))


def test_pipeline_input_errors(drs_files, image):
    pipe = wsss_zoo.load_pipeline("drs_voc", weights=drs_files, scales=list(SIZES), working_size=FRAME)
    with pytest.raises(SaliencyError, match="saliency"):
        pipe.pseudo_mask(image, IDS)
    with pytest.raises(SaliencyError, match="45x61"):
        pipe.pseudo_mask(image, IDS, saliency=np.zeros((61, 45), np.uint8))
    with pytest.raises(ConfigError, match="CRF"):
        pipe.pseudo_mask(image, IDS, saliency=np.zeros(image.shape[:2], np.uint8), crf=True)


def test_cam_option_errors(models, image):
    model = _small(models["cls"])
    with pytest.raises(ConfigError, match="flip"):
        wsss_zoo.cam(model, image, IDS, flip=True)
    with pytest.raises(ConfigError, match="pixels"):
        wsss_zoo.cam(model, image, IDS, scales=(0.5, 1.0))


def test_registry_defaults_are_upstream():
    entry = wsss_zoo.model_info("drs_vgg16_voc")["inference"]["cam"]
    assert entry["scales"] == [256, 320, 384] and entry["flip"] is False and entry["working_size"] == 320
    settings = wsss_zoo.model_info("drs_voc")["settings"]
    assert (settings["object_threshold"], settings["saliency_threshold"], settings["conflict_threshold"]) == (0.2, 50, 0.9)
