"""Input checks at the edge of every public function: images, saliency maps, labels.

Expected values come from numpy operations written out here (rotations, bit shifts), not from the code
under test.
"""
import re
import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures.hostile import handmade_png, text_chunk_bomb
from wsss_zoo.errors import ConfigError, InvalidImageError, InvalidLabelsError, NonFiniteError, SaliencyError
from wsss_zoo.finite import check_finite
from wsss_zoo.inputs import load_image, load_saliency, max_pixels, parse_labels


# --------------------------------------------------------------------------- helpers
def _with_orientation(arr, path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(arr).save(path, exif=exif.tobytes())
    return path


RGB = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)


# --------------------------------------------------------------------------- EXIF orientation
@pytest.mark.parametrize("orientation, turn", [
    (1, lambda a: a),
    (2, lambda a: a[:, ::-1]),             # mirrored
    (3, lambda a: a[::-1, ::-1]),          # upside down
    (6, lambda a: np.rot90(a, -1)),        # phone held upright: turn 90 degrees clockwise
    (8, lambda a: np.rot90(a, 1)),         # turn 90 degrees counter-clockwise
])
def test_exif_orientation_is_honoured_for_files_and_pil_images(tmp_path, orientation, turn):
    path = _with_orientation(RGB, tmp_path / "photo.png", orientation)
    expected = np.ascontiguousarray(turn(RGB))
    np.testing.assert_array_equal(load_image(path), expected)
    with Image.open(path) as im:
        np.testing.assert_array_equal(load_image(im), expected)
    np.testing.assert_array_equal(load_image(path, exif=False), RGB)  # dataset readers: stored pixels


def test_exif_orientation_of_a_jpeg_photo(tmp_path):
    big = np.zeros((40, 64, 3), np.uint8)
    big[:8] = 255  # a white band along the top of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(big).save(tmp_path / "p.jpg", exif=exif.tobytes(), quality=95)
    out = load_image(tmp_path / "p.jpg")
    assert out.shape == (64, 40, 3)
    assert out[:, -8:].mean() > 200 and out[:, :-10].mean() < 30  # the band is now on the right


def test_saliency_maps_follow_the_same_orientation(tmp_path):
    grey = np.arange(24, dtype=np.uint8).reshape(6, 4) * 10
    path = _with_orientation(grey, tmp_path / "s.png", 6)
    np.testing.assert_array_equal(load_saliency(path, (4, 6)), np.rot90(grey, -1))
    np.testing.assert_array_equal(load_saliency(path, (6, 4), exif=False), grey)


# --------------------------------------------------------------------------- 16-bit
def test_16_bit_grey_png_keeps_its_high_byte(tmp_path):
    """Pillow reads it as 'I;16', and .convert('RGB') clipped everything above 255 to white."""
    values = np.array([[0, 257, 40000], [65535, 128 * 257, 1000]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    expected = (values // 256).astype(np.uint8)
    out = load_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(out, np.dstack([expected] * 3))
    np.testing.assert_array_equal(load_saliency(tmp_path / "g16.png", (2, 3)), expected)


def test_16_bit_arrays(tmp_path):
    values = np.array([[0, 300], [40000, 65535]], np.uint16)
    rgb = np.dstack([values, values // 2, values // 3]).astype(np.uint16)
    np.testing.assert_array_equal(load_image(rgb), (rgb // 256).astype(np.uint8))
    with pytest.raises(InvalidImageError, match="uint16 but all its values fit 0..255"):
        load_image(np.full((4, 4, 3), 200, np.uint16))
    np.testing.assert_array_equal(load_saliency(values, (2, 2)), (values // 256).astype(np.uint8))


# --------------------------------------------------------------------------- sizes
@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 50, 3), (50, 1), (0, 5, 3)])
def test_one_pixel_sides_are_refused(shape):
    with pytest.raises(InvalidImageError, match="at least 2x2"):
        load_image(np.zeros(shape, np.uint8))


def test_one_pixel_files_are_refused(tmp_path):
    Image.fromarray(np.zeros((1, 30, 3), np.uint8)).save(tmp_path / "line.png")
    with pytest.raises(InvalidImageError, match="30x1 pixels"):
        load_image(tmp_path / "line.png")
    assert load_image(np.zeros((2, 2, 3), np.uint8)).shape == (2, 2, 3)


def test_pixel_budget_from_the_environment(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "a.png")
    monkeypatch.setenv("WSSS_ZOO_MAX_PIXELS", "1000")
    assert max_pixels() == 1000
    for image in (tmp_path / "a.png", np.zeros((40, 40, 3), np.uint8), Image.new("RGB", (40, 40))):
        with pytest.raises(InvalidImageError, match="WSSS_ZOO_MAX_PIXELS"):
            load_image(image)
    with pytest.raises(SaliencyError, match="over the limit"):
        load_saliency(tmp_path / "a.png", (40, 40))
    monkeypatch.setenv("WSSS_ZOO_MAX_PIXELS", "2e3")
    assert load_image(tmp_path / "a.png").shape == (40, 40, 3)
    for bad in ("lots", "-5", "0", "nan"):
        monkeypatch.setenv("WSSS_ZOO_MAX_PIXELS", bad)
        with pytest.raises(ConfigError, match="WSSS_ZOO_MAX_PIXELS"):
            load_image(np.zeros((4, 4, 3), np.uint8))


@pytest.mark.parametrize("side, fragment", [(12000, "144.0 megapixels, over the limit"),  # our budget
                                            (20000, "too large to decode safely")])      # Pillow's bomb error
def test_giant_headers_are_refused_before_decoding(tmp_path, side, fragment):
    """A few hundred bytes announcing 144 / 400 megapixels: refused from the header, nothing decoded."""
    path = tmp_path / "bomb.png"
    path.write_bytes(handmade_png(side, side))
    tracemalloc.start()
    try:
        with pytest.raises(InvalidImageError, match=fragment):
            load_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2 ** 20


def test_png_text_chunk_bombs_are_refused(tmp_path):
    """Pillow raises ValueError for a zTXt chunk inflating past its limit; it used to escape as a traceback."""
    (tmp_path / "t.png").write_bytes(handmade_png(4, 4, extra=text_chunk_bomb()))
    with pytest.raises(InvalidImageError, match="t.png"):
        load_image(tmp_path / "t.png")
    with pytest.raises(SaliencyError, match="t.png"):
        load_saliency(tmp_path / "t.png", (4, 4))


def test_truncated_and_damaged_files(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImageError, match="truncated"):
        load_image(tmp_path / "cut.jpg")
    with Image.open(tmp_path / "cut.jpg") as lazy:  # a PIL image the user opened: decoded inside load_image
        with pytest.raises(InvalidImageError, match="truncated"):
            load_image(lazy)
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(InvalidImageError, match="x.png"):
        load_image(tmp_path / "x.png")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(InvalidImageError, match="not a regular file"):
        load_image(tmp_path / "folder.png")


# --------------------------------------------------------------------------- array conversion memory
def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_float_arrays_convert_without_a_full_size_copy(dtype):
    """The old code rounded the whole array (a full copy in its dtype) and built a full NaN mask."""
    arr = np.random.default_rng(0).uniform(0, 255, (1200, 1200, 3)).astype(dtype)
    expected = np.round(arr).astype(np.uint8)
    out = []
    peak = _peak_bytes(lambda: out.append(load_image(arr)))
    np.testing.assert_array_equal(out[0], expected)
    assert peak < arr.size + arr.nbytes // 3  # the uint8 result plus block-sized temporaries


def test_float_saliency_converts_without_a_float64_copy():
    sal = np.random.default_rng(0).random((1500, 1500)).astype(np.float32)
    expected = np.clip(np.round(sal.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)  # the old rule
    out = []
    peak = _peak_bytes(lambda: out.append(load_saliency(sal, sal.shape)))
    np.testing.assert_array_equal(out[0], expected)
    assert peak < sal.size * 8 // 2  # half of what the old full float64 copy took


@pytest.mark.parametrize("sal, expected", [
    (np.array([[0, 1], [1, 0]], np.int64), [[0, 255], [255, 0]]),         # 0/1 maps of any dtype are scaled
    (np.array([[True, False], [False, True]]), [[255, 0], [0, 255]]),
    (np.array([[0.0, 0.5], [1.0, 0.25]]), [[0, 128], [255, 64]]),
    (np.array([[0.0, 100.4], [255.0, 7.6]], np.float32), [[0, 100], [255, 8]]),
])
def test_saliency_array_rules(sal, expected):
    np.testing.assert_array_equal(load_saliency(sal, (2, 2)), np.array(expected, np.uint8))


@pytest.mark.parametrize("sal", [np.array([[0.0, np.nan], [1.0, 0.0]]), np.array([[-3, 100], [0, 0]]),
                                 np.array([[0.0, 300.0], [1.0, 0.0]])])
def test_saliency_values_out_of_range_are_refused(sal):
    """They used to be clipped (or, for NaN, cast to an arbitrary byte) silently."""
    with pytest.raises(SaliencyError, match="must lie in"):
        load_saliency(sal, (2, 2))


def test_image_dtypes_that_are_not_images():
    for arr in (np.zeros((4, 4, 3), bool), np.zeros((4, 4, 3), complex), np.zeros((4, 4, 3), object)):
        with pytest.raises(InvalidImageError, match="dtype"):
            load_image(arr)
    with pytest.raises(InvalidImageError, match="NaN"):
        load_image(np.full((4, 4, 3), np.nan))


# --------------------------------------------------------------------------- labels
def test_a_dict_of_labels_is_refused():
    """Its keys used to be taken silently ({'person': 1} -> person; {'person': 0} too)."""
    for labels in ({"person": 1}, {"person": 0, "dog": 1}, {15: 1.0}):
        with pytest.raises(InvalidLabelsError, match="dict"):
            parse_labels(labels, "voc")


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_, np.float32, np.float64])
def test_integer_and_boolean_multi_hot_arrays(dtype):
    vec = np.zeros(20, dtype)
    vec[[1, 14]] = 1
    assert parse_labels(vec, "voc") == [2, 15]
    assert parse_labels(torch.from_numpy(vec), "voc") == [2, 15]


def test_the_rule_between_ids_and_multi_hot_vectors():
    # a numpy array of length C holding only 0/1 is multi-hot, even all ones ...
    assert parse_labels(np.ones(20, np.int64), "voc") == list(range(1, 21))
    # ... a Python list is always ids
    assert parse_labels([1] * 20, "voc") == [1]
    with pytest.raises(InvalidLabelsError, match=r"looks like a multi-hot vector: pass it as np\.array"):
        parse_labels([0, 1] + [0] * 18, "voc")
    # a numpy array of another length, or with other values, holds ids
    assert parse_labels(np.array([15, 2, 2]), "voc") == [2, 15]
    assert parse_labels(np.array([1, 1, 0, 1] + [0] * 76), "coco") == [1, 2, 4]


def test_bytes_labels_are_refused():
    with pytest.raises(InvalidLabelsError, match="bytes"):
        parse_labels(b"15", "voc")


# --------------------------------------------------------------------------- finite checks
def test_check_finite_names_what_was_checked():
    check_finite(torch.zeros(3), "the CAMs")
    check_finite(np.arange(4), "ids")
    for bad in (torch.tensor([0.0, float("nan")]), np.array([1.0, np.inf]), torch.tensor([1.0], dtype=torch.float16) * 1e5):
        with pytest.raises(NonFiniteError, match="the CAMs of eps_voc contain NaN or infinite"):
            check_finite(bad, "the CAMs of eps_voc")


def test_check_finite_does_not_mistake_an_overflowing_sum_for_inf():
    big = torch.full((10,), 6e4, dtype=torch.float16)  # finite values whose float16 sum overflows
    assert not torch.isfinite(big.sum())
    check_finite(big, "large values")
    check_finite(np.full(10, 1e308), "large values")


# --------------------------------------------------------------------------- torch tensors (issue 14)
def _rgb(h=5, w=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_uint8_tensors_in_chw_and_hwc_give_the_same_image():
    arr = _rgb()
    hwc = torch.from_numpy(arr)
    np.testing.assert_array_equal(load_image(hwc), arr)
    np.testing.assert_array_equal(load_image(hwc.permute(2, 0, 1)), arr)          # CHW
    np.testing.assert_array_equal(load_image(hwc.permute(2, 0, 1).contiguous()), arr)
    grey = torch.from_numpy(arr[:, :, 0].copy())
    np.testing.assert_array_equal(load_image(grey), np.repeat(arr[:, :, :1], 3, axis=2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_float_tensors_in_0_1_are_scaled_by_255_and_rounded(dtype):
    values = torch.tensor([0.0, 0.5 / 255, 0.7 / 255, 0.5, 1.0, 254.4 / 255, 0.25, 1 / 3], dtype=torch.float64)
    t = values.to(dtype).reshape(2, 4, 1).expand(2, 4, 3)  # HWC, grey
    expected = np.round(values.to(dtype).double().numpy() * 255).astype(np.uint8).reshape(2, 4)
    out = load_image(t)
    assert out.dtype == np.uint8 and out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out[:, :, 0], expected)
    np.testing.assert_array_equal(load_image(t.permute(2, 0, 1)), out)  # the same image as CHW


def test_the_ambiguous_shapes_follow_the_stated_rule():
    chw = torch.arange(3 * 3 * 5, dtype=torch.uint8).reshape(3, 3, 5)   # first dim 3, last not 3: CHW
    assert load_image(chw).shape == (3, 5, 3)
    np.testing.assert_array_equal(load_image(chw), chw.permute(1, 2, 0).numpy())
    cube = torch.arange(27, dtype=torch.uint8).reshape(3, 3, 3)          # both 3: HWC
    np.testing.assert_array_equal(load_image(cube), cube.numpy())


@pytest.mark.parametrize("tensor, fragment", [
    (torch.full((4, 4, 3), 2.0), "values in 0..1"),
    (torch.full((4, 4, 3), -0.1), "values in 0..1"),
    (torch.full((4, 4, 3), float("nan")), "values in 0..1"),
    (torch.zeros(4, 4, 3, dtype=torch.int64), "dtype torch.int64"),
    (torch.zeros(4, 4, 3, dtype=torch.bool), "dtype torch.bool"),
    (torch.zeros(2, 3, 4, 4), "a batch"),
    (torch.zeros(4, 4, 4), "shape (4, 4, 4)"),
    (torch.zeros(1, 4, 4), "shape (1, 4, 4)"),
    (torch.zeros(3, 1, 1), "1x1 pixels"),
])
def test_other_tensors_are_refused_with_the_rule(tensor, fragment):
    with pytest.raises(InvalidImageError, match=re.escape(fragment)):
        load_image(tensor)


def test_a_tensor_that_needs_grad_is_read():
    t = torch.rand(3, 4, 5, requires_grad=True)
    np.testing.assert_array_equal(load_image(t), np.round(t.detach().permute(1, 2, 0).double().numpy() * 255))
