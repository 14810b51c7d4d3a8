"""Human-readable text from registry entries: one-line metric records and model cards.

Used for the torch.hub docstrings (``hubconf.py``), the README model table
(``scripts/model_table.py``) and the command line. Pure functions of checkpoints.json entries.
"""
from __future__ import annotations

import dataclasses

from .registry import entry as registry_entry

DATASET_NAMES = {"voc12": "VOC12", "coco14": "COCO14", "imagenet": "ImageNet"}
STAGE_NAMES = {"cam": "CAM", "pseudo_mask": "pseudo mask", "segmentation": "segmentation"}


def format_metric(rec, *, with_count: bool = True) -> str:
    """``"70.4 VOC12 val (1449), segmentation +CRF"`` for one metric record (a :class:`Metric` or its dict)."""
    rec = rec if isinstance(rec, dict) else dataclasses.asdict(rec)
    crf = {True: " +CRF", False: "", None: " (CRF not stated)"}[rec.get("crf")]
    count = f" ({rec['n_images']})" if with_count and rec.get("n_images") else ""
    dataset = DATASET_NAMES.get(rec["dataset"], rec["dataset"])
    return f"{rec['miou']} {dataset} {rec['split']}{count}, {STAGE_NAMES.get(rec['stage'], rec['stage'])}{crf}"


def format_license(lic) -> str:
    """``"MIT"`` / ``"none published (not redistributable)"`` from a :class:`License` or its dict."""
    if not lic:
        return "unknown (not redistributable)"
    lic = lic if isinstance(lic, dict) else dataclasses.asdict(lic)
    name = lic.get("spdx") or "none published"
    return name if lic.get("redistributable") else f"{name} (not redistributable)"


def model_card(name: str) -> str:
    """A plain-text card for a model or pipeline: what it is, reported numbers, licence, citation."""
    entry = registry_entry(name)
    paper = entry.paper
    lines = [entry.description or name, ""]
    venue = f" ({paper['venue']})" if paper.get("venue") else ""
    lines.append(f"Method: {entry.method}{venue}; dataset: {entry.dataset}")
    if entry.kind == "pipeline":
        roles = ", ".join(f"{role}={model}" for role, model in entry.roles.items())
        lines.append(f"Pipeline recipe: {entry.recipe}; roles: {roles}")
        if entry.needs_saliency:
            lines.append("Needs a saliency map per image (pseudo_mask(..., saliency=...)).")
        for role in entry.user_weights_required:
            lines.append(f"No published weights for role '{role}': pass weights={{'{role}': path}}.")
        if entry.crf:
            lines.append(f"CRF (crf=True): preset '{entry.crf.preset}' -- {entry.crf.where}")
    else:
        lines.append(f"Task: {entry.task}; network: {entry.upstream_class or entry.builder}")
    if entry.metrics:
        lines.append("Reported mIoU (%):")
        lines += [f"  - {format_metric(m)} [{m.source or '?'}]" for m in entry.metrics]
    else:
        lines.append("Reported mIoU: none for this artifact.")
    lines.append(f"License: {format_license(entry.license)} -- {entry.license.source}")
    if entry.notes:
        lines.append(f"Notes: {entry.notes}")
    if paper.get("url"):
        lines.append(f"Paper: {paper.get('title', '')} {paper['url']}")
    citation = entry.citation
    if citation:
        lines += ["", "Citation:", *("  " + line for line in citation.splitlines())]
    return "\n".join(lines)
