"""``eval``: mIoU of one or two prediction folders against a dataset split's ground truth, through the
library's :func:`wsss_zoo.evaluate.evaluate_folders`; ``--report`` also writes the HTML report
(docs/report.md), which names the command that produced it (:func:`command_line`)."""
from __future__ import annotations

import json
import math
import shlex
from typing import List, Optional

from ..errors import ConfigError
from . import options
from .messages import progress_wanted

HELP = "evaluate label maps or CAMs against a dataset split's ground truth (mIoU)"


def add_arguments(p) -> None:
    from ..metrics import CONVENTIONS

    p.add_argument("--pred", required=True, action="append", metavar="DIR",
                   help="folder of <id>.png label maps or <id>.npy CAMs; give it twice to compare two runs "
                        "(two methods, fp32 and bf16 outputs ...)")
    options.add_dataset_arguments(p)
    p.add_argument("--convention", default="standard", choices=sorted(CONVENTIONS),
                   help="upstream evaluator to follow (mean, out-of-range predictions, GT folder); default: %(default)s")
    p.add_argument("--gt", default=None, metavar="FOLDER",
                   help="VOC GT folder: SegmentationClass, SegmentationClassAug or a path (default: the convention's)")
    p.add_argument("--kind", choices=("auto", "label", "cam"), default="auto")
    p.add_argument("--threshold", default=None, metavar="T|A,B|START:STOP:STEP",
                   help="CAM background threshold(s); several = sweep, best reported")
    p.add_argument("--crop-val", type=int, default=None, metavar="SIZE",
                   help="compare on VainF --crop_val views of the GT (DRS DeepLab-V3+ numbers: 513)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the result as JSON")
    p.add_argument("--report", default=None, metavar="FILE.html",
                   help="also write a self-contained HTML report (with two --pred: their comparison)")
    p.add_argument("--report-images", type=int, default=8, metavar="K",
                   help="the report's gallery: the K worst and K best images, or with two --pred the K that "
                        "differ most (default: %(default)s; 0: no gallery)")
    p.add_argument("--name", action="append", default=None, metavar="LABEL",
                   help="label of each --pred in the report, in order (default: the folder names)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (bars are drawn on a terminal only)")


def parse_thresholds(text: Optional[str]) -> Optional[List[float]]:
    """``0.15`` | ``0.1,0.2`` | ``START:STOP:STEP`` (STOP inclusive, values i*STEP like upstream loops)."""
    if not text:
        return None
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            scale = round(1 / step)
            if not math.isclose(scale * step, 1.0):
                raise ValueError("STEP must divide 1 (0.01, 0.05, ...)")
            return [i / scale for i in range(round(start * scale), round(stop * scale) + 1)]
        return [float(x) for x in text.split(",") if x.strip()]
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        raise ConfigError(f"--threshold {text!r}: {exc}; use 0.15, 0.1,0.2 or 0.00:0.59:0.01") from None


def run(args) -> int:
    """Evaluate, print the tables (and their difference for two runs), write --json/--report."""
    from ..evaluate import evaluate_folders
    from ..fileio import atomic_write_text
    from ..metrics import get_convention

    preds = list(args.pred)
    if len(preds) > 2:
        raise ConfigError(f"--pred given {len(preds)} times; give one folder, or two to compare")
    if args.report_images < 0:
        raise ConfigError("--report-images must be 0 or more")
    conv = get_convention(args.convention)
    dataset_options = {}
    if getattr(args, "voc_root", None):
        dataset_options["gt"] = args.gt or conv.voc_gt
    elif args.gt:
        raise ConfigError("--gt applies to VOC; COCO GT folders follow the layout")
    dataset = options.dataset_from_args(args, **dataset_options)
    results = evaluate_folders(dataset, preds, names=args.name, convention=conv, kind=args.kind,
                               thresholds=parse_thresholds(args.threshold), crop_val=args.crop_val,
                               progress=progress_wanted(args), report=args.report,
                               report_images=args.report_images, command=command_line(args))
    print("\n\n".join(r.table() for r in results))
    if len(results) == 2:
        print(f"\nmIoU difference (second - first): {results[1].miou - results[0].miou:+.2f}")
    if args.report:
        print(f"report: {args.report}")
    if args.json:
        payload = results[0].to_json() if len(results) == 1 else {"runs": [r.to_json() for r in results]}
        atomic_write_text(args.json, json.dumps(payload, indent=1))
    return 0


#: ``wsss-zoo eval`` options in the order :func:`command_line` writes them: (dest, flag, default).
_OPTIONS = (("voc_root", "--voc-root", None), ("coco_root", "--coco-root", None), ("split", "--split", None),
            ("split_file", "--split-file", None), ("cls_labels", "--cls-labels", None),
            ("coco_layout", "--coco-layout", "auto"), ("limit", "--limit", None),
            ("convention", "--convention", None), ("gt", "--gt", None), ("kind", "--kind", "auto"),
            ("threshold", "--threshold", None), ("crop_val", "--crop-val", None), ("json", "--json", None),
            ("report", "--report", None), ("report_images", "--report-images", 8))


def command_line(args, prog: str = "wsss-zoo eval") -> str:
    """The ``wsss-zoo eval`` command that ``args`` stand for (the report names it)."""
    parts = prog.split()
    for pred in args.pred:
        parts += ["--pred", str(pred)]
    for name in getattr(args, "name", None) or ():
        parts += ["--name", name]
    for dest, flag, default in _OPTIONS:
        value = getattr(args, dest, default)
        if value is not None and value != default:
            parts += [flag, str(value)]
    return shlex.join(parts)
