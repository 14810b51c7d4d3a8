"""Output formats: palette label PNGs and the upstream CAM dict styles."""
import numpy as np
import pytest
import torch
from PIL import Image

from wsss_zoo.classes import pascal_palette
from wsss_zoo.data.io import read_cam_npy, read_label_png, write_cam_npy, write_label_png
from wsss_zoo.errors import DatasetError


def test_label_png_is_voc_palette_with_indices(tmp_path):
    label = np.array([[0, 1, 20], [255, 15, 80]], np.uint8)
    write_label_png(tmp_path / "a.png", label)
    im = Image.open(tmp_path / "a.png")
    assert im.mode == "P"
    np.testing.assert_array_equal(np.asarray(im), label)
    pal = np.asarray(im.getpalette()[:768]).reshape(256, 3)
    assert tuple(pal[15]) == (192, 128, 128) and tuple(pal[255]) == (224, 224, 192)  # VOC person / void
    np.testing.assert_array_equal(pal, pascal_palette(256))
    np.testing.assert_array_equal(read_label_png(tmp_path / "a.png"), label)
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("style", ["psa", "irn"])
def test_cam_npy_round_trip(tmp_path, style):
    cams = np.random.default_rng(0).random((2, 4, 5)).astype(np.float32)
    write_cam_npy(tmp_path / "c.npy", [3, 15], cams, style)
    raw = np.load(tmp_path / "c.npy", allow_pickle=True).item()
    if style == "psa":
        assert sorted(raw) == [2, 14]  # foreground indices = id - 1 (PSA/SEAM/EPS)
    else:
        assert raw["keys"].tolist() == [2, 14] and raw["high_res"].shape == (2, 4, 5)
    ids, back = read_cam_npy(tmp_path / "c.npy")
    assert ids.tolist() == [3, 15]
    np.testing.assert_array_equal(back, cams)


def test_reads_upstream_irn_dict_with_torch_values(tmp_path):
    high = np.random.default_rng(1).random((1, 8, 6)).astype(np.float32)
    np.save(tmp_path / "u.npy", {"keys": torch.tensor([6]), "cam": torch.rand(1, 2, 2), "high_res": high})
    ids, cams = read_cam_npy(tmp_path / "u.npy")
    assert ids.tolist() == [7]
    np.testing.assert_array_equal(cams, high)
    np.save(tmp_path / "empty.npy", {"keys": torch.tensor([], dtype=torch.long)})  # RIB COCO class-less image
    ids, cams = read_cam_npy(tmp_path / "empty.npy")
    assert ids.size == 0 and cams.shape[0] == 0


def test_bad_cam_files(tmp_path):
    np.save(tmp_path / "arr.npy", np.zeros((2, 3)))
    with pytest.raises(DatasetError, match="not a CAM dict"):
        read_cam_npy(tmp_path / "arr.npy")
    with pytest.raises(DatasetError, match="not found"):
        read_cam_npy(tmp_path / "missing.npy")


def test_outputs_replace_planted_symlinks(tmp_path):
    import os

    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    for name in ("a.png", "c.npy"):
        os.symlink(victim, tmp_path / name)
    write_label_png(tmp_path / "a.png", np.zeros((2, 3), np.uint8))
    write_cam_npy(tmp_path / "c.npy", [3], np.zeros((1, 2, 3), np.float32))
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "a.png").is_symlink() and read_cam_npy(tmp_path / "c.npy")[0].tolist() == [3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "c.npy", "victim.txt"]


def test_hostile_and_odd_cam_files(tmp_path):
    from fixtures.hostile import malicious_npy

    marker = tmp_path / "marker"
    with pytest.raises(DatasetError, match="was refused"):
        read_cam_npy(malicious_npy(tmp_path / "evil.npy", marker))
    assert not marker.exists()
    np.save(tmp_path / "strkeys.npy", {"3": np.zeros((2, 2), np.float32)}, allow_pickle=True)
    with pytest.raises(DatasetError, match="keys must be class indices"):  # used to escape as a KeyError
        read_cam_npy(tmp_path / "strkeys.npy")
    np.save(tmp_path / "ragged.npy", {0: np.zeros((2, 2), np.float32), 1: np.zeros((3, 3), np.float32)})
    with pytest.raises(DatasetError, match="not a CAM dict of a known layout"):  # used to escape as a ValueError
        read_cam_npy(tmp_path / "ragged.npy")


def test_label_pngs_have_no_minimum_size(tmp_path):
    write_label_png(tmp_path / "dot.png", np.array([[15]], np.uint8))
    assert read_label_png(tmp_path / "dot.png").tolist() == [[15]]
