"""Pictures (wsss_zoo/viz.py): overlay colours, legend strip outside the image, region names, hatching of
confusable classes, the all-background warning, heat maps, and the compare grid's layout."""
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from wsss_zoo import viz
from wsss_zoo.errors import ConfigError

# PASCAL VOC colours, written out here rather than taken from the code under test
PERSON, BICYCLE, COW, SOFA, TRAIN = (192, 128, 128), (0, 128, 0), (64, 128, 0), (0, 192, 0), (128, 192, 0)
IDS = {"person": 15, "bicycle": 2, "cow": 10, "sofa": 18, "train": 19}
ROOT = Path(__file__).resolve().parents[1]


def _blend(grey, colour, alpha=0.6):
    return tuple(round((1 - alpha) * grey + alpha * c) for c in colour)


def _is_red(picture):
    p = picture.astype(int)
    return (p[..., 0] > 140) & (p[..., 1] < 90) & (p[..., 2] < 90)


def _grey_scene(shape, blocks):
    """A grey (100) image and a label map holding ``{label: (rows, columns)}`` blocks."""
    mask = np.zeros(shape, np.uint8)
    for label, (rows, cols) in blocks.items():
        mask[rows, cols] = label
    return np.full(shape + (3,), 100, np.uint8), mask


@pytest.fixture
def scene():
    """60x80: a person block, a bicycle block and an ignore band under the bicycle."""
    return _grey_scene((60, 80), {15: np.s_[30:50, 10:30], 2: np.s_[30:50, 50:70], 255: np.s_[52:55, 50:70]})


@pytest.fixture
def big_scene():
    """A 375x500 grey image with a person block and a bicycle block, far from each other."""
    return _grey_scene((375, 500), {15: np.s_[60:300, 40:200], 2: np.s_[150:330, 280:470]})


def test_paint_blends_class_colours_and_keeps_the_size(scene):
    image, mask = scene
    out = viz.paint_mask(image, mask, alpha=0.6)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert tuple(out[40, 20]) == _blend(100, PERSON)
    assert tuple(out[40, 60]) == _blend(100, BICYCLE)
    assert tuple(out[10, 70]) == (100, 100, 100)  # background untouched
    assert tuple(out[30, 20]) == (255, 255, 255)  # class boundary traced in white
    # ignore: a neutral grey (no hue), lighter than the image, and no outline of its own
    ignore = out[52:55, 52:68].reshape(-1, 3).astype(int)
    assert (ignore[:, 0] == ignore[:, 1]).all() and (ignore[:, 1] == ignore[:, 2]).all()
    assert 150 < ignore[0, 0] < 255
    assert viz.overlay_mask(image, mask, legend=False, region_labels=False).shape == image.shape
    with pytest.raises(ConfigError, match="label map"):
        viz.paint_mask(image, mask[:10])


def test_legend_strip_lies_outside_the_image(big_scene):
    image, mask = big_scene
    out = viz.overlay_mask(image, mask, "voc")
    h, w = mask.shape
    assert out.shape[0] == h and out.shape[1] > w
    expected = np.array(image)
    expected[mask == 15] = _blend(100, PERSON)
    expected[mask == 2] = _blend(100, BICYCLE)
    edge = np.zeros(mask.shape, bool)
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    edge[1:] |= mask[1:] != mask[:-1]
    expected[edge] = 255
    changed = (out[:, :w] != expected).any(axis=2)
    # the image part is the blended image exactly, except for one name tag per region, drawn around
    # a point inside that region: no legend box covers it
    blobs, n = ndimage.label(changed, structure=np.ones((3, 3)))
    assert n == 2 and changed.mean() < 0.02
    for label, colour in ((15, PERSON), (2, BICYCLE)):
        tag = (out[:, :w] == colour).all(axis=2)  # tags are filled with the unblended palette colour
        assert tag.any() and (mask[tag] == label).all()
        ys, xs = np.nonzero(tag)
        assert blobs[int(ys.mean()), int(xs.mean())] > 0
    strip = out[:, w:]
    for colour in (PERSON, BICYCLE):
        assert (strip == colour).all(axis=2).sum() >= 100  # a swatch per class, in the strip
    assert not _is_red(strip).any()  # no warning when classes are present


def test_legend_lists_shares_and_labels_the_map_lacks(scene):
    _, mask = scene
    entries = viz.legend_entries(mask, "voc", labels=[2, 15, 8])
    assert [(e.label, e.name) for e in entries] == [(2, "bicycle"), (8, "cat"), (15, "person"), (255, "ignore")]
    shares = {e.name: e.share_text for e in entries}
    # 400 of 4800 pixels for each class, 60 ignore; cat was asked for but is absent
    assert shares == {"bicycle": "8.3 %", "cat": "none", "person": "8.3 %", "ignore": "1.2 %"}
    assert [e.present for e in entries] == [True, False, True, True]
    assert viz.present_labels(mask) == [2, 15, 255]
    assert [viz.class_name(v, "voc") for v in (2, 15, 255)] == ["bicycle", "person", "ignore"]
    assert viz.class_name(1, "coco") == "person"


def test_confusable_greens_are_told_apart_in_the_legend_and_the_picture():
    image = np.full((120, 200, 3), 100, np.uint8)
    mask = np.zeros((120, 200), np.uint8)
    names = ["bicycle", "cow", "sofa", "train"]
    for i, name in enumerate(names):
        mask[10:110, 10 + 48 * i:50 + 48 * i] = IDS[name]
    styles = viz.label_styles([IDS[n] for n in names])
    assert len(set(styles.values())) == 4
    out = viz.overlay_mask(image, mask, region_labels=False)
    strip = out[:, 200:]
    size = max(8, round(viz.text_size(120, 200) * 1.1))
    tiles = {}
    for name in names:
        tile = viz.swatch(IDS[name], size, styles[IDS[name]])
        win = np.lib.stride_tricks.sliding_window_view(strip, tile.shape)[..., 0, :, :, :]
        assert (win == tile).all(axis=(2, 3, 4)).sum() == 1, name  # each swatch drawn once in the strip
        tiles[name] = tile
    # pairwise: the swatches' hatch lines (pixels off the flat colour) differ on >= 15 % of their pixels
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            lines_a = (tiles[a][1:-1, 1:-1] != tiles[a][size // 2, 1]).any(axis=2)
            lines_b = (tiles[b][1:-1, 1:-1] != tiles[b][size // 2, 1]).any(axis=2)
            assert (lines_a ^ lines_b).mean() >= 0.15, (a, b)
    # and the regions in the picture carry the same patterns: each column's pixel set differs
    regions = [out[20:100, 15 + 48 * i:45 + 48 * i].reshape(-1, 3) for i in range(4)]
    patterns = [len({tuple(p) for p in r}) for r in regions]
    assert patterns[0] == 1 and all(p > 1 for p in patterns[1:])  # bicycle plain, the others hatched


def test_all_background_is_said_on_the_overlay(scene):
    image, mask = scene
    empty = np.zeros_like(mask)
    warned = viz.overlay_mask(image, empty, labels=[2, 15])
    assert _is_red(warned[:, 80:]).sum() > 30  # "all background" in red, in the strip
    assert not _is_red(warned[:, :80]).any()
    assert np.array_equal(warned[:60, :80], image)  # nothing painted, nothing hidden
    assert (warned[60:, :80] == 255).all()  # the strip's text needs more than 60 rows: white below
    assert _is_red(viz.overlay_mask(image, empty)[:, 80:]).any()  # also without labels
    fine = viz.overlay_mask(image, mask, labels=[2, 15])
    assert not _is_red(fine[:, 80:]).any()
    assert viz.no_class_message([2, 15], "voc") == "no bicycle or person pixels left"
    # a note goes at the foot of the strip
    noted = viz.overlay_mask(image, empty, labels=[2, 15], note="dense CRF applied (--crf)")
    assert noted.shape[1] == warned.shape[1] and noted.shape[0] > warned.shape[0]
    assert (noted[warned.shape[0]:, 80:] < 200).any()  # grey text under what the warning alone needs
    with pytest.raises(ConfigError, match="class ids"):
        viz.overlay_mask(image, mask, labels=[300])


def test_fonts_scale():
    small, large = viz.font(10), viz.font(40)
    assert large.getbbox("H")[3] - large.getbbox("H")[1] > 3 * (small.getbbox("H")[3] - small.getbbox("H")[1])
    assert viz.text_size(375, 500) == 18 and viz.text_size(30, 40) == 11


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


def test_grid_layout_scales_text_with_the_cells():
    # 320 px cells: titles 32 px, subtitles 26 px, strips 1.5x those, gap 6
    big = viz.grid_layout((375, 500), 5, 2, 320)
    assert (big.title_size, big.subtitle_size, big.title_height, big.subtitle_height) == (32, 26, 48, 39)
    assert (big.cell_height, big.gap, big.row_label_width, big.legend_height) == (240, 6, 48, 0)
    assert viz.grid_size((375, 500), 5, 2, 320) == (48 + 39 + 2 * 246 + 6, 48 + 6 * 326 + 6)
    one_row = viz.grid_layout((375, 500), 5, 1, 320)
    assert one_row.legend_height == round(26 * 2.8)
    assert one_row.height == 48 + 39 + 246 + 6 + 73
    tiny = viz.grid_layout((60, 80), 3, 2, 40)  # small cells keep 11 px titles, 10 px subtitles
    assert (tiny.title_size, tiny.subtitle_size, tiny.gap, tiny.cell_height) == (11, 10, 4, 30)


def test_compare_grid_has_no_placeholder_cells(scene):
    image, mask = scene
    cam = np.zeros((60, 80), np.float32)
    columns = [viz.Column("a", cam=cam, mask=mask), viz.Column("seg", mask=mask), viz.Column("c", cam=cam)]
    grid = viz.compare_grid(image, columns, "voc", cell_width=160)
    layout = viz.grid_layout((60, 80), 3, 2, 160)
    assert grid.shape[:2] == (layout.height, layout.width)

    def cell(row, col):
        y, x = layout.cell_origin(row, col)
        return grid[y:y + layout.cell_height, x:x + layout.cell_width]

    for empty in (cell(0, 2), cell(1, 3)):  # the segmentation column's CAM cell, the CAM column's mask cell
        ink = (empty != 255).any(axis=2)
        assert ink.mean() < 0.1  # a white cell with a short note in one line, no grey box
        rows = np.nonzero(ink.any(axis=1))[0]
        assert 0 < rows.max() - rows.min() < layout.cell_height / 4
    # the mask cells are the painted masks at cell size
    small = np.asarray(viz.Image.fromarray(image).resize((160, 120), viz.Image.BILINEAR))
    small_mask = np.asarray(viz.Image.fromarray(mask).resize((160, 120), viz.Image.NEAREST))
    assert np.array_equal(cell(1, 1), viz.paint_mask(small, small_mask))
    assert np.array_equal(cell(1, 2), viz.paint_mask(small, small_mask))
    # the legend is drawn once, in the input column's lower cell: the unblended palette colours
    # appear nowhere else
    for colour in (PERSON, BICYCLE):
        hits = (grid == colour).all(axis=2)
        key = np.zeros_like(hits)
        y, x = layout.cell_origin(1, 0)
        key[y:y + layout.cell_height, x:x + layout.cell_width] = True
        assert hits[key].sum() > 20 and not hits[~key].any()


def test_one_row_grid_puts_the_legend_under_it(scene):
    image, mask = scene
    grid = viz.compare_grid(image, [viz.Column("b", mask=mask), viz.Column("e", mask=np.zeros_like(mask))], "voc",
                            cell_width=160)
    layout = viz.grid_layout((60, 80), 2, 1, 160)
    assert grid.shape[:2] == (layout.height, layout.width) and layout.legend_height > 0
    below = layout.height - layout.legend_height
    hits = (grid == PERSON).all(axis=2)
    assert hits[below:].sum() > 20 and not hits[:below].any()
    y, x = layout.cell_origin(0, 2)
    assert _is_red(grid[y:y + layout.cell_height, x:x + layout.cell_width]).any()  # "all background" on the cell
    with pytest.raises(ConfigError):
        viz.compare_grid(image, [], "voc")
    with pytest.raises(ConfigError, match="cell width"):
        viz.compare_grid(image, [viz.Column("b", mask=mask)], "voc", cell_width=8)


def test_grid_titles_are_legible_at_the_default_size(scene):
    image, mask = scene
    grid = viz.compare_grid(image, [viz.Column("eps_voc", mask=mask, subtitle="EPS · 1.0 s")], "voc")
    layout = viz.grid_layout((60, 80), 1, 1, 320)
    _, x = layout.cell_origin(0, 1)
    ink = (grid[:layout.title_height, x:x + 320] < 128).all(axis=2)
    rows = np.nonzero(ink.any(axis=1))[0]
    # "eps_voc" from the top of the "l" to the bottom of the "p": >= 20 px (about 6 pt at 7 in / 2000 px)
    assert rows.max() - rows.min() >= 20


def test_save_png_creates_folders(tmp_path, scene):
    from PIL import Image

    image, _ = scene
    path = viz.save_png(image, tmp_path / "a" / "b.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (80, 60)


def _script(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"wsss_zoo_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_ground_truth_is_the_drawing():
    from PIL import Image

    make_example = _script(ROOT / "examples" / "make_example.py")
    with Image.open(ROOT / "examples" / "cyclist_labels.png") as im:
        assert im.mode == "P"
        committed = np.asarray(im)
    assert np.array_equal(make_example.render_labels(), committed), "run python examples/make_example.py"
    assert set(np.unique(committed).tolist()) == {0, 2, 15, 255}
    assert committed[300, 230] == 2 and committed[190, 285] == 15  # the rear hub, the rider's torso
    # ignore marks the objects' anti-aliased edges only: every ignore pixel touches a class pixel or is one
    near_class = ndimage.binary_dilation(np.isin(committed, [2, 15]), np.ones((3, 3)), iterations=2)
    assert near_class[committed == 255].all()


def test_docs_pictures_are_current_and_small():
    pictures = _script(ROOT / "scripts" / "docs_pictures.py")
    assert pictures.stale() == [], "run python scripts/docs_pictures.py"
    for name in pictures.render():
        assert (ROOT / name).stat().st_size < 300_000, name
        assert f"]({name.removeprefix('docs/')})" in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") or \
            f"]({name})" in (ROOT / "README.md").read_text(encoding="utf-8"), f"{name} is not shown anywhere"


def test_save_png_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path):
    """``<out>/<id>_overlay.png`` / CAM PNGs / compare grids all go through save_png."""
    import os

    image = np.zeros((60, 80, 3), np.uint8)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    os.symlink(victim, tmp_path / "img_overlay.png")
    viz.save_png(image, tmp_path / "img_overlay.png")
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "img_overlay.png").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img_overlay.png", "victim.txt"]
