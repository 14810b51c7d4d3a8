#!/usr/bin/env python
"""Images/s of dataset-wide generation (``wsss_zoo.generate``) on a generated VOC-layout dataset.

    python benchmarks/bench_generate.py                                  # this checkout, workers 0 and 2
    python benchmarks/bench_generate.py --base /tmp/wsss_main --runs 5   # alternate with another checkout

``--base DIR`` names another copy of the repository (e.g. ``git archive main | tar -x -C DIR``): every
round runs each configuration once, in a fresh process, alternating base and this checkout, so that the
noise of a shared machine falls on both; the table gives the median over ``--runs`` rounds and whether
the output files are byte-identical to the base's. A checkout whose ``generate()`` has no ``workers``
parameter runs its own loading path (the thread prefetcher before the DataLoader).

Targets (``--target``): ``io`` writes a mask computed from nothing but the image size (what is left is
decoding, encoding and writing: the part the workers and the writer take off the main thread); ``net`` runs
a small convolutional network (4 layers, full resolution, 1 thread, tens of ms per image) before the mask.
Times are wall seconds around ``generate()`` (imports and the dataset's creation excluded). "ms/img outside"
is the main thread's wall time per image outside the target's call (reading, waiting for the loader,
encoding, writing): the time a GPU network would sit idle, inflated when other processes take the CPUs;
"main CPU ms/img" is the CPU time the main thread itself spends per image outside the target (what the
loader workers and the writer thread take off it), which the load of a shared machine barely changes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_dataset(root: Path, n: int, height: int = 375, width: int = 500) -> Path:
    """``n`` VOC-like JPEGs (smooth colours plus noise, as photos compress) with one label each."""
    import numpy as np
    from PIL import Image

    voc = root / "VOC2012"
    for folder in ("JPEGImages", "Annotations", "ImageSets/Segmentation"):
        (voc / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ids = [f"2010_{i:06d}" for i in range(n)]
    names = ["cat", "dog", "person", "car", "bus", "horse"]
    for k, image_id in enumerate(ids):
        low = rng.integers(0, 256, (height // 25 + 2, width // 25 + 2, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(low).resize((width, height), Image.BILINEAR), dtype=np.int16)
        pixels = np.clip(smooth + rng.integers(-12, 13, smooth.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(voc / "JPEGImages" / f"{image_id}.jpg", quality=90)
        (voc / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><object><name>{names[k % len(names)]}</name></object></annotation>")
    (voc / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids) + "\n")
    return voc


class SizeOnly:
    """The first label on the left half of the image, background on the right (no pixel work)."""

    name = "io"

    def pseudo_mask(self, image, labels, *, saliency=None, crf=False):
        import numpy as np

        out = np.zeros(image.shape[:2], np.uint8)
        out[:, : image.shape[1] // 2] = labels[0]
        return out


class SmallNet:
    """Four 3x3 convolutions at full resolution, argmax over 21 channels, the image's labels kept."""

    name = "net"

    def __init__(self):
        import torch

        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
                                       torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
                                       torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
                                       torch.nn.Conv2d(16, 21, 3, padding=1)).eval()

    def pseudo_mask(self, image, labels, *, saliency=None, crf=False):
        import numpy as np
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
            scores = self.net(x)[0]
        keep = torch.tensor([0] + list(labels))
        return keep[scores.index_select(0, keep).argmax(0)].numpy().astype(np.uint8)


def child(args) -> None:
    """One timed run in this process (the checkout on sys.path is the one measured)."""
    import inspect

    import torch

    torch.set_num_threads(1)
    from wsss_zoo.data import generate as gen
    from wsss_zoo.data import open_dataset

    ds = open_dataset("voc", args.dataset, "train")
    target = {"io": SizeOnly, "net": SmallNet}[args.target]()
    compute, compute_cpu = [0.0], [0.0]
    produce = target.pseudo_mask

    def timed_produce(*a, **kw):
        t, c = time.perf_counter(), time.thread_time()
        try:
            return produce(*a, **kw)
        finally:
            compute[0] += time.perf_counter() - t
            compute_cpu[0] += time.thread_time() - c

    target.pseudo_mask = timed_produce
    kwargs = {"progress": False}
    has_workers = "workers" in inspect.signature(gen.generate).parameters
    if has_workers:
        kwargs["workers"] = args.workers
    start, start_cpu = time.perf_counter(), time.thread_time()
    report = gen.generate(ds, target, "pseudo-mask", args.out, **kwargs)
    seconds, main_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
    digest = hashlib.sha256()
    for path in sorted(Path(args.out).glob("*.png")):
        digest.update(path.name.encode() + path.read_bytes())
    print(json.dumps({"images_per_s": report.written / seconds, "written": report.written,
                      "overhead_ms": (seconds - compute[0]) / max(1, report.written) * 1000,
                      "main_cpu_ms": (main_cpu - compute_cpu[0]) / max(1, report.written) * 1000,
                      "loader": f"{args.workers} workers" if has_workers else "thread prefetch",
                      "files_sha256": digest.hexdigest()}))


def run_once(checkout: Path, dataset: Path, target: str, workers: int, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout), OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--dataset", str(dataset), "--target", target,
           "--workers", str(workers), "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(checkout))
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({checkout}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=48)
    p.add_argument("--runs", type=int, default=3, help="rounds; the table gives medians")
    p.add_argument("--workers", default="0,2", help="comma-separated worker counts for this checkout")
    p.add_argument("--target", default="io,net", help="io, net or both")
    p.add_argument("--base", type=Path, default=None, help="another checkout to alternate with (the baseline)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--dataset", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.workers = int(args.workers)
        child(args)
        return 0
    workers = [int(w) for w in args.workers.split(",")]
    targets = args.target.split(",")
    with tempfile.TemporaryDirectory(prefix="bench_generate_") as tmp:
        tmp = Path(tmp)
        sys.path.insert(0, str(ROOT))
        dataset = make_dataset(tmp / "data", args.images)
        configs = [(t, "base", args.base, 0) for t in targets if args.base] + \
                  [(t, "this", ROOT, w) for t in targets for w in workers]
        rates = {c[:2] + (c[3],): [] for c in configs}
        overheads = {key: [] for key in rates}
        main_cpu = {key: [] for key in rates}
        digests, loaders = {}, {}
        for round_ in range(args.runs):
            for target, label, checkout, w in configs:
                out = tmp / f"out_{target}_{label}_{w}_{round_}"
                result = run_once(checkout, dataset, target, w, out)
                rates[(target, label, w)].append(result["images_per_s"])
                overheads[(target, label, w)].append(result["overhead_ms"])
                main_cpu[(target, label, w)].append(result["main_cpu_ms"])
                digests.setdefault((target, label, w), result["files_sha256"])
                loaders[(target, label, w)] = result["loader"]
                print(f"round {round_ + 1}: {target:<4} {label:<5} {result['loader']:<16} "
                      f"{result['images_per_s']:7.1f} images/s {result['overhead_ms']:6.1f} ms/img outside the target "
                      f"({result['main_cpu_ms']:.1f} ms main-thread CPU)",
                      file=sys.stderr, flush=True)
        print(f"{args.images} images 500x375, medians of {args.runs} alternated rounds "
              f"({os.cpu_count()} CPUs, torch 1 thread)")
        print(f"{'target':<7}{'checkout':<10}{'loader':<18}{'images/s':>9} {'ms/img outside':>15} "
              f"{'main CPU ms/img':>16}  {'images/s of all runs':<34} same files as base")
        for (target, label, w), values in rates.items():
            base_key = (target, "base", 0)
            same = "-" if base_key not in digests else ("yes" if digests[(target, label, w)] == digests[base_key]
                                                         else "NO")
            runs = " ".join(f"{v:.1f}" for v in values)
            key = (target, label, w)
            print(f"{target:<7}{label:<10}{loaders[key]:<18}{statistics.median(values):>9.1f} "
                  f"{statistics.median(overheads[key]):>15.1f} {statistics.median(main_cpu[key]):>16.1f}  "
                  f"{runs:<34} {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
