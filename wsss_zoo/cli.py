"""The ``wsss-zoo`` command line (also ``python -m wsss_zoo``); the user guide is docs/cli.md.

Exit codes: 0 done; 1 internal error (a bug: the traceback is printed, please report it);
2 bad usage or a :class:`~wsss_zoo.errors.WsssZooError` (one line ``wsss-zoo: error: ...``, no
traceback unless ``--debug``); 3 partly done (some images or names failed, each named on stderr,
the others were written); 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from typing import List, Optional, Sequence, Tuple

from . import __version__
from .cli_images import PROG, PartialFailure, cmd_compare, error_text, run_images, say, warn
from .errors import ConfigError, WsssZooError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXIT_CODES_HELP = """exit codes: 0 done, 2 bad usage or input (one-line message), 3 partly done (the failed
items are named on stderr), 1 internal error (a bug; traceback printed), 130 interrupted."""


# --------------------------------------------------------------------------- warnings and devices
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings of wsss_zoo as one line each; library-internal ones (torch's beta notices) only with --debug."""
    text = str(message)
    if os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep) and "(Triggered internally at" not in text:
        warn(text)


def resolve_device(spec: Optional[str]) -> str:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; checked here."""
    from .devices import resolve_device as resolve

    return str(resolve(spec))


# --------------------------------------------------------------------------- registry commands
def _is_cached(model_name: str) -> bool:
    from .cache import cached_file_path
    from .registry import model_entry

    return cached_file_path(model_entry(model_name)).is_file()


def _license_text(entry) -> str:
    from .model_card import format_license

    return format_license(entry.license)


def cmd_list(args) -> int:
    from .registry import models, pipelines

    rows = []
    if not args.pipelines:
        for e in models():
            if any(v and str(getattr(e, k)).lower() != v.lower() for k, v in
                   (("method", args.method), ("task", args.task), ("dataset", args.dataset))):
                continue
            rows.append({"name": e.name, "kind": "network", "method": e.method, "task": e.task,
                         "dataset": e.dataset, "cached": _is_cached(e.name), "license": _license_text(e)})
    if not args.models and not args.task:
        for e in pipelines():
            if any(v and str(getattr(e, k)).lower() != v.lower() for k, v in
                   (("method", args.method), ("dataset", args.dataset))):
                continue
            rows.append({"name": e.name, "kind": "pipeline", "method": e.method, "task": "pseudo-mask",
                         "dataset": e.dataset, "cached": all(_is_cached(m) for m in e.roles.values()),
                         "license": _license_text(e)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("nothing matches; drop a filter or see wsss-zoo list")
        return EXIT_OK
    header = ("NAME", "KIND", "METHOD", "TASK", "DATASET", "CACHED", "LICENSE")
    table = [header] + [(r["name"], r["kind"], r["method"], r["task"], r["dataset"], "yes" if r["cached"] else "-",
                         r["license"]) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return EXIT_OK


def cmd_info(args) -> int:
    from .cache import cached_file_path, describe_sources
    from .model_card import model_card
    from .registry import entry as registry_entry

    entry = registry_entry(args.name)
    if args.json:
        print(json.dumps(entry.to_dict(), indent=2))
        return EXIT_OK
    print(args.name)
    print(model_card(args.name))
    print()
    if entry.kind == "pipeline":
        for role, model in entry.roles.items():
            state = "cached" if _is_cached(model) else "not cached"
            print(f"role {role}: {model} ({state})")
        if entry.settings:
            print("settings (override with --set KEY=VALUE): "
                  + ", ".join(f"{k}={v}" for k, v in entry.settings.items()))
    else:
        path = cached_file_path(entry)
        print(f"file: {entry.filename} ({'cached at ' + str(path) if path.is_file() else 'not cached'})")
        print(f"sources: {describe_sources(entry)}")
        cam = entry.inference.cam
        if cam:
            print(f"CAM inference: recipe {cam.recipe}, scales {list(cam.scales)}, flip {cam.flip}")
    return EXIT_OK


def _expand_download_names(args) -> List[str]:
    from .registry import entry as registry_entry
    from .registry import list_models

    names = list(args.names)
    if args.all:
        names += list_models(method=args.method, dataset=args.dataset)
    if not names:
        raise ConfigError(f"name what to download (e.g. {PROG} download eps_voc), or pass --all")
    models: List[str] = []
    for name in names:
        entry = registry_entry(name)  # unknown names fail before any download
        if entry.kind == "pipeline":
            for role, model in entry.roles.items():
                if role in entry.user_weights_required:
                    warn(f"{name}: role '{role}' has no published weights (train one and pass --weights {role}=PATH)")
                elif model not in models:
                    models.append(model)
        elif name not in models:
            models.append(name)
    return models


def cmd_download(args) -> int:
    from . import cache, hub
    from .registry import model_entry

    models = _expand_download_names(args)
    done, failed = 0, []
    for name in models:
        try:
            if args.verify:
                result = cache.verify_cached(model_entry(name))  # never records: a mismatch stays one
                print(f"{name}: {result.message}")
                if not result.ok:
                    failed.append(name)
                    continue
            else:
                path = hub.download(model_entry(name), progress=not args.quiet)
                print(f"{name}: {path}")
        except WsssZooError as exc:
            failed.append(name)
            print(f"{PROG}: error: {name}: {error_text(exc)}", file=sys.stderr)
            continue
        done += 1
    if failed:
        if not done:
            return EXIT_USAGE
        raise PartialFailure()
    return EXIT_OK


def cmd_convert(args) -> int:
    from .publish import convert_file

    summary = convert_file(args.file, args.name, args.out, progress=not args.quiet)
    print(f"{summary['out']}: {args.name}, {summary['tensors']} tensors, {summary['parameters']:,} parameters "
          f"(source sha256 {summary['source_sha256'][:12]}…)")
    say(args, f"load it with: wsss_zoo.load({args.name!r}, weights={summary['out']!r})")
    return EXIT_OK


def cmd_publish(args) -> int:
    from .publish import publish

    from .publish import upload_hint

    summary = publish(args.name, args.out, args.weights, progress=not args.quiet, overwrite=args.overwrite,
                      retrained=args.retrained)
    print(f"{summary['out']}: " + ", ".join(summary["files"]))
    say(args, f"upload with: {upload_hint(args.name, summary['out'])}")
    return EXIT_OK


# --------------------------------------------------------------------------- parser
EXAMPLES = {
    "main": """examples:
  wsss-zoo list --method EPS
  wsss-zoo info eps_voc
  wsss-zoo download eps_voc
  wsss-zoo pseudo-mask eps_voc examples/cyclist.jpg --labels bicycle,person --out out/
  wsss-zoo compare examples/cyclist.jpg --labels bicycle,person --methods eps_voc,cda_irn_voc --out compare.png

Run "wsss-zoo COMMAND --help" for a command's options.""",
    "list": """examples:
  wsss-zoo list
  wsss-zoo list --method EPS --dataset voc
  wsss-zoo list --pipelines --json""",
    "info": """examples:
  wsss-zoo info eps_resnet38_voc
  wsss-zoo info cda_irn_voc --json""",
    "download": """examples:
  wsss-zoo download eps_voc                # a pipeline: every network it needs
  wsss-zoo download drs_vgg16_voc drs_deeplabv2_resnet101_voc
  wsss-zoo download --all --method CDA
  wsss-zoo download --verify eps_voc       # re-hash the cached files, compare with the records

Files land in $WSSS_ZOO_HOME (default ~/.cache/torch/hub/wsss_zoo); WSSS_ZOO_OFFLINE=1 forbids downloads.""",
    "cam": """examples:
  wsss-zoo cam eps_resnet38_voc examples/cyclist.jpg --labels bicycle,person
  wsss-zoo cam cda_irn_voc photos/ --labels-file labels.txt --out cams/
  wsss-zoo cam rib_resnet50_voc img.jpg --labels 15 --scales 1.0 --no-flip --weights rib.pth

writes OUT/NAME.npy (the upstream CAM dict, loadable by the upstream evaluation scripts) and
OUT/NAME_cam.png (one heat map per class with a colour bar).""",
    "pseudo-mask": """examples:
  wsss-zoo pseudo-mask eps_voc examples/cyclist.jpg --labels bicycle,person
  wsss-zoo pseudo-mask cda_irn_voc photos/ --labels-file cls_labels.npy --out masks/ --device cuda
  wsss-zoo pseudo-mask drs_voc img.jpg --labels person --saliency img_sal.png
  wsss-zoo pseudo-mask rib_voc img.jpg --labels dog --weights irn=my_irn.pth --set sem_seg_bg_thres=0.3

writes OUT/NAME.png (palette PNG whose values are the class ids, 255 = ignore) and
OUT/NAME_overlay.png (the mask over the image, with a legend).""",
    "segment": """examples:
  wsss-zoo segment drs_deeplabv2_resnet101_voc examples/cyclist.jpg
  wsss-zoo segment sbnet_deeplabv2_resnet101_voc photos/ --out seg/ --crf

writes OUT/NAME.png (class ids) and OUT/NAME_overlay.png.""",
    "compare": """examples:
  wsss-zoo compare examples/cyclist.jpg --labels bicycle,person --out docs/compare.png
  wsss-zoo compare img.jpg --labels dog --methods eps_voc,cda_irn_voc,sbnet_voc --cell-width 400
  wsss-zoo compare img.jpg --labels cat --methods eps_voc,cda_psa_voc --weights eps_resnet38_voc=eps.pth

--methods takes pipelines (CAM row + pseudo-mask row), CAM networks (CAM row) and segmentation
networks (mask row); the default is every VOC pipeline that needs no user-trained weights. A
method that cannot run (no weights, no saliency) is left out with a warning (exit code 3).""",
    "convert": """examples:
  wsss-zoo convert ~/Downloads/eps_resnet38_voc.pth --name eps_resnet38_voc --out eps_voc.safetensors
  wsss-zoo convert res50_cam.pth --name cda_irn_resnet50_voc --out cam.safetensors

the result loads with wsss_zoo.load(NAME, weights=OUT) and holds no pickle.""",
    "publish": """examples:
  wsss-zoo download drs_vgg16_voc          # records the sha256 of the authors' file
  wsss-zoo publish drs_vgg16_voc --out hf/drs_vgg16_voc
  wsss-zoo publish drs_vgg16_voc --weights my_training.pth --retrained --out hf/my_drs
  hf upload <user>/drs_vgg16_voc hf/drs_vgg16_voc .

refuses networks whose license does not allow re-hosting (EPS and RIB publish no license), and files
that are not the authors' (sha256 other than the one recorded at download) unless --retrained.""",
    "eval": """examples:
  wsss-zoo eval --pred masks/ --voc-root data/VOCdevkit/VOC2012 --split train
  wsss-zoo eval --pred cams/ --voc-root data/VOCdevkit/VOC2012 --split train --threshold 0.05:0.50:0.01
  wsss-zoo eval --pred masks/ --voc-root data/VOCdevkit/VOC2012 --split train --report report.html
  wsss-zoo eval --pred fp32/ --pred bf16/ --voc-root data/VOCdevkit/VOC2012 --split train --report diff.html

conventions (--convention) and dataset layouts: docs/datasets.md; the HTML report: docs/report.md""",
}


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _common_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("general")
    g.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the full traceback of errors")
    g.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress bars or summary lines")
    return p


def _add_runtime(p, out_default: Optional[str]) -> None:
    g = p.add_argument_group("running")
    g.add_argument("--device", default="auto",
                   help="auto (CUDA if available), cpu, cuda, cuda:N or mps (default: auto)")
    g.add_argument("--weights", action="append", metavar="[KEY=]PATH", default=[],
                   help="local weights instead of the download: PATH for a network, ROLE=PATH or NETWORK=PATH "
                        "for a pipeline's networks (repeatable)")
    if out_default is not None:
        g.add_argument("--out", default=out_default, help=f"output folder (default: {out_default})")


def _add_image_inputs(p, command: str) -> None:
    p.add_argument("name", metavar="NAME", help="a network or pipeline name (see wsss-zoo list)")
    p.add_argument("input", nargs="?", metavar="INPUT", help="an image file or a folder of images")
    g = p.add_argument_group("input")
    if command != "segment":
        g.add_argument("--labels",
                       help="image-level labels: class names or ids, comma-separated (bicycle,person or 2,15)")
        g.add_argument("--labels-file", metavar="FILE",
                       help="labels per image for a folder: text lines 'NAME LABELS', JSON {NAME: [...]}, "
                            "or cls_labels.npy")
    g.add_argument("--recursive", action="store_true", help="also read the images in subfolders")
    g.add_argument("--skip-existing", action="store_true", help="skip images whose outputs exist (resume a run)")
    g.add_argument("--no-viz", action="store_true", help="write only the data files, no PNG visualisation")
    g.add_argument("--cmap", default="jet", help="colour map of CAM heat maps (default: jet)")


SPLIT_FLAGS = ("--voc-root", "--coco-root")
IMAGE_COMMANDS = ("cam", "pseudo-mask", "segment")


def split_mode_argv(argv: Sequence[str]) -> Tuple[Optional[str], List[str]]:
    """``(command, argv)`` when ``argv`` asks for a dataset split (``--voc-root``/``--coco-root``).

    The split mode's options belong to :mod:`wsss_zoo.data.generate`, which names the method with
    ``--pipeline``/``--model``; a NAME given right after the command is passed on as that option.
    """
    argv = list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in IMAGE_COMMANDS or not any(a.split("=")[0] in SPLIT_FLAGS for a in argv):
        return None, argv
    i = argv.index(command)
    if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
        argv[i + 1:i + 2] = ["--model" if command == "segment" else "--pipeline", argv[i + 1]]
    return command, argv


def _split_epilog(command: str) -> str:
    return (f"dataset split mode: wsss-zoo {command} NAME --voc-root DIR --split train --out DIR\n"
            f"  (its options: wsss-zoo {command} --voc-root X --help)")


def run_split(args) -> int:
    """Dataset-split mode, run by :func:`wsss_zoo.data.generate.run`; its "some images failed" (1) is our 3."""
    from .data import generate

    code = int(generate.run(args) or 0)
    return EXIT_PARTIAL if code == 1 else code


def build_parser(split_command: Optional[str] = None) -> argparse.ArgumentParser:
    """The whole parser; ``split_command`` gives that command its dataset-split options instead."""
    from . import evaluate
    from .data import generate

    common = _common_parent()
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=_formatter, parents=[common],
        description="Weakly-supervised semantic segmentation methods (DRS, CDA, EPS, SBNet, RIB) with their "
                    "published weights: CAMs, pseudo masks, segmentation, evaluation, side-by-side comparison.",
        epilog=EXAMPLES["main"] + "\n\n" + EXIT_CODES_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, help_text, func):
        epilog = EXAMPLES[name] + ("\n\n" + _split_epilog(name) if name in IMAGE_COMMANDS else "")
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common], formatter_class=_formatter,
                           epilog=epilog)
        p.set_defaults(func=func)
        return p

    p = add("list", "list the published networks and pipelines", cmd_list)
    p.add_argument("--method", help="only this method (DRS, CDA, EPS, SBNet, RIB, init)")
    p.add_argument("--task", help="only networks of this task (cam, refine, affinity, irn, segmentation, init)")
    p.add_argument("--dataset", help="only this dataset (voc, coco, imagenet)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--models", action="store_true", help="only networks")
    kind.add_argument("--pipelines", action="store_true", help="only pipelines")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("info", "show what a network or pipeline is: numbers, license, citation, files", cmd_info)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="the raw checkpoints.json entry")

    p = add("download", "download and verify published weights into the cache", cmd_download)
    p.add_argument("names", nargs="*", metavar="NAME", help="networks or pipelines (a pipeline means all its networks)")
    p.add_argument("--all", action="store_true", help="every network (narrow with --method/--dataset)")
    p.add_argument("--method", help="with --all: only this method")
    p.add_argument("--dataset", help="with --all: only this dataset")
    p.add_argument("--verify", action="store_true",
                   help="re-hash the cached files and compare them with the recorded sha256 (nothing is downloaded "
                        "or recorded)")

    for name, help_text in (("cam", "class activation maps of a CAM network or pipeline"),
                            ("pseudo-mask", "pseudo masks of a pipeline (the method's final label maps)"),
                            ("segment", "label maps of a segmentation network (DeepLab)")):
        if name == split_command:
            p = add(name, help_text + " (dataset split)", run_split)
            generate.add_arguments(p, name)
            continue
        p = add(name, help_text, lambda a, c=name: run_images(a, c))
        _add_image_inputs(p, name)
        _add_runtime(p, "wsss_zoo_out")
        g = p.add_argument_group(f"{name} options")
        if name == "cam":
            g.add_argument("--scales", help="networks only: comma-separated scales (default: the method's)")
            g.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                           help="networks only: add horizontally flipped passes (default: the method's)")
        if name != "cam":
            g.add_argument("--crf", action="store_true", help="dense CRF post-processing (needs the crf extra)")
        if name == "pseudo-mask":
            g.add_argument("--saliency", metavar="PATH",
                           help="saliency map (one image) or a folder of NAME.png maps "
                                "(pipelines that need one: drs_voc)")
        if name != "segment":
            g.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                           help="pipelines only: override an upstream setting, e.g. bg_threshold=0.25 "
                                "(see wsss-zoo info)")

    p = add("compare", "one image through several pipelines, side by side in one PNG", cmd_compare)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--labels", required=True, help="image-level labels: names or ids, comma-separated")
    p.add_argument("--methods", help="comma-separated pipelines/networks (default: every VOC pipeline "
                                     "that needs no user-trained weights)")
    p.add_argument("--dataset", choices=("voc", "coco"), help="dataset of the default --methods (default: voc)")
    p.add_argument("--saliency", metavar="FILE", help="saliency map for pipelines that need one (drs_voc)")
    p.add_argument("--crf", action="store_true", help="dense CRF where the method defines one")
    p.add_argument("--no-cam", action="store_true", help="only the mask row")
    p.add_argument("--cell-width", type=int, default=320, help="width of each panel in pixels (default: 320)")
    p.add_argument("--cmap", default="jet", help="colour map of the CAM row (default: jet)")
    _add_runtime(p, None)
    p.add_argument("--out", default="compare.png", help="the PNG to write (default: compare.png)")
    p.set_defaults(scales=None, flip=None, set=[])

    p = add("convert", "convert an upstream checkpoint file to safetensors", cmd_convert)
    p.add_argument("file", metavar="FILE", help="the checkpoint as published (.pth, .params, ...)")
    p.add_argument("--name", required=True, help="the network it holds (see wsss-zoo list --models)")
    p.add_argument("--out", required=True, help="the .safetensors file to write")

    p = add("publish", "write a Hugging Face-ready folder (safetensors + config + model card)", cmd_publish)
    p.add_argument("name", metavar="NAME", help="a network name")
    p.add_argument("--weights", help="the upstream file (default: the cached download)")
    p.add_argument("--out", required=True, help="the folder to write")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty folder")
    p.add_argument("--retrained", action="store_true",
                   help="the weights are your own training, not the authors' file: the card says so and "
                        "carries no reported numbers")

    p = add("eval", "evaluate label maps or CAMs against a dataset split's ground truth (mIoU)", evaluate.run)
    evaluate.add_arguments(p)
    return parser


# --------------------------------------------------------------------------- main
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``wsss-zoo``; returns the exit code (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    split_command, argv = split_mode_argv(argv)
    args = build_parser(split_command).parse_args(argv)
    args.debug, args.quiet = getattr(args, "debug", False), getattr(args, "quiet", False)
    debug = args.debug
    with warnings.catch_warnings():  # restores the warning machinery when main() is called in-process
        if not debug:
            warnings.showwarning = _show_warning
        return _run(args, debug)


def _run(args, debug: bool) -> int:
    """Run the chosen command, turning exceptions into messages and exit codes."""
    try:
        if hasattr(args, "device"):
            args.device_resolved = resolve_device(args.device)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PartialFailure:
        return EXIT_PARTIAL
    except (WsssZooError, OSError) as exc:  # OSError: disk full, permission denied... the environment, not a bug
        if debug:
            raise
        print(f"{PROG}: error: {error_text(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: show it
        if _is_out_of_memory(exc):
            print(f"{PROG}: error: out of GPU memory; try --device cpu or a smaller image", file=sys.stderr)
            return EXIT_USAGE
        traceback.print_exc()
        print(f"{PROG}: internal error ({type(exc).__name__}); this is a bug, please report it with the "
              "traceback above", file=sys.stderr)
        return EXIT_INTERNAL

def _is_out_of_memory(exc: BaseException) -> bool:
    try:
        import torch

        return isinstance(exc, torch.cuda.OutOfMemoryError)
    except (ImportError, AttributeError):
        return False


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
