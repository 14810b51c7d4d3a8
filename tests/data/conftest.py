"""Fixtures of the data/evaluation tests: tiny dataset trees and a stand-in registry."""
import pytest

from fixtures.datasets import make_coco_tree, make_voc_tree


@pytest.fixture(scope="session")
def voc_tree(tmp_path_factory):
    return make_voc_tree(tmp_path_factory.mktemp("voc_tree"))


@pytest.fixture(scope="session")
def coco_tree(tmp_path_factory):
    return make_coco_tree(tmp_path_factory.mktemp("coco_tree"), layout="eps")


@pytest.fixture
def standin_registry(monkeypatch):
    """checkpoints.json replaced by :func:`standin.fake_registry` (the catalog is patched, then restored)."""
    import standin  # noqa: F401  (registers the stand-in builder, layout and recipes)

    return standin.use_registry(monkeypatch, standin.fake_registry())
