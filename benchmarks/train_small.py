#!/usr/bin/env python
"""Small real networks for agreement measurements: the generated dataset, two CAM networks and IRN's
IRNet trained from scratch, and their mIoU, with one command.

    python benchmarks/train_small.py                          # -> ~/.cache/wsss_zoo_bench
    python benchmarks/train_small.py --out DIR --only irn     # one network
    python benchmarks/train_small.py --threads 2              # faster on an idle machine

About 1 h 45 min of one core (IRN 22 min, ResNet-38 43 min + 12 min of CAMs, IRNet ~25 min) and 1 GB of disk.

Steps (each skipped when its output exists with the same settings, so a rerun only finishes what is missing):

1. ``benchmarks/synthetic.py``: 800 train + 64 val images of coloured shapes on textured backgrounds
   (``OUT/data/VOC2012``);
2. ``training/run.py`` with a reduced schedule, from random init (no ImageNet weights) with BatchNorm on
   batch statistics (``--random-init --train-bn``; upstream freezes BN on ImageNet statistics) and real
   momentum (``--fix-polyoptimizer-momentum``):

   * ``irn``: recipe ``cda_irn_baseline_cam_voc`` (IRN ResNet-50 CAM classifier) ->
     ``OUT/irn/cda_irn_baseline_cam_voc.pth``, which loads as ``cda_irn_resnet50_voc`` (and ``rib_resnet50_voc``);
   * ``resnet38``: recipe ``eps_base_voc`` (PSA/EPS ResNet-38 classifier) -> ``OUT/resnet38/eps_base_resnet38_voc.pth``,
     which loads as ``eps_base_resnet38_voc`` (and ``cda_psa_resnet38_voc``, the same architecture and layout);
     also ``--no-dropout`` (with its Dropout2d layers the short run stays at the label-prior loss);
   * ``irn_edge``: IR labels from the ``irn`` network's train CAMs (``cda_irn_baseline_ir_labels_voc``), then
     recipe ``cda_irn_baseline_edge_voc`` (IRNet; its backbone never trains: random weights with batch-trained
     BN statistics here, ImageNet upstream) -> ``OUT/irn_edge/cda_irn_baseline_edge_voc.pth``, which loads as
     ``cda_irn_edge_resnet50_voc``; measured by the pseudo masks of ``cda_irn_voc`` with the ``irn`` network;

3. ``wsss-zoo cam`` (the published name's multi-scale CAM recipe) on the val split, then ``wsss-zoo eval``
   with a background-threshold sweep (``wsss-zoo pseudo-mask`` and a plain ``eval`` for ``irn_edge``); the
   mIoU is printed and written with the paths to ``OUT/weights.json``.

The equivalent command lines are printed as each step runs. CPU runs with the same seeds and thread
count give the same weights up to floating-point summation order.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import synthetic  # noqa: E402  (benchmarks/ is the script's folder)

DEFAULT_OUT = Path("~/.cache/wsss_zoo_bench")
THRESHOLDS = "0.05:0.95:0.05"
CAMS = "cams_val"  # per network: CAM dicts of the val split (kept while the weights are)
STAMP = "train_small.json"
#: what a run folder holds beside the weights, made from them (or, for IR labels, for them)
DERIVED = (CAMS, "cams_train_aug", "pseudo_masks_val", "ir_label_baseline")


@dataclasses.dataclass(frozen=True)
class Network:
    recipe: str                     # training/ recipe
    loads_as: Tuple[str, ...]       # published names whose architecture and layout the weights match
    iterations: int
    batch_size: int
    crop: int
    resize_long: Optional[Tuple[int, int]]
    lr: float
    extra: Tuple[str, ...] = ()     # further training/run.py options

    @property
    def name(self) -> str:          # the registry name CAMs are made with
        return self.loads_as[0]

    def train_args(self, voc_root: Path, out: Path, seed: int) -> List[str]:
        return [self.recipe, "--voc-root", str(voc_root), "--out", str(out), "--random-init", "--train-bn",
                "--fix-polyoptimizer-momentum", "--iterations", str(self.iterations), "--batch-size",
                str(self.batch_size), "--crop", str(self.crop),
                *(("--resize-long", *map(str, self.resize_long)) if self.resize_long else ()),
                "--lr", f"{self.lr:g}", "--seed", str(seed), "--workers", "0", "--log-every", "20",
                "--save-every", "50", *self.extra]


NETWORKS: Dict[str, Network] = {
    "irn": Network("cda_irn_baseline_cam_voc", ("cda_irn_resnet50_voc", "rib_resnet50_voc"),
                   iterations=300, batch_size=16, crop=160, resize_long=(128, 224), lr=0.05),
    "resnet38": Network("eps_base_voc", ("eps_base_resnet38_voc", "cda_psa_resnet38_voc"),
                        iterations=200, batch_size=8, crop=112, resize_long=(80, 144), lr=0.01,
                        extra=("--no-dropout",)),
    # IRNet (class boundaries + displacements) on IR labels of the irn network's CAMs; its ResNet-50 backbone
    # never trains (upstream: frozen ImageNet weights; here: random weights with batch-trained BN statistics)
    "irn_edge": Network("cda_irn_baseline_edge_voc", ("cda_irn_edge_resnet50_voc",),
                        iterations=150, batch_size=16, crop=160, resize_long=None, lr=0.05),
}
IR_LABELS = "cda_irn_baseline_ir_labels_voc"  # prep recipe: IR labels from the irn network's CAMs


def _shell(argv: List[str]) -> str:
    return " ".join(a if a and all(c.isalnum() or c in "-_./=:~," for c in a) else repr(a) for a in argv)


def _run(argv: List[str], env: dict) -> None:
    print(f"$ {_shell(argv)}", flush=True)
    subprocess.run(argv, cwd=ROOT, env=env, check=True)


def weights_file(out: Path, net: Network) -> Path:
    """Where training/run.py writes the recipe's network (``<registry name>.pth`` or ``<recipe>.pth``)."""
    from training.checkpoint import output_stem
    from training.recipes import get_recipe

    return out / f"{output_stem(get_recipe(net.recipe))}.pth"


def train(net: Network, voc_root: Path, out: Path, seed: int, env: dict, depends: str = "",
          prepare: Optional[Callable[[], None]] = None) -> Tuple[Path, float]:
    """Train (or keep) one network in ``out``; returns the weights file and the training seconds.

    ``out/train_small.json`` records the settings (and ``depends``: the stamp of the network whose outputs this
    one learns from): the same settings keep finished weights or resume an interrupted run; other settings
    start over, removing what earlier weights produced. ``prepare`` writes the run's inputs first.
    """
    argv = [sys.executable, "training/run.py", *net.train_args(voc_root, out, seed)]
    path, stamp = weights_file(out, net), out / STAMP
    key = {"argv": argv[1:], "depends": depends}
    old = json.loads(stamp.read_text()) if stamp.is_file() else {}
    same = {k: old.get(k) for k in key} == key
    if same and old.get("seconds") is not None and path.is_file():
        print(f"kept {path} (trained with the same settings)")
        return path, old["seconds"]
    if not same:
        (out / f"{net.recipe}.last.pth").unlink(missing_ok=True)
        for folder in DERIVED:
            shutil.rmtree(out / folder, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({**key, "seconds": None}))
    if prepare is not None:
        prepare()
    start = time.time()
    _run(argv, env)
    seconds = round(time.time() - start, 1)
    stamp.write_text(json.dumps({**key, "seconds": seconds}))
    (out / f"{net.recipe}.last.pth").unlink(missing_ok=True)  # resume state (ResNet-38: 0.8 GB), no longer needed
    return path, seconds


def _generate(command: str, target: List[str], voc_root: Path, split: str, out: Path, env: dict) -> None:
    _run([sys.executable, "-m", "wsss_zoo", command, *target, "--voc-root", str(voc_root), "--split", split,
          "--out", str(out), "--device", "cpu"] + ([] if sys.stderr.isatty() else ["--no-progress"]), env)


def _evaluate(pred: Path, voc_root: Path, result: Path, env: dict, thresholds: Optional[str] = None) -> dict:
    _run([sys.executable, "-m", "wsss_zoo", "eval", "--pred", str(pred), "--voc-root", str(voc_root), "--split", "val",
          *(("--threshold", thresholds) if thresholds else ()), "--json", str(result), "--no-progress"], env)
    return json.loads(result.read_text())


def cam_miou(net: Network, weights: Path, voc_root: Path, out: Path, env: dict) -> dict:
    """CAMs of the val split with the published name's CAM recipe, then the best-threshold mIoU."""
    _generate("cam", ["--model", net.name, "--weights", str(weights)], voc_root, "val", out / CAMS, env)
    return _evaluate(out / CAMS, voc_root, out / "eval_val.json", env, THRESHOLDS)


def ir_labels(cam_weights: Path, voc_root: Path, out: Path, env: dict) -> None:
    """IRN's IR labels (cam_to_ir_label 0.30 / 0.05 + CRF) from the CAM network's train_aug CAMs."""
    cams = cam_weights.parent / "cams_train_aug"
    _generate("cam", ["--model", NETWORKS["irn"].name, "--weights", str(cam_weights)], voc_root, "train_aug", cams, env)
    _run([sys.executable, "training/run.py", IR_LABELS, "--voc-root", str(voc_root), "--out", str(out),
          "--input", f"cams={cams}", "--workers", "0"], env)
    shutil.rmtree(cams)  # 0.2 GB, read only by the IR labels


def pseudo_mask_miou(cam_weights: Path, edge_weights: Path, voc_root: Path, out: Path, env: dict) -> dict:
    """Pseudo masks of pipeline cda_irn_voc (CAM + IRNet random walk) on the val split, and their mIoU."""
    masks = out / "pseudo_masks_val"
    _generate("pseudo-mask", ["--pipeline", "cda_irn_voc", "--weights", f"cam={cam_weights}", "--weights",
                              f"irn={edge_weights}"], voc_root, "val", masks, env)
    return _evaluate(masks, voc_root, out / "eval_val.json", env)


def run_network(key: str, voc_root: Path, out: Path, seed: int, env: dict) -> dict:
    """Train (or keep) network ``key`` and measure it: CAM mIoU, or for ``irn_edge`` the pseudo-mask mIoU of
    ``cda_irn_voc`` with the ``irn`` CAM network; returns its summary entry."""
    net, run_dir = NETWORKS[key], out / key
    entry = {"loads_as": list(net.loads_as), "recipe": net.recipe, "steps": net.iterations}
    if key != "irn_edge":
        weights, seconds = train(net, voc_root, run_dir, seed, env)
        result = cam_miou(net, weights, voc_root, run_dir, env)
        entry["cam_miou_val"] = result["miou"]
    else:
        cam_net = NETWORKS["irn"]
        cam_weights, cam_stamp = weights_file(out / "irn", cam_net), out / "irn" / STAMP
        if not cam_weights.is_file() or not cam_stamp.is_file():
            raise SystemExit("irn_edge learns from the irn network's CAMs: run with --only irn irn_edge")
        weights, seconds = train(net, voc_root, run_dir, seed, env, depends=cam_stamp.read_text(),
                                 prepare=lambda: ir_labels(cam_weights, voc_root, run_dir, env))
        result = pseudo_mask_miou(cam_weights, weights, voc_root, run_dir, env)
        entry.update(pipeline="cda_irn_voc", cam_weights=str(cam_weights), pseudo_mask_miou_val=result["miou"])
    entry.update(weights=str(weights), train_seconds=seconds, best_threshold=result["threshold"],
                 iou={c: v for c, v in zip(result["classes"], result["iou"]) if v is not None},
                 n_val=result["n_images"])
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ap.add_argument("--only", nargs="+", choices=list(NETWORKS), default=list(NETWORKS),
                    help="networks to train (default: all; irn_edge needs irn)")
    ap.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error("--threads must be at least 1")
    out = args.out.expanduser()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    print(f"$ {_shell([sys.executable, 'benchmarks/synthetic.py', str(out / 'data'), '--seed', str(args.seed)])}")
    voc_root = synthetic.write_tree(out / "data", seed=args.seed)
    summary_path = out / "weights.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    summary["dataset"] = str(voc_root)
    for key in [k for k in NETWORKS if k in args.only]:  # irn before irn_edge
        summary[key] = dict(run_network(key, voc_root, out, args.seed, env), threads=args.threads)
        summary_path.write_text(json.dumps(summary, indent=1))
    print(f"\n{'network':10} {'published name(s)':44} {'steps':>5} {'train s':>8} {'measure':>22} {'mIoU':>6}")
    for key in [k for k in NETWORKS if k in summary]:
        s = summary[key]
        measure = "pseudo mask cda_irn_voc" if key == "irn_edge" else f"CAM, bg thr {s['best_threshold']:.2f}"
        miou = s.get("pseudo_mask_miou_val", s.get("cam_miou_val"))
        print(f"{key:10} {' / '.join(s['loads_as']):44} {s['steps']:5d} {s['train_seconds']:8.0f} {measure:>22} "
              f"{miou:6.2f}")
    print(f"val split of {voc_root}; weights and figures: {summary_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
