"""Fixtures of the command-line tests: a subprocess runner, tiny images and stand-in weights.

Stand-in weights are written in the upstream layouts by ``tests/fixtures/*_layouts.py`` (random
values), then converted once per session to safetensors so that every CLI call loads them quickly.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_support import H, ROOT, W  # noqa: E402,F401


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """A folder with two 48x64 images (JPEG, PNG) and one in a subfolder, and a labels file."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("images")
    (root / "sub").mkdir()
    for rel, fmt in (("a.jpg", "JPEG"), ("b.png", "PNG"), ("sub/c.jpg", "JPEG")):
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / rel, fmt)
    (root / "notes.txt").write_text("not an image")
    labels = tmp_path_factory.mktemp("labels") / "labels.txt"
    labels.write_text("# image labels\na.jpg bicycle,person\nb 15\nsub/c cat\n")
    return root, labels


def _to_safetensors(name, upstream_path, out_dir):
    from wsss_zoo.publish import convert_file

    out = out_dir / f"{name}.safetensors"
    convert_file(upstream_path, name, out, progress=False)
    return out


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    """Stand-in weights: {model name: safetensors path} plus the raw upstream files under ``"upstream"``."""
    from fixtures.deeplab_layouts import write_deeplabv2_msc
    from fixtures.irn_layouts import write_cda_irn_edge_resnet50_voc, write_cda_irn_resnet50_voc

    d = tmp_path_factory.mktemp("standin_weights")
    upstream = {
        "cda_irn_resnet50_voc": write_cda_irn_resnet50_voc(d / "res50_cam.pth"),
        "cda_irn_edge_resnet50_voc": write_cda_irn_edge_resnet50_voc(d / "res50_irn.pth"),
        "drs_deeplabv2_resnet101_voc": write_deeplabv2_msc(d / "Deeplabv2_pseudo_segmentation_labels.pth"),
    }
    out = {name: _to_safetensors(name, path, d) for name, path in upstream.items()}
    out["upstream"] = upstream
    return out


@pytest.fixture(scope="session")
def irn_weights(weights):
    """``--weights`` arguments of the cda_irn_voc pipeline."""
    return ["--weights", f"cam={weights['cda_irn_resnet50_voc']}",
            "--weights", f"irn={weights['cda_irn_edge_resnet50_voc']}"]
