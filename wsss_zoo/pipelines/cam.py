"""The one multi-scale CAM loop, configured per method by a :class:`CamRecipe`.

Every CAM of the zoo (IRN/CDA/RIB ResNet-50, PSA/EPS/SEAM/SBNet ResNet-38, DRS VGG-16 and its refiner) is

    for each scale:   input  = rescaled image (or a square working frame resized), normalised by the
                               entry's ``preprocess``, with its horizontal flip in the same batch
                      maps   = recipe.pass_maps(network, input, classes)        [N, K, h, w]
                      placed = recipe.targets[t](maps, image size)              per output t
    fused[t] = fusion over passes (sum in pass order / stacked sum / max) -> recipe.normalize

and a method differs only by this configuration:

=============  ===============  ==================  ==============  ===========  =======================
recipe         inputs           per-pass map        flip unflipped  fusion       normalisation
=============  ===============  ==================  ==============  ===========  =======================
``irn``        PIL bicubic      ReLU(cam logits)    before resize   stacked sum  max (+1e-5), 2 outputs
``psa/eps``    PIL bicubic      ReLU CAM / softmax  after resize    sum          max (+1e-5)
``seam``       PIL bicubic      PCM ``cam_rv``      after resize    sum          SEAM min-max
``drs``        square frame     class map           (no flip)       max          per pass, in the frame
``drs_refine`` square frame     regression map      (no flip)       max          none
=============  ===============  ==================  ==============  ===========  =======================

RIB's per-image fine-tuning (:mod:`.rib`) builds the same inputs with :func:`pass_inputs`, sums the IRN
per-pass maps over its steps and fuses them with :func:`fuse_passes`.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable, ContextManager, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..finite import check_finite
from ..precision import forward_context, input_memory_format
from ..registry import Preprocess
from .preprocess import normalize, pil_rescale, pil_resize, scaled_size

PassMaps = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
Place = Callable[[torch.Tensor, Tuple[int, int], Mapping], torch.Tensor]
FUSIONS = ("sum", "stacked_sum", "max")
INPUTS = ("rescale", "square")


@dataclasses.dataclass(frozen=True)
class CamRecipe:
    """Configuration of :func:`multiscale_cam` for one upstream inference script.

    * ``pass_maps(model, batch, rows)`` -> [N, K, h, w]: the maps of the classes ``rows`` (0-based
      classifier indices) for a batch of N = 1 or 2 (image, flipped image);
    * ``inputs``: ``"rescale"`` (PIL-resize the image by each scale, ``resample``) or ``"square"`` (PIL
      bilinear to a ``working_size`` square frame, normalised, then bilinearly resized to s x s for each
      square size s; scales are pixel sizes, no flip);
    * ``unflip``: ``"before"`` (the flip pair is summed at the network's resolution, then placed) or
      ``"after"`` (each pass is placed, then the flipped one is un-flipped and added);
    * ``targets``: ``(name, place)`` pairs; ``place(maps, (H, W), options)`` resizes maps to that output;
    * ``fusion``: ``"sum"`` (in pass order), ``"stacked_sum"`` (``torch.stack(...).sum(0)`` over scales) or
      ``"max"`` (from 0); ``normalize`` is applied to each fused output; ``output`` is the CAM's target;
      ``finish(cam, (H, W), options)`` maps it to the image size if the target is another frame;
    * ``context(model)``: entered around the passes (e.g. IRN's folded BatchNorm).
    """

    name: str
    pass_maps: PassMaps
    targets: Tuple[Tuple[str, Place], ...]
    inputs: str = "rescale"
    resample: str = "bicubic"
    unflip: str = "after"
    fusion: str = "sum"
    normalize: Callable[[torch.Tensor], torch.Tensor] = lambda cams: cams
    output: str = "full"
    finish: Optional[Place] = None
    context: Optional[Callable[[torch.nn.Module], ContextManager]] = None
    channels_last: bool = False
    doc: str = ""

    def __post_init__(self):
        if self.fusion not in FUSIONS or self.inputs not in INPUTS or self.unflip not in ("before", "after"):
            raise ValueError(f"CamRecipe {self.name}: fusion {FUSIONS}, inputs {INPUTS}, unflip before/after")
        if self.output not in dict(self.targets):
            raise ValueError(f"CamRecipe {self.name}: output {self.output!r} is not one of its targets")


# ----------------------------------------------------------------------------- small shared pieces
def class_rows(ids: Sequence[int]) -> List[int]:
    """Classifier rows (0-based, background excluded) of segmentation ids 1..C."""
    return [int(i) - 1 for i in ids]


def label_keys(ids: Sequence[int], dtype=np.uint8) -> np.ndarray:
    """``[0, ids...]``: the label of each plane of a [background; classes] stack."""
    return np.asarray([0] + [int(i) for i in ids], dtype=dtype)


def with_background_plane(cams: np.ndarray, background) -> np.ndarray:
    """float32 [K + 1, H, W]: ``background`` (a constant or an [H, W] map) in front of the class maps."""
    cams = np.asarray(cams, dtype=np.float32)
    bg = np.broadcast_to(np.asarray(background, dtype=np.float32), cams.shape[1:])[None]
    return np.concatenate([bg, cams], axis=0)


def threshold_argmax(cams: np.ndarray, ids: Sequence[int], bg: float) -> np.ndarray:
    """Label map from normalised CAMs [K, H, W]: argmax over [bg constant, cams]; ties go to background."""
    return label_keys(ids)[np.argmax(with_background_plane(cams, bg), axis=0)]


def with_flip(x: torch.Tensor) -> torch.Tensor:
    """Stack a CHW (or 1xCxHxW) tensor with its horizontal flip into a batch of 2."""
    if x.dim() == 3:
        x = x.unsqueeze(0)
    return torch.cat([x, x.flip(-1)], dim=0)


def fuse_flip(maps: torch.Tensor, flip: bool = True) -> torch.Tensor:
    """[N, K, h, w] -> [1, K, h, w]: ``m[0] + m[1].flip(-1)`` for a flip pair, else ``m[0]``."""
    return (maps[0] + maps[1].flip(-1))[None] if flip else maps[:1]


def resize_maps(maps: torch.Tensor, size: Sequence[int], align_corners: bool = False) -> torch.Tensor:
    """Bilinear resize of [N, C, h, w] (or [C, h, w]) maps to ``size``."""
    squeeze = maps.dim() == 3
    out = F.interpolate(maps[None] if squeeze else maps, size=tuple(size), mode="bilinear",
                        align_corners=align_corners)
    return out[0] if squeeze else out


def to_image_size(maps: torch.Tensor, size: Tuple[int, int], options: Mapping) -> torch.Tensor:
    """Place: bilinear (align_corners=False) straight to the image's H x W."""
    return resize_maps(maps, size)


def max_normalize(cams: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Divide each map [K, H, W] by its spatial max + eps (PSA/EPS/IRN normalisation)."""
    peak = cams.flatten(1).max(dim=1).values.view(-1, 1, 1)
    return cams / (peak + eps)


# ----------------------------------------------------------------------------- the loop
def square_sizes(scales) -> Tuple[int, ...]:
    """Scales of a ``"square"`` recipe are square input sizes in pixels (DRS: 256, 320, 384)."""
    sizes = tuple(scales)
    if not sizes or any(float(s) != int(s) or int(s) < 8 for s in sizes):
        raise ConfigError(f"this network's scales are square input sizes in pixels (e.g. 256, 320, 384), got {sizes}")
    return tuple(int(s) for s in sizes)


def pass_inputs(image: np.ndarray, recipe: CamRecipe, scales: Sequence[float], flip: bool, pre: Preprocess,
                options: Mapping) -> Iterator[Tuple[float, torch.Tensor]]:
    """``(scale, batch)`` per scale on the CPU: [x] or [x, flip(x)], normalised by ``pre``."""
    if recipe.inputs == "square":
        if flip:
            raise ConfigError(f"{recipe.name} inference uses no flip (upstream DRS scripts); use flip=False")
        working = int(options.get("working_size", 320))
        frame = normalize(pil_resize(image, (working, working), recipe.resample), pre).unsqueeze(0)
        for s in square_sizes(scales):
            yield s, F.interpolate(frame, size=(s, s), mode="bilinear", align_corners=False)
        return
    h, w = image.shape[:2]
    for s in scales:
        size = scaled_size(h, w, s)
        if min(size) < 1:
            raise ConfigError(f"scale {s:g} makes the {h}x{w} image {size[0]}x{size[1]} pixels; use larger scales "
                              "for an image this small (or a larger image)")
        x = normalize(pil_rescale(image, s, recipe.resample), pre)
        yield s, (with_flip(x) if flip else x.unsqueeze(0))


def run_passes(model: torch.nn.Module, image: np.ndarray, ids: Sequence[int], recipe: CamRecipe, *,
               scales: Sequence[float], flip: bool, pre: Preprocess, options: Mapping = {},
               device=None) -> Iterator[torch.Tensor]:
    """The network's maps of the classes ``ids`` for each scale: [N, K, h, w] (``unflip="after"``) or the
    flip-fused [1, K, h, w] (``unflip="before"``). A generator: each pass runs when it is consumed. Scales
    whose inputs have the same size (a repeated scale; sizes that round alike on a small image) are the same
    input: the network runs once and its maps are reused, exactly."""
    device = device if device is not None else model_device(model)
    rows = torch.as_tensor(class_rows(ids), dtype=torch.long, device=device)
    memory = torch.channels_last if recipe.channels_last else input_memory_format(model)
    context = recipe.context(model) if recipe.context else contextlib.nullcontext()
    done = {}  # input size -> maps: scales that round to the same size give the same input, run it once
    with context:
        for _, batch in pass_inputs(image, recipe, scales, flip, pre, options):
            size = tuple(batch.shape[-2:])
            if size not in done:
                with forward_context(model):  # autocast in bf16/fp16; everything after the network is float32
                    maps = recipe.pass_maps(model, batch.to(device).contiguous(memory_format=memory), rows)
                maps = maps.float()
                done[size] = fuse_flip(maps, flip) if recipe.unflip == "before" else maps
            yield done[size]


def fuse_passes(per_pass: Iterable[torch.Tensor], recipe: CamRecipe, size: Tuple[int, int], *, flip: bool,
                options: Mapping = {}) -> Dict[str, torch.Tensor]:
    """Place every pass on each target, fuse (``recipe.fusion``) and normalise: ``{target: [K, H', W']}``."""
    fused: Dict[str, Optional[torch.Tensor]] = {name: None for name, _ in recipe.targets}
    stacked: Dict[str, List[torch.Tensor]] = {name: [] for name, _ in recipe.targets}
    for maps in per_pass:
        for name, place in recipe.targets:
            placed = place(maps, size, options)
            for j in range(placed.shape[0]):
                m = placed[j].flip(-1) if (j == 1 and flip and recipe.unflip == "after") else placed[j]
                if recipe.fusion == "stacked_sum":
                    stacked[name].append(m)
                elif fused[name] is None:
                    fused[name] = m.clamp_min(0) if recipe.fusion == "max" else m
                else:
                    fused[name] = torch.maximum(fused[name], m) if recipe.fusion == "max" else fused[name] + m
    if recipe.fusion == "stacked_sum":
        fused = {name: torch.stack(maps).sum(0) for name, maps in stacked.items()}
    return {name: recipe.normalize(cams) for name, cams in fused.items()}


def multiscale_cam(model: torch.nn.Module, image: np.ndarray, ids: Sequence[int], recipe: CamRecipe, *,
                   scales: Sequence[float], flip: bool, pre: Preprocess,
                   options: Mapping = {}) -> Dict[str, torch.Tensor]:
    """Every target of ``recipe`` for one validated image (uint8 HxWx3) and sorted class ids."""
    size = (int(image.shape[0]), int(image.shape[1]))
    passes = run_passes(model, image, ids, recipe, scales=scales, flip=flip, pre=pre, options=options)
    out = fuse_passes(passes, recipe, size, flip=flip, options=options)
    for name, cams in out.items():  # NaN/inf (a float16 overflow) would silently become a wrong label map
        check_finite(cams, f"the {name} CAMs of {network_name(model)}")
    return out


def recipe_cam(model: torch.nn.Module, image: np.ndarray, ids: Sequence[int], recipe: CamRecipe, *,
               scales: Sequence[float], flip: bool, pre: Preprocess, options: Mapping = {}) -> torch.Tensor:
    """The recipe's CAM [K, H, W] at the image's size (what :func:`wsss_zoo.cam` returns)."""
    out = multiscale_cam(model, image, ids, recipe, scales=scales, flip=flip, pre=pre, options=options)[recipe.output]
    if recipe.finish is not None:
        out = recipe.finish(out, (int(image.shape[0]), int(image.shape[1])), options)
    return out


def network_name(model: torch.nn.Module) -> str:
    entry = getattr(model, "wsss_zoo_entry", None)
    return entry.name if entry is not None else type(model).__name__


def model_device(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")
