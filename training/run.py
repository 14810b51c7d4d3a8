"""Train one recipe: ``python training/run.py --list`` /
``torchrun --nproc-per-node N training/run.py RECIPE --voc-root R [--coco-root R] --out DIR``.

``--smoke`` runs any recipe for a few CPU steps on a tiny generated dataset with random inits, then
checks that the loss is finite and moves and that the checkpoint loads back through ``wsss_zoo.load``.
See training/README.md for every recipe's command, upstream GPUs and hours.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # python training/run.py: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.config import RunConfig, smoke_config  # noqa: E402
from training.recipes import QUIRKS, RECIPES, get_recipe  # noqa: E402
from wsss_zoo.fileio import atomic_write_text  # noqa: E402


def _pairs(values, what: str):
    out = {}
    for v in values or ():
        key, sep, path = v.partition("=")
        if not sep or not key or not path:
            raise SystemExit(f"{what} {v!r}: use NAME=PATH")
        out[key] = Path(path).expanduser()
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python training/run.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", help="recipe name (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the recipes and exit")
    p.add_argument("--markdown", action="store_true", help="with --list: the README's Markdown table")
    p.add_argument("--write-readme", action="store_true", help="rewrite the recipe table of training/README.md")
    p.add_argument("--show", action="store_true", help="print the recipe's settings as JSON and exit")
    data = p.add_argument_group("data")
    data.add_argument("--voc-root", type=Path, help="VOCdevkit/VOC2012")
    data.add_argument("--coco-root", type=Path, help="COCO 2014 root (EPS or RIB layout)")
    data.add_argument("--coco-layout", choices=("auto", "eps", "rib"), default="auto")
    data.add_argument("--split", help="override the recipe's split (default train_aug / COCO train)")
    data.add_argument("--split-file", type=Path, help="image list instead of the split's")
    data.add_argument("--cls-labels", type=Path, help="upstream cls_labels.npy for the image labels")
    data.add_argument("--input", action="append", metavar="NAME=DIR",
                      help="a stage input folder (pseudo labels, CRF dicts, ...); --list shows each recipe's")
    data.add_argument("--weights", type=Path, help="trained network for prep recipes (loc maps, RIB CAMs)")
    data.add_argument("--init", action="append", metavar="NAME=PATH",
                      help="local file for a registry init (e.g. resnet38_imagenet=ilsvrc-...params)")
    run = p.add_argument_group("run")
    run.add_argument("--out", type=Path, help="output folder (checkpoints, logs)")
    run.add_argument("--batch-size", type=int, help="global batch over all processes (default: upstream's)")
    run.add_argument("--iterations", type=int, help="optimiser steps (overrides epochs)")
    run.add_argument("--epochs", type=float)
    run.add_argument("--lr", type=float, help="base learning rate")
    run.add_argument("--accumulate", type=int, help="mini-batches per optimiser step")
    run.add_argument("--workers", type=int, default=4, help="DataLoader workers per process")
    run.add_argument("--amp", dest="amp", action="store_true", default=None, help="mixed precision")
    run.add_argument("--no-amp", dest="amp", action="store_false")
    run.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm for trainable BN (DeepLab-V3+)")
    run.add_argument("--seed", type=int)
    run.add_argument("--device", default="auto", help="auto | cpu | cuda")
    run.add_argument("--deterministic", action="store_true")
    run.add_argument("--resume", dest="resume", action="store_true", default=None,
                     help="continue from <out>/<recipe>.last.pth (default, except with --smoke)")
    run.add_argument("--no-resume", dest="resume", action="store_false", help="ignore <out>/<recipe>.last.pth")
    run.add_argument("--log-every", type=int, default=50)
    run.add_argument("--save-every", type=int, default=1000, help="steps between resume checkpoints")
    run.add_argument("--smoke", action="store_true", help="a few CPU steps on a tiny generated dataset")
    small = p.add_argument_group("reduced runs (small models on small data, e.g. benchmarks/train_small.py)")
    small.add_argument("--random-init", action="store_true",
                       help="start from the builders' random weights instead of the recipe's ImageNet/COCO inits")
    small.add_argument("--train-bn", action="store_true",
                       help="BatchNorm normalises with batch statistics and updates its running statistics "
                            "(upstream freezes it on the ImageNet statistics, which a random init lacks)")
    small.add_argument("--no-dropout", action="store_true",
                       help="dropout layers pass their input through (ResNet-38's b6/b7/dropout7 stall short "
                            "runs from random init)")
    small.add_argument("--crop", type=int, metavar="N", help="training crop size instead of the recipe's")
    small.add_argument("--resize-long", type=int, nargs=2, metavar=("LO", "HI"),
                       help="random long-side resize range instead of the recipe's")
    quirks = p.add_argument_group("upstream quirks (reproduced by default)")
    for name, (flag, text) in QUIRKS.items():
        quirks.add_argument(flag, dest=f"fix_{name}", action="store_true", help=text)
    return p


def list_recipes() -> str:
    lines = [f"{'recipe':32} {'stage':12} {'kind':14} {'loads as':34} inputs"]
    for r in RECIPES.values():
        inputs = ", ".join(s.name for s in r.inputs) or "-"
        lines.append(f"{r.name:32} {r.stage:12} {r.kind:14} {r.load_as:34} {inputs}")
    return "\n".join(lines)


TABLE_START, TABLE_END = "<!-- recipe-table:start -->", "<!-- recipe-table:end -->"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def recipes_markdown() -> str:
    """The recipe table of training/README.md, generated from the recipes (kept in sync by a test)."""
    lines = ["| recipe | stage | output (`wsss_zoo.load` name) | upstream command | upstream GPUs | upstream time | "
             "reads | what we expect |", "|---|---|---|---|---|---|---|---|"]
    for r in RECIPES.values():
        reads = "<br>".join(f"`{s.name}`" + (f" ({s.default})" if s.default else "") for s in r.inputs) or "–"
        size = f"{r.batch_size} x {r.accumulate}" if r.accumulate > 1 else f"{r.batch_size}"
        length = f"{r.iterations} it" if r.iterations else (f"{r.epochs:g} ep" if r.epochs else "")
        train = f"<br>batch {size}, {length}, {r.optim.name} lr {r.optim.lr:g}" if r.stage != "prep" else ""
        lines.append(f"| `{r.name}` | {r.stage} | `{r.load_as}`{train} | {_cell(r.upstream.command)} | "
                     f"{_cell(r.upstream.gpus)} | {_cell(r.upstream.hours)} | {reads} | "
                     f"{_cell(r.expected or r.summary)} |")
    return "\n".join(lines)


README = Path(__file__).resolve().parent / "README.md"


def readme_with_table(text: str) -> str:
    """``text`` with the block between the recipe-table markers replaced by :func:`recipes_markdown`."""
    head, _, rest = text.partition(TABLE_START)
    _, _, tail = rest.partition(TABLE_END)
    return f"{head}{TABLE_START}\n{recipes_markdown()}\n{TABLE_END}{tail}"


def _data_overrides(args) -> dict:
    out = {}
    if args.crop is not None:
        if args.crop < 1:
            parser().error(f"--crop {args.crop}: give a positive size")
        out["crop"] = args.crop
    if args.resize_long is not None:
        lo, hi = args.resize_long
        if not 1 <= lo <= hi:
            parser().error(f"--resize-long {lo} {hi}: give 1 <= LO <= HI")
        out["resize_long"] = (lo, hi)
    return out


def config_from_args(args) -> RunConfig:
    recipe = get_recipe(args.recipe)
    fixed = {name for name in QUIRKS if getattr(args, f"fix_{name}")}
    cfg = RunConfig(recipe=recipe, out_dir=args.out, voc_root=args.voc_root, coco_root=args.coco_root,
                    coco_layout=args.coco_layout, split=args.split, split_file=args.split_file,
                    cls_labels=args.cls_labels, inputs=_pairs(args.input, "--input"),
                    init_weights=_pairs(args.init, "--init"), weights=args.weights, batch_size=args.batch_size,
                    iterations=args.iterations, epochs=args.epochs, lr=args.lr, accumulate=args.accumulate,
                    workers=args.workers, amp=args.amp, sync_bn=args.sync_bn, seed=args.seed, device=args.device,
                    resume=args.resume is not False, log_every=args.log_every, save_every=args.save_every,
                    fixed_quirks=fixed, deterministic=args.deterministic, random_init=args.random_init,
                    train_bn=args.train_bn, no_dropout=args.no_dropout, data_overrides=_data_overrides(args))
    if args.smoke:
        smoke_config(cfg)
        cfg.resume = bool(args.resume)
    return cfg


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.write_readme:
        atomic_write_text(README, readme_with_table(README.read_text(encoding="utf-8")))
        return 0
    if args.list:
        print(recipes_markdown() if args.markdown else list_recipes())
        return 0
    if not args.recipe:
        parser().error("give a recipe name, or --list")
    from wsss_zoo.errors import WsssZooError

    try:
        recipe = get_recipe(args.recipe)
    except WsssZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.show:
        print(json.dumps(recipe.to_dict(), indent=1))
        return 0
    from training import smoke
    from training.distributed import broadcast_object, init_distributed
    from training.engine import train

    if args.out is None:
        if not args.smoke:
            parser().error("--out DIR is required")
        args.out = smoke.default_out(recipe)
    cfg = config_from_args(args)
    try:
        ctx = init_distributed(cfg.device)
        if cfg.smoke:
            paths = smoke.prepare(cfg) if ctx.is_main else None
            smoke.apply_paths(cfg, broadcast_object(ctx, paths))
        report = train(cfg)
    except (WsssZooError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if cfg.smoke and ctx.is_main:
        verdict = smoke.check(cfg, report)
        print(json.dumps({"recipe": recipe.name, **verdict}))
        return 0 if verdict["ok"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
