"""Pictures: overlay colours, legends, heat maps and the sizes wsss_zoo/viz.py documents."""
import numpy as np
import pytest

from wsss_zoo import viz
from wsss_zoo.errors import ConfigError

PERSON, BICYCLE = (192, 128, 128), (0, 128, 0)  # PASCAL VOC colours of ids 15 and 2


@pytest.fixture
def scene():
    image = np.full((60, 80, 3), 100, np.uint8)
    mask = np.zeros((60, 80), np.uint8)
    mask[30:50, 10:30] = 15
    mask[30:50, 50:70] = 2
    mask[52:55, 50:70] = 255
    return image, mask


def test_overlay_blends_class_colours_and_keeps_the_size(scene):
    image, mask = scene
    out = viz.overlay_mask(image, mask, "voc", alpha=0.6, legend=False)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert tuple(out[40, 20]) == tuple(round(0.4 * 100 + 0.6 * c) for c in PERSON)
    assert tuple(out[40, 60]) == tuple(round(0.4 * 100 + 0.6 * c) for c in BICYCLE)
    assert tuple(out[10, 70]) == (100, 100, 100)  # background untouched
    assert tuple(out[30, 20]) == (255, 255, 255)  # class boundary traced in white


def test_legend_names_the_classes_present(scene):
    image, mask = scene
    plain = viz.overlay_mask(image, mask, "voc", legend=False)
    with_legend = viz.overlay_mask(image, mask, "voc")
    box = with_legend[:20, :50].reshape(-1, 3)
    assert not np.array_equal(box, plain[:20, :50].reshape(-1, 3))
    colours = {tuple(c) for c in box}
    assert PERSON in colours and BICYCLE in colours  # one swatch per class
    assert viz.present_labels(mask) == [2, 15, 255]
    assert [viz.class_name(v, "voc") for v in (2, 15, 255)] == ["bicycle", "person", "ignore"]
    assert viz.class_name(1, "coco") == "person"


def test_heat_map_runs_from_blue_to_red():
    cam = np.linspace(0, 1, 11, dtype=np.float32)[None].repeat(4, axis=0)
    rgb = viz.heatmap(cam)
    low, high = rgb[0, 0].astype(int), rgb[0, -1].astype(int)
    assert low[2] > 100 and low[0] == 0 and high[0] > 100 and high[2] == 0
    assert np.array_equal(viz.heatmap(cam * 5), rgb)  # un-normalised scores are divided by their maximum
    with pytest.raises(ConfigError, match="colour map"):
        viz.colormap("no-such-map")


def test_cam_figure_size():
    image = np.zeros((30, 40, 3), np.uint8)
    fig = viz.cam_figure(image, np.random.default_rng(0).random((3, 30, 40)), [2, 8, 15], "voc")
    assert fig.shape == (30 + 22, 3 * 40 + 2 * 6 + 46, 3)
    with pytest.raises(ConfigError):
        viz.cam_figure(image, np.zeros((2, 30, 40)), [2, 8, 15])


def test_compare_grid_layout(scene):
    image, mask = scene
    cam = np.zeros((60, 80), np.float32)
    columns = [viz.Column("a", cam=cam, mask=mask), viz.Column("b", mask=mask), viz.Column("c", cam=cam)]
    grid = viz.compare_grid(image, columns, "voc", cell_width=40)
    cell_h = 30
    assert grid.shape == (2 * 22 + 2 * (cell_h + 6) + 6, 22 + 4 * (40 + 6) + 6, 3)
    assert viz.grid_size((60, 80), 3, 2, 40) == grid.shape[:2]
    # column "b" has no CAM: its CAM cell is the grey placeholder
    x = 22 + 6 + 2 * (40 + 6)
    y = 2 * 22 + 6
    assert tuple(grid[y + 2, x + 2]) == (236, 236, 236)
    only_masks = viz.compare_grid(image, [viz.Column("b", mask=mask)], "voc", cell_width=40)
    assert only_masks.shape[0] == 2 * 22 + (cell_h + 6) + 6
    with pytest.raises(ConfigError):
        viz.compare_grid(image, [], "voc")


def test_save_png_creates_folders(tmp_path, scene):
    from PIL import Image

    image, _ = scene
    path = viz.save_png(image, tmp_path / "a" / "b.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (80, 60)


def test_save_png_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path, scene):
    """``<out>/<id>_overlay.png`` / CAM PNGs / compare grids all go through save_png."""
    import os

    image, _ = scene
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    os.symlink(victim, tmp_path / "img_overlay.png")
    viz.save_png(image, tmp_path / "img_overlay.png")
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "img_overlay.png").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img_overlay.png", "victim.txt"]
