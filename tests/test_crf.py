"""The shared dense CRF helper: published presets, the missing-extra error, and that it cleans a noisy mask."""
import sys

import numpy as np
import pytest

from wsss_zoo import crf
from wsss_zoo.errors import ConfigError, CrfNotInstalledError, WsssZooError

needs_crf = pytest.mark.skipif(not crf.crf_available(), reason="pydensecrf (the crf extra) is not installed")


def test_presets_carry_the_published_parameters():
    # foundations 4.5 (PSA/SEAM/SBNet/EPS), 6.6 (IRN), 7.5 (kazuto voc12.yaml CRF block; DRS eval.py)
    assert crf.get_preset("psa") == crf.CrfParams("softmax", 3, 3, 80, 13, 10, 10)
    assert crf.get_preset("irn") == crf.CrfParams("labels", 3, 3, 50, 5, 10, 10, 0.7)
    deeplab = crf.get_preset("deeplab")
    assert (deeplab.unary, deeplab.gauss_sxy, deeplab.gauss_compat) == ("softmax", 1, 3)
    assert (deeplab.bi_sxy, deeplab.bi_srgb, deeplab.bi_compat, deeplab.iterations) == (67, 3, 4, 10)
    with pytest.raises(ConfigError, match="deeplab"):
        crf.get_preset("densecrf")


@pytest.fixture
def no_pydensecrf(monkeypatch):
    """Make ``import pydensecrf...`` fail as it does when the extra is not installed."""
    for name in ("pydensecrf", "pydensecrf.densecrf", "pydensecrf.utils"):
        monkeypatch.setitem(sys.modules, name, None)


def test_missing_extra_raises_a_helpful_error(no_pydensecrf):
    assert not crf.crf_available()
    image = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(CrfNotInstalledError, match=r"wsss_zoo\[crf\]") as info:
        crf.dense_crf_probs(image, np.full((2, 4, 5), 0.5, np.float32), "deeplab")
    assert isinstance(info.value, ImportError) and isinstance(info.value, WsssZooError)
    with pytest.raises(CrfNotInstalledError, match="crf=False"):
        crf.dense_crf_labels(image, np.zeros((4, 5), np.int64), 2)


def test_segment_with_crf_but_no_extra_raises(no_pydensecrf):
    import torch

    from wsss_zoo.pipelines.deeplab import deeplabv3plus_segment
    from wsss_zoo.pipelines.preprocess import IMAGENET_F32

    class Tiny(torch.nn.Module):
        def forward(self, x):
            return torch.cat([x[:, :1], -x[:, :1]], dim=1)

    with pytest.raises(CrfNotInstalledError):
        deeplabv3plus_segment(Tiny(), np.zeros((6, 7, 3), np.uint8), crf=True, pre=IMAGENET_F32)


def _scene(seed=0):
    """A two-region image (dark disc on a bright field) and its true mask."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:48, 0:64]
    truth = ((yy - 24) ** 2 + (xx - 30) ** 2 < 15 ** 2).astype(np.int64)
    image = np.where(truth[..., None] == 1, 40, 210) + rng.randint(-12, 12, (48, 64, 3))
    return np.clip(image, 0, 255).astype(np.uint8), truth, rng


@needs_crf
@pytest.mark.parametrize("preset", ["deeplab", "psa"])
def test_crf_improves_a_noisy_probability_map(preset):
    image, truth, rng = _scene()
    confidence = np.where(rng.rand(*truth.shape) < 0.3, 0.35, 0.7)  # 30% of pixels lean the wrong way
    p_fg = np.where(truth == 1, confidence, 1 - confidence).astype(np.float32)
    probs = np.stack([1 - p_fg, p_fg])
    before = (probs.argmax(0) == truth).mean()
    q = crf.dense_crf_probs(image, probs, preset)
    assert q.shape == probs.shape and q.dtype == np.float32
    assert np.allclose(q.sum(0), 1, atol=1e-4)
    after = (q.argmax(0) == truth).mean()
    assert before < 0.75 and after > 0.95


@needs_crf
def test_crf_improves_a_noisy_label_map():
    image, truth, rng = _scene(1)
    noisy = np.where(rng.rand(*truth.shape) < 0.2, 1 - truth, truth)
    out = crf.dense_crf_labels(image, noisy, 2, "irn")
    assert out.shape == truth.shape
    assert (out == truth).mean() > 0.97 > (noisy == truth).mean() + 0.1


@needs_crf
def test_crf_image_must_match_the_map():
    with pytest.raises(ConfigError, match="does not match"):
        crf.dense_crf_probs(np.zeros((5, 5, 3), np.uint8), np.full((2, 4, 5), 0.5, np.float32))
    with pytest.raises(ConfigError, match="HxWx3"):  # an RGBA image would crash inside pydensecrf
        crf.dense_crf_probs(np.zeros((4, 5, 4), np.uint8), np.full((2, 4, 5), 0.5, np.float32))
