"""The public functions of wsss_zoo (contract: shared/spec/api.md)."""
from __future__ import annotations

import threading
from typing import Dict, Optional, Union

import numpy as np
import torch

from . import hub
from .convert import guess_layouts, load_state_dict_strict, read_checkpoint, unwrap_state_dict
from .errors import CheckpointFormatError, CheckpointMismatchError, MissingWeightsError, UnknownNameError
from .pipelines.base import Pipeline, pipeline_class, run_cam, run_segment
from .registry import build_model, is_model, is_pipeline, model_entry, pipeline_entry


def load(name: str, weights=None, *, device="cpu", progress: bool = True) -> torch.nn.Module:
    """Build the network of a published checkpoint and load its weights (eval mode).

    ``weights``: None downloads by name (verified, cached); a path loads a local file in any published
    upstream layout, or the project's own safetensors conversion.
    """
    if is_pipeline(name) and not is_model(name):
        raise UnknownNameError(f"{name!r} is a pipeline, not a network: use wsss_zoo.load_pipeline({name!r})")
    entry = model_entry(name)
    sd, path = hub.load_state_dict(entry, weights, progress=progress)
    model = build_model(entry)
    try:
        load_state_dict_strict(model, sd, name=f"{name} ({entry['architecture']['builder']})")
    except CheckpointMismatchError as exc:
        raise _with_layout_hint(exc, path, entry) from None
    model.eval()
    model.to(device)
    model.wsss_zoo_cfg = entry
    return model


def _with_layout_hint(exc: CheckpointMismatchError, path, entry) -> CheckpointMismatchError:
    """Add which upstream layout the file really has, judged from its raw keys."""
    try:
        raw = unwrap_state_dict(read_checkpoint(path))
    except CheckpointFormatError:
        return exc
    from .registry import registry

    guesses = [g for g in guess_layouts(raw) if g != entry["layout"]]
    if not guesses:
        siblings = [n for n, e in registry()["models"].items()
                    if e.get("layout") == entry["layout"] and n != entry["name"]]
        if exc.mismatched and siblings:  # right family, other head size (e.g. a COCO file as a VOC name)
            msg = (f"{path} has the {entry['layout']} layout but other tensor shapes than {entry['name']}; "
                   f"is it one of {', '.join(siblings)}?\n{exc}")
            return CheckpointMismatchError(msg, exc.missing, exc.unexpected, exc.mismatched)
        return exc
    names = [n for n, e in registry()["models"].items() if e.get("layout") in guesses]
    msg = (f"{path} does not hold {entry['name']} weights: its keys match the upstream layout "
           f"{', '.join(guesses)} (models: {', '.join(names) or '-'}).\n{exc}")
    return CheckpointMismatchError(msg, exc.missing, exc.unexpected, exc.mismatched)


def load_pipeline(name: str, weights: Optional[Dict[str, str]] = None, *, device="cpu",
                  progress: bool = True, **settings) -> Pipeline:
    """Load a pseudo-mask pipeline with all its role networks.

    ``weights`` maps roles to local files (``{"cam": path, "irn": path}``); missing roles download by
    name. Keyword ``settings`` override the upstream defaults recorded in checkpoints.json.
    """
    if is_model(name) and not is_pipeline(name):
        raise UnknownNameError(f"{name!r} is a network, not a pipeline: use wsss_zoo.load({name!r}); "
                               f"pipelines: {', '.join(_pipelines())}")
    entry = pipeline_entry(name)
    weights = dict(weights or {})
    if isinstance(weights, (str, bytes)) or not isinstance(weights, dict):
        raise UnknownNameError("pipeline weights must be a dict {role: path}")
    unknown = set(weights) - set(entry["roles"])
    if unknown:
        raise UnknownNameError(f"{name} has roles {sorted(entry['roles'])}; unknown role(s) {sorted(unknown)}")
    for role in entry["roles"]:  # before any download, so the missing role is what the user hears about
        if role in entry.get("user_weights_required", []) and weights.get(role) is None:
            raise MissingWeightsError(
                f"{name} needs weights for its '{role}' network, which the authors never published: "
                f"train one (python training/run.py {entry.get('train_recipes', {}).get(role, '--list')}) and pass "
                f"weights={{'{role}': 'path/to/file.pth'}}")
    models = {}
    for role, model_name in entry["roles"].items():
        models[role] = load(model_name, weights.get(role), device=device, progress=progress)
    return pipeline_class(entry["recipe"])(entry, models, settings, device=device)


def _pipelines():
    from .registry import list_pipelines

    return list_pipelines()


def cam(model: torch.nn.Module, image, labels, *, scales=None, flip=None) -> torch.Tensor:
    """Normalised localisation maps float32 [K, H, W] of a CAM network, one row per distinct label.

    Reproduces the upstream inference script of the model's method (scales, flips, resizing,
    normalisation) at the input's full resolution, before any background threshold.
    """
    if isinstance(model, Pipeline):
        if scales is not None or flip is not None:
            raise UnknownNameError("scales/flip apply to a network; pass pipeline.models['cam']")
        return model.cam(image, labels)
    return run_cam(model, image, labels, scales=scales, flip=flip)


_PIPELINE_CACHE: Dict[tuple, Pipeline] = {}
_PIPELINE_LOCK = threading.Lock()


def pseudo_mask(image, labels, method: Union[str, Pipeline] = "eps_voc", *, saliency=None, crf: bool = False,
                weights=None, device="cpu") -> np.ndarray:
    """The upstream pipeline's final pseudo label map, uint8 [H, W] (0 bg, class ids, 255 ignore).

    ``method`` is a pipeline name (loaded once and kept) or a loaded :class:`Pipeline`.
    """
    if isinstance(method, Pipeline):
        pipe = method
    else:
        key = (method, repr(sorted((weights or {}).items())), str(device))
        with _PIPELINE_LOCK:
            pipe = _PIPELINE_CACHE.get(key)
            if pipe is None:
                pipe = load_pipeline(method, weights, device=device)
                _PIPELINE_CACHE[key] = pipe
    return pipe.pseudo_mask(image, labels, saliency=saliency, crf=crf)


def segment(model: torch.nn.Module, image, *, crf: bool = False, **options) -> np.ndarray:
    """Argmax label map uint8 [H, W] of a segmentation network's upstream test-time inference.

    ``options`` override the network's recorded settings, e.g. ``crf_image="bgr_mean_subtracted"``
    for kazuto1011's original CRF input on a DeepLab-V2 (see ``model_info(name)["inference"]``).
    """
    return run_segment(model, image, crf=crf, **options)
