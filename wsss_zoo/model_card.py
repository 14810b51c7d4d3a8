"""Human-readable text from registry entries: one-line metric records and model cards.

Used for the torch.hub docstrings (``hubconf.py``), the README model table
(``scripts/model_table.py``) and the command line. Pure functions of checkpoints.json entries.
"""
from __future__ import annotations

from typing import Optional

from .registry import is_pipeline, model_info, registry

DATASET_NAMES = {"voc12": "VOC12", "coco14": "COCO14", "imagenet": "ImageNet"}
STAGE_NAMES = {"cam": "CAM", "pseudo_mask": "pseudo mask", "segmentation": "segmentation"}


def format_metric(rec: dict, *, with_count: bool = True) -> str:
    """``"70.4 VOC12 val (1449), segmentation +CRF"`` for one metric record of checkpoints.json."""
    crf = {True: " +CRF", False: "", None: " (CRF not stated)"}[rec.get("crf")]
    count = f" ({rec['n_images']})" if with_count and rec.get("n_images") else ""
    dataset = DATASET_NAMES.get(rec["dataset"], rec["dataset"])
    return f"{rec['miou']} {dataset} {rec['split']}{count}, {STAGE_NAMES.get(rec['stage'], rec['stage'])}{crf}"


def format_license(lic: Optional[dict]) -> str:
    """``"MIT"`` / ``"none published (not redistributable)"`` from an entry's ``license``."""
    if not lic:
        return "unknown (not redistributable)"
    name = lic.get("spdx") or "none published"
    return name if lic.get("redistributable") else f"{name} (not redistributable)"


def method_record(method: str) -> dict:
    """The top-level ``methods`` record of a method (paper, citation, code, license), or {}."""
    return registry().get("methods", {}).get(method, {})


def model_card(name: str) -> str:
    """A plain-text card for a model or pipeline: what it is, reported numbers, licence, citation."""
    entry = model_info(name)
    pipeline = is_pipeline(name)
    method = method_record(entry.get("method", ""))
    paper = entry.get("paper") or method.get("paper") or {}
    lines = [entry.get("description", name), ""]
    venue = f" ({paper['venue']})" if paper.get("venue") else ""
    lines.append(f"Method: {entry.get('method')}{venue}; dataset: {entry.get('dataset')}")
    if pipeline:
        roles = ", ".join(f"{role}={model}" for role, model in entry["roles"].items())
        lines.append(f"Pipeline recipe: {entry.get('recipe')}; roles: {roles}")
        if entry.get("needs_saliency"):
            lines.append("Needs a saliency map per image (pseudo_mask(..., saliency=...)).")
        for role in entry.get("user_weights_required", []):
            lines.append(f"No published weights for role '{role}': pass weights={{'{role}': path}}.")
        if entry.get("crf"):
            lines.append(f"CRF (crf=True): preset '{entry['crf']['preset']}' -- {entry['crf'].get('where', '')}")
    else:
        lines.append(f"Task: {entry.get('task')}; network: {entry.get('upstream_class', entry['architecture']['builder'])}")
    metrics = entry.get("metrics") or []
    if metrics:
        lines.append("Reported mIoU (%):")
        lines += [f"  - {format_metric(m)} [{m.get('source', '?')}]" for m in metrics]
    else:
        lines.append("Reported mIoU: none for this artifact.")
    lic = entry.get("license") or method.get("license")
    if lic:
        lines.append(f"License: {format_license(lic)} -- {lic.get('source', '')}")
    if entry.get("notes"):
        lines.append(f"Notes: {entry['notes']}")
    if paper.get("url"):
        lines.append(f"Paper: {paper.get('title', '')} {paper['url']}")
    citation = entry.get("citation") or method.get("citation")
    if citation:
        lines += ["", "Citation:", *("  " + line for line in citation.splitlines())]
    return "\n".join(lines)
