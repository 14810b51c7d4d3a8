"""IRN CAM recipe: output contract, normalisation, flip/scale handling, resize-then-crop geometry."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import wsss_zoo
from wsss_zoo.pipelines.cam import run_passes
from wsss_zoo.pipelines.irn import IRN_CAM, aggregate_cams, strided_size, strided_up_size
from wsss_zoo.pipelines.preprocess import IMAGENET


def test_cam_contract_and_normalisation(cam_model, small_image):
    cams = wsss_zoo.cam(cam_model, small_image, ["person", 3])
    assert cams.shape == (2, 37, 53) and cams.dtype == torch.float32 and not cams.requires_grad
    assert cams.min() >= 0
    peaks = cams.flatten(1).max(1).values
    assert torch.all(peaks <= 1) and torch.all(peaks > 0.99)  # m / (m + 1e-5)
    again = wsss_zoo.cam(cam_model, small_image, [15, 3])
    assert torch.equal(cams, again)  # rows in ascending id order whatever the label order


def test_sizes():
    assert strided_size((375, 500), 4) == (94, 125) and strided_up_size((375, 500), 16) == (384, 512)
    assert strided_size((281, 500), 4) == (71, 125) and strided_up_size((37, 53), 16) == (48, 64)


class _ShapeSpy(torch.nn.Module):
    """Records the input batches; returns ones at stride 16."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.shapes = []

    def cam_logits(self, x):
        self.shapes.append(tuple(x.shape))
        return torch.ones(x.shape[0], 20, (x.shape[2] - 1) // 16 + 1, (x.shape[3] - 1) // 16 + 1)


def test_scales_use_round_half_even_sizes_and_flip_pairs():
    spy = _ShapeSpy()
    maps = list(run_passes(spy, np.zeros((375, 500, 3), np.uint8), range(1, 21), IRN_CAM, scales=(1.0, 0.5, 1.5, 2.0),
                           flip=True, pre=IMAGENET))
    assert spy.shapes == [(2, 3, 375, 500), (2, 3, 188, 250), (2, 3, 562, 750), (2, 3, 750, 1000)]
    assert torch.all(maps[0] == 2)  # relu(1) + relu(1): the flip pair is summed, not averaged


def test_high_res_is_resized_to_multiple_of_16_then_cropped():
    torch.manual_seed(0)
    maps = [torch.rand(20, 3, 4), torch.rand(20, 2, 2), torch.rand(20, 4, 5)]
    out = aggregate_cams(maps, (37, 53), [2, 9])
    ref_hr = sum(F.interpolate(m[None, [1, 8]], (48, 64), mode="bilinear", align_corners=False)[0] for m in maps)
    ref_hr = ref_hr[:, :37, :53]
    ref_hr = ref_hr / (ref_hr.amax((1, 2), keepdim=True) + 1e-5)
    assert torch.allclose(out.high_res, ref_hr, atol=1e-6)
    ref_s = sum(F.interpolate(m[None, [1, 8]], (10, 14), mode="bilinear", align_corners=False)[0] for m in maps)
    assert torch.allclose(out.strided, ref_s / (ref_s.amax((1, 2), keepdim=True) + 1e-5), atol=1e-6)
    direct = sum(F.interpolate(m[None, [1, 8]], (37, 53), mode="bilinear", align_corners=False)[0] for m in maps)
    assert not torch.allclose(out.high_res, direct / direct.amax((1, 2), keepdim=True), atol=1e-3)


def test_mirror_symmetric_image_gives_symmetric_cam(cam_model):
    """With every scaled width a multiple of 16, map + flip(map of flip) is exactly mirror-symmetric."""
    rng = np.random.default_rng(1)
    half = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    img = np.concatenate([half, half[:, ::-1]], axis=1)  # 32 x 64
    cams = wsss_zoo.cam(cam_model, img, [1, 2], scales=(1.0, 0.5))
    assert torch.allclose(cams, cams.flip(-1), atol=1e-5)


def test_flip_off_and_single_scale(cam_model, small_image):
    one = wsss_zoo.cam(cam_model, small_image, [7], scales=[1.0], flip=False)
    assert one.shape == (1, 37, 53)
    with pytest.raises(wsss_zoo.ConfigError):
        wsss_zoo.cam(cam_model, small_image, [7], scales=[0])
