"""``cam``, ``pseudo-mask`` and ``segment`` on an image or a folder of images (``--voc-root``/``--coco-root``
hand the same command to :mod:`.dataset_runs`). Outputs: docs/cli.md, "Output files"."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

from ..errors import ConfigError, DatasetError, InvalidImageError, InvalidLabelsError, SaliencyError
from . import dataset_runs, options, targets
from .batch_inputs import collect_images, labels_of, read_labels_file, saliency_of
from .messages import PROG, PartialFailure, progress, say

COMMANDS = {"cam": "class activation maps of a CAM network or pipeline",
            "pseudo-mask": "pseudo masks of a pipeline (the method's final label maps)",
            "segment": "label maps of a segmentation network (DeepLab)"}
DEFAULT_OUT = "wsss_zoo_out"
#: errors that concern one image of a folder: the run goes on without it
PER_IMAGE_ERRORS = (InvalidImageError, InvalidLabelsError, SaliencyError, DatasetError)


def add_arguments(p, command: str) -> None:
    """NAME, INPUT and the options of the image/folder mode (the dataset mode adds its own)."""
    what = {"cam": "a CAM network or a pipeline", "pseudo-mask": "a pipeline",
            "segment": "a segmentation network"}[command]
    p.add_argument("name", nargs="?", metavar="NAME", help=f"{what} (see wsss-zoo list)")
    p.add_argument("input", nargs="?", metavar="INPUT",
                   help="an image file or a folder of images (or, instead, a dataset split: --voc-root/--coco-root)")
    flags = {"cam": ("--pipeline", "--model"), "pseudo-mask": ("--pipeline",), "segment": ("--model",)}[command]
    p.add_argument(*flags, dest="name_option", metavar="NAME", help="the same as NAME")
    g = p.add_argument_group("output")
    g.add_argument("--out", default=None, metavar="DIR",
                   help=f"output folder (default for images and folders: {DEFAULT_OUT}; a dataset run needs it)")
    g = p.add_argument_group("image and folder inputs")
    if command != "segment":
        g.add_argument("--labels",
                       help="image-level labels: class names or ids, comma-separated (bicycle,person or 2,15)")
        g.add_argument("--labels-file", metavar="FILE",
                       help="labels per image for a folder: text lines 'NAME LABELS', JSON {NAME: [...]}, "
                            "or cls_labels.npy")
    g.add_argument("--recursive", action="store_true", help="also read the images in subfolders")
    g.add_argument("--skip-existing", action="store_true", help="skip images whose outputs exist (resume a run)")
    g.add_argument("--no-viz", action="store_true", help="write only the data files, no PNG visualisation")
    if command == "cam":
        g.add_argument("--cmap", default="jet", help="colour map of the heat maps (default: jet)")
    g = p.add_argument_group(f"{command} options")
    if command != "cam":
        g.add_argument("--crf", action="store_true", help="dense CRF post-processing (needs the crf extra)")
    if command == "pseudo-mask":
        g.add_argument("--saliency", "--saliency-dir", dest="saliency", metavar="PATH",
                       help="saliency maps of pipelines that need them (drs_voc): a file for one image, a folder "
                            "of NAME.png maps for a folder or a split (default for a split: the dataset's "
                            "saliency_map/ or SALImages/)")
    p.set_defaults(parser=p)


def run(args, command: str) -> int:
    """The command on an image, a folder, or (with --voc-root/--coco-root) a dataset split."""
    name = targets.target_name(args, command)
    if not name:
        args.parser.error("the following arguments are required: NAME")
    args.name = name
    options.check_mode(args)
    if options.is_dataset_run(args):
        if args.input is not None:
            raise ConfigError(f"give either INPUT ({args.input}) or a dataset split (--voc-root/--coco-root), "
                              "not both")
        return dataset_runs.run(args, command)
    return run_images(args, command)


def run_images(args, command: str) -> int:
    from ..inputs import load_image, parse_labels

    if args.input is None:
        raise ConfigError(f"give an image or a folder (or a dataset split: --voc-root/--coco-root); "
                          f"see {PROG} {command} --help")
    items = collect_images(args.input, args.recursive)
    single = Path(args.input).is_file()
    table = read_labels_file(args.labels_file) if getattr(args, "labels_file", None) else None
    runtime = options.runtime(args)
    spec = targets.prepare(args.name, command, runtime)  # names, settings, weights: before anything loads
    if command != "segment":
        if table is None and not args.labels:
            raise InvalidLabelsError("give the image-level labels: --labels bicycle,person (names or ids), "
                                     "or --labels-file FILE for a folder")
        if table is None:
            parse_labels(args.labels, spec.entry.dataset)
    if command == "pseudo-mask" and spec.entry.needs_saliency and not args.saliency:
        raise SaliencyError(f"{args.name} needs a saliency map per image: pass --saliency FILE "
                            "(or, for a folder, --saliency FOLDER holding NAME.png maps)")
    out = prepare_out(args.out or DEFAULT_OUT)
    target = spec.load()
    written, failed = 0, {}
    for path, stem in progress(items, args, command):
        paths = output_paths(out, stem, command, not args.no_viz)
        if args.skip_existing and all(p.is_file() for p in paths.values()):
            continue
        try:
            image = load_image(path)
            labels = None if command == "segment" else labels_of(args, stem, table)
            saliency = saliency_of(args, path, stem, single) if command == "pseudo-mask" else None
            result = compute(target, command, image, labels, args, saliency)
            write_outputs(target, command, image, labels, result, paths, args)
        except PER_IMAGE_ERRORS as exc:
            if single:
                raise
            failed[str(path)] = exc
            continue
        written += 1
        if single:
            say(args, *(str(p) for p in paths.values()))
    if not single:
        say(args, f"{command}: {written} image(s) written to {out}" + (f", {len(failed)} failed" if failed else ""))
    if failed:
        raise PartialFailure(failed, written, f"all {len(failed)} image(s) failed")
    return 0


def compute(target, command: str, image, labels, args, saliency=None):
    """One image: CAMs [K, H, W] for ``cam``, a label map [H, W] otherwise."""
    from .. import api

    if command == "cam":
        if target.kind == "pipeline":
            return target.obj.cam(image, labels)
        return api.cam(target.obj, image, labels, scales=options.parse_scales(getattr(args, "scales", None)),
                       flip=getattr(args, "flip", None))
    if command == "pseudo-mask":
        return target.obj.pseudo_mask(image, labels, saliency=saliency, crf=args.crf)
    return api.segment(target.obj, image, crf=args.crf)


def output_paths(out: Path, stem: str, command: str, viz: bool) -> Dict[str, Path]:
    paths = {"data": out / (stem + (".npy" if command == "cam" else ".png"))}
    if viz:
        paths["viz"] = out / (stem + ("_cam.png" if command == "cam" else "_overlay.png"))
    return paths


def write_outputs(target, command: str, image, labels, result, paths: Dict[str, Path], args) -> None:
    from .. import viz
    from ..data.io import write_cam_npy, write_label_png
    from ..inputs import parse_labels

    if command == "cam":
        ids = parse_labels(labels, target.dataset)
        cams = result.numpy()
        write_cam_npy(paths["data"], ids, cams, style=target.cam_style)
        if "viz" in paths:
            viz.save_png(viz.cam_figure(image, cams, ids, target.dataset, cmap=args.cmap), paths["viz"])
    else:
        write_label_png(paths["data"], result)
        if "viz" in paths:
            ids = parse_labels(labels, target.dataset) if labels is not None else None
            viz.save_png(viz.overlay_mask(image, result, target.dataset, labels=ids,
                                          note="dense CRF applied (--crf)" if args.crf else None), paths["viz"])


def prepare_out(path) -> Path:
    """The output folder, created; a ConfigError naming --out when it cannot be written."""
    out = Path(path).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {out}: {exc.strerror or exc}; "
                          "choose another --out") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"the output folder {out} is not writable; choose another --out")
    return out
