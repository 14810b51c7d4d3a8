#!/usr/bin/env python
"""CPU time per image of the ResNet-38 family (EPS, PSA, SEAM, SBNet) at VOC size (500x375 by default).

    python benchmarks/bench_resnet38.py                     # 2 threads, 1 timed run after a warm-up
    python benchmarks/bench_resnet38.py --threads 1 --runs 3 --only eps_cam cda_seam_voc

Networks get random weights (timing does not depend on the values) and their registry settings, so a
row runs exactly what the public API runs with upstream defaults (4 scales x flip):

* ``<name>_cam``    -- ``wsss_zoo.cam`` of a CAM network (eps, eps_base, psa, seam, sbnet);
* pipeline names    -- ``Pipeline.pseudo_mask`` (CAM included; the affinity pipelines add the
  AffinityNet forward at full resolution and the sparse random walk);
* ``<pipeline>_crf`` -- the same with ``crf=True`` where the pipeline defines a CRF.

Prints wall seconds and process CPU seconds (summed over threads) per image, median over the runs.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from _common import print_rows, standin_network, standin_pipeline
import wsss_zoo
from wsss_zoo.registry import pipeline_entry

CAM_NETWORKS = {"eps_cam": "eps_resnet38_voc", "eps_base_cam": "eps_base_resnet38_voc",
                "psa_cam": "cda_psa_resnet38_voc", "seam_cam": "cda_seam_resnet38_voc", "sbnet_cam": "sbnet_resnet38_voc"}
PIPELINES = ("eps_voc", "eps_base_voc", "cda_psa_voc", "cda_seam_voc", "sbnet_voc")
LABELS = [9, 15]  # chair, person


def rows(image: np.ndarray):
    """name -> (build, run) for every row."""
    out = {}
    for row, name in CAM_NETWORKS.items():
        out[row] = (lambda n=name: standin_network(n), lambda m: wsss_zoo.cam(m, image, LABELS))
    for name in PIPELINES:
        out[name] = (lambda n=name: standin_pipeline(n), lambda p: p.pseudo_mask(image, LABELS))
        if pipeline_entry(name).crf is not None:
            out[name + "_crf"] = (lambda n=name: standin_pipeline(n), lambda p: p.pseudo_mask(image, LABELS, crf=True))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--height", type=int, default=375)
    ap.add_argument("--width", type=int, default=500)
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed first call")
    ap.add_argument("--only", nargs="*", help="subset of the rows")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    image = np.random.RandomState(0).randint(0, 256, (args.height, args.width, 3)).astype(np.uint8)
    table = rows(image)
    print(f"torch {torch.__version__}, {args.threads} thread(s), image {args.width}x{args.height}, "
          f"median of {args.runs} run(s){'' if args.no_warmup else ' after a warm-up'}")
    print_rows(table, args.only or list(table), args.runs, warmup=not args.no_warmup)


if __name__ == "__main__":
    main()
