#!/usr/bin/env python
"""CPU time per image of DRS inference and the DeepLab segmenters at VOC size (500x375 by default).

    python benchmarks/bench_drs_deeplab.py                 # 2 threads, 3 timed runs after a warm-up
    python benchmarks/bench_drs_deeplab.py --threads 1 --runs 5 --only drs_pseudo_mask deeplabv2

Networks are built with random weights (timing does not depend on the values) and carry their
registry settings, so each row runs exactly what ``wsss_zoo.cam`` / ``pseudo_mask`` / ``segment`` run:

* ``drs_cam``          -- DRS classifier maps, square sizes 256/320/384 in the 320 frame, resized to H x W;
* ``drs_pseudo_mask``  -- ``drs_voc``: refinement network at 256/320/384 + the saliency label rule;
* ``deeplabv2``        -- DeepLab-V2 ResNet-101 MSC (scales 1, 0.5, 0.75) on the full image;
* ``deeplabv3plus``    -- DeepLab-V3+ ResNet-101 OS16 on the full image;
* ``*_crf``            -- the same with ``crf=True`` (needs pydensecrf).

Prints wall seconds and process CPU seconds (all threads) per image, median over the runs.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from _common import print_rows, standin_network, standin_pipeline
import wsss_zoo


def _cases(height, width):
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (height, width, 3)).astype(np.uint8)
    saliency = np.zeros((height, width), np.uint8)
    saliency[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = 255
    labels = [3, 15]
    cases = {}

    cases["drs_cam"] = (lambda: standin_network("drs_vgg16_voc"), lambda m: wsss_zoo.cam(m, image, labels))
    cases["drs_pseudo_mask"] = (lambda: standin_pipeline("drs_voc"),
                                lambda p: p.pseudo_mask(image, labels, saliency=saliency))
    for key, name in (("deeplabv2", "drs_deeplabv2_resnet101_voc"), ("deeplabv3plus", "drs_deeplabv3plus_resnet101_voc")):
        cases[key] = (lambda n=name: standin_network(n), lambda m: wsss_zoo.segment(m, image))
        cases[key + "_crf"] = (lambda n=name: standin_network(n), lambda m: wsss_zoo.segment(m, image, crf=True))
    return cases


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--only", nargs="*", help="subset of the rows")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cases = _cases(args.height, args.width)
    names = args.only or list(cases)
    print(f"torch {torch.__version__}, {args.threads} thread(s), image {args.width}x{args.height}, "
          f"median of {args.runs} runs after one warm-up")
    print_rows(cases, names, args.runs)


if __name__ == "__main__":
    main()
