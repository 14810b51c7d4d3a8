"""The commands about the registry and the weights: ``list``, ``info``, ``download``, ``convert``, ``publish``.
Each parses, calls the library (:mod:`wsss_zoo.registry`, :mod:`wsss_zoo.hub`, :mod:`wsss_zoo.cache`,
:mod:`wsss_zoo.publish`) and prints."""
from __future__ import annotations

import json
from typing import List, Optional

from ..errors import ConfigError, WsssZooError
from .messages import PROG, PartialFailure, say, warn

SORT_KEYS = ("name", "miou", "method")
#: which reported number a MIOU cell shows when an entry has several stages (the later stage first)
_STAGE_ORDER = {"segmentation": 0, "pseudo_mask": 1, "cam": 2}


# --------------------------------------------------------------------------- list
def add_list_arguments(p) -> None:
    p.add_argument("filter", nargs="?", default="*", metavar="FILTER",
                   help="names matching this wildcard pattern, e.g. 'eps*' or '*_coco' (default: all)")
    p.add_argument("--method", help="only this method (DRS, CDA, EPS, SBNet, RIB, init)")
    p.add_argument("--task", help="only networks of this task (cam, refine, affinity, irn, segmentation, init)")
    p.add_argument("--dataset", help="only this dataset (voc, coco, imagenet)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--models", action="store_true", help="only networks")
    kind.add_argument("--pipelines", action="store_true", help="only pipelines")
    p.add_argument("--sort", choices=SORT_KEYS, default=None,
                   help="order by name, by reported mIoU (highest first; none last) or by method "
                        "(default: networks, then pipelines, each by name)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def best_metric(entry) -> Optional[dict]:
    """The entry's headline reported mIoU: the highest of its latest stage (segmentation, else pseudo mask,
    else CAM), as ``{"miou", "stage", "dataset", "split", "crf"}``; None when it reports none."""
    metrics = list(getattr(entry, "metrics", ()) or ())
    if not metrics:
        return None
    best = min(metrics, key=lambda m: (_STAGE_ORDER.get(m.stage, 9), -m.miou))
    return {"miou": best.miou, "stage": best.stage, "dataset": best.dataset, "split": best.split, "crf": best.crf}


def _miou_cell(metric: Optional[dict]) -> str:
    if metric is None:
        return "-"
    value = f"{metric['miou']:.2f}"
    value = value[:-1] if value.endswith("0") else value  # 71.0, 69.22
    return (f"{value} {metric['stage'].replace('_', '-')}/{metric['split']}"
            + ("+CRF" if metric["crf"] else ""))


def _sort(rows: List[dict], key: Optional[str]) -> List[dict]:
    if key == "name":
        return sorted(rows, key=lambda r: r["name"])
    if key == "method":
        return sorted(rows, key=lambda r: (r["method"].lower(), r["name"]))
    if key == "miou":
        return sorted(rows, key=lambda r: (r["miou"] is None, -(r["miou"] or {}).get("miou", 0), r["name"]))
    return rows


def cmd_list(args) -> int:
    from ..registry import list_models, list_pipelines, models, pipelines

    rows = []
    if not args.pipelines:
        wanted = set(list_models(args.filter, task=args.task, method=args.method, dataset=args.dataset))
        for e in models():
            if e.name in wanted:
                rows.append(_row(e, "network", e.task, _is_cached(e.name)))
    if not args.models and not args.task:
        wanted = set(list_pipelines(args.filter, method=args.method, dataset=args.dataset))
        for e in pipelines():
            if e.name in wanted:
                rows.append(_row(e, "pipeline", "pseudo-mask", all(_is_cached(m) for m in e.roles.values())))
    rows = _sort(rows, args.sort)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        hint = f" (wildcards: '*{args.filter}*')" if not any(c in args.filter for c in "*?[") else ""
        print(f"nothing matches{hint}; drop a filter or see wsss-zoo list")
        return 0
    header = ("NAME", "KIND", "METHOD", "TASK", "DATASET", "MIOU", "CACHED", "LICENSE")
    table = [header] + [(r["name"], r["kind"], r["method"], r["task"], r["dataset"], _miou_cell(r["miou"]),
                         "yes" if r["cached"] else "-", r["license"]) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return 0


def _row(entry, kind: str, task: str, cached: bool) -> dict:
    from ..model_card import format_license

    return {"name": entry.name, "kind": kind, "method": entry.method, "task": task, "dataset": entry.dataset,
            "miou": best_metric(entry), "cached": cached, "license": format_license(entry.license)}


def _is_cached(model_name: str) -> bool:
    from ..cache import cached_file_path
    from ..registry import model_entry

    return cached_file_path(model_entry(model_name)).is_file()


# --------------------------------------------------------------------------- info
def add_info_arguments(p) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="the raw checkpoints.json entry")


def cmd_info(args) -> int:
    from ..cache import cached_file_path, describe_sources
    from ..model_card import model_card
    from ..registry import entry as registry_entry

    entry = registry_entry(args.name)
    if args.json:
        print(json.dumps(entry.to_dict(), indent=2))
        return 0
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
    return 0


# --------------------------------------------------------------------------- download
def add_download_arguments(p) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="networks or pipelines (a pipeline means all its networks)")
    p.add_argument("--all", action="store_true", help="every network (narrow with --method/--dataset)")
    p.add_argument("--method", help="with --all: only this method")
    p.add_argument("--dataset", help="with --all: only this dataset")
    p.add_argument("--verify", action="store_true",
                   help="re-hash the cached files and compare them with the recorded sha256 (nothing is downloaded "
                        "or recorded)")


def _expand_download_names(args) -> List[str]:
    from ..registry import entry as registry_entry
    from ..registry import list_models

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
    from .. import cache, hub
    from ..registry import model_entry

    done, failed = 0, {}
    for name in _expand_download_names(args):
        try:
            if args.verify:
                result = cache.verify_cached(model_entry(name))  # never records: a mismatch stays one
                print(f"{name}: {result.message}")
                if not result.ok:
                    failed[name] = result.message
                    continue
            else:
                path = hub.download(model_entry(name), progress=not args.quiet)
                print(f"{name}: {path}")
        except WsssZooError as exc:
            failed[name] = exc
            continue
        done += 1
    if failed:
        raise PartialFailure(failed, done)
    return 0


# --------------------------------------------------------------------------- convert, publish
def add_convert_arguments(p) -> None:
    p.add_argument("file", metavar="FILE", help="the checkpoint as published (.pth, .params, ...)")
    p.add_argument("--name", required=True, help="the network it holds (see wsss-zoo list --models)")
    p.add_argument("--out", required=True, help="the .safetensors file to write")


def cmd_convert(args) -> int:
    from ..publish import convert_file

    summary = convert_file(args.file, args.name, args.out, progress=not args.quiet)
    print(f"{summary['out']}: {args.name}, {summary['tensors']} tensors, {summary['parameters']:,} parameters "
          f"(source sha256 {summary['source_sha256'][:12]}…)")
    say(args, f"load it with: wsss_zoo.load({args.name!r}, weights={summary['out']!r})")
    return 0


def add_publish_arguments(p) -> None:
    p.add_argument("name", metavar="NAME", help="a network name")
    p.add_argument("--weights", help="the upstream file (default: the cached download)")
    p.add_argument("--out", required=True, help="the folder to write")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty folder")
    p.add_argument("--retrained", action="store_true",
                   help="the weights are your own training, not the authors' file: the card says so and "
                        "carries no reported numbers")


def cmd_publish(args) -> int:
    from ..publish import publish, upload_hint

    summary = publish(args.name, args.out, args.weights, progress=not args.quiet, overwrite=args.overwrite,
                      retrained=args.retrained)
    print(f"{summary['out']}: " + ", ".join(summary["files"]))
    say(args, f"upload with: {upload_hint(args.name, summary['out'])}")
    return 0
