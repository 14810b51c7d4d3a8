#!/usr/bin/env python
"""Speed and agreement of the precision modes: fp32 against bf16 (and fp16 on a GPU), one process.

    python benchmarks/bench_precision.py                                  # every row, stand-in weights
    python benchmarks/bench_precision.py --weights-dir ~/.cache/wsss_zoo_bench/weights --image IMG --labels 1,3
    python benchmarks/bench_precision.py --only eps_voc cda_irn_voc --runs 3 --markdown table.md --json out.json

Rows: every pseudo-mask pipeline (``Pipeline.pseudo_mask``, CAM included) and every segmentation network
(``wsss_zoo.segment``), on one image (default: examples/cyclist.jpg, 500x375, labels bicycle and person).
For each row the fp32 subject and one subject per fast mode hold the same weights; the modes run
alternately, ``--runs`` times each, and the median seconds per image are reported with the speed-up.
Agreement with fp32 on the same image(s): CAM max and mean absolute error (pipelines), pseudo-mask and
segmentation pixel agreement (%) -- on the timing image, or with ``--agreement-root`` on val images of a
generated dataset that the trained weights of ``--weights-dir`` know (rows with stand-in weights then
report speed only).

Weights: ``--trained OUT`` takes the networks ``benchmarks/train_small.py --out OUT`` trained (read from
``OUT/weights.json``, each under every registry name it loads as) and measures the agreement on the val
images of its generated dataset; ``--weights-dir`` adds files named ``<registry name>.pth`` /
``.safetensors``. A row whose networks all come from there is marked ``trained``; the others get random
stand-in weights (``stand-in``), which time exactly the same but say little about agreement: random
networks give huge, badly conditioned logits.

    python benchmarks/bench_precision.py --threads 2                            # stand-ins, every row
    python benchmarks/bench_precision.py --threads 2 --trained ~/.cache/wsss_zoo_bench   # + agreement

With ``--images-per-set N`` (default 10,582, VOC train_aug) the table also estimates the minutes a whole
set would take at the measured speed.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from _common import ROOT, standin_network
import wsss_zoo
from wsss_zoo.devices import resolve_device
from wsss_zoo.pipelines.base import pipeline_class
from wsss_zoo.precision import apply_precision, resolve_precision
from wsss_zoo.registry import list_models, list_pipelines, model_entry, pipeline_entry

DEFAULT_IMAGE = ROOT / "examples" / "cyclist.jpg"
DEFAULT_LABELS = "bicycle,person"


def trained_weights(record: Optional[dict], weights_dir: Optional[Path]) -> Dict[str, Path]:
    """``{registry name: file}`` from ``train_small.py``'s ``weights.json`` record and a folder of ``<name>.pth``."""
    found: Dict[str, Path] = {}
    if record is not None:
        for net in record.values():
            if isinstance(net, dict) and net.get("weights"):
                found.update({name: Path(net["weights"]) for name in net.get("loads_as", [])})
    if weights_dir is not None:
        for path in sorted(weights_dir.iterdir()):
            if path.suffix in (".pth", ".safetensors") and path.is_file():
                found[path.stem] = path
    return found


def _network(name: str, weights: Dict[str, Path], device) -> (torch.nn.Module, bool):
    """(network in fp32 on ``device``, trained?): the trained file when there is one, else a stand-in."""
    if name in weights:
        return wsss_zoo.load(name, weights=str(weights[name]), device=device), True
    torch.manual_seed(0)
    return standin_network(name).to(device), False


def _labels_for(dataset: str, labels: str, coco_labels: str):
    return coco_labels if dataset == "coco" else labels


def build_row(name: str, weights: Dict[str, Path], device):
    """(subject, kind, run(subject) -> result, trained) for a pipeline or a segmentation network."""
    if name in list_pipelines():
        entry = pipeline_entry(name)
        nets, trained = {}, []
        for role, model in entry.roles.items():
            nets[role], was_trained = _network(model, weights, device)
            trained.append(was_trained)
        return pipeline_class(entry.recipe)(entry, nets, device=device), "pipeline", all(trained)
    net, trained = _network(name, weights, device)
    return net, "segment", trained


def with_precision(subject, kind: str, precision: str):
    """A copy of ``subject`` (same weights) whose networks run in ``precision``."""
    twin = copy.deepcopy(subject)
    for net in (twin.models.values() if kind == "pipeline" else [twin]):
        apply_precision(net, precision)
    if kind == "pipeline":
        twin.precision = precision
    return twin


def saliency_for(image: np.ndarray) -> np.ndarray:
    """A centred elliptic saliency map (DRS needs one; its values only steer the label rule)."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    return np.where(((yy - h / 2) / (h / 3)) ** 2 + ((xx - w / 2) / (w / 3)) ** 2 < 1, 255, 0).astype(np.uint8)


def run_once(subject, kind: str, image, labels, saliency):
    if kind == "pipeline":
        with_sal = saliency if subject.entry.needs_saliency else None
        cams = subject.cam(image, labels)
        mask = subject.pseudo_mask(image, labels, saliency=with_sal)
        return cams, mask
    return None, wsss_zoo.segment(subject, image)


def timed_alternating(subjects: Dict[str, object], kind: str, image, labels, saliency, runs: int):
    """Median seconds per image of each mode (pseudo mask or segmentation only), the modes alternating."""
    seconds = {mode: [] for mode in subjects}
    for i in range(runs + 1):  # the first round warms up (allocator, oneDNN primitives) and is not timed
        for mode, subject in subjects.items():
            start = time.perf_counter()
            if kind == "pipeline":
                with_sal = saliency if subject.entry.needs_saliency else None
                subject.pseudo_mask(image, labels, saliency=with_sal)
            else:
                wsss_zoo.segment(subject, image)
            elapsed = time.perf_counter() - start
            if i:
                seconds[mode].append(elapsed)
    return {mode: statistics.median(v) for mode, v in seconds.items()}


def agreement_images(args, dataset: str, labels: str):
    """``[(image, labels)]`` the agreement is measured on: the timing image, or ``--agreement-images`` images of
    the val split of ``--agreement-root`` (a generated VOC-layout dataset the trained weights know) with their
    labels; rows of other datasets keep the timing image."""
    if not args.agreement_root or dataset != "voc":
        return [(args.image_array, labels)]
    ds = wsss_zoo.open_dataset("voc", args.agreement_root, "val")
    picked = [i for i in ds.ids if ds.labels(i)][:args.agreement_images]
    return [(ds.image(i), ds.labels(i)) for i in picked]


def pooled_agreement(pairs) -> Dict[str, float]:
    """Agreement over several images: pixel-weighted mask agreement, largest CAM error, pixel-mean CAM error."""
    masks = sum(int((a[1] == b[1]).sum()) for a, b in pairs) / sum(a[1].size for a, _ in pairs) * 100
    out = {"mask_agreement": float(masks), "images": len(pairs)}
    if pairs[0][0][0] is not None:
        diffs = [(a[0] - b[0]).abs() for a, b in pairs]
        out.update(cam_max_abs=float(max(d.max() for d in diffs)),
                   cam_mean_abs=float(sum(d.sum() for d in diffs) / sum(d.numel() for d in diffs)))
    return out


def measure(name: str, args, device, modes: List[str]) -> dict:
    subject, kind, trained = build_row(name, args.weights, device)
    dataset = subject.dataset if kind == "pipeline" else model_entry(name).dataset
    labels = _labels_for(dataset, args.labels, args.coco_labels)
    subjects = {"fp32": subject}
    subjects.update({mode: with_precision(subject, kind, mode) for mode in modes})
    saliency = saliency_for(args.image_array)
    seconds = timed_alternating(subjects, kind, args.image_array, labels, saliency, args.runs)
    row = {"name": name, "kind": kind, "weights": "trained" if trained else "stand-in",
           "seconds": {m: round(s, 4) for m, s in seconds.items()}, "modes": {}}
    images = agreement_images(args, dataset, labels) if args.agreement_root is None or trained else []
    references = [run_once(subjects["fp32"], kind, im, lab, saliency_for(im)) for im, lab in images]
    for mode in modes:
        agree = pooled_agreement([(ref, run_once(subjects[mode], kind, im, lab, saliency_for(im)))
                                  for ref, (im, lab) in zip(references, images)]) if images else {}
        row["modes"][mode] = dict(agree, speedup=seconds["fp32"] / seconds[mode],
                                  set_minutes=seconds[mode] * args.images_per_set / 60)
    row["modes"]["fp32"] = {"set_minutes": seconds["fp32"] * args.images_per_set / 60}
    return row


def markdown(rows: List[dict], modes: List[str], header: str, images_per_set: int) -> str:
    lines = [header, "",
             "| row | weights | fp32 s/img | " + " | ".join(
                 f"{m} s/img | {m} speed-up | {m} CAM max / mean abs err | {m} mask agreement %" for m in modes)
             + f" | hours for {images_per_set:,} images ({' / '.join(['fp32'] + modes)}) |",
             "|---|---|---|" + "---|---|---|---|" * len(modes) + "---|"]
    for r in rows:
        cells = [f"`{r['name']}`", r["weights"], f"{r['seconds']['fp32']:.2f}"]
        for m in modes:
            a = r["modes"][m]
            cam = f"{a['cam_max_abs']:.1e} / {a['cam_mean_abs']:.1e}" if "cam_max_abs" in a else "–"
            agree = f"{a['mask_agreement']:.3f}" if "mask_agreement" in a else "–"
            cells += [f"{r['seconds'][m]:.2f}", f"{a['speedup']:.2f}x", cam, agree]
        cells.append(" / ".join(f"{r['modes'][m]['set_minutes'] / 60:.1f}" for m in ["fp32"] + modes))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    cpu = "CPU"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} thread(s), torch {torch.__version__}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    ap.add_argument("--runs", type=int, default=2, help="timed runs per mode (after one untimed round)")
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--labels", default=DEFAULT_LABELS, help="labels of the image for VOC rows")
    ap.add_argument("--coco-labels", default="bicycle,person", help="labels of the image for COCO rows")
    ap.add_argument("--trained", type=Path, default=None,
                    help="output folder of benchmarks/train_small.py: its networks, and its val images for the agreement")
    ap.add_argument("--weights-dir", type=Path, default=None, help="trained weights <name>.pth (else stand-ins)")
    ap.add_argument("--modes", nargs="*", default=None, help="fast modes (default: bf16 on CPU, bf16 fp16 on GPU)")
    ap.add_argument("--only", nargs="*", help="subset of the rows (pipeline or segmentation network names)")
    ap.add_argument("--images-per-set", type=int, default=10582, help="for the whole-set estimate")
    ap.add_argument("--agreement-root", type=Path, default=None,
                    help="measure the agreement on val images of this VOC-layout dataset (e.g. the generated set of "
                         "benchmarks/train_small.py), for rows with trained weights only")
    ap.add_argument("--agreement-images", type=int, default=8, help="how many val images (with labels)")
    ap.add_argument("--markdown", type=Path, help="write the table here")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args(argv)
    record = json.loads((args.trained / "weights.json").read_text()) if args.trained is not None else None
    args.weights = trained_weights(record, args.weights_dir)
    if record is not None and args.agreement_root is None:
        args.agreement_root = Path(record["dataset"])
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    modes = args.modes or (["bf16", "fp16"] if device.type == "cuda" else ["bf16"])
    for mode in modes:
        resolve_precision(mode, device)  # a mode this machine cannot run fails here, with the reason
    args.image_array = wsss_zoo.inputs.load_image(args.image)
    names = args.only or (list_pipelines() + list_models(task="segmentation"))
    header = (f"{machine()}; image {args.image.name} {args.image_array.shape[1]}x{args.image_array.shape[0]}; "
              f"median of {args.runs} alternating run(s) after one untimed round")
    print(header, flush=True)
    rows = []
    for name in names:
        try:
            row = measure(name, args, device, modes)
        except wsss_zoo.WsssZooError as exc:
            print(f"{name}: skipped ({exc})", flush=True)
            continue
        rows.append(row)
        parts = [f"fp32 {row['seconds']['fp32']:.2f} s"]
        for m in modes:
            a = row["modes"][m]
            cam = f", CAM err max {a['cam_max_abs']:.1e} mean {a['cam_mean_abs']:.1e}" if "cam_max_abs" in a else ""
            agree = f", mask {a['mask_agreement']:.3f} % on {a['images']} image(s)" if "mask_agreement" in a else ""
            parts.append(f"{m} {row['seconds'][m]:.2f} s ({a['speedup']:.2f}x){agree}{cam}")
        print(f"{name} [{row['weights']}]: " + "; ".join(parts), flush=True)
    table = markdown(rows, modes, header, args.images_per_set)
    print()
    print(table)
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
