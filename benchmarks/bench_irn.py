#!/usr/bin/env python
"""CPU time per image of the IRN family (CDA-IRNet, RIB) at VOC size (500x375 by default).

    python benchmarks/bench_irn.py                      # 2 threads, 1 timed run after a warm-up
    python benchmarks/bench_irn.py --threads 1 --runs 3 --only cam pseudo_mask
    python benchmarks/bench_irn.py --only rib_step      # one RIB fine-tuning step (VOC defaults, 20 crops)

Networks get stand-in weights written in the published layouts (tests/fixtures/irn_layouts.py) and are
loaded through the public API, so each row runs what users run with upstream defaults:

* ``cam``         -- ``wsss_zoo.cam`` of cda_irn_resnet50_voc (4 scales x flip, stride-4 + full-res maps);
* ``edge``        -- IRNet boundary map (image + flip, padded to 512);
* ``walk``        -- random walk (radius 5, beta 10, 2^8 steps) and label map, from given CAMs and edge;
* ``pseudo_mask`` -- ``Pipeline.pseudo_mask`` of cda_irn_voc (CAM + edge + walk);
* ``rib_step``    -- the extra time of one RIB fine-tuning step (``rib_cam`` with 2 steps minus 1 step).

Prints wall seconds and process CPU seconds (summed over threads) per image, median over the runs.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from _common import timed
import wsss_zoo
from tests.fixtures import irn_layouts
from wsss_zoo.pipelines.irn import irn_cam_maps, propagate_to_edge, random_walk_labels

LABELS = [9, 15]  # chair, person
ROWS = ("cam", "edge", "walk", "pseudo_mask", "rib_step")


def test_image(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    low = rng.integers(0, 255, (height // 25 + 2, width // 25 + 2, 3), dtype=np.uint8)
    from PIL import Image

    return np.asarray(Image.fromarray(low).resize((width, height), Image.BICUBIC))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--size", default="375x500", help="HxW of the test image")
    ap.add_argument("--only", nargs="*", choices=ROWS, default=["cam", "edge", "walk", "pseudo_mask"])
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    height, width = (int(v) for v in args.size.lower().split("x"))
    image = test_image(height, width)

    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ.setdefault("WSSS_ZOO_HOME", tmp)
        cam_file = irn_layouts.write_irn_cam(Path(tmp) / "res50_cam.pth.pth", 20)
        irn_file = irn_layouts.write_irn_edge(Path(tmp) / "res50_irn.pth")
        pipe = wsss_zoo.load_pipeline("cda_irn_voc", weights={"cam": cam_file, "irn": irn_file})
        cam_net = pipe.models["cam"]
        with torch.inference_mode():
            cams = irn_cam_maps(cam_net, image, LABELS).strided
            edge = pipe.edge(image)

        def walk():
            with torch.inference_mode():
                random_walk_labels(propagate_to_edge(cams, edge), image.shape[:2], LABELS, 0.25)

        def edge_row():
            with torch.inference_mode():
                pipe.edge(image)

        def rib_steps(n):
            rng = np.random.default_rng(1)
            pool = wsss_zoo.ImagePool([rng.integers(0, 255, (375, 500, 3), dtype=np.uint8) for _ in range(40)],
                                      [[1]] * 40)
            return lambda: wsss_zoo.rib_cam(cam_net, image, LABELS, pool, steps=n, seed=0, stop_th=1e12,
                                            explode_ratio=1.1)

        jobs = {"cam": lambda: wsss_zoo.cam(cam_net, image, LABELS), "edge": edge_row, "walk": walk,
                "pseudo_mask": lambda: pipe.pseudo_mask(image, LABELS)}
        print(f"IRN family, image {height}x{width}, labels {LABELS}, torch threads {args.threads}, runs {args.runs}")
        for row in args.only:
            if row == "rib_step":
                one, two = timed(rib_steps(1), args.runs), timed(rib_steps(2), args.runs)
                wall, cpu = two[0] - one[0], two[1] - one[1]
            else:
                wall, cpu = timed(jobs[row], args.runs)
            print(f"{row:<12} {wall:8.2f} s/image wall   {cpu:8.2f} s/image CPU")


if __name__ == "__main__":
    main()
