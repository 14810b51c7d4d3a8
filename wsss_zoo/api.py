"""The public functions of wsss_zoo: the names and signatures users and torch.hub callers rely on.

This is the edge: names are resolved to typed registry entries once, images and labels are validated
once, and the core functions of :mod:`wsss_zoo.pipelines` run on the validated values.
"""
from __future__ import annotations

import os
import threading
from typing import Dict, Iterator, Mapping, Optional, Tuple, Union

import numpy as np
import torch

from . import hub
from .convert import guess_layouts, load_state_dict_strict, read_checkpoint, unwrap_state_dict
from .devices import resolve_device
from .errors import (CheckpointFormatError, CheckpointMismatchError, ConfigError, MissingWeightsError,
                     SaliencyError, UnknownNameError, WsssZooError)
from .inputs import load_image, parse_labels
from .loading import check_workers, load_ahead, runs_on_cuda
from .sources import is_batch, many_images, per_image
from .models import build_model
from .precision import apply_precision, resolve_precision
from .pipelines.base import Pipeline, compute_cam, compute_segment, model_entry_of, pipeline_class
from .registry import ModelEntry, PipelineEntry, model_entry, models, pipeline_entry

#: ``weights="DEFAULT"`` means the published weights, as torchvision's ``weights="DEFAULT"``
DEFAULT_WEIGHTS = "DEFAULT"


def _weights_path(weights):
    return None if weights is None or (isinstance(weights, str) and weights == DEFAULT_WEIGHTS) else weights


def load(name: str, weights=None, *, device="auto", precision: str = "fp32", progress: bool = True) -> torch.nn.Module:
    """Build the network of a published checkpoint and load its weights (eval mode).

    ``name``: a registry name, or ``"hf-hub:ORG/NAME[@REVISION]"``, a Hugging Face repo written by
    ``wsss-zoo publish`` (the network is rebuilt from its config.json, also for names this registry lacks).
    ``weights``: None or ``"DEFAULT"`` downloads by name (verified, cached); a path loads a local file in any
    published upstream layout, or the project's own safetensors conversion; ``"hf-hub:ORG/NAME"`` the
    weights of a folder published for this name. ``device``: ``"auto"`` (CUDA when available), ``"cpu"``,
    ``"cuda:N"``. ``precision``: ``"fp32"`` (exact, upstream parity), ``"bf16"``, ``"fp16"`` or ``"auto"``
    for the network forwards (:mod:`wsss_zoo.precision`).
    """
    if hub.is_hf_name(name):
        return _load_hf_hub(name, weights, device=device, precision=precision, progress=progress)
    entry = model_entry(name)
    dev = resolve_device(device)
    mode, _ = resolve_precision(precision, dev)
    return load_entry(entry, _weights_path(weights), device=dev, precision=mode, progress=progress)


# --------------------------------------------------------------------------- hf-hub: names
def _load_hf_hub(spec: str, weights, *, device, precision: str, progress: bool) -> torch.nn.Module:
    """``load("hf-hub:ORG/NAME")``: entry from the repo's config.json, checked against its weights' shapes
    on the meta device before any real allocation (a tampered config cannot ask for a huge network)."""
    if _weights_path(weights) is not None:
        raise ConfigError(f"{spec} brings its own weights; leave weights out (or load a registry name with "
                          f"weights={spec!r})")
    dev = resolve_device(device)
    mode, _ = resolve_precision(precision, dev)
    entry, path = hub.hf_model(spec, progress=progress)
    _check_config_fits(entry, path, spec)
    return load_entry(entry, path, device=dev, precision=mode, progress=progress)


def _check_config_fits(entry: ModelEntry, path, spec: str) -> None:
    from .convert.core import check_safetensors_header

    header = check_safetensors_header(path)
    try:
        with torch.device("meta"):
            own = build_model(entry).state_dict()
    except (TypeError, ValueError, RuntimeError) as exc:  # unknown builder or kwargs, out-of-range values
        raise ConfigError(f"{spec} config.json: architecture {entry.builder} cannot be built with kwargs "
                          f"{dict(entry.builder_kwargs)} ({exc})") from None
    shapes = {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}
    wrong = [k for k, v in own.items() if not k.endswith("num_batches_tracked")
             and shapes.get(k) != tuple(v.shape)]
    if wrong:
        raise CheckpointMismatchError(
            f"{spec}: config.json describes a network ({entry.builder}, {dict(entry.builder_kwargs)}) that its "
            f"model.safetensors does not fit ({len(wrong)} tensors missing or of another shape, e.g. {wrong[0]}); "
            "the repo's files do not belong together", missing=wrong)


def load_entry(entry: ModelEntry, weights=None, *, device="cpu", precision: str = "fp32",
               progress: bool = True) -> torch.nn.Module:
    """:func:`load` for a resolved entry (no name lookup; device and precision already checked)."""
    sd, path = hub.load_state_dict(entry, weights, progress=progress)
    model = build_model(entry)
    try:
        load_state_dict_strict(model, sd, name=f"{entry.name} ({entry.builder})")
    except CheckpointMismatchError as exc:
        raise _with_layout_hint(exc, path, entry) from None
    model.eval()
    model.to(device)
    model.wsss_zoo_entry = entry
    return apply_precision(model, precision)


def _with_layout_hint(exc: CheckpointMismatchError, path, entry: ModelEntry) -> CheckpointMismatchError:
    """The one place that says which upstream layout (and which models) a mismatching file really has,
    judged from its raw keys; the strict loader itself only lists the keys."""
    try:
        raw = unwrap_state_dict(read_checkpoint(path))
    except CheckpointFormatError:
        raw = {}
    guesses = [g for g in guess_layouts(raw) if g != entry.layout]
    if not guesses:
        siblings = [e.name for e in models() if e.layout == entry.layout and e.name != entry.name]
        if exc.mismatched and siblings:  # right family, other head size (e.g. a COCO file as a VOC name)
            msg = (f"{path} has the {entry.layout} layout but other tensor shapes than {entry.name}; "
                   f"is it one of {', '.join(siblings)}?\n{exc}")
        else:
            msg = (f"{exc}\n  is this the right file for {entry.name}? its published sources: "
                   f"wsss_zoo.model_info({entry.name!r})['sources']")
        return CheckpointMismatchError(msg, exc.missing, exc.unexpected, exc.mismatched)
    names = [e.name for e in models() if e.layout in guesses]
    msg = (f"{path} does not hold {entry.name} weights: its keys match the upstream layout "
           f"{', '.join(guesses)} (models: {', '.join(names) or '-'}).\n{exc}")
    return CheckpointMismatchError(msg, exc.missing, exc.unexpected, exc.mismatched)


def pipeline_weights(entry: PipelineEntry, weights) -> Dict[str, Optional[str]]:
    """``{role: path or None}`` from ``weights``: None/``"DEFAULT"``, a path (one-role pipelines) or a dict."""
    if weights is None or (isinstance(weights, str) and weights == DEFAULT_WEIGHTS):
        return {}
    if isinstance(weights, (str, os.PathLike)):
        if len(entry.roles) != 1:
            raise ConfigError(f"{entry.name} has roles {', '.join(entry.roles)}: give weights as a dict "
                              f"{{role: path}}, e.g. weights={{'{next(iter(entry.roles))}': 'file.pth'}}")
        return {next(iter(entry.roles)): weights}
    if not isinstance(weights, Mapping):
        raise ConfigError(f"pipeline weights must be a path (one-role pipelines) or a dict {{role: path}}, "
                          f"not {type(weights).__name__}")
    unknown = sorted(set(weights) - set(entry.roles))
    if unknown:
        raise UnknownNameError(f"{entry.name} has roles {sorted(entry.roles)}; unknown role(s) {unknown}")
    return {role: _weights_path(path) for role, path in weights.items()}


def load_pipeline(name: str, weights=None, *, device="auto", precision: str = "fp32", progress: bool = True,
                  **settings) -> Pipeline:
    """Load a pseudo-mask pipeline with all its role networks.

    ``weights``: None or ``"DEFAULT"`` (published weights for every role), a path (pipelines with one
    role), or ``{role: path}`` (missing roles download by name). ``precision`` as in :func:`load`, for every
    role network. Keyword ``settings`` override the upstream defaults recorded in checkpoints.json; they are
    validated (names, types, ranges) before anything loads.
    """
    entry = pipeline_entry(name)
    cls = pipeline_class(entry.recipe)
    cls.resolve_settings(entry, settings)  # typos and out-of-range values fail before any download
    files = pipeline_weights(entry, weights)
    for role in entry.roles:  # before any download, so the missing role is what the user hears about
        if role in entry.user_weights_required and files.get(role) is None:
            recipe = entry.train_recipes.get(role, "--list")
            raise MissingWeightsError(
                f"{name} needs weights for its '{role}' network, which the authors never published: "
                f"train one (python training/run.py {recipe}) and pass weights={{'{role}': 'path/to/file.pth'}}")
    dev = resolve_device(device)
    mode, _ = resolve_precision(precision, dev)
    nets = {role: load_entry(model_entry(model), files.get(role), device=dev, precision=mode, progress=progress)
            for role, model in entry.roles.items()}
    return cls(entry, nets, settings, device=dev)


def cam(model: torch.nn.Module, image, labels, *, scales=None, flip=None) -> torch.Tensor:
    """Normalised localisation maps float32 [K, H, W] of a CAM network, one row per distinct label.

    Reproduces the upstream inference script of the model's method (scales, flips, resizing,
    normalisation) at the input's full resolution, before any background threshold.

    ``image`` may also be a list of images (or an NxHxWx3 / Nx3xHxW batch) with one labels entry per
    image; the result is then a list of tensors.
    """
    if isinstance(model, Pipeline) and (scales is not None or flip is not None):
        raise ConfigError("scales/flip apply to a network; pass pipeline.models['cam']")
    if is_batch(image):
        images = list(image)
        return _each_image(lambda im, lab, _: _cam_one(model, im, lab, scales, flip), images,
                           per_image(labels, len(images), "labels"), None)
    return _cam_one(model, image, labels, scales, flip)


def _cam_one(model, image, labels, scales, flip) -> torch.Tensor:
    if isinstance(model, Pipeline):
        return model.cam(image, labels)
    entry = model_entry_of(model)
    return compute_cam(model, load_image(image), parse_labels(labels, entry.dataset), scales=scales, flip=flip)


def _each_image(fn, images, labels, saliency) -> list:
    """``[fn(image, labels, saliency)]`` over parallel lists; an error names the image's position."""
    out = []
    for i, image in enumerate(images):
        try:
            out.append(fn(image, labels[i], None if saliency is None else saliency[i]))
        except WsssZooError as exc:
            raise type(exc)(f"image {i}: {exc}") from exc
    return out


_PIPELINE_CACHE: Dict[tuple, Pipeline] = {}
_PIPELINE_LOCK = threading.Lock()


def _pipeline(method: Union[str, Pipeline], weights, device, precision: str = "fp32") -> Pipeline:
    """A loaded pipeline (or any object with ``pseudo_mask(image, labels, *, saliency, crf)``, as a custom
    target of :func:`wsss_zoo.generate`), or the one loaded before for the same name, weights, device and
    precision."""
    if isinstance(method, Pipeline) or (not isinstance(method, str) and hasattr(method, "pseudo_mask")):
        return method
    entry = pipeline_entry(method)
    files = pipeline_weights(entry, weights)
    dev = resolve_device(device)
    mode, _ = resolve_precision(precision, dev)
    key = (method, tuple(sorted((r, str(p)) for r, p in files.items())), str(dev), mode)
    with _PIPELINE_LOCK:
        pipe = _PIPELINE_CACHE.get(key)
        if pipe is None:
            pipe = load_pipeline(method, files or None, device=dev, precision=mode)
            _PIPELINE_CACHE[key] = pipe
    return pipe


def pseudo_mask(image, labels, method: Union[str, Pipeline] = "eps_voc", *, saliency=None, crf: bool = False,
                weights=None, device="auto", precision: str = "fp32") -> np.ndarray:
    """The upstream pipeline's final pseudo label map, uint8 [H, W] (0 bg, class ids, 255 ignore).

    ``method`` is a pipeline name (loaded once and kept), a loaded :class:`Pipeline`, or any object with
    ``pseudo_mask(image, labels, *, saliency, crf)``. ``image`` may also be a list of images (or an
    NxHxWx3 / Nx3xHxW batch) with one labels entry per image (and one saliency map per image, when given);
    the result is then a list of label maps. For folders and datasets, see :func:`pseudo_masks`.
    """
    pipe = _pipeline(method, weights, device, precision)
    if is_batch(image):
        images = list(image)
        sal = None if saliency is None else per_image(saliency, len(images), "saliency maps")
        return _each_image(lambda im, lab, s: pipe.pseudo_mask(im, lab, saliency=s, crf=crf), images,
                           per_image(labels, len(images), "labels"), sal)
    return pipe.pseudo_mask(image, labels, saliency=saliency, crf=crf)


def pseudo_masks(images, labels=None, method: Union[str, Pipeline] = "eps_voc", *, saliency=None,
                 crf: bool = False, weights=None, device="auto", precision: str = "fp32",
                 workers: Optional[int] = None) -> Iterator[Tuple[object, np.ndarray]]:
    """Pseudo masks of many images, yielded as ``(id, mask)`` in order while the next images are read.

    ``images`` with its ``labels`` (and optional ``saliency``), and the ids yielded:

    * a list of images (arrays, PIL images, tensors or paths; or an N-image array/tensor) with a list of
      labels, one entry per image (and saliency maps, one per image): id = the position in the list;
    * a folder (path) with a mapping ``{image name: labels}`` or a labels file (``NAME LABELS`` lines, JSON,
      or ``cls_labels.npy``; see :func:`wsss_zoo.sources.read_labels_file`), saliency a folder of
      ``NAME.png`` maps: id = the image's file name without extension;
    * a dataset of :mod:`wsss_zoo.data` (``open_dataset``) with ``labels=None`` (its own labels), saliency
      a folder (default: the dataset's own saliency folder when the pipeline needs one): id = the image id.
      Images without any class (COCO) get an all-background mask, as the upstream scripts write them.

    Paths are decoded by ``workers`` processes ahead of the network (default ``min(4, CPUs - 1)``; 0: in this
    process; in-memory images are not worth it and use none unless ``workers`` says so). The pipeline is
    loaded and the arguments are checked when this function is called; an image that fails raises its
    error with the id in front.
    """
    pipe = _pipeline(method, weights, device, precision)
    entry = getattr(pipe, "entry", None)
    needs = bool(getattr(pipe, "needs_saliency", False) or getattr(entry, "needs_saliency", False))
    source, use_saliency, dataset = many_images(images, labels, saliency, need_saliency=needs)
    if needs and not use_saliency and len(source.ids):
        raise SaliencyError(f"{getattr(pipe, 'name', 'this method')} needs a saliency map per image: pass "
                            "saliency=<one map per image, or a folder of NAME.png maps>")

    def one(item):
        if dataset and not item.labels:
            return np.zeros(item.image.shape[:2], np.uint8)
        return pipe.pseudo_mask(item.image, item.labels, saliency=item.saliency, crf=crf)

    return _results(one, source, use_saliency, _workers(source, workers), runs_on_cuda(pipe))


def cams(model, images, labels=None, *, scales=None, flip=None,
         workers: Optional[int] = None) -> Iterator[Tuple[object, torch.Tensor]]:
    """CAMs of many images with a network or pipeline (as :func:`cam`), yielded as ``(id, cams)``.

    ``images`` and ``labels`` take the forms of :func:`pseudo_masks` (lists, a folder with a labels
    mapping or file, a dataset); class-less dataset images give an empty [0, H, W] tensor.
    """
    if isinstance(model, Pipeline) and (scales is not None or flip is not None):
        raise ConfigError("scales/flip apply to a network; pass pipeline.models['cam']")
    source, _, dataset = many_images(images, labels, None, need_saliency=False)

    def one(item):
        if dataset and not item.labels:
            return torch.zeros((0,) + item.image.shape[:2])
        return _cam_one(model, item.image, item.labels, scales, flip)

    return _results(one, source, False, _workers(source, workers), runs_on_cuda(model))


def _workers(source, workers: Optional[int]) -> int:
    """Worker processes for a source: the default only where files are decoded."""
    if workers is None and not getattr(source, "reads_files", lambda: True)():
        return 0
    return check_workers(workers)


def _results(fn, source, use_saliency: bool, workers: int, pin: bool) -> Iterator[Tuple[object, object]]:
    items = load_ahead(source, labels=True, saliency=use_saliency, workers=workers, pin_memory=pin)
    try:
        for item in items:
            try:
                if item.error is not None:
                    raise item.error
                result = fn(item)
            except WsssZooError as exc:
                raise type(exc)(f"{item.id}: {exc}") from exc
            yield item.id, result
    finally:
        items.close()


def segment(model: torch.nn.Module, image, *, crf: bool = False, **options) -> np.ndarray:
    """Argmax label map uint8 [H, W] of a segmentation network's upstream test-time inference.

    ``options`` override the network's recorded settings, e.g. ``crf_image="bgr_mean_subtracted"``
    for kazuto1011's original CRF input on a DeepLab-V2 (see ``model_info(name)["inference"]``).
    """
    return compute_segment(model, load_image(image), crf=crf, **options)
