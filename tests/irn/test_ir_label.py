"""IRN confident seeds (cam_to_ir_label): fg from the strict threshold, bg only where both agree."""
import numpy as np
import pytest
import torch

from wsss_zoo.crf import crf_available
from wsss_zoo.pipelines.irn import cam_to_ir_label

pytestmark = [pytest.mark.crf, pytest.mark.skipif(not crf_available(), reason="pydensecrf not installed")]


def test_seed_regions():
    h, w = 40, 48
    image = np.full((h, w, 3), 120, np.uint8)  # regions with distinct colours (the bilateral term follows them)
    image[8:24, 8:24] = (40, 200, 40)
    image[12:20, 12:20] = (220, 30, 30)
    image[26:38, 30:44] = (30, 30, 220)
    cams = np.zeros((2, h, w), np.float32)
    cams[0, 8:24, 8:24] = 0.2  # above the bg threshold (0.05) only: ignore
    cams[0, 12:20, 12:20] = 0.9  # above the fg threshold (0.30): class 4
    cams[1, 26:38, 30:44] = 0.8  # class 11
    seeds = cam_to_ir_label(image, torch.from_numpy(cams), [4, 11], conf_fg_thres=0.30, conf_bg_thres=0.05)
    assert seeds.dtype == np.uint8 and seeds.shape == (h, w)
    assert set(np.unique(seeds)) <= {0, 4, 11, 255}
    assert seeds[16, 16] == 4 and seeds[32, 37] == 11
    assert seeds[9, 9] == 255 and seeds[2, 2] == 0 and seeds[2, 46] == 0
