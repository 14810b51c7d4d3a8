"""Dataset-wide generation: ``wsss-zoo pseudo-mask | cam | segment`` over a split.

Outputs, one file per image id in ``--out``:

* ``pseudo-mask`` / ``segment``: ``<id>.png``, palette PNG with the VOC palette whose indices are the
  class ids (0 background, 255 ignore), as EPS ``infer.py --cam_png`` and IRN ``make_sem_seg_labels``
  write them (IRN/RIB's separate ``_palette.png`` copies are not needed: the index PNG is coloured);
* ``cam``: ``<id>.npy``, the method's upstream CAM dict (:mod:`wsss_zoo.data.io`): ``"irn"`` style
  ``{"keys", "high_res"}`` for the IRN-lineage pipelines (CDA-IRN, RIB), ``"psa"`` style
  ``{fg_index: HxW}`` for the others (PSA, SEAM, EPS, SBNet, DRS).

Images are read ahead of the network by DataLoader worker processes (:mod:`wsss_zoo.loading`, ``--workers``)
and outputs are encoded and written by a background thread (:mod:`wsss_zoo.data.writer`). Runs are
resumable: files are written to a temporary name and renamed, so a killed run never leaves a partial file,
and each finished file is recorded with its size (:mod:`wsss_zoo.data.records`); a rerun skips exactly the
files on record. Under ``torchrun`` (:mod:`wsss_zoo.distributed`) each rank takes ``ids[rank::world]``
(gloo on CPU, nccl on GPU, one GPU per local rank), writes its own files and a per-rank manifest;
rank 0 merges the manifests into ``<out>/manifest.json`` after a barrier, with images/s and the precision
of the network forwards (:mod:`wsss_zoo.precision`).

The command line (``wsss-zoo pseudo-mask NAME --voc-root R --split S --out DIR``, under torchrun
``torchrun --nproc-per-node 4 -m wsss_zoo pseudo-mask ...``) is :mod:`wsss_zoo.cli.dataset_runs`.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from ..distributed import DistContext, rank_device
from ..errors import ConfigError, DatasetError, WsssZooError
from ..fileio import atomic_write_text
from ..loading import check_workers, load_ahead, runs_on_cuda
from .io import write_cam_npy, write_label_png
from .records import MANIFEST, Journal, is_complete, read_completed, remove_journals, verified
from .transforms import crop_val_image
from .writer import BackgroundWriter

COMMANDS = ("pseudo-mask", "cam", "segment")
EXTENSIONS = {"pseudo-mask": ".png", "segment": ".png", "cam": ".npy"}
#: pipeline / CAM recipes whose upstream CAM files are IRN dicts {"keys", "high_res"}
IRN_STYLE_RECIPES = ("irn", "rib")


# --------------------------------------------------------------------------- distributed context
def default_device(ctx: DistContext) -> str:
    """This rank's GPU (``cuda:LOCAL_RANK`` modulo the visible GPUs) when CUDA is available, else the CPU."""
    return str(rank_device("auto", ctx.local_rank))


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
    """What a run did: counts, per-image errors, wall ``seconds``, ``images_per_s`` (images written per
    second) and the loader ``workers`` of each rank."""

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
    workers: int = 0
    images_per_s: float = 0.0
    #: precision of the network forwards: fp32, bf16 or fp16 (None: a custom object that does not say)
    precision: Optional[str] = None

    def merge(self, other: "Report") -> "Report":
        for k in ("n_images", "written", "skipped", "no_labels"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.failed.update(other.failed)
        self.seconds = max(self.seconds, other.seconds)
        self.workers = max(self.workers, other.workers)
        self.images_per_s = _rate(self.written, self.seconds)
        return self

    def summary(self) -> str:
        """The line printed at the end of a run."""
        ranks = f" on {self.ranks} ranks" if self.ranks > 1 else ""
        return (f"{self.command}: {self.written} written, {self.skipped} already done, {len(self.failed)} failed, "
                f"{self.n_images} images -> {self.out_dir} ({self.images_per_s:.2f} images/s, {self.seconds:.1f} s, "
                f"{self.workers} loader workers{ranks})")


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 3) if seconds > 0 else 0.0


def output_path(out_dir, image_id: str, command: str) -> Path:
    return Path(out_dir) / f"{image_id}{EXTENSIONS[command]}"


def _write_output(command: str, path: Path, labels, out, style: str, journal: Journal) -> None:
    """Encode and write one output (the writer thread), then record it as complete."""
    if command == "cam":
        write_cam_npy(path, labels, out, style)
    else:
        write_label_png(path, out)
    journal.record(path)


def generate(dataset, target, command: str, out_dir, *, crf: bool = False, style: Optional[str] = None,
             saliency: Optional[bool] = None, overwrite: bool = False, progress: bool = True,
             keep_going: bool = False, crop_val: Optional[int] = None, dist: Optional[DistContext] = None,
             target_name: str = "", workers: Optional[int] = None, precision: Optional[str] = None) -> Report:
    """Run ``command`` with ``target`` on every image of ``dataset`` (this rank's shard) into ``out_dir``.

    ``dataset`` is any source with ``ids``, ``image(id)``, ``labels(id)``, ``saliency(id, shape)`` (the
    datasets of :mod:`wsss_zoo.data`, :class:`wsss_zoo.sources.ListSource`). ``workers`` processes read
    images ahead of the network (None: ``min(4, CPUs - 1)``; 0: in this process) and one background thread
    encodes and writes the outputs. Files complete on record (:mod:`wsss_zoo.data.records`) are skipped
    unless ``overwrite``. ``precision``: the mode ``target`` was loaded in, for the manifest (default: what
    the target records: ``Pipeline.precision`` or a network's ``wsss_zoo_precision``). Returns this rank's
    :class:`Report`; with several ranks, rank 0 returns the merged one. Rank 0 writes ``manifest.json`` with
    the counts, images/s, the precision and the completion records.
    """
    dist = dist or DistContext()
    workers = check_workers(workers)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    style = style or cam_style(target)
    use_saliency = needs_saliency(target) if saliency is None else saliency
    produce = make_producer(command, target, crf=crf, crop_val=crop_val)
    shard = dataset.ids[dist.rank::dist.world_size]
    report = Report(command, target_name or getattr(target, "name", type(target).__name__), dataset.name,
                    dataset.split, str(out_dir), n_images=len(shard), ranks=dist.world_size, workers=workers,
                    precision=precision or precision_of_target(target))
    _remove_stale_temps(out_dir, shard, command)
    records = {} if overwrite else read_completed(out_dir)
    todo = [i for i in shard if overwrite or not is_complete(output_path(out_dir, i, command), records)]
    report.skipped = len(shard) - len(todo)
    start = time.perf_counter()
    bar = _progress_bar(len(todo), f"{command} [{dist.rank}/{dist.world_size}]" if dist.distributed else command,
                        progress and dist.is_main)
    # the workers start (fork) before the writer thread does
    items = load_ahead(dataset, todo, labels=command != "segment", saliency=bool(use_saliency), workers=workers,
                       pin_memory=runs_on_cuda(target))
    writer, journal, classless = BackgroundWriter(keep_going=keep_going), Journal(out_dir, dist.rank), set()
    try:
        for item in items:
            try:
                if item.error is not None:
                    raise item.error
                out = produce(item.image, item.labels, item.saliency)
            except WsssZooError as exc:
                if not keep_going:
                    raise type(exc)(f"{item.id}: {exc}") from exc
                report.failed[item.id] = str(exc)
            else:
                writer.submit(item.id, partial(_write_output, command, output_path(out_dir, item.id, command),
                                               item.labels, out, style, journal))
                if command != "segment" and not item.labels:
                    classless.add(item.id)
            bar.update(1)
        writer.close()
    finally:
        try:
            writer.close()  # after an error: what was computed is still written
        except BaseException:  # noqa: BLE001 - the error already under way is the one to report
            pass
        items.close()  # the loader's worker processes end here
        journal.close()
        bar.close()
        report.written = writer.done
        report.failed.update(writer.failed)
        report.no_labels = len(classless - set(writer.failed))
        report.seconds = round(time.perf_counter() - start, 3)
        report.images_per_s = _rate(report.written, report.seconds)
        _write_rank_manifest(out_dir, report, dist)
    if dist.distributed:
        dist.barrier()
    if dist.is_main:
        merged = merge_manifests(out_dir, dist.world_size)
        if dist.distributed:
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

        # disable=None: a bar only when stderr is a terminal (never into a log file or a pipe)
        return tqdm(total=total, desc=desc, disable=None if enabled else True, unit="img", dynamic_ncols=True)
    except ImportError:  # tqdm is a dependency, but keep generation working without it
        class _Null:
            def update(self, n=1):
                pass

            def close(self):
                pass

        return _Null()


def _write_rank_manifest(out_dir: Path, report: Report, dist: DistContext) -> None:
    atomic_write_text(out_dir / f".manifest.rank{dist.rank}.json", json.dumps(asdict(report), indent=1))


def merge_manifests(out_dir, world: int) -> Report:
    """Merge the per-rank manifests of one run into ``manifest.json`` (rank 0, after the barrier), with the
    completion records ``{file name: size}`` of every file in place (:mod:`wsss_zoo.data.records`)."""
    out_dir = Path(out_dir)
    merged = None
    for r in range(world):
        path = out_dir / f".manifest.rank{r}.json"
        if not path.is_file():
            raise DatasetError(f"rank {r} left no manifest in {out_dir}; did it fail?")
        rep = Report(**json.loads(path.read_text()))
        merged = rep if merged is None else merged.merge(rep)
    merged.ranks = world
    merged.images_per_s = _rate(merged.written, merged.seconds)
    data = asdict(merged)
    ext = EXTENSIONS[merged.command]
    data["files"] = sum(1 for p in out_dir.glob(f"*{ext}") if not p.name.startswith("."))
    data["completed"] = {k: v for k, v in verified(out_dir, read_completed(out_dir)).items() if k.endswith(ext)}
    atomic_write_text(out_dir / MANIFEST, json.dumps(data, indent=1))
    remove_journals(out_dir)
    for r in range(world):
        (out_dir / f".manifest.rank{r}.json").unlink(missing_ok=True)
    return merged
