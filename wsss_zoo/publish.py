"""Upstream checkpoint -> safetensors, and a Hugging Face-ready folder with a model card.

* :func:`convert_file` reads a published file in its upstream layout (pickle-safe), converts it to
  our canonical keys, checks that it loads strictly into the network, and writes safetensors.
* :func:`publish` writes ``model.safetensors``, ``config.json`` (a registry entry that
  ``wsss_zoo.load("hf-hub:ORG/NAME")`` rebuilds the network from, :data:`wsss_zoo.hub.CONFIG_FORMAT`) and a
  ``README.md`` model card (:func:`wsss_zoo.model_card.hub_card`) -- only when the registry says the license
  allows re-hosting (EPS and RIB publish none), and only for the authors' own file: its sha256 must be the
  registry's or, as no checkpoint has a published sha256, the one recorded when it was downloaded from
  the entry's published source. Weights one trained oneself are published with ``retrained=True``: the
  card then says so and carries no reported numbers.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

from . import __version__
from .classes import CLASS_LISTS
from .errors import ChecksumMismatchError, ConfigError, NotRedistributableError, UnknownNameError
from .fileio import atomic_write_text
from .hub import CANONICAL_LAYOUT, CONFIG_FILE, CONFIG_FORMAT, CONFIG_VERSION, WEIGHTS_FILE
from .model_card import hub_card, license_of

#: fields of a registry entry that config.json carries (what rebuilding and running the network needs, and
#: the provenance a user of the repo reads); file, hashes and sources are the repo's own
CONFIG_ENTRY_FIELDS = ("description", "method", "task", "dataset", "role", "upstream_class", "architecture",
                       "preprocess", "inference", "metrics", "license", "paper", "citation", "code", "notes")


def _entry(name: str):
    from .registry import is_pipeline, model_entry, pipeline_entry

    if is_pipeline(name):
        roles = pipeline_entry(name).roles
        raise UnknownNameError(f"{name} is a pipeline; convert or publish its networks one by one: "
                               f"{', '.join(sorted(set(roles.values())))}")
    return model_entry(name)


# --------------------------------------------------------------------------- conversion
def convert_state_dict_file(name: str, path, progress: bool = True) -> dict:
    """Read ``path`` (any published layout of model ``name``) -> canonical state dict that loads strictly."""
    from .convert import load_state_dict_strict
    from .hub import load_state_dict
    from .models import build_model

    entry = _entry(name)
    sd, _ = load_state_dict(entry, path, progress=progress, use_cache=False)
    load_state_dict_strict(build_model(entry), sd, name=f"{name} ({entry.builder})")
    return sd


def _save_safetensors(sd: dict, out: Path, metadata: Dict[str, str]) -> None:
    from safetensors.torch import save_file

    from .fileio import atomic_path

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in sd.items()}
    with atomic_path(out, ".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def convert_file(path, name: str, out, progress: bool = True) -> dict:
    """Convert an upstream checkpoint of model ``name`` to safetensors at ``out``; returns a summary.

    The result loads with ``wsss_zoo.load(name, weights=out)``. Its metadata names the model, the
    source file's sha256 and the wsss_zoo version.
    """
    from .cache import sha256_file

    path, out = Path(path).expanduser(), Path(out).expanduser()
    if out.suffix != ".safetensors":
        raise ConfigError(f"--out must end in .safetensors, got {out}")
    if out.exists() and out.resolve() == path.resolve():
        raise ConfigError("the output would overwrite the input; choose another --out")
    sd = convert_state_dict_file(name, path, progress=progress)
    source_sha = sha256_file(path)
    metadata = {"wsss_zoo_name": name, "wsss_zoo_version": __version__, "source_file": path.name,
                "source_sha256": source_sha, "format": "wsss_zoo canonical state dict"}
    _save_safetensors(sd, out, metadata)
    return {"name": name, "out": str(out), "tensors": len(sd),
            "parameters": int(sum(v.numel() for v in sd.values())), "source_sha256": source_sha}


# --------------------------------------------------------------------------- what the folder holds
def model_config(entry: dict, source_sha256: Optional[str] = None, *, retrained: bool = False) -> dict:
    """config.json of the published folder: the registry entry ``load("hf-hub:...")`` rebuilds the network from.

    ``entry`` holds the technical fields (architecture, preprocessing, inference) and the provenance
    (paper, citation, code, license; the reported metrics unless ``retrained``); its ``layout`` is
    ``canonical`` and its file is the folder's ``model.safetensors``.
    """
    record = {k: entry[k] for k in CONFIG_ENTRY_FIELDS if k in entry}
    record.update(layout=CANONICAL_LAYOUT, filename=WEIGHTS_FILE, sha256=None, size=None, sources=[])
    record["license"] = license_of(entry)
    if retrained:
        record["metrics"] = []
        record["description"] = (f"retrained {entry.get('method')} {entry.get('task')} network "
                                 "(not the authors' weights)")
    return {"format": CONFIG_FORMAT, "format_version": CONFIG_VERSION, "wsss_zoo_name": entry["name"],
            "wsss_zoo_version": __version__, "retrained": retrained,
            "classes": list(CLASS_LISTS.get(entry.get("dataset"), ())),
            "source": {"filename": entry.get("filename"), "sha256": source_sha256},
            "entry": record}


# --------------------------------------------------------------------------- publish
def check_redistributable(entry: dict) -> dict:
    """Raise :class:`NotRedistributableError` unless the registry marks the license as allowing re-hosting."""
    lic = license_of(entry)
    if not lic["redistributable"]:
        why = (f"its license is {lic['spdx']}, which the registry marks as not redistributable" if lic["spdx"]
               else f"the {entry.get('method', '')} authors published no license, so the weights may not be re-hosted")
        raise NotRedistributableError(
            f"{entry['name']} cannot be published: {why}; {lic['source'] or 'the registry has no license record'}. "
            f"Users download it from the original source (wsss-zoo download {entry['name']}); "
            "wsss-zoo convert still converts it for your own use")
    return lic


def check_published_file(typed, path: Path, sha: str) -> str:
    """How ``sha`` was found to be the authors' file; :class:`ChecksumMismatchError` when it is not (or
    nothing is known to compare it with)."""
    from .cache import published_sha
    from .convert import sniff_file

    name = typed.name
    retrain_hint = "weights you trained yourself: pass --retrained (retrained=True), the card then says so"
    if sniff_file(path) == "safetensors":
        raise ChecksumMismatchError(
            f"{path} is a safetensors file; publish {name} from the authors' file as published (its sha256 is "
            f"what shows it is theirs), e.g. the cached download (leave --weights out); {retrain_hint}")
    known = published_sha(typed)
    if known is None:
        from .cache import cached_file_path

        cached = cached_file_path(typed)
        first = f"delete {cached}, then " if cached.is_file() else ""
        raise ChecksumMismatchError(
            f"nothing is known to show that {path} is the authors' file: the registry has no sha256 for {name} and "
            f"the cache has no record of a download from its published source; {first}run wsss-zoo download "
            f"{name} (it records the file's sha256 on first download), then publish again without --weights; "
            + retrain_hint)
    expected, where = known
    if sha.lower() != expected.lower():
        raise ChecksumMismatchError(
            f"{path} has sha256 {sha}, not {where} ({expected}); only the authors' file may be published as "
            f"{name}; " + retrain_hint)
    return f"equals {where}"


def publish(name: str, out_dir, weights=None, *, progress: bool = True, overwrite: bool = False,
            retrained: bool = False) -> dict:
    """Write a Hugging Face-ready folder for model ``name``: model.safetensors, config.json, README.md.

    ``weights``: the upstream file (default: the cached/downloaded published file). Refuses entries whose
    license does not allow re-hosting, and -- unless ``retrained`` -- files that are not shown to be the
    authors' (:func:`check_published_file`).
    """
    from .cache import sha256_file
    from .hub import resolve_file

    typed = _entry(name)
    entry = typed.to_dict()
    check_redistributable(entry)
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ConfigError(f"{out_dir} is not empty; choose a new folder or pass --overwrite")
    path = resolve_file(typed, weights, progress=progress)
    source_sha = sha256_file(path)
    provenance = "the publisher's own training" if retrained else check_published_file(typed, path, source_sha)
    sd = convert_state_dict_file(name, path, progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_safetensors(sd, out_dir / WEIGHTS_FILE,
                      {"wsss_zoo_name": name, "wsss_zoo_version": __version__, "source_sha256": source_sha,
                       "format": "wsss_zoo canonical state dict", "retrained": str(retrained).lower()})
    atomic_write_text(out_dir / CONFIG_FILE,
                      json.dumps(model_config(entry, source_sha, retrained=retrained), indent=2) + "\n")
    atomic_write_text(out_dir / "README.md",
                      hub_card(entry, source_sha256=source_sha, provenance=provenance, retrained=retrained))
    return {"name": name, "out": str(out_dir), "files": [WEIGHTS_FILE, CONFIG_FILE, "README.md"],
            "source_sha256": source_sha, "retrained": retrained}


def upload_hint(name: str, out_dir) -> str:
    """The command that uploads a published folder (``hf``, the huggingface_hub CLI; huggingface-cli is gone)."""
    return f"hf upload <user>/{name} {out_dir} ."
