"""Pseudo-mask pipelines of the ResNet-38 family: EPS thresholding and the AffinityNet random walk."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import wsss_zoo
from wsss_zoo.errors import ConfigError
from wsss_zoo.pipelines.affinity import affinity_label_map, denormalize_to_uint8, with_background
from wsss_zoo.pipelines.base import pipeline_class
from wsss_zoo.registry import pipeline_entry


def make_pipeline(standin, name):
    entry = pipeline_entry(name)
    models = {role: standin(model) for role, model in entry.roles.items()}
    pipe = pipeline_class(entry.recipe)(entry, models)
    return pipe


def synthetic_cams(h, w):
    """Two normalised maps in [0, 1): class 1 high on the left, class 2 high at the bottom right."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    left = 1 / (1 + np.exp((xx - 0.3 * w) / 4))
    bottom_right = 1 / (1 + np.exp(-(xx - 0.7 * w) / 4)) * 1 / (1 + np.exp(-(yy - 0.5 * h) / 4))
    maps = np.stack([left, bottom_right]).astype(np.float32)
    return maps / (maps.max(axis=(1, 2), keepdims=True) + 1e-5)


def reference_walk(aff_model, image, cams, ids, alpha, beta, logt):
    """infer_aff.py as the sheet states it, with the dense float32 matrix built from forward()'s pair list."""
    from wsss_zoo.models.affinity import pair_indices

    h, w = image.shape[:2]
    hp, wp = -(-h // 8) * 8, -(-w // 8) * 8
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x = torch.from_numpy(((image / 255. - mean) / std).astype(np.float32).transpose(2, 0, 1).copy())[None]
    x = F.pad(x, (0, wp - w, 0, hp - h))
    full = np.zeros((21, h, w), np.float32)
    full[ids] = cams
    full[0] = (1 - np.max(full[1:], 0)) ** alpha
    full = np.pad(full, ((0, 0), (0, hp - h), (0, wp - w)))
    with torch.no_grad():
        aff = aff_model(x)[0]  # [n_offsets, n_from], the training-form output
    gh, gw = hp // 8, wp // 8
    ind_from, ind_to = pair_indices(aff_model.radius_for((gh, gw)), (gh, gw))
    n = gh * gw
    A = torch.zeros(n, n)
    src = torch.from_numpy(np.tile(ind_from, aff.shape[0]))
    dst = torch.from_numpy(ind_to)
    A[src, dst] = aff.reshape(-1)
    A[dst, src] = aff.reshape(-1)
    A[torch.arange(n), torch.arange(n)] = 1
    T = A ** beta
    T = T / T.sum(0, keepdim=True)
    for _ in range(logt):
        T = T @ T
    vec = F.avg_pool2d(torch.from_numpy(full), 8, 8).view(21, -1)
    rw = (vec @ T).view(1, 21, gh, gw)
    rw = F.interpolate(rw, (hp, wp), mode="bilinear", align_corners=False)
    return rw.argmax(1)[0, :h, :w].numpy().astype(np.uint8)


@pytest.mark.parametrize("aff_name,alpha,logt", [("cda_psa_aff_resnet38_voc", 16, 8), ("sbnet_aff_resnet38_voc", 6.0, 6)])
def test_random_walk_matches_dense_reference(standin, image, aff_name, alpha, logt):
    aff = standin(aff_name)
    ids = [3, 15]
    cams = synthetic_cams(*image.shape[:2])
    want = reference_walk(aff, image, cams, ids, alpha, 8, logt)
    for mode in ("sparse", "dense"):
        got = affinity_label_map(aff, image, cams, ids, 20, alpha=alpha, beta=8, logt=logt, mode=mode)
        assert got.dtype == np.uint8 and got.shape == image.shape[:2]
        assert (got == want).mean() >= 0.999, mode
    assert {0, 3} <= set(np.unique(want).tolist())  # a walk that keeps background and foreground


def test_background_counts_absent_classes_as_zero():
    cams = np.full((1, 2, 2), -0.01, np.float32)
    assert np.allclose(with_background(cams, 6.0, 20)[0], 1.0)  # max(0, -0.01) = 0
    assert np.allclose(with_background(cams, 2, 1)[0], 1.01 ** 2)  # every class present: no zero


def test_denormalised_crf_image_truncates():
    x = torch.zeros(3, 2, 2)  # padding value: the mean colour
    img = denormalize_to_uint8(x)
    assert img.dtype == np.uint8 and img[0, 0].tolist() == [123, 116, 103]  # 123.675, 116.28, 103.53 truncated
    assert denormalize_to_uint8(torch.full((3, 1, 1), 9.0))[0, 0].tolist() == [255, 255, 255]


def test_affinity_pipeline_end_to_end(standin, image, small_scales):
    pipe = make_pipeline(standin, "cda_seam_voc")
    ids = [1, 12]
    with small_scales(pipe.models["cam"], (1.0,)):
        cams = pipe.cam(image, ids)
        mask = pipe.pseudo_mask(image, ids)
        want = affinity_label_map(pipe.models["aff"], image, cams.numpy(), ids, 20, alpha=6.0, beta=8, logt=6)
        assert np.array_equal(mask, want)
        assert set(np.unique(mask)) <= {0, 1, 12}
        crf_mask = pipe.pseudo_mask(image, ids, crf=True)
    assert crf_mask.shape == mask.shape and set(np.unique(crf_mask)) <= set(range(21))


def test_psa_pipeline_refuses_crf(standin, image):
    pipe = make_pipeline(standin, "cda_psa_voc")
    assert pipe.settings == {"alpha": 16, "beta": 8, "logt": 8}
    with pytest.raises(ConfigError, match="CRF"):
        pipe.pseudo_mask(image, [1], crf=True)


def test_eps_pipeline_thresholds_at_020(standin, image, small_scales):
    pipe = make_pipeline(standin, "eps_voc")
    ids = [2, 15]
    with small_scales(pipe.models["cam"], (1.0,)):
        cams = pipe.cam(image, ids).numpy()
        mask = pipe.pseudo_mask(image, ids)
        crf_mask = pipe.pseudo_mask(image, ids, crf=True)
    stack = np.concatenate([np.full((1,) + cams.shape[1:], 0.2, np.float32), cams])
    assert np.array_equal(mask, np.array([0, 2, 15], np.uint8)[np.argmax(stack, 0)])
    assert crf_mask.dtype == np.uint8 and set(np.unique(crf_mask)) <= {0, 2, 15}


def test_pseudo_mask_by_name_uses_pipeline_settings():
    for name, settings in [("cda_seam_voc", {"alpha": 6.0, "beta": 8, "logt": 6}),
                           ("sbnet_voc", {"alpha": 6.0, "beta": 8, "logt": 6}),
                           ("eps_coco", {"bg_threshold": 0.2})]:
        assert wsss_zoo.model_info(name)["settings"] == settings
