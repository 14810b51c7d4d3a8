"""CAM recipes psa / eps / seam against the inference scripts as the sheets describe them, pass by pass."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import wsss_zoo
from wsss_zoo.classes import COCO_CLASSES
from wsss_zoo.errors import ConfigError, InvalidLabelsError


def _normalized(img: np.ndarray) -> torch.Tensor:
    """``model.normalize`` of PSA/EPS: per channel (v/255 - mean)/std into a float32 HWC array, then CHW."""
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    out = np.empty(img.shape, np.float32)
    for c in range(3):
        out[..., c] = (img[..., c] / 255. - mean[c]) / std[c]
    return torch.from_numpy(out.transpose(2, 0, 1).copy())


def reference_cams(model, image, ids, scales, per_pass, normalise):
    """Batch-1 passes [s, flip(s), ...]: map -> bilinear to HxW -> label rows -> unflip -> sum -> normalise."""
    h, w = image.shape[:2]
    total = 0
    for s in scales:
        size = (round(w * s), round(h * s))
        x = _normalized(np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC)))
        for flipped in (False, True):
            inp = (x.flip(-1) if flipped else x)[None]
            with torch.no_grad():
                m = F.interpolate(per_pass(model, inp), (h, w), mode="bilinear", align_corners=False)[0]
            m = m[[i - 1 for i in ids]]
            total = total + (m.flip(-1) if flipped else m)
    return normalise(total)


def max_norm(s):
    return s / (s.flatten(1).max(1).values[:, None, None] + 1e-5)


def seam_norm(s):
    s = s.clone()
    s[s < 0] = 0
    mx = s.flatten(1).max(1).values[:, None, None]
    mn = s.flatten(1).min(1).values[:, None, None]
    s[s < mn + 1e-5] = 0
    return (s - mn - 1e-5) / (mx - mn + 1e-5)


PER_PASS = {
    "cls": lambda m, x: m.forward_cam(x),                                  # ReLU(fc8 * f)
    "eps": lambda m, x: F.softmax(m.forward_cam(x), dim=1)[:, :-1],        # softmax at stride 8, bg last
    "seam": lambda m, x: m(x)[1][:, 1:],                                   # forward output #1 = cam_rv
}


@pytest.mark.parametrize("name,kind,norm,scales,ids", [
    ("cda_psa_resnet38_voc", "cls", max_norm, (0.5,), [3, 15]),
    ("eps_resnet38_voc", "eps", max_norm, (1.0,), [2, 15, 20]),
    ("cda_seam_resnet38_voc", "seam", seam_norm, (1.0,), [1, 12]),
])
def test_recipe_matches_pass_by_pass_reference(standin, image, name, kind, norm, scales, ids):
    model = standin(name)
    got = wsss_zoo.cam(model, image, ids, scales=scales, flip=True)
    want = reference_cams(model, image, ids, scales, PER_PASS[kind], norm)
    assert got.shape == (len(ids),) + image.shape[:2] and got.dtype == torch.float32
    assert (got - want).abs().max() < 1e-4
    assert got.max() <= 1


def test_eps_coco_uses_80_classes_and_coco_names(standin, image):
    model = standin("eps_base_resnet38_coco")
    assert model.fc8.weight.shape[0] == 80 and COCO_CLASSES[16] == "cat"
    cams = wsss_zoo.cam(model, image, ["cat", "person"], scales=(0.5,), flip=True)  # ids 1, 16: fc8 rows 0, 15
    want = reference_cams(model, image, [1, 16], (0.5,), PER_PASS["cls"], max_norm)
    assert cams.shape == (2, 64, 80) and (cams - want).abs().max() < 1e-4
    with pytest.raises(InvalidLabelsError):
        wsss_zoo.cam(model, image, [81])


def test_default_scales_come_from_the_registry(standin):
    assert standin("cda_psa_resnet38_voc").wsss_zoo_entry.inference.cam.scales == (1.0, 0.5, 1.5, 2.0)
    for name in ("eps_resnet38_voc", "cda_seam_resnet38_voc", "sbnet_resnet38_voc"):
        assert wsss_zoo.model_info(name)["inference"]["cam"]["scales"] == [0.5, 1.0, 1.5, 2.0]


def test_affinity_net_has_no_cam(standin, image):
    with pytest.raises(ConfigError, match="no class activation maps"):
        wsss_zoo.cam(standin("cda_psa_aff_resnet38_voc"), image, [1])
