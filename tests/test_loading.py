"""Reading ahead of the network: worker processes, order, per-image errors, the workers option."""
import numpy as np
import pytest

from wsss_zoo.errors import ConfigError, InvalidImageError
from wsss_zoo.loading import check_workers, default_workers, load_ahead
from wsss_zoo.sources import ListSource


def _arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (4 + i, 6 + i, 3), dtype=np.uint8) for i in range(n)]


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_items_come_in_order_as_numpy_arrays(workers):
    images = _arrays(7)
    labels = [[i % 20 + 1] for i in range(7)]
    items = list(load_ahead(ListSource(images, labels), workers=workers))
    assert [it.id for it in items] == list(range(7)) and [it.index for it in items] == list(range(7))
    for it, image, lab in zip(items, images, labels):
        assert isinstance(it.image, np.ndarray) and it.image.dtype == np.uint8
        np.testing.assert_array_equal(it.image, image)
        assert it.labels == lab and it.saliency is None and it.error is None


def test_images_are_decoded_in_the_workers(tmp_path):
    from PIL import Image

    images = _arrays(3)
    paths = []
    for i, arr in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(arr).save(paths[-1])
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    source = ListSource(paths + [tmp_path / "bad.png"], [[1]] * 4, ids=["a", "b", "c", "bad"])
    assert source.reads_files()
    items = list(load_ahead(source, workers=2))
    for it, arr in zip(items[:3], images):
        np.testing.assert_array_equal(it.image, arr)
    assert items[3].id == "bad" and isinstance(items[3].error, InvalidImageError) and items[3].image is None


def test_saliency_is_read_at_the_image_size():
    images = _arrays(2)
    maps = [np.full(im.shape[:2], 0.5, np.float32) for im in images]
    items = list(load_ahead(ListSource(images, None, maps), labels=False, saliency=True, workers=1))
    assert [it.saliency.shape for it in items] == [im.shape[:2] for im in images]
    assert all((it.saliency == 128).all() for it in items)  # 0.5 * 255, rounded


def test_a_subset_of_ids_and_no_items():
    source = ListSource(_arrays(4), [[1]] * 4)
    assert [it.id for it in load_ahead(source, [3, 1], workers=2)] == [3, 1]
    assert list(load_ahead(source, [], workers=2)) == []


def test_the_workers_option_is_checked():
    assert check_workers(None) == default_workers() and 0 <= default_workers() <= 4
    assert check_workers(0) == 0 and check_workers(np.int64(2)) == 2
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ConfigError, match="workers must be a whole number"):
            check_workers(bad)


@pytest.mark.parametrize("cpus, expected", [(1, 0), (2, 1), (5, 4), (64, 4)])
def test_the_default_leaves_one_cpu_to_the_network(monkeypatch, cpus, expected):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert default_workers() == expected
