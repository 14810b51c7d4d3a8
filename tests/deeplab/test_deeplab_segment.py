"""``wsss_zoo.segment`` for DeepLab-V2 (kazuto1011 ``main.py test``/``crf``) and V3+ (VainF/DRS ``eval.py``)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

import wsss_zoo
from wsss_zoo.crf import crf_available
from wsss_zoo.errors import ConfigError
from wsss_zoo.pipelines.deeplab import deeplabv2_crf_image, deeplabv2_segment, deeplabv3plus_crf_image

needs_crf = pytest.mark.skipif(not crf_available(), reason="pydensecrf (the crf extra) is not installed")


def test_deeplabv2_segment_is_the_kazuto_test_path(small_deeplab, photo):
    model = small_deeplab("drs_deeplabv2_resnet101_voc")
    bgr = photo[:, :, ::-1].astype(np.float32) - np.array([104.008, 116.669, 122.675])  # cv2 BGR, mean_bgr
    x = torch.from_numpy(bgr.astype(np.float32).transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        logits = F.interpolate(model(x), size=photo.shape[:2], mode="bilinear", align_corners=False)
        expected = F.softmax(logits, dim=1).argmax(dim=1)[0].numpy()
    out = wsss_zoo.segment(model, photo)
    assert out.dtype == np.uint8 and out.shape == photo.shape[:2]
    assert np.array_equal(out, expected) and len(np.unique(out)) > 1


def test_deeplabv3plus_segment_is_the_eval_path(small_deeplab, photo):
    from wsss_zoo.pipelines.deeplab import deeplabv3plus_logits

    model = small_deeplab("drs_deeplabv3plus_resnet101_voc")
    x = TF.normalize(TF.to_tensor(photo), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])[None]
    with torch.no_grad():
        logits = model(x)
    assert logits.shape[2:] == photo.shape[:2]  # the model itself upsamples to the input
    assert torch.equal(deeplabv3plus_logits(model, photo), logits[0])
    assert np.array_equal(wsss_zoo.segment(model, photo), logits.max(dim=1)[1][0].numpy())


def test_kazuto_crf_image_is_the_wrapped_mean_subtracted_bgr():
    pixel = np.array([[[200, 116, 10]]], np.uint8)  # R, G, B
    # B: 10 - 104.008 = -94.008 -> -94 -> 162; G: 116 - 116.669 -> -0 -> 0; R: 200 - 122.675 = 77.3 -> 77
    assert deeplabv2_crf_image(pixel, "bgr_mean_subtracted").tolist() == [[[162, 0, 77]]]


def test_drs_crf_image_restores_the_bgr_image(photo):
    restored = deeplabv2_crf_image(photo, "bgr_mean_restored").astype(int)
    diff = restored - photo[:, :, ::-1]
    # float32 round trip (x - mean) + mean, truncated to uint8: a quarter or so of the values come back one
    # level low (seen in upstream's own output too); never higher
    assert diff.min() >= -1 and diff.max() == 0 and (diff == 0).mean() > 0.5


def test_vainf_crf_image_restores_the_rgb_image(photo):
    diff = deeplabv3plus_crf_image(photo).astype(int) - photo
    assert diff.min() >= -1 and diff.max() <= 0 and (diff == 0).mean() > 0.5


def test_registry_crf_defaults_follow_the_code_behind_each_number():
    segment = {n: wsss_zoo.model_info(n)["inference"]["segment"] for n in
               ("drs_deeplabv2_resnet101_voc", "sbnet_deeplabv2_resnet101_voc", "drs_deeplabv3plus_resnet101_voc")}
    assert segment["drs_deeplabv2_resnet101_voc"]["crf_image"] == "bgr_mean_restored"     # DRS fork
    assert segment["sbnet_deeplabv2_resnet101_voc"]["crf_image"] == "bgr_mean_subtracted"  # kazuto1011
    assert segment["drs_deeplabv3plus_resnet101_voc"]["crf_logits"] == "float16"          # eval.py's .npy


def test_bad_crf_option(small_deeplab, photo):
    with pytest.raises(ConfigError, match="crf_image"):
        deeplabv2_segment(small_deeplab("drs_deeplabv2_resnet101_voc"), photo, crf=True, crf_image="rgb")


@needs_crf
@pytest.mark.parametrize("name", ["drs_deeplabv2_resnet101_voc", "sbnet_deeplabv2_resnet101_voc",
                                  "drs_deeplabv3plus_resnet101_voc"])
def test_segment_with_crf(small_deeplab, photo, name):
    model = small_deeplab(name)
    out = wsss_zoo.segment(model, photo, crf=True)
    plain = wsss_zoo.segment(model, photo)
    assert out.dtype == np.uint8 and out.shape == photo.shape[:2] and out.max() < 5
    assert (out == plain).mean() > 0.5  # the CRF smooths the network's answer, it does not replace it


def test_cam_on_a_segmentation_network_says_what_to_use(small_deeplab, photo):
    with pytest.raises(ConfigError, match="class activation maps"):
        wsss_zoo.cam(small_deeplab("drs_deeplabv2_resnet101_voc"), photo, [1])


def test_label_argmax_keeps_the_first_maximum_on_ties():
    """The fast max(dim=0) argmax equals numpy's argmax, ties included (upstream uses argmax)."""
    import torch

    from wsss_zoo.pipelines.deeplab import _argmax_u8

    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(21, 9, 11, generator=gen)
    probs[:, :3, :3] = 0.5  # all classes tie
    probs[7, 5, :] = probs[4, 5, :] = 2.0  # two classes tie above the rest
    assert np.array_equal(_argmax_u8(probs), np.argmax(probs.numpy(), axis=0).astype(np.uint8))
