"""The catalog of entries: checkpoints.json, merged with the user's overlays, parsed once.

Overlays (same shape as checkpoints.json: ``{"models": {...}, "pipelines": {...}, "methods": {...}}``) come
from ``WSSS_ZOO_REGISTRY`` (JSON files separated by ``os.pathsep``) and from :func:`add_entries`, in that
order. For each name in an overlay section:

* a name the registry already has: the overlay's fields are merged over it (objects merged key by key,
  everything else replaced) -- e.g. point a published name at a mirror with its sha256;
* a new name with ``"base": "<existing name>"``: the base's technical fields (network, layout,
  preprocessing, inference, method, dataset / recipe, roles, settings) are copied, its provenance
  (file, sources, hashes, reported metrics, licence) is not -- e.g. one's own training run;
* another new name: a complete entry.

Every merged entry is validated exactly like the built-in ones; a bad overlay is a
:class:`~wsss_zoo.errors.RegistryError` that names the file, the entry and the field.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import json
import os
import threading
from pathlib import Path
from typing import Dict, List, Mapping, Tuple, Union

from ..errors import RegistryError, UnknownNameError
from .entries import ModelEntry, PipelineEntry, check_name, frozen, parse_model, parse_pipeline

ENV_REGISTRY = "WSSS_ZOO_REGISTRY"
_PACKAGE_DIR = Path(__file__).resolve().parent.parent
REGISTRY_CANDIDATES = (_PACKAGE_DIR / "checkpoints.json", _PACKAGE_DIR.parent / "checkpoints.json")
SECTIONS = ("models", "pipelines")
TOP_LEVEL = ("schema_version", "description", "methods", "origins", "bases", "models", "pipelines")
OVERLAY_TOP_LEVEL = ("schema_version", "description", "methods", "models", "pipelines")
#: fields a ``base`` entry passes on (what the code needs); provenance fields are the new entry's own
INHERITED = {
    "models": ("method", "task", "dataset", "role", "upstream_class", "architecture", "layout", "upstream_layout",
               "preprocess", "inference", "paper", "citation", "code", "train_recipe"),
    "pipelines": ("method", "dataset", "recipe", "roles", "user_weights_required", "needs_saliency", "settings",
                  "crf", "train_recipes", "paper", "citation", "code"),
}
USER_LICENSE = {"spdx": None, "redistributable": False, "source": "user registry entry",
                "notes": "weights added by the user; no redistribution rights are implied"}


@dataclasses.dataclass(frozen=True)
class Catalog:
    """A parsed, validated snapshot of the registry."""

    document: Mapping  # the merged checkpoints.json-shaped data (read-only)
    models: Mapping[str, ModelEntry]
    pipelines: Mapping[str, PipelineEntry]
    methods: Mapping[str, Mapping]


_OVERLAYS: List[Tuple[str, dict]] = []
_LOCK = threading.Lock()


def registry_path() -> Path:
    """checkpoints.json: inside an installed package, else the repository root."""
    for path in REGISTRY_CANDIDATES:
        if path.is_file():
            return path
    raise RegistryError("checkpoints.json not found next to the wsss_zoo package or in the repository root; "
                        "reinstall wsss_zoo")


def _read_json(path: Path, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise RegistryError(f"{what} {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{what} {path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
                            ) from None
    except OSError as exc:
        raise RegistryError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{what} {path} must hold a JSON object like checkpoints.json")
    return data


def _env_overlay_paths(value: str) -> List[Path]:
    return [Path(p).expanduser().absolute() for p in value.split(os.pathsep) if p.strip()]


def _stamp(path: Path) -> Tuple[str, int, int]:
    """What identifies the content of an overlay file for the catalog cache: path, mtime, size."""
    try:
        st = path.stat()
        return str(path), st.st_mtime_ns, st.st_size
    except OSError:
        return str(path), -1, -1


def _read_overlay(path: Path, what: str) -> dict:
    """An overlay file; relative ``file`` source paths in it are relative to the file's own folder."""
    data = _read_json(path, what)
    models = data.get("models")
    if isinstance(models, Mapping):
        for entry in models.values():
            for source in (entry.get("sources") if isinstance(entry, Mapping) else None) or ():
                if (isinstance(source, dict) and source.get("kind") == "file" and isinstance(source.get("path"), str)
                        and not Path(source["path"]).expanduser().is_absolute()):
                    source["path"] = str(path.parent / source["path"])
    return data


def _merge(base: dict, patch: Mapping) -> dict:
    """Objects merged key by key, other values replaced (a list replaces a list)."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _apply_overlay(doc: dict, overlay, origin: str, origins: Dict[Tuple[str, str], str]) -> None:
    if not isinstance(overlay, Mapping):
        raise RegistryError(f"{origin}: a registry overlay must be a JSON object with 'models' and/or 'pipelines'")
    for key in overlay:
        if key not in OVERLAY_TOP_LEVEL:
            close = difflib.get_close_matches(str(key), OVERLAY_TOP_LEVEL, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(OVERLAY_TOP_LEVEL)}"
            raise RegistryError(f"{origin}: unknown top-level key {key!r}{hint}")
    methods = overlay.get("methods", {})
    if not isinstance(methods, Mapping):
        raise RegistryError(f"{origin}: 'methods' must be an object")
    for name, record in methods.items():
        if not isinstance(record, Mapping):
            raise RegistryError(f"{origin}: methods.{name} must be an object (paper, citation, code, license)")
        doc["methods"][check_name(name, "method", origin)] = _merge(doc["methods"].get(name, {}), record)
    for section in SECTIONS:
        entries = overlay.get(section, {})
        if not isinstance(entries, Mapping):
            raise RegistryError(f"{origin}: '{section}' must be an object {{name: entry}}")
        other = "pipelines" if section == "models" else "models"
        for name, patch in entries.items():
            check_name(name, section[:-1], origin)
            where = f"{origin}: {section}.{name}"
            if not isinstance(patch, Mapping):
                raise RegistryError(f"{where}: expected an object, got {type(patch).__name__}")
            if name in doc[other]:
                raise RegistryError(f"{where}: {name!r} is already a {other[:-1]} name; pick another name")
            patch = dict(patch)
            base = patch.pop("base", None)
            if base is not None:
                if name in doc[section]:
                    raise RegistryError(f"{where}.base: 'base' makes a new entry, but {name!r} exists already; "
                                        "drop 'base' to change the existing entry")
                if base not in doc[section]:
                    close = difflib.get_close_matches(str(base), list(doc[section]), n=3)
                    hint = f"; did you mean {', '.join(close)}?" if close else ""
                    raise RegistryError(f"{where}.base: no {section[:-1]} {base!r} to start from{hint}")
                start = {k: copy.deepcopy(v) for k, v in doc[section][base].items() if k in INHERITED[section]}
                start["description"] = f"user entry based on {base}"
                if section == "models":
                    start.update(sources=[], metrics=[], license=dict(USER_LICENSE), sha256=None, size=None)
                else:
                    start.update(metrics=[], license=dict(USER_LICENSE), notes=f"user pipeline based on {base}")
                doc[section][name] = _merge(start, patch)
            elif name in doc[section]:
                doc[section][name] = _merge(doc[section][name], patch)
            else:
                doc[section][name] = copy.deepcopy(patch)
            origins[(section, name)] = origin


def _check_top_level(doc: Mapping, origin: str) -> None:
    for key in doc:
        if key not in TOP_LEVEL:
            raise RegistryError(f"{origin}: unknown top-level key {key!r}; allowed: {', '.join(TOP_LEVEL)}")
    for key in ("methods", "models", "pipelines"):
        if not isinstance(doc.get(key), Mapping):
            raise RegistryError(f"{origin}: '{key}' must be an object")


def build_catalog(document: dict, overlays=(), builtin_origin: str = "checkpoints.json") -> Catalog:
    """Merge ``overlays`` (``(origin, data)`` pairs) over ``document`` and parse every entry."""
    doc = copy.deepcopy(document)
    _check_top_level(doc, builtin_origin)
    origins: Dict[Tuple[str, str], str] = {}
    for origin, overlay in overlays:
        _apply_overlay(doc, overlay, origin, origins)
    methods = doc["methods"]
    models = {}
    for name, data in doc["models"].items():
        where = f"{origins.get(('models', name), builtin_origin)}: models.{name}"
        models[name] = parse_model(name, data, where, methods)
    pipelines = {}
    for name, data in doc["pipelines"].items():
        where = f"{origins.get(('pipelines', name), builtin_origin)}: pipelines.{name}"
        entry = parse_pipeline(name, data, where, methods)
        for role, model in entry.roles.items():
            if model not in models:
                close = difflib.get_close_matches(model, list(models), n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise RegistryError(f"{where}.roles.{role}: no model {model!r}{hint}")
        pipelines[name] = entry
    return Catalog(frozen(doc), frozen(models), frozen(pipelines), frozen(methods))


@functools.lru_cache(maxsize=8)
def _catalog(env_files: Tuple[Tuple[str, int, int], ...], overlays: Tuple[Tuple[str, str], ...]) -> Catalog:
    builtin = registry_path()
    layers = [(name, _read_overlay(Path(name), f"{ENV_REGISTRY} file")) for name, _, _ in env_files]
    layers += [(origin, json.loads(text)) for origin, text in overlays]
    return build_catalog(_read_json(builtin, "registry"), layers, builtin.name)


def _env_files() -> Tuple[Tuple[str, int, int], ...]:
    return tuple(_stamp(path) for path in _env_overlay_paths(os.environ.get(ENV_REGISTRY, "")))


def catalog() -> Catalog:
    """The current catalog, rebuilt when ``WSSS_ZOO_REGISTRY``, the content of its files (path, mtime, size)
    or the added overlays change."""
    with _LOCK:
        added = tuple((origin, json.dumps(data, sort_keys=True)) for origin, data in _OVERLAYS)
    return _catalog(_env_files(), added)


def add_entries(entries: Union[Mapping, str, os.PathLike]) -> List[str]:
    """Merge user entries over the registry for this process (validated now); returns the names they set.

    ``entries``: a dict shaped like checkpoints.json (``{"models": {NAME: entry}, "pipelines": {...}}``) or
    the path of such a JSON file. See :mod:`wsss_zoo.registry.loader` for the merge rules.
    """
    if isinstance(entries, (str, os.PathLike)):
        path = Path(entries).expanduser().absolute()
        origin, data = str(path), _read_overlay(path, "registry overlay")
    elif isinstance(entries, Mapping):
        origin, data = "add_entries()", copy.deepcopy(dict(entries))
        try:
            json.dumps(data)
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"add_entries(): entries must be JSON data (strings, numbers, lists, objects): "
                                f"{exc}") from None
    else:
        raise RegistryError("add_entries() takes a dict shaped like checkpoints.json or the path of a JSON file, "
                            f"not {type(entries).__name__}")
    with _LOCK:
        trial = tuple((o, json.dumps(d, sort_keys=True)) for o, d in _OVERLAYS + [(origin, data)])
    _catalog(_env_files(), trial)  # validate before keeping it
    with _LOCK:
        _OVERLAYS.append((origin, data))
    return sorted(list(data.get("models", {})) + list(data.get("pipelines", {})))


def clear_entries() -> None:
    """Forget every overlay added with :func:`add_entries` (``WSSS_ZOO_REGISTRY`` files stay)."""
    with _LOCK:
        _OVERLAYS.clear()


# ----------------------------------------------------------------------------- lookups
def _unknown(kind: str, name, choices) -> UnknownNameError:
    close = difflib.get_close_matches(str(name), list(choices), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; see wsss_zoo.list_{kind}s()"
    return UnknownNameError(f"unknown {kind} name {name!r}{hint}")


def model_entry(name: str) -> ModelEntry:
    """The typed entry of a model; UnknownNameError with close matches (models and pipelines)."""
    cat = catalog()
    try:
        return cat.models[name]
    except (KeyError, TypeError):
        if isinstance(name, str) and name in cat.pipelines:
            raise UnknownNameError(f"{name!r} is a pipeline, not a network: use wsss_zoo.load_pipeline({name!r})"
                                   ) from None
        raise _unknown("model", name, list(cat.models) + list(cat.pipelines)) from None


def pipeline_entry(name: str) -> PipelineEntry:
    """The typed entry of a pipeline."""
    cat = catalog()
    try:
        return cat.pipelines[name]
    except (KeyError, TypeError):
        if isinstance(name, str) and name in cat.models:
            raise UnknownNameError(
                f"{name!r} is a network, not a pipeline: use wsss_zoo.load({name!r}); pipelines: "
                f"{', '.join(sorted(cat.pipelines))}") from None
        raise _unknown("pipeline", name, list(cat.pipelines) + list(cat.models)) from None


def entry(name: str) -> Union[ModelEntry, PipelineEntry]:
    """The entry of a model or a pipeline."""
    cat = catalog()
    if isinstance(name, str) and name in cat.models:
        return cat.models[name]
    if isinstance(name, str) and name in cat.pipelines:
        return cat.pipelines[name]
    raise _unknown("model", name, list(cat.models) + list(cat.pipelines))


def is_model(name) -> bool:
    return isinstance(name, str) and name in catalog().models


def is_pipeline(name) -> bool:
    return isinstance(name, str) and name in catalog().pipelines


def models() -> List[ModelEntry]:
    cat = catalog()
    return [cat.models[n] for n in sorted(cat.models)]


def pipelines() -> List[PipelineEntry]:
    cat = catalog()
    return [cat.pipelines[n] for n in sorted(cat.pipelines)]


def document() -> dict:
    """A deep copy of the merged checkpoints.json-shaped data."""
    from .entries import thawed

    return thawed(catalog().document)


def method_record(method: str) -> dict:
    from .entries import thawed

    return thawed(catalog().methods.get(method, {}))


def pipelines_using(model: str) -> List[str]:
    """Names of the pipelines with ``model`` in one of their roles."""
    return sorted(p.name for p in pipelines() if model in p.roles.values())
