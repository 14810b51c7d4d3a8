"""``compare``: one image through several pipelines and networks, side by side in one PNG grid
(:func:`wsss_zoo.viz.compare_grid`). Guide: docs/cli.md, "wsss-zoo compare"."""
from __future__ import annotations

import time
from pathlib import Path
from typing import List

from ..errors import ConfigError, SaliencyError, WsssZooError
from . import options, targets
from .image_commands import compute, prepare_out
from .messages import PartialFailure, progress, say

HELP = "one image through several pipelines, side by side in one PNG"


def add_arguments(p) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--labels", required=True, help="image-level labels: names or ids, comma-separated")
    p.add_argument("--methods", help="comma-separated pipelines/networks (default: every pipeline of the dataset "
                                     "that needs no user-trained weights)")
    p.add_argument("--dataset", choices=("voc", "coco"), help="dataset of the default --methods (default: voc)")
    p.add_argument("--saliency", metavar="FILE", help="saliency map for pipelines that need one (drs_voc)")
    p.add_argument("--crf", action="store_true", help="dense CRF where the method defines one")
    p.add_argument("--no-cam", action="store_true", help="only the mask row")
    p.add_argument("--cell-width", type=int, default=320, help="width of each panel in pixels (default: 320)")
    p.add_argument("--cmap", default="jet", help="colour map of the CAM row (default: jet)")
    p.add_argument("--out", default="compare.png", help="the PNG to write (default: compare.png)")
    options.add_network_options(p, "compare")


def run(args) -> int:
    """Load each method in turn (one that cannot run is left out and named: exit code 3), draw the grid."""
    from .. import viz
    from ..inputs import load_image, parse_labels
    from ..registry import entry as registry_entry

    names = [n.strip() for n in (args.methods or "").split(",") if n.strip()]
    dataset = args.dataset or (registry_entry(names[0]).dataset if names else "voc")
    names = names or _default_names(dataset)
    options.check_compare_weights(args.weights, names)
    for name in names:
        info = registry_entry(name)  # unknown names fail before any work
        if info.dataset != dataset:
            raise ConfigError(f"{name} is a {info.dataset} model; compare puts one dataset's models side "
                              f"by side ({dataset})")
    if args.cell_width < 16:
        raise ConfigError(f"--cell-width {args.cell_width} is too small; give at least 16 pixels")
    ids = parse_labels(args.labels, dataset)
    image = load_image(args.image)
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out names the grid PNG file, e.g. compare.png; got {out}")
    runtime = options.runtime(args)
    prepare_out(out.parent if str(out.parent) else ".")
    columns, failed = [], {}
    for name in progress(names, args, "compare"):
        try:
            columns.append(_column(name, image, ids, args, runtime))
        except WsssZooError as exc:
            failed[name] = f"left out of the grid: {exc}"
    if not columns:
        raise PartialFailure(failed, 0, "no method could run (missing weights? use wsss-zoo download NAME, or "
                                        "--weights NAME=PATH)")
    title = ", ".join(viz.class_name(i, dataset) for i in ids)
    grid = viz.compare_grid(image, columns, dataset, cell_width=args.cell_width, cmap=args.cmap, title=title)
    viz.save_png(grid, out)
    say(args, f"{out} ({grid.shape[1]}x{grid.shape[0]}): " + ", ".join(c.title for c in columns))
    if failed:
        raise PartialFailure(failed, len(columns))
    return 0


def _default_names(dataset: str) -> List[str]:
    from ..registry import pipelines

    return [p.name for p in pipelines() if p.dataset == dataset and not p.user_weights_required]


def _column(name: str, image, labels, args, runtime):
    from .. import viz
    from ..registry import entry as registry_entry

    entry = registry_entry(name)
    command = "pseudo-mask" if entry.kind == "pipeline" else ("cam" if entry.inference.cam else "segment")
    if command == "pseudo-mask" and entry.needs_saliency and not args.saliency:
        raise SaliencyError(f"{name} needs --saliency FILE")
    target = targets.prepare(name, command, runtime, strict_weights=False).load()
    start = time.perf_counter()
    cam = mask = None
    if command in ("cam", "pseudo-mask") and not args.no_cam:
        cam = compute(target, "cam", image, labels, args).numpy()
    if command == "pseudo-mask":
        saliency = args.saliency if entry.needs_saliency else None
        mask = compute(target, "pseudo-mask", image, labels, args, saliency)
    elif command == "segment":
        mask = compute(target, "segment", image, None, args)
    seconds = time.perf_counter() - start
    return viz.Column(name, cam=cam, mask=mask, subtitle=f"{entry.method} · {seconds:.1f} s")
