"""Real-size checks (VOC 375 x 500, upstream default scales): slow, run with ``pytest -m slow``."""
import numpy as np
import pytest

import wsss_zoo
from test_cam_recipes import PER_PASS, reference_cams, seam_norm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def voc_image():
    yy, xx = np.mgrid[0:375, 0:500].astype(np.float32)
    img = np.stack([127 + 120 * np.sin(xx / 23) * np.cos(yy / 31), 255 * xx / 500,
                    np.where((xx - 300) ** 2 + (yy - 150) ** 2 < 90 ** 2, 220, 30)], -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_seam_cam_at_default_scales_matches_pass_by_pass_reference(standin, voc_image):
    """Scale 2 gives a 94 x 125 grid: the PCM runs in several column blocks."""
    model = standin("cda_seam_resnet38_voc")
    ids = [9, 15]
    got = wsss_zoo.cam(model, voc_image, ids)
    want = reference_cams(model, voc_image, ids, (0.5, 1.0, 1.5, 2.0), PER_PASS["seam"], seam_norm)
    assert got.shape == (2, 375, 500)
    assert (got - want).abs().max() < 1e-3


def test_affinity_pipeline_at_voc_size(standin, voc_image):
    from test_pipelines import make_pipeline

    pipe = make_pipeline(standin, "cda_psa_voc")
    mask = pipe.pseudo_mask(voc_image, [9, 15])
    assert mask.shape == (375, 500) and mask.dtype == np.uint8
    assert set(np.unique(mask).tolist()) <= {0, 9, 15}
