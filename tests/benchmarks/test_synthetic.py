"""benchmarks/synthetic.py: a deterministic VOC-layout tree whose labels, masks and lists the readers agree on."""
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

import synthetic
from wsss_zoo.data import open_dataset

N_TRAIN, N_VAL = 6, 3


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return synthetic.write_tree(tmp_path_factory.mktemp("syn"), n_train=N_TRAIN, n_val=N_VAL, seed=3)


def _mask(path):
    return np.asarray(Image.open(path))


def test_splits_and_labels_read_back_through_the_voc_reader(tree):
    for split, n in (("train", N_TRAIN), ("val", N_VAL), ("trainval", N_TRAIN + N_VAL), ("train_aug", N_TRAIN)):
        ds = open_dataset("voc", tree.parent, split)
        assert len(ds.ids) == n
    train = open_dataset("voc", tree.parent, "train")
    assert train.ids == [f"2100_{i:06d}" for i in range(1, N_TRAIN + 1)]
    shape_ids = {c.voc_id for c in synthetic.SHAPE_CLASSES}
    for image_id in train.ids + open_dataset("voc", tree.parent, "val").ids:
        ds = train if image_id.startswith("2100") else open_dataset("voc", tree.parent, "val")
        gt, image, labels = ds.gt(image_id), ds.image(image_id), ds.labels(image_id)
        present = sorted(int(c) for c in np.unique(gt) if c)
        assert labels == present and 1 <= len(labels) <= 3 and set(labels) <= shape_ids
        assert image.shape[:2] == gt.shape and all(160 <= s <= 224 for s in gt.shape)
        aug = _mask(tree / "SegmentationClassAug" / f"{image_id}.png")
        assert Image.open(tree / "SegmentationClass" / f"{image_id}.png").mode == "P"
        np.testing.assert_array_equal(aug, gt)
        np.testing.assert_array_equal(_mask(tree / "saliency_map" / f"{image_id}.png"), np.where(gt > 0, 255, 0))


def test_cls_labels_file_agrees_with_the_annotations(tree):
    ds = open_dataset("voc", tree.parent, "trainval")
    from_npy = open_dataset("voc", tree.parent, "trainval", cls_labels=tree / "cls_labels.npy")
    assert [ds.labels(i) for i in ds.ids] == [from_npy.labels(i) for i in ds.ids]
    xml = ET.parse(tree / "Annotations" / f"{ds.ids[0]}.xml")
    assert int(xml.find("size/width").text) == ds.image(ds.ids[0]).shape[1]


def test_the_training_reader_sees_train_aug(tree):
    from training.data.sources import items_of, open_dataset as training_dataset

    items = items_of(training_dataset("voc", voc_root=tree, split="train_aug"))
    assert [i.id for i in items] == [f"2100_{i:06d}" for i in range(1, N_TRAIN + 1)]
    assert all(i.labels for i in items)


def test_objects_are_their_classes_colour():
    """Each object's mean colour is nearest to its own class's base colour (the classes are learnable)."""
    base = {c.voc_id: np.asarray(c.rgb, float) for c in synthetic.SHAPE_CLASSES}
    for index in range(12):
        s = synthetic.sample(0, "train", index)
        for c in s.labels:
            mean = s.image[s.mask == c].reshape(-1, 3).mean(0)
            nearest = min(base, key=lambda k: np.abs(base[k] - mean).sum())
            assert nearest == c, (index, c, mean)


def test_deterministic_and_a_larger_tree_extends_a_smaller_one(tree, tmp_path):
    small = synthetic.write_tree(tmp_path / "small", n_train=2, n_val=1, seed=3)
    for image_id in ("2100_000001", "2100_000002", "2101_000001"):
        for folder, ext in (("SegmentationClassAug", "png"), ("JPEGImages", "jpg"), ("Annotations", "xml")):
            name = f"{image_id}.{ext}"
            assert (small / folder / name).read_bytes() == (tree / folder / name).read_bytes()
    other = synthetic.sample(4, "train", 0)
    assert not np.array_equal(other.mask, _mask(tree / "SegmentationClassAug" / "2100_000001.png"))
    train0, val0 = synthetic.sample(3, "train", 0), synthetic.sample(3, "val", 0)
    assert not np.array_equal(train0.image[:100, :100], val0.image[:100, :100])


def test_same_settings_keep_the_tree_and_new_ones_rewrite_it(tmp_path):
    root = synthetic.write_tree(tmp_path, n_train=2, n_val=1, seed=0)
    manifest = root / "synthetic.json"
    jpeg = root / "JPEGImages" / "2100_000001.jpg"
    stamp = jpeg.stat().st_mtime_ns
    synthetic.write_tree(tmp_path, n_train=2, n_val=1, seed=0)
    assert jpeg.stat().st_mtime_ns == stamp
    synthetic.write_tree(tmp_path, n_train=3, n_val=1, seed=0)
    assert json.loads(manifest.read_text())["settings"]["train"] == 3
    assert len((root / "ImageSets" / "Segmentation" / "train.txt").read_text().split()) == 3


def test_cli_rejects_an_empty_split(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        synthetic.main([str(tmp_path), "--train", "0"])
    assert exc.value.code == 2 and "at least 1" in capsys.readouterr().err
