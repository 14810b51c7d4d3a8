"""cam / pseudo-mask / segment / compare driven as a user would, on an image and on a folder."""
import numpy as np
from cli_support import H, W, png_size, run_cli, run_main
from PIL import Image

from wsss_zoo.data.io import read_cam_npy
from wsss_zoo.viz import grid_size

# layout constants of cam_figure documented in wsss_zoo/viz.py (title strip, gap, colour bar)
TITLE, GAP, BAR = 22, 6, 46


def assert_overlay_size(path):
    """The overlay is the image plus a legend strip to its right (taller than this small image: the strip's
    text needs more than 48 px)."""
    height, width = png_size(path)
    assert height >= H and width > W


def test_cam_of_a_network_on_one_image(images, weights, tmp_path):
    root, _ = images
    proc = run_cli("cam", "cda_irn_resnet50_voc", root / "a.jpg", "--labels", "person,bicycle",
                   "--weights", weights["cda_irn_resnet50_voc"], "--out", tmp_path, "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    ids, cams = read_cam_npy(tmp_path / "a.npy")
    assert ids.tolist() == [2, 15] and cams.shape == (2, H, W)
    assert np.isfinite(cams).all() and cams.max() <= 1.0 + 1e-5
    # two heat-map panels side by side under a title strip, plus the colour bar
    assert png_size(tmp_path / "a_cam.png") == (H + TITLE, 2 * W + GAP + BAR)
    assert str(tmp_path / "a.npy") in proc.stdout


def test_cam_of_a_pipeline_on_a_folder_with_a_labels_file(images, weights, irn_weights, tmp_path):
    root, labels = images
    proc = run_cli("cam", "cda_irn_voc", root, "--labels-file", labels, "--recursive", "--out", tmp_path,
                   *irn_weights, "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    expected = {"a": [2, 15], "b": [15], "sub/c": [8]}
    for stem, ids in expected.items():
        got_ids, cams = read_cam_npy(tmp_path / f"{stem}.npy")
        assert got_ids.tolist() == ids and cams.shape == (len(ids), H, W)
        assert png_size(tmp_path / f"{stem}_cam.png") == (H + TITLE, len(ids) * W + (len(ids) - 1) * GAP + BAR)
    assert "3 image(s) written" in proc.stdout


def test_pseudo_mask_on_one_image(images, irn_weights, tmp_path):
    root, _ = images
    proc = run_cli("pseudo-mask", "cda_irn_voc", root / "b.png", "--labels", "2,15", "--out", tmp_path,
                   *irn_weights, "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    with Image.open(tmp_path / "b.png") as im:
        assert im.mode == "P" and im.size == (W, H)
        mask = np.asarray(im)
    assert set(np.unique(mask).tolist()) <= {0, 2, 15, 255}
    assert_overlay_size(tmp_path / "b_overlay.png")


def test_pseudo_mask_on_a_folder_resumes_and_reports_a_broken_image(images, irn_weights, tmp_path, capsys):
    root, _ = images
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.jpg", "b.png"):
        (folder / name).write_bytes((root / name).read_bytes())
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    proc = run_cli("pseudo-mask", "cda_irn_voc", folder, "--labels", "person", "--out", out, "--no-viz",
                   *irn_weights, "--device", "cpu")
    # the broken file is named, the others are written, exit code 3 = partly done
    assert proc.returncode == 3, proc.stderr
    assert f"wsss-zoo: error: {folder / 'broken.jpg'}: " in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    (folder / "broken.jpg").unlink()
    stamp = (out / "a.png").stat().st_mtime_ns
    code, _, err = run_main(capsys, "pseudo-mask", "cda_irn_voc", folder, "--labels", "person", "--out", out,
                            "--no-viz", "--skip-existing", *irn_weights, "--device", "cpu")
    assert code == 0, err
    assert (out / "a.png").stat().st_mtime_ns == stamp


def test_segment_on_an_image_and_a_folder(images, weights, tmp_path):
    root, _ = images
    w = ["--weights", weights["drs_deeplabv2_resnet101_voc"], "--device", "cpu"]
    proc = run_cli("segment", "drs_deeplabv2_resnet101_voc", root / "a.jpg", "--out", tmp_path / "one", *w)
    assert proc.returncode == 0, proc.stderr
    assert png_size(tmp_path / "one" / "a.png") == (H, W)
    assert_overlay_size(tmp_path / "one" / "a_overlay.png")
    proc = run_cli("segment", "drs_deeplabv2_resnet101_voc", root, "--out", tmp_path / "many", *w)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / "many").iterdir())
    assert names == ["a.png", "a_overlay.png", "b.png", "b_overlay.png"]  # no --recursive: sub/ is not read
    assert np.asarray(Image.open(tmp_path / "many" / "a.png")).max() <= 20


def _named(weights, *names):
    return [a for n in names for a in ("--weights", f"{n}={weights[n]}")]


def test_compare_grid(images, weights, tmp_path):
    root, _ = images
    out = tmp_path / "grid.png"
    proc = run_cli("compare", root / "a.jpg", "--labels", "bicycle,person", "--out", out, "--cell-width", "80",
                   "--methods", "cda_irn_voc,cda_irn_resnet50_voc,drs_deeplabv2_resnet101_voc",
                   *_named(weights, "cda_irn_resnet50_voc", "cda_irn_edge_resnet50_voc", "drs_deeplabv2_resnet101_voc"),
                   "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    # 3 columns of 80 px after the input column, CAM and mask rows
    assert png_size(out) == grid_size((H, W), 3, 2, 80)


def test_compare_leaves_out_a_method_without_weights(images, weights, tmp_path, capsys):
    root, _ = images
    out = tmp_path / "grid.png"
    code, _, err = run_main(capsys, "compare", root / "a.jpg", "--labels", "person", "--out", out,
                            "--cell-width", "64", "--methods", "cda_irn_voc,eps_voc", "--device", "cpu", "--no-cam",
                            "--weights", f"cda_irn_voc:cam={weights['cda_irn_resnet50_voc']}",
                            "--weights", f"cda_irn_voc:irn={weights['cda_irn_edge_resnet50_voc']}")
    assert code == 3, err
    assert "wsss-zoo: error: eps_voc: left out of the grid: " in err and "offline" in err
    assert png_size(out) == grid_size((H, W), 1, 1, 64)  # one column, the mask row only


def test_overlay_of_an_all_background_mask_says_so(tmp_path):
    """A mask the CRF (or a weak CAM) emptied: the overlay's legend strip warns in red and names --crf."""
    from types import SimpleNamespace

    from wsss_zoo.cli.image_commands import write_outputs
    from wsss_zoo.cli.targets import Target
    from wsss_zoo.registry import pipeline_entry

    image = np.full((H, W, 3), 120, np.uint8)
    target = Target("eps_voc", "pipeline", None, pipeline_entry("eps_voc"), "single")
    pictures = {}
    for crf in (False, True):
        paths = {"data": tmp_path / f"{crf}.png", "viz": tmp_path / f"{crf}_overlay.png"}
        write_outputs(target, "pseudo-mask", image, "bicycle,person", np.zeros((H, W), np.uint8), paths,
                       SimpleNamespace(crf=crf))
        pictures[crf] = np.asarray(Image.open(paths["viz"]).convert("RGB")).astype(int)
    for picture in pictures.values():
        strip = picture[:, W:]
        assert ((strip[..., 0] > 140) & (strip[..., 1] < 90) & (strip[..., 2] < 90)).any()  # red warning
        assert (picture[:H, :W] == 120).all()  # the image itself is left as it is
    assert not np.array_equal(pictures[True], pictures[False])  # the CRF note
