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
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import wsss_zoo  # noqa: E402
from wsss_zoo.pipelines.base import pipeline_class  # noqa: E402
from wsss_zoo.registry import build_model, model_entry, pipeline_entry  # noqa: E402

CAM_NETWORKS = {"eps_cam": "eps_resnet38_voc", "eps_base_cam": "eps_base_resnet38_voc",
                "psa_cam": "cda_psa_resnet38_voc", "seam_cam": "cda_seam_resnet38_voc", "sbnet_cam": "sbnet_resnet38_voc"}
PIPELINES = ("eps_voc", "eps_base_voc", "cda_psa_voc", "cda_seam_voc", "sbnet_voc")
LABELS = [9, 15]  # chair, person


def network(name: str) -> torch.nn.Module:
    entry = model_entry(name)
    model = build_model(entry).eval()
    model.wsss_zoo_cfg = entry
    return model


def pipeline(name: str):
    entry = pipeline_entry(name)
    return pipeline_class(entry["recipe"])(entry, {role: network(n) for role, n in entry["roles"].items()})


def rows(image: np.ndarray):
    """name -> (build, run) for every row."""
    out = {}
    for row, name in CAM_NETWORKS.items():
        out[row] = (lambda n=name: network(n), lambda m: wsss_zoo.cam(m, image, LABELS))
    for name in PIPELINES:
        out[name] = (lambda n=name: pipeline(n), lambda p: p.pseudo_mask(image, LABELS))
        if pipeline_entry(name).get("crf"):
            out[name + "_crf"] = (lambda n=name: pipeline(n), lambda p: p.pseudo_mask(image, LABELS, crf=True))
    return out


def timed(fn, subject, runs: int):
    """Median (wall, cpu) seconds of ``fn(subject)`` over ``runs`` calls."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        fn(subject)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


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
    print(f"{'row':<18} {'wall s/img':>10} {'cpu s/img':>10}")
    for name in args.only or list(table):
        build, run = table[name]
        try:
            subject = build()
            if not args.no_warmup:
                run(subject)
        except wsss_zoo.WsssZooError as exc:
            print(f"{name:<18} skipped: {exc}")
            continue
        wall, cpu = timed(run, subject, args.runs)
        print(f"{name:<18} {wall:>10.2f} {cpu:>10.2f}", flush=True)
        del subject


if __name__ == "__main__":
    main()
