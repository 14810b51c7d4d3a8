"""Upstream checkpoint -> safetensors, and a Hugging Face-ready folder with a model card.

* :func:`convert_file` reads a published file in its upstream layout (pickle-safe), converts it to
  our canonical keys, checks that it loads strictly into the network, and writes safetensors.
* :func:`publish` writes ``model.safetensors``, ``config.json`` and a ``README.md`` model card
  (YAML front matter with ``model-index`` metrics, license, citation) for one registry model --
  only when the registry says its license allows re-hosting. EPS and RIB publish no license, so
  their weights may be converted locally but not re-hosted.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Dict, List, Optional

from . import __version__
from .classes import CLASS_LISTS
from .errors import ChecksumMismatchError, ConfigError, NotRedistributableError, UnknownNameError
from .fileio import atomic_write_text
from .model_card import format_license, format_metric
from .registry import method_record

#: registry dataset -> (model-card name, Hugging Face dataset type)
DATASET_CARD = {
    "voc": ("PASCAL VOC 2012", "pascal_voc"), "voc12": ("PASCAL VOC 2012", "pascal_voc"),
    "coco": ("MS COCO 2014", "coco"), "coco14": ("MS COCO 2014", "coco"),
    "imagenet": ("ImageNet-1k", "imagenet-1k"),
}


# --------------------------------------------------------------------------- registry fields
def license_of(entry: dict) -> dict:
    """The entry's ``license`` record (else its method's): ``{"spdx", "redistributable", "source", "notes"}``.

    A missing record counts as not redistributable: without a license nobody may re-host the file.
    """
    lic = entry.get("license") or method_record(entry.get("method", "")).get("license") or {}
    return {"spdx": lic.get("spdx"), "redistributable": bool(lic.get("redistributable")),
            "source": lic.get("source", ""), "notes": lic.get("notes", "")}


def citation_of(entry: dict) -> str:
    """BibTeX of the entry (else of its method), or ''."""
    return entry.get("citation") or method_record(entry.get("method", "")).get("citation") or ""


def metrics_of(entry: dict) -> List[dict]:
    """The entry's metric records plus those of the pipelines that use it as a role network."""
    from .registry import pipelines

    rows = [dict(m, via=None) for m in entry.get("metrics") or []]
    for pipe in pipelines():
        if entry["name"] in pipe.roles.values():
            rows += [dict(dataclasses.asdict(m), via=pipe.name) for m in pipe.metrics]
    return rows


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


# --------------------------------------------------------------------------- model card
def _yaml_scalar(value) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string/number is a valid YAML scalar


def _front_matter(entry: dict, lic: dict, metrics: List[dict]) -> List[str]:
    """YAML header of the card: license, tags, datasets and a ``model-index`` with every mIoU record."""
    tags = ["wsss_zoo", "weakly-supervised-semantic-segmentation", "pytorch", "safetensors", entry.get("method", "")]
    lines = ["---"]
    if lic["spdx"]:
        lines.append(f"license: {str(lic['spdx']).lower()}")
    lines += ["library_name: wsss_zoo", "pipeline_tag: image-segmentation", "tags:"]
    lines += [f"- {_yaml_scalar(t)}" for t in tags if t]
    lines += ["datasets:", f"- {_yaml_scalar(_dataset_card(entry.get('dataset'))[1])}"]
    if metrics:
        lines += ["model-index:", f"- name: {_yaml_scalar(entry['name'])}", "  results:"]
        for m in metrics:
            ds_name, ds_type = _dataset_card(m.get("dataset", entry.get("dataset")))
            what = format_metric(m, with_count=False).split(", ", 1)[-1]
            label = f"mIoU {m.get('split', '')} {what}" + (f" (pipeline {m['via']})" if m.get("via") else "")
            lines += ["  - task:", "      type: image-segmentation",
                      "    dataset:", f"      name: {_yaml_scalar(ds_name)}", f"      type: {_yaml_scalar(ds_type)}",
                      f"      split: {_yaml_scalar(str(m.get('split', '')))}",
                      "    metrics:", "    - type: mean_iou", f"      value: {m['miou']}",
                      f"      name: {_yaml_scalar(label.replace('  ', ' '))}",
                      "    source:", f"      name: {_yaml_scalar(str(m.get('source', 'reported')))}"]
            if str(m.get("where", "")).startswith("http"):
                lines.append(f"      url: {_yaml_scalar(m['where'])}")
    return lines + ["---"]


def _dataset_card(dataset) -> tuple:
    return DATASET_CARD.get(dataset, (str(dataset), str(dataset)))


def model_card(entry: dict, source_sha256: Optional[str] = None) -> str:
    """The README.md of a Hugging Face model repo for a registry model (YAML front matter + text)."""
    name, lic = entry["name"], license_of(entry)
    metrics = [m for m in metrics_of(entry) if m.get("miou") is not None]
    body = [
        "", f"# {name}", "",
        entry.get("description") or f"{entry.get('method')} {entry.get('task')} network",
        "",
        f"Converted by wsss_zoo {__version__} from the authors' published checkpoint to safetensors: the tensors "
        "are the authors' weights under wsss_zoo's module key names; nothing was retrained.",
        "", "## Use", "", "```python", "import wsss_zoo",
        f'model = wsss_zoo.load("{name}", weights="model.safetensors")',
    ]
    if entry.get("inference", {}).get("cam"):
        body.append('cams = wsss_zoo.cam(model, "image.jpg", ["person"])  # float32 [K, H, W]')
    if entry.get("inference", {}).get("segment"):
        body.append('mask = wsss_zoo.segment(model, "image.jpg")  # uint8 [H, W]')
    body += ["```", "", "## Provenance", "",
             f"- upstream file: `{entry.get('filename', '?')}` (layout `{entry.get('layout', '?')}`)"]
    if source_sha256:
        original = entry.get("sha256")
        verdict = ("equals the registry's" if original and original.lower() == source_sha256.lower()
                   else "the registry records no sha256" if not original else "differs from the registry's")
        body.append(f"- sha256 of that file: `{source_sha256}` ({verdict})")
    body += [f"- source: {src['url']}" for src in entry.get("sources", [])
             if src.get("url") and not src.get("superseded")]
    code = entry.get("code") or {}
    if code.get("repo"):
        commit = f" @ {code['commit'][:7]}" if code.get("commit") else ""
        body.append(f"- code: https://github.com/{code['repo']}{commit}")
    paper = entry.get("paper") or {}
    if paper.get("url"):
        body.append(f"- paper: {paper.get('title', '')} ({paper.get('venue', '')}) {paper['url']}")
    if metrics:
        body += ["", "## Reported results (mIoU, %)", ""]
        body += [f"- {format_metric(m)}" + (f" -- pipeline `{m['via']}`" if m.get("via") else "") +
                 (f" [{m['source']}]" if m.get("source") else "") for m in metrics]
    body += ["", "## License", "", f"{format_license(lic)}. {lic['source']}".strip()]
    if lic["notes"]:
        body += ["", lic["notes"]]
    citation = citation_of(entry)
    if citation:
        body += ["", "## Citation", "", "```bibtex", citation.strip(), "```"]
    return "\n".join(_front_matter(entry, lic, metrics) + body) + "\n"


def model_config(entry: dict, source_sha256: Optional[str] = None) -> dict:
    """config.json of the published folder: what wsss_zoo needs to rebuild and run the network."""
    keep = ("method", "task", "dataset", "role", "architecture", "layout", "preprocess", "inference")
    cfg = {"wsss_zoo_name": entry["name"], "wsss_zoo_version": __version__}
    cfg.update({k: entry[k] for k in keep if k in entry})
    cfg["classes"] = list(CLASS_LISTS.get(entry.get("dataset"), ()))
    cfg["source"] = {"filename": entry.get("filename"), "sha256": source_sha256}
    return cfg


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


def publish(name: str, out_dir, weights=None, *, progress: bool = True, overwrite: bool = False) -> dict:
    """Write a Hugging Face-ready folder for model ``name``: model.safetensors, config.json, README.md.

    ``weights``: the upstream file (default: the cached/downloaded published file). Refuses entries
    whose license does not allow re-hosting, and files whose sha256 differs from the registry's.
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
    if entry.get("sha256") and source_sha.lower() != str(entry["sha256"]).lower():
        raise ChecksumMismatchError(
            f"{path} has sha256 {source_sha}, not the published file's {entry['sha256']}; only the authors' "
            f"file may be published as {name} (train your own? publish it under your own name)")
    sd = convert_state_dict_file(name, path, progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_safetensors(sd, out_dir / "model.safetensors",
                      {"wsss_zoo_name": name, "wsss_zoo_version": __version__, "source_sha256": source_sha,
                       "format": "wsss_zoo canonical state dict"})
    atomic_write_text(out_dir / "config.json", json.dumps(model_config(entry, source_sha), indent=2) + "\n")
    atomic_write_text(out_dir / "README.md", model_card(entry, source_sha))
    return {"name": name, "out": str(out_dir), "files": ["model.safetensors", "config.json", "README.md"],
            "source_sha256": source_sha}
