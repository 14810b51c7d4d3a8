"""Fixtures of the report tests: a tiny VOC tree and imperfect prediction folders over it."""
import numpy as np
import pytest

from fixtures.datasets import make_coco_tree, make_voc_tree
from wsss_zoo.data.io import write_cam_npy, write_label_png


@pytest.fixture(scope="session")
def voc_tree(tmp_path_factory):
    return make_voc_tree(tmp_path_factory.mktemp("report_voc"))


@pytest.fixture(scope="session")
def coco_tree(tmp_path_factory):
    return make_coco_tree(tmp_path_factory.mktemp("report_coco"), layout="eps")


def perturbed(mask: np.ndarray, rng, flip: float, invalid: float = 0.0) -> np.ndarray:
    """The GT with 255 borders filled, a fraction ``flip`` of pixels set to random classes and a
    fraction ``invalid`` set to 255 (an out-of-range prediction)."""
    pred = np.where(mask == 255, 0, mask).astype(np.uint8)
    flips = rng.random(mask.shape) < flip
    pred[flips] = rng.integers(0, 21, int(flips.sum()))
    bad = rng.random(mask.shape) < invalid
    pred[bad] = 255
    return pred


@pytest.fixture(scope="session")
def pred_dirs(voc_tree, tmp_path_factory):
    """Two label folders over trainval (a: light noise with some 255s, b: heavier noise) and a CAM folder."""
    base = tmp_path_factory.mktemp("report_preds")
    rng = np.random.default_rng(7)
    out = {}
    for name, flip, invalid in (("a", 0.08, 0.03), ("b", 0.25, 0.0)):
        out[name] = base / name
        for image_id in voc_tree.splits["trainval"]:
            write_label_png(out[name] / f"{image_id}.png", perturbed(voc_tree.masks[image_id], rng, flip, invalid))
    out["cam"] = base / "cam"
    for image_id in voc_tree.splits["trainval"]:
        m = voc_tree.masks[image_id]
        cls = sorted(set(np.unique(m).tolist()) - {0, 255})
        maps = np.stack([(m == c) * 0.6 + rng.random(m.shape) * 0.5 for c in cls]).astype(np.float32)
        write_cam_npy(out["cam"] / f"{image_id}.npy", cls, maps, "irn")
    return out
