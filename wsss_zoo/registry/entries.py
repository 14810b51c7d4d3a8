"""Typed registry entries, parsed and validated once from checkpoints.json-shaped data.

:func:`parse_model` / :func:`parse_pipeline` turn one JSON entry into a frozen :class:`ModelEntry` /
:class:`PipelineEntry` (with :class:`Preprocess`, :class:`CamSpec`, :class:`SegmentSpec`, :class:`Source`,
:class:`Metric`, :class:`License`, :class:`CrfSpec`), or raise :class:`~wsss_zoo.errors.RegistryError`
naming the file, the entry and the field. The field reference is docs/registry.md.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import re
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple

from ..errors import RegistryError

TASKS = ("cam", "refine", "affinity", "irn", "segmentation", "init")
DATASETS = ("voc", "coco", "imagenet")
ROLES = ("final", "init")
SOURCE_KINDS = ("github_release", "url", "gdrive", "file")
CHANNEL_ORDERS = ("RGB", "BGR")
ARITHMETIC = ("float64", "float32")
STAGES = ("cam", "pseudo_mask", "segmentation")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
FILENAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SHA256_PATTERN = re.compile(r"[0-9a-fA-F]{64}")

MODEL_FIELDS = ("description", "method", "task", "dataset", "role", "upstream_class", "architecture", "layout",
                "filename", "sha256", "size", "md5", "sources", "upstream_layout", "preprocess", "inference",
                "metrics", "license", "paper", "citation", "code", "train_recipe", "notes")
PIPELINE_FIELDS = ("description", "method", "dataset", "recipe", "roles", "user_weights_required",
                   "needs_saliency", "settings", "crf", "metrics", "train_recipes", "paper", "citation", "code",
                   "license", "notes")


class FrozenDict(dict):
    """A read-only dict: entries are shared between threads and attached to networks, so nothing may edit
    them in place. Deep copies return the object itself (it cannot change); it pickles as a plain dict copy."""

    def _readonly(self, *args, **kwargs):
        raise TypeError("registry entries are read-only; use entry.replace(...) / entry.with_cam(...) for a copy")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _readonly

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def __reduce__(self):
        return FrozenDict, (dict(self),)

    def __hash__(self):
        return hash(tuple(sorted((k, _hashable(v)) for k, v in self.items())))


def _hashable(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


def frozen(mapping: Mapping) -> Mapping:
    """A read-only copy of ``mapping`` (nested objects read-only too, lists as tuples)."""
    def freeze(value):
        if isinstance(value, Mapping):
            return FrozenDict({k: freeze(v) for k, v in value.items()})
        if isinstance(value, (list, tuple)):
            return tuple(freeze(v) for v in value)
        return value

    return freeze(dict(mapping))


def thawed(value):
    """Plain JSON-shaped copy (dicts and lists) of a :func:`frozen` value."""
    if isinstance(value, Mapping):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thawed(v) for v in value]
    return value


# ----------------------------------------------------------------------------- reading fields
class FieldReader:
    """Reads typed fields of one JSON object; every error names ``where`` and the field."""

    def __init__(self, data, where: str):
        if not isinstance(data, Mapping):
            raise RegistryError(f"{where}: expected an object, got {_kind(data)}")
        self.data = data
        self.where = where
        self.seen = set()

    def error(self, key: str, problem: str) -> RegistryError:
        return RegistryError(f"{self.where}.{key}: {problem}")

    def raw(self, key: str, default=None):
        self.seen.add(key)
        return self.data.get(key, default)

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, default: Optional[str] = None, *, required: bool = False, one_line: bool = False,
             choices: Sequence[str] = (), nullable: bool = False) -> Optional[str]:
        if required and key not in self.data:
            raise self.error(key, "missing (required)")
        value = self.raw(key, default)
        if value is None:
            if nullable or (default is None and not required):
                return None
            raise self.error(key, "must not be null")
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_kind(value)}")
        if one_line and "\n" in value:
            raise self.error(key, "must be one line")
        if choices and value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(key, f"{value!r} is not one of {', '.join(choices)}{hint}")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_kind(value)}")
        return value

    def integer(self, key: str, default=None, *, minimum: Optional[int] = None, nullable: bool = True):
        value = self.raw(key, default)
        if value is None and nullable:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(key, f"expected an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        return value

    def number(self, key: str, default=None, *, positive: bool = False) -> Optional[float]:
        value = self.raw(key, default)
        if value is None:
            return None
        if not _is_number(value):
            raise self.error(key, f"expected a number, got {_kind(value)}")
        if positive and not value > 0:
            raise self.error(key, f"must be > 0, got {value}")
        return float(value)

    def numbers(self, key: str, length: Optional[int] = None, *, positive: bool = False,
                default=None) -> Optional[Tuple[float, ...]]:
        value = self.raw(key, default)
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or not all(_is_number(v) for v in value):
            raise self.error(key, f"expected a list of numbers, got {_kind(value)}")
        if length is not None and len(value) != length:
            raise self.error(key, f"expected {length} numbers, got {len(value)}")
        if not value:
            raise self.error(key, "must not be empty")
        if positive and not all(v > 0 for v in value):
            raise self.error(key, f"must be positive numbers, got {list(value)}")
        return tuple(float(v) for v in value)

    def mapping(self, key: str, default=None, *, nullable: bool = False) -> Optional[Mapping]:
        value = self.raw(key, {} if default is None else default)
        if value is None and nullable:
            return None
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected an object, got {_kind(value)}")
        return value

    def items(self, key: str) -> list:
        value = self.raw(key, [])
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {_kind(value)}")
        return value

    def finish(self, allowed: Iterable[str]) -> None:
        """Refuse keys this entry kind does not have (typos such as ``sha265``)."""
        allowed = tuple(allowed)
        for key in self.data:
            if key not in allowed and key not in self.seen:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; fields: {', '.join(allowed)}"
                raise RegistryError(f"{self.where}: unknown field {key!r}{hint}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)


# ----------------------------------------------------------------------------- parts
@dataclasses.dataclass(frozen=True)
class Preprocess:
    """How an image becomes the network input: ``(x[channel_order] / scale - mean) / std``.

    ``arithmetic``: ``float64`` (numpy in float64, rounded to float32: PSA/EPS/IRN/kazuto1011 loaders) or
    ``float32`` (torchvision ``ToTensor`` + ``Normalize``: DRS, VainF). ``std`` None: no division.
    """

    channel_order: str = "RGB"
    scale: float = 255.0
    mean: Tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: Optional[Tuple[float, float, float]] = (0.229, 0.224, 0.225)
    arithmetic: str = "float64"

    @classmethod
    def parse(cls, data, where: str) -> "Preprocess":
        r = FieldReader(data, where)
        order = r.text("channel_order", "RGB", choices=CHANNEL_ORDERS)
        scale = r.number("scale", 255, positive=True)
        mean = r.numbers("mean", 3)
        mean_bgr = r.numbers("mean_bgr", 3)
        if mean is not None and mean_bgr is not None:
            raise r.error("mean", "give one of mean (in channel_order) and mean_bgr, not both")
        if mean_bgr is not None and order != "BGR":
            raise r.error("mean_bgr", "only for channel_order BGR")
        std = r.numbers("std", 3, positive=True)
        arithmetic = r.text("arithmetic", "float64", choices=ARITHMETIC)
        r.finish(("channel_order", "scale", "mean", "mean_bgr", "std", "arithmetic"))
        if mean is None and mean_bgr is None and not data:
            return cls()  # no record: ImageNet mean/std on RGB in 0..1
        if mean is None and mean_bgr is None:
            raise r.error("mean", "missing (give mean in channel_order, or mean_bgr)")
        return cls(order, scale, mean if mean is not None else mean_bgr, std, arithmetic)

    def denormalize_rgb(self) -> Tuple[Tuple[float, ...], Optional[Tuple[float, ...]]]:
        """(mean, std) reordered to RGB, for turning a network input back into an image."""
        if self.channel_order == "BGR":
            return self.mean[::-1], (self.std[::-1] if self.std else None)
        return self.mean, self.std


@dataclasses.dataclass(frozen=True)
class CamSpec:
    """``inference.cam``: the CAM recipe and its upstream defaults (scales, flip, recipe options)."""

    recipe: str
    scales: Tuple[float, ...]
    flip: bool
    options: Mapping[str, Any] = dataclasses.field(default_factory=lambda: frozen({}))

    @classmethod
    def parse(cls, data, where: str) -> "CamSpec":
        r = FieldReader(data, where)
        recipe = r.text("recipe", required=True)
        scales = r.numbers("scales", positive=True, default=[1.0])
        flip = r.flag("flip", True)
        options = {k: v for k, v in data.items() if k not in ("recipe", "scales", "flip")}
        return cls(recipe, scales, flip, frozen(options))


@dataclasses.dataclass(frozen=True)
class SegmentSpec:
    """``inference.segment``: the segmentation recipe and its option defaults (e.g. ``crf_image``)."""

    recipe: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=lambda: frozen({}))

    @classmethod
    def parse(cls, data, where: str) -> "SegmentSpec":
        r = FieldReader(data, where)
        recipe = r.text("recipe", required=True)
        return cls(recipe, frozen({k: v for k, v in data.items() if k != "recipe"}))


@dataclasses.dataclass(frozen=True)
class Inference:
    """``inference``: ``cam`` and ``segment`` specs, and per-procedure settings (e.g. ``rib``)."""

    cam: Optional[CamSpec] = None
    segment: Optional[SegmentSpec] = None
    procedures: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=lambda: frozen({}))

    @classmethod
    def parse(cls, data, where: str) -> "Inference":
        r = FieldReader(data, where)
        cam = r.mapping("cam", nullable=True) if r.has("cam") else None
        seg = r.mapping("segment", nullable=True) if r.has("segment") else None
        procedures = {}
        for key, value in data.items():
            if key in ("cam", "segment"):
                continue
            if not isinstance(value, Mapping):
                raise r.error(key, f"expected an object of procedure settings, got {_kind(value)}")
            procedures[key] = value
        return cls(CamSpec.parse(cam, f"{where}.cam") if cam else None,
                   SegmentSpec.parse(seg, f"{where}.segment") if seg else None, frozen(procedures))

    def procedure(self, name: str) -> Optional[Mapping[str, Any]]:
        return self.procedures.get(name)


@dataclasses.dataclass(frozen=True)
class Source:
    """One place the file can come from: ``github_release``/``url`` (HTTP), ``gdrive`` (file id), ``file``
    (a local path, for user entries). ``superseded`` links may hold another training run: never tried."""

    kind: str
    url: Optional[str] = None
    id: Optional[str] = None
    path: Optional[str] = None
    sha256: Optional[str] = None
    size: Optional[int] = None
    superseded: bool = False
    manual: bool = False
    note: str = ""

    @classmethod
    def parse(cls, data, where: str) -> "Source":
        r = FieldReader(data, where)
        kind = r.text("kind", required=True, choices=SOURCE_KINDS)
        url, file_id, path = r.text("url"), r.text("id"), r.text("path")
        if kind in ("github_release", "url") and not (url or "").startswith(("https://", "http://")):
            raise r.error("url", f"a {kind} source needs an http(s) URL")
        if kind == "gdrive" and not re.fullmatch(r"[A-Za-z0-9_-]{10,}", file_id or ""):
            raise r.error("id", "a gdrive source needs the Drive file id")
        if kind == "file" and not path:
            raise r.error("path", "a file source needs the path of the local file")
        sha = r.text("sha256", nullable=True)
        if sha is not None and not SHA256_PATTERN.fullmatch(sha):
            raise r.error("sha256", "must be 64 hexadecimal digits")
        src = cls(kind, url, file_id, path, sha.lower() if sha else None, r.integer("size", minimum=1),
                  r.flag("superseded"), r.flag("manual"), r.text("note", "") or "")
        r.finish(("kind", "url", "id", "path", "sha256", "size", "superseded", "manual", "note"))
        return src

    @property
    def browser_url(self) -> str:
        """Where a person can download the file by hand."""
        if self.kind == "gdrive":
            return f"https://drive.google.com/file/d/{self.id}/view"
        return self.url or self.path or ""


@dataclasses.dataclass(frozen=True)
class License:
    spdx: Optional[str] = None
    redistributable: bool = False
    source: str = ""
    notes: str = ""

    @classmethod
    def parse(cls, data, where: str) -> "License":
        r = FieldReader(data, where)
        lic = cls(r.text("spdx", nullable=True), r.flag("redistributable"), r.text("source", "") or "",
                  r.text("notes", "") or "")
        r.finish(("spdx", "redistributable", "source", "notes"))
        return lic


@dataclasses.dataclass(frozen=True)
class Metric:
    """One reported number with its protocol (what verify.py reproduces)."""

    dataset: str
    split: str
    stage: str
    miou: float
    n_images: Optional[int] = None
    crf: Optional[bool] = None
    source: str = ""
    where: str = ""
    protocol: str = ""
    pipeline: Optional[str] = None

    @classmethod
    def parse(cls, data, where: str) -> "Metric":
        r = FieldReader(data, where)
        crf = r.raw("crf")
        if crf not in (True, False, None):
            raise r.error("crf", f"expected true, false or null, got {_kind(crf)}")
        miou = r.number("miou")
        if miou is None or not 0 <= miou <= 100:
            raise r.error("miou", "expected a percentage in 0..100")
        m = cls(r.text("dataset", required=True), r.text("split", required=True),
                r.text("stage", required=True, choices=STAGES), miou, r.integer("n_images", minimum=1), crf,
                r.text("source", "") or "", r.text("where", "") or "", r.text("protocol", "") or "",
                r.text("pipeline", nullable=True))
        r.finish(("dataset", "split", "stage", "miou", "n_images", "crf", "source", "where", "protocol", "pipeline"))
        return m


@dataclasses.dataclass(frozen=True)
class CrfSpec:
    """A pipeline's published dense-CRF setting: preset of :mod:`wsss_zoo.crf`, iterations, where upstream uses it."""

    preset: str
    iterations: Optional[int] = None
    where: str = ""

    @classmethod
    def parse(cls, data, where: str) -> "CrfSpec":
        r = FieldReader(data, where)
        spec = cls(r.text("preset", required=True), r.integer("iterations", minimum=1), r.text("where", "") or "")
        r.finish(("preset", "iterations", "where"))
        return spec


# ----------------------------------------------------------------------------- entries
class _Entry:
    """What model and pipeline entries share: immutable (deep copies are the entry itself, so a network
    copied for fine-tuning, as RIB does, shares it) and exportable as the JSON record."""

    name: str
    raw: Mapping[str, Any]

    def __deepcopy__(self, memo):
        return self

    def to_dict(self) -> dict:
        """The JSON entry as a plain dict with its name (what :func:`wsss_zoo.model_info` returns)."""
        out = thawed(self.raw)
        out["name"] = self.name
        return out


@dataclasses.dataclass(frozen=True)
class ModelEntry(_Entry):
    """One published checkpoint: how to build, fetch, convert and run its network."""

    name: str
    method: str
    task: str
    dataset: str
    role: str
    builder: str
    builder_kwargs: Mapping[str, Any]
    layout: str
    filename: str
    sha256: Optional[str]
    size: Optional[int]
    sources: Tuple[Source, ...]
    preprocess: Preprocess
    inference: Inference
    metrics: Tuple[Metric, ...]
    license: License
    description: str = ""
    upstream_class: str = ""
    train_recipe: Optional[str] = None
    paper: Mapping[str, Any] = dataclasses.field(default_factory=lambda: frozen({}))
    citation: str = ""
    code: Mapping[str, Any] = dataclasses.field(default_factory=lambda: frozen({}))
    notes: str = ""
    origin: str = "checkpoints.json"
    raw: Mapping[str, Any] = dataclasses.field(default_factory=lambda: frozen({}), repr=False, compare=False)

    kind = "model"

    @property
    def current_sources(self) -> Tuple[Source, ...]:
        """Sources that may be tried automatically: not superseded (another training run), not manual."""
        return tuple(s for s in self.sources if not s.superseded and not s.manual)

    def replace(self, **changes) -> "ModelEntry":
        """A copy with fields changed (e.g. ``inference=...`` in tests and experiments)."""
        return dataclasses.replace(self, **changes)

    def with_cam(self, **changes) -> "ModelEntry":
        """A copy whose CAM spec has ``scales`` / ``flip`` / ``recipe`` / options changed."""
        cam = self.inference.cam
        if cam is None:
            raise RegistryError(f"{self.name} has no CAM spec")
        fields = {k: changes.pop(k) for k in ("recipe", "scales", "flip") if k in changes}
        if "scales" in fields:
            fields["scales"] = tuple(float(s) for s in fields["scales"])
        if changes:
            fields["options"] = frozen(dict(cam.options, **changes))
        return self.replace(inference=dataclasses.replace(self.inference, cam=dataclasses.replace(cam, **fields)))


@dataclasses.dataclass(frozen=True)
class PipelineEntry(_Entry):
    """One pseudo-mask pipeline: its recipe, role networks, settings and published CRF."""

    name: str
    method: str
    dataset: str
    recipe: str
    roles: Mapping[str, str]
    user_weights_required: Tuple[str, ...]
    needs_saliency: bool
    settings: Mapping[str, Any]
    crf: Optional[CrfSpec]
    metrics: Tuple[Metric, ...]
    train_recipes: Mapping[str, str]
    license: License
    description: str = ""
    paper: Mapping[str, Any] = dataclasses.field(default_factory=lambda: frozen({}))
    citation: str = ""
    code: Mapping[str, Any] = dataclasses.field(default_factory=lambda: frozen({}))
    notes: str = ""
    origin: str = "checkpoints.json"
    raw: Mapping[str, Any] = dataclasses.field(default_factory=lambda: frozen({}), repr=False, compare=False)

    kind = "pipeline"


def parse_model(name: str, data, where: str, method_records: Mapping[str, Mapping]) -> ModelEntry:
    """Validate one model entry; ``where`` names the file and entry in messages."""
    r = FieldReader(data, where)
    arch = FieldReader(r.mapping("architecture"), f"{where}.architecture")
    builder = arch.text("builder", required=True)
    kwargs = arch.mapping("kwargs")
    arch.finish(("builder", "kwargs"))
    task = r.text("task", required=True, choices=TASKS)
    role = r.text("role", "init" if task == "init" else "final", choices=ROLES)
    if (role == "init") != (task == "init"):
        raise r.error("role", f"{role!r} does not go with task {task!r} (init weights have task and role 'init')")
    method = r.text("method", required=True)
    if method != "init" and method not in method_records:
        raise r.error("method", f"{method!r} is not a method of the registry ({', '.join(sorted(method_records))}); "
                                "add a 'methods' record for it")
    filename = r.text("filename", f"{name}.pth")
    if not FILENAME_PATTERN.fullmatch(filename) or ".." in filename:
        raise r.error("filename", f"{filename!r} must be a plain file name (letters, digits, '._-'), no folders")
    sha = r.text("sha256", nullable=True)
    if sha is not None and not SHA256_PATTERN.fullmatch(sha):
        raise r.error("sha256", "must be 64 hexadecimal digits or null")
    sources = tuple(Source.parse(s, f"{where}.sources[{i}]") for i, s in enumerate(r.items("sources")))
    metrics = tuple(Metric.parse(m, f"{where}.metrics[{i}]") for i, m in enumerate(r.items("metrics")))
    train_recipe = r.text("train_recipe", nullable=True)
    for key in ("upstream_layout", "md5"):
        r.text(key, "")
    entry = ModelEntry(
        name=name, method=method, task=task, dataset=r.text("dataset", required=True, choices=DATASETS), role=role,
        builder=builder, builder_kwargs=frozen(kwargs), layout=r.text("layout", required=True),
        filename=filename, sha256=sha.lower() if sha else None, size=r.integer("size", minimum=1),
        sources=sources,
        preprocess=Preprocess.parse(r.mapping("preprocess"), f"{where}.preprocess"),
        inference=Inference.parse(r.mapping("inference"), f"{where}.inference"),
        metrics=metrics, license=License.parse(r.mapping("license", nullable=True) or {}, f"{where}.license"),
        description=r.text("description", "", one_line=True) or "", upstream_class=r.text("upstream_class", "") or "",
        train_recipe=train_recipe, paper=frozen(r.mapping("paper")), citation=r.text("citation", "") or "",
        code=frozen(r.mapping("code")), notes=r.text("notes", "") or "", origin=where.split(":", 1)[0],
        raw=frozen(data))
    r.finish(MODEL_FIELDS)
    return entry


def parse_pipeline(name: str, data, where: str, method_records: Mapping[str, Mapping]) -> PipelineEntry:
    """Validate one pipeline entry; fields missing here are taken from its method's record."""
    r = FieldReader(data, where)
    method = r.text("method", required=True)
    if method not in method_records:
        raise r.error("method", f"{method!r} is not a method of the registry ({', '.join(sorted(method_records))})")
    record = method_records[method]
    roles = r.mapping("roles")
    if not roles:
        raise r.error("roles", "a pipeline needs at least one role {role: model name}")
    for role, model in roles.items():
        if not isinstance(model, str):
            raise r.error(f"roles.{role}", f"expected a model name, got {_kind(model)}")
    required = r.items("user_weights_required")
    unknown = [x for x in required if x not in roles]
    if unknown:
        raise r.error("user_weights_required", f"names role(s) {unknown} that the pipeline does not have")
    train = r.mapping("train_recipes")
    if set(train) - set(roles):
        raise r.error("train_recipes", f"names role(s) {sorted(set(train) - set(roles))} that the pipeline lacks")
    crf = r.mapping("crf", nullable=True) if r.has("crf") else None
    settings = r.mapping("settings")
    raw = dict(data)
    for key in ("paper", "citation", "code", "license"):
        if key not in raw and key in record:
            raw[key] = copy.deepcopy(record[key])
    r = FieldReader(raw, where)  # the method's record fills paper, citation, code, license
    r.seen.update(("method", "roles", "user_weights_required", "train_recipes", "crf", "settings"))
    entry = PipelineEntry(
        name=name, method=method, dataset=r.text("dataset", required=True, choices=DATASETS),
        recipe=r.text("recipe", required=True), roles=frozen(roles), user_weights_required=tuple(required),
        needs_saliency=r.flag("needs_saliency"), settings=frozen(settings),
        crf=CrfSpec.parse(crf, f"{where}.crf") if crf else None,
        metrics=tuple(Metric.parse(m, f"{where}.metrics[{i}]") for i, m in enumerate(r.items("metrics"))),
        train_recipes=frozen(train), license=License.parse(r.mapping("license"), f"{where}.license"),
        description=r.text("description", "", one_line=True) or "", paper=frozen(r.mapping("paper")),
        citation=r.text("citation", "") or "", code=frozen(r.mapping("code")), notes=r.text("notes", "") or "",
        origin=where.split(":", 1)[0], raw=frozen(raw))
    r.finish(PIPELINE_FIELDS)
    return entry


def check_name(name, section: str, origin: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise RegistryError(f"{origin}: {section} name {name!r} must start with a letter or digit and use only "
                            "letters, digits and '._-'")
    return name


__all__ = ["CamSpec", "CrfSpec", "Inference", "License", "Metric", "ModelEntry", "PipelineEntry", "Preprocess",
           "SegmentSpec", "Source", "parse_model", "parse_pipeline", "frozen", "thawed"]
