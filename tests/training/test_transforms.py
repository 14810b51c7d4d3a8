"""Augmentations: sizes, fills and placements as the upstream code defines them."""
import random

import numpy as np
import pytest

from training import transforms as T


def test_resize_long_rounds_the_short_side():
    img = np.zeros((375, 500, 3), np.uint8)
    assert T.resize_long(img, 448).shape == (336, 448, 3)           # round(375 * 448 / 500) = 336
    assert T.resize_long(img.transpose(1, 0, 2), 321).shape == (321, 241, 3)  # round(375*321/500)=240.75


def test_random_crop_places_small_images_inside_a_filled_container():
    random.seed(3)
    img = np.ones((10, 6, 3), np.float32)
    lab = np.full((10, 6), 7, np.uint8)
    c_img, c_lab = T.random_crop([img, lab], 16, [0.0, 255])
    assert c_img.shape == (16, 16, 3) and c_lab.shape == (16, 16)
    assert c_img.sum() == 10 * 6 * 3 and (c_lab == 7).sum() == 60 and (c_lab == 255).sum() == 256 - 60
    assert np.array_equal(c_lab == 7, c_img[..., 0] == 1)  # same box for both


def test_random_crop_channels_first_maps_follow_the_image():
    random.seed(0)
    img = np.arange(20 * 20, dtype=np.float32).reshape(20, 20, 1)
    maps = np.stack([img[..., 0], -img[..., 0]])
    c_img, c_maps = T.random_crop([img, maps], 8, [0.0, 0.0], channels_first=(False, True))
    assert np.array_equal(c_maps[0], c_img[..., 0]) and np.array_equal(c_maps[1], -c_img[..., 0])


def test_block_mean_pads_to_whole_blocks():
    x = np.ones((10, 9, 2), np.float32)
    out = T.block_mean(x, 8)
    assert out.shape == (2, 2, 2)
    assert out[0, 0, 0] == 1.0 and out[1, 1, 0] == pytest.approx(2 * 1 / 64)  # 2x1 real pixels in the last block


def test_spline_resize_keeps_constants_and_the_input_range():
    maps = np.zeros((2, 20, 30), np.float32)
    maps[0] = 0.5
    maps[1, 5:15, 10:20] = 1.0
    out = T.resize_spline_maps(maps, (10, 15))
    assert out.shape == (2, 10, 15)
    assert np.allclose(out[0], 0.5, atol=1e-6)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.allclose(T.resize_spline_maps(maps, (20, 30)), maps, atol=1e-5)


def test_paste_instance_stays_within_seventy_percent():
    random.seed(1)
    bg = np.zeros((40, 50, 3), np.uint8)
    fg = np.full((60, 60, 3), 200, np.uint8)
    seg = np.full((60, 60), 3, np.uint8)
    out = T.paste_instance(bg, fg, seg)
    ys, xs = np.nonzero(out[..., 0])
    assert ys.size and ys.max() - ys.min() + 1 <= 28 and xs.max() - xs.min() + 1 <= 35
    assert set(np.unique(out)) <= set(range(256)) and out.dtype == np.uint8


def test_vainf_crop_pads_all_sides_and_labels_with_the_fill():
    random.seed(0)
    img = np.full((10, 12, 3), 9, np.uint8)
    lab = np.full((10, 12), 4, np.uint8)
    c_img, c_lab = T.vainf_crop(img, lab, 16, label_fill=0)
    assert c_img.shape == (16, 16, 3) and c_lab.shape == (16, 16)
    assert set(np.unique(c_lab)) <= {0, 4}
    _, c255 = T.vainf_crop(img, lab, 16, label_fill=255)
    assert set(np.unique(c255)) <= {4, 255}


def test_kazuto_padding_is_bottom_right():
    img = np.zeros((5, 4, 3), np.float32)
    lab = np.zeros((5, 4), np.uint8)
    p_img, p_lab = T.pad_bottom_right(img, lab, 8, np.array([1, 2, 3], np.float32), 255)
    assert p_img.shape == (8, 8, 3) and (p_lab[:5, :4] == 0).all() and (p_lab[5:] == 255).all()
    assert p_img[7, 7].tolist() == [1, 2, 3] and p_img[0, 0].tolist() == [0, 0, 0]
