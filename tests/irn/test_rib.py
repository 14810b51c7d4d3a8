"""RIB per-image CAM procedure on a tiny image and pool (few steps, small crops)."""
import numpy as np
import pytest
import torch

import wsss_zoo
from wsss_zoo.errors import ConfigError
from wsss_zoo.pipelines.rib import ImagePool, gndrp, random_crop_sample, rib_cam

TINY = dict(batch_size=2, crop_size=32, resize_long=(24, 40))


@pytest.fixture(scope="module")
def pool():
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 255, (int(rng.integers(20, 50)), int(rng.integers(20, 50)), 3), dtype=np.uint8)
              for _ in range(7)]
    labels = [[1], [2, 4], [3], [5], ["person", "dog"], [], np.eye(20, dtype=np.float32)[6]]
    return ImagePool(images, labels, "voc")


def test_gndrp_example_from_sheet():
    x = torch.tensor([[1.0, 2.0], [3.0, 10.0]]).expand(1, 21, 2, 2).contiguous()
    positives = torch.zeros(1, 21, dtype=torch.bool)
    positives[0, [0, 20]] = True
    out = gndrp(x, positives, score_th=0.4, masked_classes=20)
    assert out[0, 0] == 1.5  # (1 + 2 + 3) / 4: only pixels below 0.4 * max
    assert out[0, 1] == 4.0 and out[0, 20] == 4.0  # negatives and classes >= 20: plain GAP


def test_pool_filtering(pool):
    assert pool.disjoint_from([3, 15]) == [0, 1, 3, 5, 6]
    assert pool.ids[4] == (12, 15) and pool.ids[5] == () and pool.ids[6] == (7,)


def test_crop_sample_geometry():
    gen = torch.Generator().manual_seed(0)
    img = np.full((30, 60, 3), 255, np.uint8)
    for _ in range(5):
        x = random_crop_sample(img, gen, resize_long=(40, 40), crop_size=32)  # 60 -> 40 wide, 20 high
        assert x.shape == (3, 32, 32)
        rows = (x[0] != 0).any(1).sum().item()
        assert rows == 20  # the resized image's 20 rows are placed in the zero-padded crop


def test_one_step_equals_plain_cam(cam_model, small_image, pool):
    """Step 0 is the unmodified classifier: RIB with one step gives IRN's multi-scale CAM (rib.md 5.8)."""
    ours = rib_cam(cam_model, small_image, [3, 15], pool, steps=1, seed=0, **TINY)
    plain = wsss_zoo.cam(cam_model, small_image, [3, 15])
    assert torch.allclose(ours, plain, atol=1e-5)


def test_fine_tuning_is_deterministic_and_leaves_model_alone(cam_model, small_image, pool):
    before = {k: v.clone() for k, v in cam_model.state_dict().items()}
    options = dict(TINY, stop_th=1e9, explode_ratio=1.1)
    with torch.inference_mode():  # gradients are re-enabled inside
        a = rib_cam(cam_model, small_image, [3, 15], pool, steps=2, seed=3, return_details=True, **options)
    b = rib_cam(cam_model, small_image, [3, 15], pool, steps=2, seed=3, return_details=True, **options)
    assert a.steps == 2 and a.stopped_by == "steps"
    assert torch.equal(a.high_res, b.high_res) and torch.equal(a.strided, b.strided)
    assert a.high_res.shape == (2, 37, 53) and a.strided.shape == (2, 10, 14)
    plain = wsss_zoo.cam(cam_model, small_image, [3, 15])
    assert not torch.allclose(a.high_res, plain, atol=1e-6)  # the second CAM comes from an updated model
    after = cam_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(p.grad is not None for p in cam_model.parameters())


def test_early_stops(cam_model, small_image, pool):
    res = rib_cam(cam_model, small_image, [3, 15], pool, steps=3, seed=0, return_details=True,
                  **dict(TINY, stop_th=0.0))
    assert res.stopped_by == "logit" and res.steps == 1
    res = rib_cam(cam_model, small_image, [3, 15], pool, steps=3, seed=0, return_details=True,
                  **dict(TINY, explode_th=-1.0, explode_ratio=0.5, stop_th=1e9))
    assert res.stopped_by == "explode" and res.steps == 1


def test_pool_too_small(cam_model, small_image, pool):
    with pytest.raises(ConfigError, match="negative images"):
        rib_cam(cam_model, small_image, [3, 15], pool, steps=1, **dict(TINY, batch_size=6))
    with pytest.raises(ConfigError, match="unknown rib_cam option"):
        rib_cam(cam_model, small_image, [3, 15], pool, steps=1, learning_rate=1.0)


def test_pool_from_folder(tmp_path):
    from PIL import Image

    for name in ("2007_000032", "2007_000039", "other"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{name}.jpg")
    table = {2007000032: np.eye(20, dtype=np.float32)[0], 2007000039: np.eye(20, dtype=np.float32)[19]}
    np.save(tmp_path / "cls_labels.npy", table)
    pool = ImagePool.from_folder(tmp_path, tmp_path / "cls_labels.npy")
    assert len(pool) == 2 and pool.ids == [(1,), (20,)]
    assert pool.image(0).shape == (8, 8, 3)


def test_pool_labels_file_that_would_run_code_is_refused(tmp_path):
    """RIB's negative-pool label table (cls_labels.npy) used np.load(allow_pickle=True)."""
    from PIL import Image

    from fixtures.hostile import malicious_npy
    from wsss_zoo.errors import DatasetError

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "2007_000032.jpg")
    marker = tmp_path / "marker"
    evil = malicious_npy(tmp_path / "cls_labels.npy", marker, "open", wrap={2007000032: np.eye(20, dtype=np.float32)[0]})
    with pytest.raises(DatasetError, match="was refused"):
        ImagePool.from_folder(tmp_path, evil)
    assert not marker.exists()
