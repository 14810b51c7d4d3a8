"""Label placement and the confusable-colour rule (wsss_zoo/viz_layout.py), against independent references:
published CIEDE2000 test data, scipy.ndimage for components and distances, hand-drawn shapes."""
import numpy as np
import pytest
from scipy import ndimage

from wsss_zoo.classes import pascal_palette
from wsss_zoo.viz_layout import (components, confusable_pairs, delta_e2000, depth, hatch_styles, label_anchors,
                                 srgb_to_lab)

BICYCLE, COW, SOFA, TRAIN, PERSON, BUS, MOTORBIKE = 2, 10, 18, 19, 15, 6, 14


@pytest.mark.parametrize("lab1, lab2, expected", [
    # Sharma, Wu & Dalal (2005), Table 1: pairs 1, 7, 17, 25 and 34
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
])
def test_ciede2000_matches_the_published_test_data(lab1, lab2, expected):
    assert float(delta_e2000(np.array(lab1), np.array(lab2))) == pytest.approx(expected, abs=1e-4)
    assert float(delta_e2000(np.array(lab2), np.array(lab1))) == pytest.approx(expected, abs=1e-4)


def test_srgb_to_lab_known_colours():
    lab = srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]]))
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)  # the textbook sRGB red


def test_voc_greens_are_confusable_and_get_distinct_hatches():
    palette = pascal_palette(256)
    greens = [BICYCLE, COW, SOFA, TRAIN]
    pairs = set(confusable_pairs(greens, palette))
    assert pairs == {(a, b) for i, a in enumerate(greens) for b in greens[i + 1:]}  # every pair of the four
    styles = hatch_styles(greens, palette)
    assert len(set(styles.values())) == 4
    assert hatch_styles([BUS, MOTORBIKE], palette)[MOTORBIKE] != 0  # the two teals
    # distinct colours keep the plain fill; ignore never needs a pattern
    assert hatch_styles([BICYCLE, PERSON, 255], palette) == {BICYCLE: 0, PERSON: 0, 255: 0}
    assert hatch_styles([BICYCLE, PERSON, COW], palette) == {BICYCLE: 0, COW: 1, PERSON: 0}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_components_match_scipy(seed):
    region = np.random.default_rng(seed).random((40, 50)) < 0.45
    ours = components(region)
    theirs, n = ndimage.label(region, structure=np.ones((3, 3)))
    assert ours.max() == n
    # same partition: a one-to-one map between the ids
    pairs = {(int(a), int(b)) for a, b in zip(ours[region], theirs[region])}
    assert len(pairs) == n and len({a for a, _ in pairs}) == n
    assert (ours[~region] == 0).all()


def test_components_of_a_snake_is_one():
    snake = np.zeros((60, 60), bool)
    snake[::4] = True
    for i, row in enumerate(range(0, 56, 4)):
        snake[row:row + 5, -1 if i % 2 == 0 else 0] = True
    assert components(snake).max() == 1


def test_depth_is_the_chessboard_distance_to_the_outside():
    region = np.zeros((30, 40), bool)
    region[3:25, 5:35] = True
    region[10:15, 10:20] = False
    expected = ndimage.distance_transform_cdt(np.pad(region, 1), metric="chessboard")[1:-1, 1:-1]
    np.testing.assert_array_equal(depth(region), expected)
    full = np.ones((5, 7), bool)  # the array's edge counts as outside
    assert depth(full).max() == 3 and depth(full)[0].max() == 1


def test_anchors_sit_inside_concave_and_split_regions():
    mask = np.zeros((375, 500), np.uint8)
    mask[40:320, 40:110] = PERSON  # a U: its centroid lies in the empty middle
    mask[270:320, 40:400] = PERSON
    mask[40:320, 330:400] = PERSON
    mask[20:120, 430:490] = BICYCLE  # two bicycle regions, both large
    mask[250:350, 430:490] = BICYCLE
    mask[5:8, 200:203] = COW  # a speck: too small for a label, but the class's only region
    mask[150:153, 440:443] = BICYCLE  # a bicycle speck: no label (the class has larger regions)
    ys, xs = np.nonzero(mask == PERSON)
    assert mask[int(ys.mean()), int(xs.mean())] == 0
    anchors = label_anchors(mask)
    assert sorted(a.label for a in anchors) == [BICYCLE, BICYCLE, COW, PERSON]
    for a in anchors:
        assert mask[a.y, a.x] == a.label
    person = next(a for a in anchors if a.label == PERSON)
    # the deepest part of the U is an arm (70 px wide), well away from its edges
    assert 55 <= person.x <= 95 or 345 <= person.x <= 385
    assert 60 <= person.y <= 300
    bikes = sorted(a.y for a in anchors if a.label == BICYCLE)
    assert bikes[0] < 120 <= 250 < bikes[1]
    assert anchors[0].label == PERSON  # largest first
