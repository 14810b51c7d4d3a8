"""``cam``, ``pseudo-mask`` and ``segment`` over a dataset split (``--voc-root``/``--coco-root``), through the
library's :func:`wsss_zoo.data.generate.generate`: resumable, one file per image id in ``--out`` and a
``manifest.json``. Under torchrun every rank takes its shard on its own GPU::

    torchrun --nproc-per-node 4 -m wsss_zoo pseudo-mask eps_coco --coco-root coco --split train --out out/coco

Guide: docs/datasets.md, "Generating over a split".
"""
from __future__ import annotations

from ..errors import ConfigError
from . import options, targets
from .messages import PartialFailure, progress_wanted, say


def add_arguments(p, command: str) -> None:
    """The dataset-split options of ``command`` (the image/folder ones come from :mod:`.image_commands`)."""
    g = p.add_argument_group("dataset split (instead of INPUT; docs/datasets.md)")
    options.add_dataset_arguments(g, roots_required=False)
    if command == "cam":
        g.add_argument("--cam-format", choices=("auto", "psa", "irn"), default="auto",
                       help="CAM .npy dict style (default: the method's upstream style)")
    if command == "segment":
        g.add_argument("--crop-val", type=int, default=None, metavar="SIZE",
                       help="predict on VainF --crop_val views (shorter side SIZE, centre crop)")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes that read images ahead of the network (default: the library's)")
    g.add_argument("--overwrite", action="store_true",
                   help="recompute files that already exist (by default finished files are skipped: a run resumes)")
    g.add_argument("--keep-going", action="store_true",
                   help="name the images that fail at the end (exit code 3) instead of stopping at the first")


def run(args, command: str) -> int:
    """Generate ``command``'s outputs for every image of the split (this rank's shard under torchrun)."""
    from ..data import generate as gen
    from ..distributed import init_distributed

    if not args.out:
        raise ConfigError("a dataset run writes into a folder: give --out DIR (finished files are skipped, so an "
                          "interrupted run resumes)")
    ctx = init_distributed()
    try:
        runtime = options.runtime(args, announce=ctx.rank == 0)
        spec = targets.prepare(args.name, command, runtime, factories=True)
        dataset = options.dataset_from_args(args)
        target = spec.load(device=_rank_device(runtime.device, ctx))
        use_saliency = None
        if command == "pseudo-mask" and (getattr(args, "saliency", None) or gen.needs_saliency(target.obj)):
            dataset.set_saliency_dir(getattr(args, "saliency", None))
            use_saliency = True
        fmt = getattr(args, "cam_format", "auto")
        kwargs = dict(crf=bool(getattr(args, "crf", False)), style=None if fmt == "auto" else fmt,
                      saliency=use_saliency, overwrite=args.overwrite, progress=progress_wanted(args),
                      keep_going=args.keep_going, crop_val=getattr(args, "crop_val", None), dist=ctx,
                      target_name=args.name, precision=None if spec.entry is None else runtime.precision,
                      workers=args.workers)  # generate() owns the meaning and the check of --workers
        report = gen.generate(dataset, target.obj, command, args.out, **kwargs)
    finally:
        ctx.close()
    if ctx.rank == 0:
        say(args, report.summary())
    if report.failed:  # rank 0 holds every rank's failures: the others exit 3 without repeating them
        raise PartialFailure(report.failed if ctx.rank == 0 else {}, report.written + report.skipped,
                             "no image of the split was written")
    return 0


def _rank_device(device, ctx):
    """``auto``/``cuda`` under torchrun: this rank's GPU (``cuda:LOCAL_RANK`` modulo the visible GPUs)."""
    from ..data.generate import default_device

    if device.type == "cuda" and device.index is None:
        return default_device(ctx)
    return device
