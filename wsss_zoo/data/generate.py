"""Dataset-wide generation: ``wsss-zoo pseudo-mask | cam | segment`` over a split.

Outputs, one file per image id in ``--out``:

* ``pseudo-mask`` / ``segment``: ``<id>.png``, palette PNG with the VOC palette whose indices are the
  class ids (0 background, 255 ignore), as EPS ``infer.py --cam_png`` and IRN ``make_sem_seg_labels``
  write them (IRN/RIB's separate ``_palette.png`` copies are not needed: the index PNG is coloured);
* ``cam``: ``<id>.npy``, the method's upstream CAM dict (:mod:`wsss_zoo.data.io`): ``"irn"`` style
  ``{"keys", "high_res"}`` for the IRN-lineage pipelines (CDA-IRN, RIB), ``"psa"`` style
  ``{fg_index: HxW}`` for the others (PSA, SEAM, EPS, SBNet, DRS).

Runs are resumable: a finished file is skipped, and files are written to a temporary name and renamed,
so a killed run never leaves a partial file. Under ``torchrun`` each rank takes ``ids[rank::world]``
(gloo on CPU, nccl on GPU, one GPU per local rank), writes its own files and a per-rank manifest;
rank 0 merges the manifests into ``<out>/manifest.json`` after a barrier. The manifest records the
precision of the network forwards (:mod:`wsss_zoo.precision`).

The command line (``wsss-zoo pseudo-mask NAME --voc-root R --split S --out DIR``, under torchrun
``torchrun --nproc-per-node 4 -m wsss_zoo pseudo-mask ...``) is :mod:`wsss_zoo.cli.dataset_runs`.
"""
from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from ..errors import ConfigError, DatasetError, WsssZooError
from ..fileio import atomic_write_text
from .io import write_cam_npy, write_label_png
from .transforms import crop_val_image

COMMANDS = ("pseudo-mask", "cam", "segment")
EXTENSIONS = {"pseudo-mask": ".png", "segment": ".png", "cam": ".npy"}
#: pipeline / CAM recipes whose upstream CAM files are IRN dicts {"keys", "high_res"}
IRN_STYLE_RECIPES = ("irn", "rib")
MANIFEST = "manifest.json"


# --------------------------------------------------------------------------- distributed context
@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    def barrier(self):
        if self.world > 1:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.barrier()

    def close(self):
        if self.initialized_here:
            import torch.distributed as dist

            dist.destroy_process_group()


def init_distributed() -> Dist:
    """Rank/world from the torchrun environment; initialises the process group when world > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    ctx = Dist(rank, world, local)
    if world > 1:
        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            use_cuda = torch.cuda.is_available() and torch.cuda.device_count() > local
            if use_cuda:
                torch.cuda.set_device(local)
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
            ctx.initialized_here = True
    return ctx


def default_device(ctx: Dist) -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda:{ctx.local_rank % torch.cuda.device_count()}"
    return "cpu"


# --------------------------------------------------------------------------- what to run
def cam_style(target) -> str:
    """Upstream CAM file style of a pipeline or network (see module docstring)."""
    entry = getattr(target, "entry", None) or getattr(target, "wsss_zoo_entry", None)
    recipe = getattr(entry, "recipe", None) or getattr(getattr(getattr(entry, "inference", None), "cam", None),
                                                        "recipe", "")
    explicit = getattr(target, "cam_style", None)
    if explicit in ("psa", "irn"):
        return explicit
    return "irn" if str(recipe).lower() in IRN_STYLE_RECIPES else "psa"


def precision_of_target(target) -> Optional[str]:
    """The precision a loaded pipeline or network runs in (None for objects that do not record one)."""
    return getattr(target, "precision", None) or getattr(target, "wsss_zoo_precision", None)


def needs_saliency(target) -> bool:
    entry = getattr(target, "entry", None)
    return bool(getattr(target, "needs_saliency", False) or getattr(entry, "needs_saliency", False))


def make_producer(command: str, target, *, crf: bool = False, crop_val: Optional[int] = None) -> Callable:
    """``fn(image, labels, saliency) -> output`` for one image, for a loaded target."""
    if command == "pseudo-mask":
        if not hasattr(target, "pseudo_mask"):
            raise ConfigError(f"{target!r} has no pseudo_mask(); pass a pipeline")

        def produce(image, labels, saliency):
            if not labels:  # COCO images without objects: upstream writes an all-background map
                return np.zeros(image.shape[:2], np.uint8)
            return target.pseudo_mask(image, labels, saliency=saliency, crf=crf)
    elif command == "cam":
        from .. import api

        def produce(image, labels, saliency):
            if not labels:
                return np.zeros((0,) + image.shape[:2], np.float32)
            out = target.cam(image, labels) if hasattr(target, "cam") else api.cam(target, image, labels)
            return out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)
    elif command == "segment":
        from .. import api

        def produce(image, labels, saliency):
            if crop_val:
                image = crop_val_image(image, crop_val)
            if hasattr(target, "segment"):
                return target.segment(image, crf=crf)
            return api.segment(target, image, crf=crf)
    else:
        raise ConfigError(f"unknown command {command!r}; choose one of {COMMANDS}")
    return produce


# --------------------------------------------------------------------------- the loop
@dataclass
class Report:
    command: str
    target: str
    dataset: str
    split: str
    out_dir: str
    n_images: int = 0
    written: int = 0
    skipped: int = 0
    no_labels: int = 0
    failed: Dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    ranks: int = 1
    #: precision of the network forwards: fp32, bf16 or fp16 (None: a custom object that does not say)
    precision: Optional[str] = None

    def merge(self, other: "Report") -> "Report":
        for k in ("n_images", "written", "skipped", "no_labels"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.failed.update(other.failed)
        self.seconds = max(self.seconds, other.seconds)
        return self


def output_path(out_dir, image_id: str, command: str) -> Path:
    return Path(out_dir) / f"{image_id}{EXTENSIONS[command]}"


def _prefetch(fn, items, depth: int = 2):
    """Yield ``(item, fn(item))`` with up to ``depth`` results computed ahead in a thread."""
    if depth <= 0:
        for item in items:
            yield item, fn(item)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        queue = collections.deque()
        it = iter(items)
        for item in it:
            queue.append((item, pool.submit(fn, item)))
            if len(queue) > depth:
                head, fut = queue.popleft()
                yield head, fut.result()
        while queue:
            head, fut = queue.popleft()
            yield head, fut.result()


def generate(dataset, target, command: str, out_dir, *, crf: bool = False, style: Optional[str] = None,
             saliency: Optional[bool] = None, overwrite: bool = False, progress: bool = True,
             keep_going: bool = False, crop_val: Optional[int] = None, dist: Optional[Dist] = None,
             target_name: str = "", precision: Optional[str] = None) -> Report:
    """Run ``command`` with ``target`` on every image of ``dataset`` (this rank's shard) into ``out_dir``.

    ``precision``: the mode ``target`` was loaded in, for the manifest (default: what the target records:
    ``Pipeline.precision`` or a network's ``wsss_zoo_precision``). Returns this rank's :class:`Report`;
    with several ranks, rank 0 also writes the merged manifest.
    """
    dist = dist or Dist()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    style = style or cam_style(target)
    use_saliency = needs_saliency(target) if saliency is None else saliency
    produce = make_producer(command, target, crf=crf, crop_val=crop_val)
    shard = dataset.ids[dist.rank::dist.world]
    report = Report(command, target_name or getattr(target, "name", type(target).__name__), dataset.name,
                    dataset.split, str(out_dir), n_images=len(shard), ranks=dist.world,
                    precision=precision or precision_of_target(target))
    _remove_stale_temps(out_dir, shard, command)
    todo = [i for i in shard if overwrite or not output_path(out_dir, i, command).is_file()]
    report.skipped = len(shard) - len(todo)
    start = time.time()

    def load(image_id):
        try:
            image = dataset.image(image_id)
            labels = dataset.labels(image_id) if command != "segment" else []
            sal = dataset.saliency(image_id, image.shape[:2]) if use_saliency else None
            return image, labels, sal, None
        except WsssZooError as exc:
            return None, None, None, exc

    bar = _progress_bar(len(todo), f"{command} [{dist.rank}/{dist.world}]" if dist.world > 1 else command,
                        progress and dist.rank == 0)
    try:
        for image_id, (image, labels, sal, error) in _prefetch(load, todo):
            try:
                if error is not None:
                    raise error
                out = produce(image, labels, sal)
                path = output_path(out_dir, image_id, command)
                if command == "cam":
                    write_cam_npy(path, labels, out, style)
                else:
                    write_label_png(path, out)
                report.written += 1
                report.no_labels += int(command != "segment" and not labels)
            except WsssZooError as exc:
                if not keep_going:
                    raise type(exc)(f"{image_id}: {exc}") from exc
                report.failed[image_id] = str(exc)
            bar.update(1)
    finally:
        bar.close()
        report.seconds = round(time.time() - start, 3)
        _write_rank_manifest(out_dir, report, dist)
    if dist.world > 1:
        dist.barrier()
    if dist.rank == 0:
        merged = merge_manifests(out_dir, dist.world)
        if dist.world > 1:
            return merged
    return report


def _remove_stale_temps(out_dir: Path, shard, command: str) -> None:
    """Delete temporary files a killed run left for this shard's ids (``.<id><ext>.*.tmp*``)."""
    ext = EXTENSIONS[command]
    mine = set(shard)
    for path in out_dir.glob(f".*{ext}.*.tmp*"):
        image_id = path.name[1:].split(f"{ext}.", 1)[0]
        if image_id in mine:
            path.unlink(missing_ok=True)


def _progress_bar(total: int, desc: str, enabled: bool):
    try:
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, disable=not enabled, unit="img", dynamic_ncols=True)
    except ImportError:  # tqdm is a dependency, but keep generation working without it
        class _Null:
            def update(self, n=1):
                pass

            def close(self):
                pass

        return _Null()


def _write_rank_manifest(out_dir: Path, report: Report, dist: Dist) -> None:
    atomic_write_text(out_dir / f".manifest.rank{dist.rank}.json", json.dumps(asdict(report), indent=1))


def merge_manifests(out_dir, world: int) -> Report:
    """Merge the per-rank manifests of one run into ``manifest.json`` (rank 0, after the barrier)."""
    out_dir = Path(out_dir)
    merged = None
    for r in range(world):
        path = out_dir / f".manifest.rank{r}.json"
        if not path.is_file():
            raise DatasetError(f"rank {r} left no manifest in {out_dir}; did it fail?")
        rep = Report(**json.loads(path.read_text()))
        merged = rep if merged is None else merged.merge(rep)
    merged.ranks = world
    data = asdict(merged)
    data["files"] = sum(1 for p in out_dir.glob(f"*{EXTENSIONS[merged.command]}") if not p.name.startswith("."))
    atomic_write_text(out_dir / MANIFEST, json.dumps(data, indent=1))
    for r in range(world):
        (out_dir / f".manifest.rank{r}.json").unlink(missing_ok=True)
    return merged
