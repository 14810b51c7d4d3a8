"""VOC and COCO readers on tiny trees written in the upstream layouts (tests/fixtures/datasets.py)."""
import numpy as np
import pytest
from PIL import Image

from fixtures.datasets import (make_coco_tree, make_voc_tree, write_coco_cls_labels, write_voc_cls_labels)
from wsss_zoo.data import open_dataset, parse_voc_xml, read_id_list
from wsss_zoo.errors import DatasetError


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return make_voc_tree(tmp_path_factory.mktemp("voc"))


def test_voc_splits_and_labels_from_xml(voc):
    for split in ("train", "val", "trainval"):
        ds = open_dataset("voc", voc.root, split)
        assert ds.ids == voc.splits[split]
        for image_id in ds.ids:
            assert ds.labels(image_id) == voc.labels[image_id]
    first = voc.splits["train"][0]
    mask_classes = set(np.unique(voc.masks[first]).tolist()) - {0, 255}
    # the difficult object of the first train image is a label although its class is not in the mask
    assert set(voc.labels[first]) - mask_classes


def test_voc_xml_counts_difficult_and_skips_parts(tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_text("<annotation><owner><name>Jane Doe</name></owner>"
                   "<object><name>dog</name><difficult>1</difficult></object>"
                   "<object><name>person</name><truncated>1</truncated><part><name>head</name></part></object>"
                   "</annotation>")
    assert parse_voc_xml(xml) == [12, 15]
    # PSA reads every <name> tag of the file (getElementsByTagName): a class-named tag anywhere counts
    xml.write_text("<annotation><owner><name>cat</name></owner><object><name>bus</name>"
                   "<part><name>hand</name></part></object></annotation>")
    assert parse_voc_xml(xml) == [6, 8]


@pytest.mark.parametrize("level", ["base", "devkit", "voc2012"])
def test_voc_root_forms(voc, level):
    root = {"base": voc.root.parent.parent, "devkit": voc.root.parent, "voc2012": voc.root}[level]
    assert open_dataset("voc", root, "val").root == voc.root


def test_voc_wrong_root_and_missing_split(voc, tmp_path):
    with pytest.raises(DatasetError, match="JPEGImages"):
        open_dataset("voc", tmp_path, "train")
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset("voc", tmp_path / "nope", "train")
    with pytest.raises(DatasetError, match="split list for 'minival' not found"):
        open_dataset("voc", voc.root, "minival")


def test_voc_train_aug_derived_from_aug_minus_val(voc):
    ds = open_dataset("voc", voc.root, "train_aug")
    assert ds.ids == voc.splits["train_aug"]
    assert ds.gt_dir.name == "SegmentationClassAug"
    for image_id in ds.ids:
        np.testing.assert_array_equal(ds.gt(image_id), voc.masks[image_id])


def test_voc_gt_folders_agree_and_palette_is_read_as_indices(voc):
    a = open_dataset("voc", voc.root, "train", gt="SegmentationClass")
    b = open_dataset("voc", voc.root, "train", gt="SegmentationClassAug")
    for image_id in a.ids:
        assert Image.open(a.gt_path(image_id)).mode == "P" and Image.open(b.gt_path(image_id)).mode == "L"
        np.testing.assert_array_equal(a.gt(image_id, check_image=True), voc.masks[image_id])
        np.testing.assert_array_equal(b.gt(image_id), voc.masks[image_id])
        assert 255 in a.gt(image_id)


@pytest.mark.parametrize("int_keys", [False, True])
def test_voc_cls_labels_npy_psa_and_irn_keys(voc, tmp_path, int_keys):
    path = write_voc_cls_labels(tmp_path / "cls_labels.npy", voc, int_keys=int_keys)
    ds = open_dataset("voc", voc.root, "train_aug", cls_labels=path)
    for image_id in ds.ids:
        assert ds.labels(image_id) == voc.labels[image_id]


def test_voc_list_formats(voc, tmp_path):
    ids = voc.splits["train"]
    psa = tmp_path / "psa.txt"
    psa.write_text("".join(f"/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png\n" for i in ids))
    assert read_id_list(psa) == ids
    drs = tmp_path / "drs.txt"  # DRS VOC2012_list/*_cls.txt: id + 0-based class indices
    drs.write_text("".join(f"{i} {' '.join(str(c - 1) for c in voc.labels[i])}\n" for i in ids))
    ds = open_dataset("voc", voc.root, "train", split_file=drs)
    assert ds.ids == ids
    ds._label_cache.clear()
    assert ds._list_labels[ids[0]] == voc.labels[ids[0]]


def test_voc_size_mismatch_and_missing_files(tmp_path):
    tree = make_voc_tree(tmp_path, n_train=2, n_val=1, n_sbd=0, saliency=True)
    image_id = tree.splits["train"][1]
    h, w = tree.sizes[image_id]
    Image.fromarray(np.zeros((h + 1, w), np.uint8)).save(tree.root / "SegmentationClass" / f"{image_id}.png")
    ds = open_dataset("voc", tree.root, "train")
    with pytest.raises(DatasetError, match="inconsistent"):
        ds.gt(image_id, check_image=True)
    (tree.root / "Annotations" / f"{image_id}.xml").unlink()
    with pytest.raises(DatasetError, match="cls-labels"):
        ds.labels(image_id)
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tree.root / "saliency_map" / f"{tree.splits['train'][0]}.png")
    ds.set_saliency_dir()
    with pytest.raises(Exception, match="saliency map is 3x3"):
        ds.saliency(tree.splits["train"][0])
    with pytest.raises(DatasetError, match="saliency folder not found"):
        ds.set_saliency_dir(tmp_path / "none")


def test_voc_saliency_folders(voc):
    ds = open_dataset("voc", voc.root, "train")
    assert ds.set_saliency_dir().name == "saliency_map"  # DRS layout first
    image_id = ds.ids[0]
    sal = ds.saliency(image_id)
    assert sal.shape == voc.sizes[image_id] and sal.dtype == np.uint8
    assert ds.set_saliency_dir(voc.root / "SALImages").name == "SALImages"  # EPS folder


def test_rgb_mask_is_refused(voc, tmp_path):
    from wsss_zoo.data import read_label_png

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(DatasetError, match="RGB image"):
        read_label_png(tmp_path / "rgb.png")


# --------------------------------------------------------------------------- COCO
@pytest.mark.parametrize("layout", ["eps", "rib"])
def test_coco_layouts_with_lists(tmp_path, layout):
    tree = make_coco_tree(tmp_path, layout=layout)
    ds = open_dataset("coco", tmp_path, "train")
    assert ds.layout == layout and ds.num_classes == 81
    if layout == "eps":
        assert ds.ids == [i for i in tree.splits["train"] if tree.labels[i]]  # EPS list: no class-less image
        assert all(i.startswith("COCO_train2014_") and len(i) == 27 for i in ds.ids)
    else:
        assert ds.ids == tree.splits["train"] and all(len(i) == 12 and i.isdigit() for i in ds.ids)
    for image_id in ds.ids:
        np.testing.assert_array_equal(ds.gt(image_id, check_image=True), tree.masks[image_id])
        present = sorted(set(np.unique(tree.masks[image_id]).tolist()) - {0, 255})
        assert ds.labels(image_id) == present  # no annotations json: labels from the mask
    assert open_dataset("coco", tmp_path, "val").ids == tree.splits["val"]


def test_coco_labels_from_instances_json_use_category_id_map(tmp_path):
    tree = make_coco_tree(tmp_path, layout="eps", annotations=True, lists=False)
    ds = open_dataset("coco", tmp_path, "train")
    assert ds.ids == [i for i in tree.splits["train"] if tree.labels[i]]  # derived: images with objects
    for image_id in ds.ids:
        assert ds.labels(image_id) == tree.labels[image_id]
        assert max(tree.labels[image_id]) >= 62  # contiguous ids past the category-id gaps


@pytest.mark.parametrize("layout, int_keys", [("eps", False), ("rib", True)])
def test_coco_cls_labels_files(tmp_path, layout, int_keys):
    tree = make_coco_tree(tmp_path / "c", layout=layout)
    path = write_coco_cls_labels(tmp_path / "cls.npy", tree, int_keys=int_keys)
    ds = open_dataset("coco", tmp_path / "c", "train", cls_labels=path)
    for image_id in ds.ids:
        assert ds.labels(image_id) == tree.labels[image_id]


def test_coco_rib_layout_needs_a_list_or_annotations(tmp_path):
    make_coco_tree(tmp_path / "a", layout="rib", lists=False)
    with pytest.raises(DatasetError, match="train14.txt"):
        open_dataset("coco", tmp_path / "a", "train")
    tree = make_coco_tree(tmp_path / "b", layout="rib", lists=False, annotations=True)
    assert open_dataset("coco", tmp_path / "b", "train").ids == tree.splits["train"]


def test_coco_wrong_root_and_split(tmp_path):
    with pytest.raises(DatasetError, match="not a COCO 2014 root"):
        open_dataset("coco", tmp_path, "train")
    make_coco_tree(tmp_path, layout="eps")
    with pytest.raises(DatasetError, match="unknown COCO split"):
        open_dataset("coco", tmp_path, "test2015")


# --------------------------------------------------------------------------- hostile and damaged files
@pytest.mark.parametrize("kind", ["os.system", "open"])
def test_a_cls_labels_file_that_would_run_code_is_refused(voc, tmp_path, kind):
    """``--cls-labels FILE`` used to go through np.load(allow_pickle=True)."""
    from fixtures.hostile import malicious_npy
    from wsss_zoo.data.base import load_cls_labels

    marker = tmp_path / "marker"
    path = malicious_npy(tmp_path / "cls_labels.npy", marker, kind,
                         wrap={"2007_000032": np.zeros(20, np.float32)})
    with pytest.raises(DatasetError, match=r"cls_labels\.npy was refused"):
        open_dataset("voc", voc.root, "train", cls_labels=path)
    with pytest.raises(DatasetError, match="refused"):
        load_cls_labels(path, 20)
    assert not marker.exists()


def test_cls_labels_with_values_that_are_not_vectors(voc, tmp_path):
    np.save(tmp_path / "odd.npy", {"2007_000032": "person"}, allow_pickle=True)
    with pytest.raises(DatasetError, match="not a numeric multi-hot vector"):
        open_dataset("voc", voc.root, "train", cls_labels=tmp_path / "odd.npy")
    np.save(tmp_path / "arr.npy", np.zeros((3, 20)))
    with pytest.raises(DatasetError, match="not a cls_labels file"):
        open_dataset("voc", voc.root, "train", cls_labels=tmp_path / "arr.npy")


def test_split_lists_that_are_not_utf8(tmp_path):
    """They were read with the locale's encoding and failed with a bare UnicodeDecodeError."""
    path = tmp_path / "train.txt"
    path.write_bytes(b"2007_000032\n\xff\xfe2007_000039\n")
    with pytest.raises(DatasetError, match=r"train\.txt:2: byte 0xff .* not UTF-8"):
        read_id_list(path)


@pytest.mark.parametrize("damage", ["text_bomb", "truncated", "not_png", "giant_header"])
def test_damaged_label_pngs(tmp_path, damage):
    from fixtures.hostile import handmade_png, text_chunk_bomb
    from wsss_zoo.data import read_label_png

    path = tmp_path / "m.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 21, (64, 64), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes({"text_bomb": handmade_png(4, 4, extra=text_chunk_bomb()), "truncated": data[: len(data) // 2],
                      "not_png": b"<html>404</html>", "giant_header": handmade_png(15000, 15000)}[damage])
    with pytest.raises(DatasetError, match=r"m\.png"):
        read_label_png(path)


def test_dataset_images_keep_their_stored_pixels_despite_exif(tmp_path):
    """Upstream loaders ignore EXIF orientation and the GT masks match the stored pixels."""
    tree = make_voc_tree(tmp_path, n_train=1, n_val=1, n_sbd=0)
    image_id = tree.splits["train"][0]
    path = tree.root / "JPEGImages" / f"{image_id}.jpg"
    with Image.open(path) as im:
        stored = np.asarray(im.convert("RGB"))
        exif = Image.Exif()
        exif[0x0112] = 6
        im.save(path, exif=exif.tobytes(), quality=100)
    ds = open_dataset("voc", tree.root, "train")
    assert ds.image(image_id).shape == stored.shape
    ds.gt(image_id, check_image=True)


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe{}", b"[1, 2]", b'{"images": [{"no_id": 1}]}',
                                     b'{"images": [], "annotations": [{"category_id": [1]}]}', b"[" * 100000])
def test_damaged_coco_annotation_files(tmp_path, content):
    make_coco_tree(tmp_path, layout="rib", lists=False, annotations=True)
    (tmp_path / "annotations" / "instances_train2014.json").write_bytes(content)
    with pytest.raises(DatasetError, match="instances_train2014.json"):
        open_dataset("coco", tmp_path, "train")


def test_voc_xml_with_an_unknown_encoding(tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_bytes(b'<?xml version="1.0" encoding="no-such-codec"?><annotation><name>dog</name></annotation>')
    with pytest.raises(DatasetError, match="cannot parse"):
        parse_voc_xml(xml)
