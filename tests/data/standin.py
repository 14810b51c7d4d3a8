"""Stand-in methods for the data/evaluation tests: tiny networks, recipes, a pipeline and registry entries.

Importing this module registers (once) the builder ``standin_net``, the layout ``standin``, the CAM and
segmentation recipes ``standin`` and the pipeline recipe ``standin``; :func:`fake_registry` returns a
checkpoints.json-shaped dict whose entries use them, with metric records of every kind of verify row.
``StandInPipeline`` is a registry-free object for ``module:factory`` targets (``standin:StandInPipeline``).
"""
from __future__ import annotations

import numpy as np
import torch

from wsss_zoo.convert.core import register_layout
from wsss_zoo.models import ARCHITECTURES, register_model
from wsss_zoo.pipelines import settings as S
from wsss_zoo.pipelines.base import (Pipeline, compute_cam,
                                     register_cam_recipe, register_pipeline, register_segment_recipe)
from wsss_zoo.pipelines.cam import CamRecipe, max_normalize, threshold_argmax, to_image_size


class TinyNet(torch.nn.Module):
    """A 1x1 convolution from RGB to ``num_classes`` maps."""

    def __init__(self, num_classes: int = 21):
        super().__init__()
        self.standin_conv = torch.nn.Conv2d(3, num_classes, 1)

    def forward(self, x):
        return self.standin_conv(x)


def _standin_net(num_classes=21):
    return TinyNet(num_classes)


def _identity_layout(sd):
    return dict(sd)


def _maps(model, image):
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255.0
    return model(x)[0]


def standin_segment(model, image, *, crf, **_):
    out = _maps(model, image).argmax(0).numpy().astype(np.uint8)
    return np.where(out > 0, out, 0).astype(np.uint8) if not crf else np.zeros_like(out)


#: ReLU of the class maps of ``ids`` (class id c = channel c), max-normalised per class
STANDIN_CAM = CamRecipe("standin", pass_maps=lambda model, x, rows: torch.relu(model(x).index_select(1, rows + 1)),
                        targets=(("full", to_image_size),), normalize=max_normalize)


class StandInRecipePipeline(Pipeline):
    SETTINGS = {"bg_threshold": S.fraction("constant background score")}

    def _cam(self, image, ids):
        return compute_cam(self.models["cam"], image, ids)

    def _pseudo_mask(self, image, ids, *, saliency=None, crf=False):
        return threshold_argmax(self._cam(image, ids).numpy(), ids, float(self.settings.get("bg_threshold", 0.2)))


class StandInPipeline:
    """Registry-free pseudo-mask/CAM producer: left half of the image is the first label, right half bg."""

    name = "standin"
    needs_saliency = False

    def pseudo_mask(self, image, labels, *, saliency=None, crf=False):
        h, w = image.shape[:2]
        out = np.zeros((h, w), np.uint8)
        out[:, : w // 2] = labels[0]
        return out

    def cam(self, image, labels):
        h, w = image.shape[:2]
        cams = np.zeros((len(labels), h, w), np.float32)
        cams[0, :, : w // 2] = 1.0
        return torch.from_numpy(cams)


def _model(task, dataset, num_classes, filename, cam=True, segment=False, metrics=()):
    inference = {}
    if cam:
        inference["cam"] = {"recipe": "standin", "scales": [1.0], "flip": False}
    if segment:
        inference["segment"] = {"recipe": "standin"}
    return {"method": "STANDIN", "task": task, "dataset": dataset, "role": "final",
            "architecture": {"builder": "standin_net", "kwargs": {"num_classes": num_classes}},
            "layout": "standin", "filename": filename, "sha256": None, "size": None, "sources": [],
            "preprocess": {"channel_order": "RGB", "scale": 255, "mean": [0, 0, 0], "std": [1, 1, 1],
                           "arithmetic": "float32"},
            "inference": inference, "metrics": list(metrics)}


def _metric(dataset, split, stage, miou, crf=False, **extra):
    return dict({"dataset": dataset, "split": split, "stage": stage, "crf": crf, "miou": miou,
                 "source": "test"}, **extra)


def _pipeline(dataset, roles, metrics=(), user=()):
    return {"method": "STANDIN", "dataset": dataset, "recipe": "standin", "roles": roles,
            "user_weights_required": list(user), "needs_saliency": False, "settings": {"bg_threshold": 0.2},
            "crf": None, "metrics": list(metrics)}


def fake_registry(seg_reported: float = 50.0) -> dict:
    """A registry of stand-in entries covering every kind of verify row (see tests/data/test_verify.py)."""
    return {
        "schema_version": 1,
        "methods": {"STANDIN": {}},
        "models": {
            "standin_cam_voc": _model("cam", "voc", 21, "standin_cam_voc.pth",
                                      metrics=[_metric("voc12", "train", "cam", 40.0)]),
            "standin_seg_voc": _model("segmentation", "voc", 21, "standin_seg_voc.pth", cam=False, segment=True,
                                      metrics=[_metric("voc12", "val", "segmentation", seg_reported),
                                               _metric("voc12", "val", "segmentation", 51.0, crf=None),
                                               _metric("voc12", "test", "segmentation", 52.0)]),
            "standin_cam_coco": _model("cam", "coco", 81, "standin_cam_coco.pth"),
            "standin_irn_voc": _model("irn", "voc", 21, "standin_irn_voc.pth", cam=False),
            "standin_unpublished_voc": _model("cam", "voc", 21, "standin_unpublished_voc.pth",
                                              metrics=[_metric("voc12", "train", "cam", 30.0)]),
        },
        "pipelines": {
            "standin_voc": _pipeline("voc", {"cam": "standin_cam_voc"},
                                     [_metric("voc12", "train", "pseudo_mask", 60.0),
                                      _metric("voc12", "val", "pseudo_mask", 58.0),
                                      _metric("voc12", "train", "pseudo_mask", 61.0, crf=True)]),
            "standin_coco": _pipeline("coco", {"cam": "standin_cam_coco"},
                                      [_metric("coco14", "train", "pseudo_mask", 35.0, n_images=82081)]),
            "standin_user_voc": _pipeline("voc", {"cam": "standin_cam_voc", "irn": "standin_irn_voc"},
                                          [_metric("voc12", "train", "pseudo_mask", 65.0)], user=("irn",)),
        },
    }


def write_weights(weights_dir, names=("standin_cam_voc", "standin_seg_voc", "standin_cam_coco"), seed=0):
    """Stand-in weight files named as the registry's ``filename`` fields."""
    from pathlib import Path

    reg = fake_registry()["models"]
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    for name in names:
        n = reg[name]["architecture"]["kwargs"]["num_classes"]
        sd = {"standin_conv.weight": torch.randn(n, 3, 1, 1, generator=gen),
              "standin_conv.bias": torch.randn(n, generator=gen)}
        torch.save(sd, weights_dir / reg[name]["filename"])
    return weights_dir


# registered once per process (this module may be imported under two names by the test runner)
if "standin_net" not in ARCHITECTURES:
    register_model("standin_net")(_standin_net)
    register_layout("standin", signature=("standin_conv.weight",))(_identity_layout)
    register_cam_recipe(STANDIN_CAM)
    register_segment_recipe("standin")(standin_segment)
    register_pipeline("standin")(StandInRecipePipeline)



def use_registry(monkeypatch, document: dict) -> dict:
    """Make ``document`` (checkpoints.json-shaped) the whole registry for one test."""
    from wsss_zoo.registry import loader

    parsed = loader.build_catalog(document, builtin_origin="standin registry")
    monkeypatch.setattr(loader, "catalog", lambda: parsed)
    return document
