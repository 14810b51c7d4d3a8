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


# --------------------------------------------------------------------------- batches and iterators (issue 14)
class _RedPipeline(wsss_zoo.Pipeline):
    """A registry-free pipeline whose output depends on the pixels: the first label where red > 127.
    CAMs: one map per label, the red channel / 255."""

    def __init__(self, needs_saliency=False):
        from types import SimpleNamespace

        import torch

        self.entry = SimpleNamespace(crf=None, needs_saliency=needs_saliency)
        self.name, self.dataset, self.models, self.settings = "red", "voc", {}, {}
        self.device = torch.device("cpu")
        self.needs_saliency = needs_saliency

    def _pseudo_mask(self, image, ids, *, saliency=None, crf=False):
        mask = np.where(image[:, :, 0] > 127, ids[0], 0).astype(np.uint8)
        return mask if saliency is None else np.where(saliency > 127, mask, 255).astype(np.uint8)

    def _cam(self, image, ids):
        import torch

        return torch.from_numpy(np.stack([image[:, :, 0] / 255.0] * len(ids)).astype(np.float32))


def _red_expected(image, labels):
    first = min(parse_labels(labels, "voc"))
    return np.where(np.asarray(image)[:, :, 0] > 127, first, 0).astype(np.uint8)


def _images(n=3, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (6 + i, 9 + i, 3), dtype=np.uint8) for i in range(n)]


def test_pseudo_mask_and_cam_take_lists_and_tensors():
    import torch

    pipe, images, labels = _RedPipeline(), _images(), [[15], "cat", [2, 7]]
    masks = wsss_zoo.pseudo_mask(images, labels, method=pipe)
    assert isinstance(masks, list) and len(masks) == 3
    for mask, image, lab in zip(masks, images, labels):
        np.testing.assert_array_equal(mask, _red_expected(image, lab))
    chw = [torch.from_numpy(im).permute(2, 0, 1) for im in images]              # uint8 CHW
    unit = [torch.from_numpy(im).float() / 255 for im in images]                # float HWC in 0..1
    for batch in (chw, unit, tuple(images)):
        assert all(np.array_equal(a, b) for a, b in zip(wsss_zoo.pseudo_mask(batch, labels, method=pipe), masks))
    cams = wsss_zoo.cam(pipe, images, labels)
    assert [c.shape[0] for c in cams] == [1, 1, 2]
    same = np.stack([images[0]] * 2)                                            # N x H x W x 3
    assert len(wsss_zoo.pseudo_mask(same, [[1], [2]], method=pipe)) == 2


def test_batch_arguments_are_checked():
    pipe, images = _RedPipeline(), _images()
    with pytest.raises(InvalidLabelsError, match=r"3 images but 2 labels.*\[entry\] \* 3"):
        wsss_zoo.pseudo_mask(images, [[1], [2]], method=pipe)
    with pytest.raises(InvalidLabelsError, match="one entry per image"):
        wsss_zoo.pseudo_mask(images, "cat", method=pipe)
    with pytest.raises(InvalidLabelsError, match="^image 1: label id 99"):
        wsss_zoo.pseudo_mask(images, [[1], [99], [2]], method=pipe)
    nested = images[0].tolist()  # nested Python lists of numbers stay one image
    np.testing.assert_array_equal(wsss_zoo.pseudo_mask(nested, [3], method=pipe), _red_expected(images[0], [3]))


def test_pseudo_masks_iterates_a_list_with_ids_in_order():
    pipe, images, labels = _RedPipeline(), _images(4), [[1], [2], [3], [4]]
    out = wsss_zoo.pseudo_masks(images, labels, method=pipe)
    results = list(out)
    assert [i for i, _ in results] == [0, 1, 2, 3]
    for (_, mask), image, lab in zip(results, images, labels):
        np.testing.assert_array_equal(mask, _red_expected(image, lab))
    assert list(wsss_zoo.pseudo_masks([], [], method=pipe)) == []


@pytest.mark.parametrize("labels_as", ["mapping", "text", "json"])
def test_pseudo_masks_and_cams_iterate_a_folder(tmp_path, labels_as):
    from PIL import Image

    pipe, images = _RedPipeline(), _images(3)
    names = ["b", "a", "c"]
    (tmp_path / "img").mkdir()
    for name, image in zip(names, images):
        Image.fromarray(image).save(tmp_path / "img" / f"{name}.png")
    table = {"a.png": ["dog"], "b": [3], "c": "person,cat"}
    if labels_as == "mapping":
        labels = table
    elif labels_as == "text":
        labels = tmp_path / "labels.txt"
        labels.write_text("a.png dog\nb 3\nc person,cat\n")
    else:
        import json

        labels = tmp_path / "labels.json"
        labels.write_text(json.dumps(table))
    results = dict(wsss_zoo.pseudo_masks(tmp_path / "img", labels, method=pipe, workers=2))
    assert list(results) == ["a", "b", "c"]  # sorted file names
    by_name = dict(zip(names, images))
    expected_labels = {"a": ["dog"], "b": [3], "c": "person,cat"}
    for name in results:
        np.testing.assert_array_equal(results[name], _red_expected(by_name[name], expected_labels[name]))
    cams = dict(wsss_zoo.cams(pipe, tmp_path / "img", labels, workers=0))
    assert {k: v.shape[0] for k, v in cams.items()} == {"a": 1, "b": 1, "c": 2}


def test_a_folder_image_without_labels_fails_with_its_name(tmp_path):
    from PIL import Image

    (tmp_path / "img").mkdir()
    for name, image in zip(["a", "b"], _images(2)):
        Image.fromarray(image).save(tmp_path / "img" / f"{name}.png")
    it = wsss_zoo.pseudo_masks(tmp_path / "img", {"a": [1]}, method=_RedPipeline(), workers=1)
    assert next(it)[0] == "a"
    with pytest.raises(InvalidLabelsError, match="^b: no labels for b"):
        next(it)


def test_pseudo_masks_iterates_a_dataset(tmp_path):
    from PIL import Image

    from fixtures.datasets import make_voc_tree

    tree = make_voc_tree(tmp_path / "voc")
    ds = wsss_zoo.open_dataset("voc", tree.root, "train")
    results = list(wsss_zoo.pseudo_masks(ds, method=_RedPipeline(), workers=2))
    assert [i for i, _ in results] == tree.splits["train"]
    for image_id, mask in results:
        with Image.open(tree.root / "JPEGImages" / f"{image_id}.jpg") as im:
            pixels = np.asarray(im.convert("RGB"))
        np.testing.assert_array_equal(mask, _red_expected(pixels, tree.labels[image_id]))
    with pytest.raises(ConfigError, match="labels=None"):
        wsss_zoo.pseudo_masks(ds, [[1]] * len(ds.ids), method=_RedPipeline())


def test_the_iterators_check_their_arguments_when_called(tmp_path):
    from wsss_zoo.errors import SaliencyError

    pipe = _RedPipeline()
    with pytest.raises(InvalidImageError, match="not a folder"):
        wsss_zoo.pseudo_masks(tmp_path / "nope.jpg", {"a": [1]}, method=pipe)
    with pytest.raises(InvalidLabelsError, match="give the labels"):
        wsss_zoo.pseudo_masks(tmp_path, None, method=pipe)
    with pytest.raises(InvalidImageError, match="a list of images, a folder or a dataset"):
        wsss_zoo.pseudo_masks(42, [1], method=pipe)
    with pytest.raises(SaliencyError, match="needs a saliency map"):
        wsss_zoo.pseudo_masks(_images(2), [[1], [2]], method=_RedPipeline(needs_saliency=True))
    with pytest.raises(ConfigError, match="workers"):
        list(wsss_zoo.pseudo_masks(_images(2), [[1], [2]], method=pipe, workers=-2))


def test_saliency_lists_go_with_their_images():
    images = _images(2)
    sal = [np.where(np.arange(im.shape[1]) < 3, 0, 255).astype(np.uint8)[None].repeat(im.shape[0], 0)
           for im in images]
    pipe = _RedPipeline(needs_saliency=True)
    for (i, mask), image, s in zip(wsss_zoo.pseudo_masks(images, [[5], [6]], method=pipe, saliency=sal), images, sal):
        expected = np.where(s > 127, _red_expected(image, [[5], [6]][i]), 255)
        np.testing.assert_array_equal(mask, expected)


def test_non_finite_network_outputs_are_an_error_not_a_label_map():
    """NaN/inf in a network's output (a float16 overflow, weights changed after loading) raise NonFiniteError
    naming the network, instead of an all-background mask."""
    import torch

    from wsss_zoo.errors import NonFiniteError
    from wsss_zoo.models import build_model
    from wsss_zoo.registry import model_entry

    torch.manual_seed(0)
    entry = model_entry("cda_irn_resnet50_voc")
    net = build_model(entry).eval()
    net.wsss_zoo_entry = entry
    image = np.random.default_rng(0).integers(0, 255, (32, 40, 3), dtype=np.uint8)
    assert torch.isfinite(wsss_zoo.cam(net, image, [1], scales=[1.0])).all()
    with torch.no_grad():
        net.classifier.weight[0].fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="CAMs of cda_irn_resnet50_voc"):
        wsss_zoo.cam(net, image, [1], scales=[1.0])
    seg_entry = model_entry("drs_deeplabv3plus_resnet101_voc")
    seg = build_model(seg_entry, layers=(1, 1, 1, 1)).eval()
    seg.wsss_zoo_entry = seg_entry
    with torch.no_grad():
        seg.classifier.classifier[3].bias.fill_(float("inf"))
    with pytest.raises(NonFiniteError, match="logits of drs_deeplabv3plus_resnet101_voc"):
        wsss_zoo.segment(seg, image)


def test_scales_that_shrink_a_small_image_to_nothing_are_a_config_error():
    import torch

    from wsss_zoo.models import build_model
    from wsss_zoo.registry import model_entry

    torch.manual_seed(0)
    entry = model_entry("cda_irn_resnet50_voc")
    net = build_model(entry).eval()
    net.wsss_zoo_entry = entry
    with pytest.raises(ConfigError, match=r"scale 0.1 makes the 3x3 image 0x0 pixels"):
        wsss_zoo.cam(net, np.zeros((3, 3, 3), np.uint8), [1], scales=[0.1])
