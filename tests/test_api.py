"""The public functions' contract (api.md): name checks, input validation, error messages."""
import numpy as np
import pytest

import wsss_zoo
from wsss_zoo.errors import (CheckpointMismatchError, ConfigError, InvalidImageError, InvalidLabelsError,
                             MissingWeightsError, UnknownNameError, WsssZooError)
from wsss_zoo.inputs import load_image, parse_labels
from fixtures.irn_layouts import write_rib_resnet50_coco, write_rib_resnet50_voc


def test_every_error_is_a_wsss_zoo_error():
    import wsss_zoo.errors as errors

    classes = [getattr(errors, n) for n in errors.__all__]
    assert len(classes) > 10 and all(issubclass(c, WsssZooError) for c in classes)


def test_unknown_names_suggest_close_matches():
    with pytest.raises(UnknownNameError, match="eps_resnet38_voc"):
        wsss_zoo.load("eps_resnet38_vco")
    with pytest.raises(UnknownNameError, match="eps_voc"):
        wsss_zoo.load_pipeline("eps_vo")


def test_pipeline_and_network_names_are_not_interchangeable():
    with pytest.raises(UnknownNameError, match="load_pipeline"):
        wsss_zoo.load("eps_voc")
    with pytest.raises(UnknownNameError, match=r"wsss_zoo.load\('eps_resnet38_voc'\)"):
        wsss_zoo.load_pipeline("eps_resnet38_voc")


def test_rib_pipelines_ask_for_the_unpublished_irn_before_downloading():
    with pytest.raises(MissingWeightsError, match=r"weights=\{'irn'"):
        wsss_zoo.load_pipeline("rib_voc")
    with pytest.raises(UnknownNameError, match="unknown role"):
        wsss_zoo.load_pipeline("rib_voc", weights={"aff": "x.pth"})


@pytest.mark.parametrize("labels, expected", [
    ([15, 2], [2, 15]), ("person,bicycle", [2, 15]), (["Person", "bike", 15], [2, 15]),
    (np.eye(20, dtype=np.float32)[14] + np.eye(20, dtype=np.float32)[1], [2, 15]), ("2, 15", [2, 15]),
])
def test_labels_are_ids_or_names(labels, expected):
    assert parse_labels(labels, "voc") == expected


def test_coco_labels_use_the_contiguous_ids():
    assert parse_labels(["cat", "toothbrush", "person"], "coco") == [1, 16, 80]


@pytest.mark.parametrize("labels, fragment", [
    ([], "empty"), ([0], "background"), ([21], "1..20"), (["dgo"], "did you mean dog"), ([True], "neither"),
])
def test_bad_labels_are_explained(labels, fragment):
    with pytest.raises(InvalidLabelsError, match=fragment):
        parse_labels(labels, "voc")


@pytest.mark.parametrize("image, fragment", [
    (np.zeros((3, 8, 8), np.uint8), "HxWx3"), (np.zeros((4, 4, 3)) + 0.5, "0..1"),
    (np.full((4, 4, 3), 300.0), "0..255"), ("/no/such/file.jpg", "not found"),
])
def test_bad_images_are_explained(image, fragment):
    with pytest.raises(InvalidImageError, match=fragment):
        load_image(image)


def test_images_normalise_to_uint8_rgb(tmp_path):
    from PIL import Image

    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "g.png"
    Image.fromarray(grey).save(path)
    for img in (grey, path, Image.open(path), np.dstack([grey] * 3).astype(np.float64)):
        out = load_image(img)
        assert out.dtype == np.uint8 and out.shape == (3, 4, 3) and (out[..., 1] == grey).all()


def test_a_coco_file_under_a_voc_name_names_the_right_model(tmp_path):
    path = write_rib_resnet50_coco(tmp_path / "coco.pth")
    with pytest.raises(CheckpointMismatchError, match="rib_resnet50_coco") as info:
        wsss_zoo.load("rib_resnet50_voc", weights=path)
    assert any("classifier.weight" in m for m in info.value.mismatched)


def test_segment_and_cam_refuse_what_a_network_cannot_do(tmp_path):
    model = wsss_zoo.load("rib_resnet50_voc", weights=write_rib_resnet50_voc(tmp_path / "voc.pth"))
    with pytest.raises(ConfigError, match="not a segmentation network"):
        wsss_zoo.segment(model, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="scales"):
        wsss_zoo.cam(model, np.zeros((8, 8, 3), np.uint8), [1], scales=[0])


def test_a_file_of_another_family_is_named_by_its_layout(tmp_path):
    """The strict loader lists the keys; the API adds, in one place, which upstream layout the file has."""
    import torch
    from torchvision.models import resnet50

    path = tmp_path / "resnet50-19c8e357.pth"
    torch.save(resnet50(weights=None).state_dict(), path)
    with pytest.raises(CheckpointMismatchError) as err:
        wsss_zoo.load("cda_irn_resnet50_voc", weights=str(path), device="cpu")
    msg = str(err.value)
    assert "does not hold cda_irn_resnet50_voc weights" in msg and "torchvision" in msg
    assert "resnet50_imagenet" in msg and "missing keys" in msg
    odd = tmp_path / "odd.pth"
    torch.save({"some.weight": torch.zeros(2)}, odd)
    with pytest.raises(CheckpointMismatchError) as err:
        wsss_zoo.load("cda_irn_resnet50_voc", weights=str(odd), device="cpu")
    assert "is this the right file for cda_irn_resnet50_voc" in str(err.value)
