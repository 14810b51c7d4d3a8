"""Human-readable text from registry entries: one-line metric records and model cards.

Used for the torch.hub docstrings (``hubconf.py``), the README model table
(``scripts/model_table.py``), the command line, and the README.md of the Hugging Face repos that
``wsss-zoo publish`` writes (:func:`hub_card`). Pure functions of checkpoints.json entries.
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


# --------------------------------------------------------------------------- Hugging Face model cards
#: registry dataset -> (model-card name, Hugging Face dataset type)
DATASET_CARD = {
    "voc": ("PASCAL VOC 2012", "pascal_voc"), "voc12": ("PASCAL VOC 2012", "pascal_voc"),
    "coco": ("MS COCO 2014", "coco"), "coco14": ("MS COCO 2014", "coco"),
    "imagenet": ("ImageNet-1k", "imagenet-1k"),
}


def _dataset_card(dataset) -> tuple:
    return DATASET_CARD.get(dataset, (str(dataset), str(dataset)))


def license_of(entry: dict) -> dict:
    """The entry's ``license`` record (else its method's): ``{"spdx", "redistributable", "source", "notes"}``.

    A missing record counts as not redistributable: without a license nobody may re-host the file.
    """
    from .registry import method_record

    lic = entry.get("license") or method_record(entry.get("method", "")).get("license") or {}
    return {"spdx": lic.get("spdx"), "redistributable": bool(lic.get("redistributable")),
            "source": lic.get("source", ""), "notes": lic.get("notes", "")}


def citation_of(entry: dict) -> str:
    """BibTeX of the entry (else of its method), or ''."""
    from .registry import method_record

    return entry.get("citation") or method_record(entry.get("method", "")).get("citation") or ""


def metrics_of(entry: dict) -> list:
    """The entry's metric records plus those of the pipelines that use it as a role network."""
    from .registry import pipelines

    rows = [dict(m, via=None) for m in entry.get("metrics") or []]
    for pipe in pipelines():
        if entry["name"] in pipe.roles.values():
            rows += [dict(dataclasses.asdict(m), via=pipe.name) for m in pipe.metrics]
    return rows


def _source_url(entry: dict, metric: dict) -> str:
    """Where a reported number can be checked: the metric's own link, else the paper, else the code."""
    if str(metric.get("where", "")).startswith("http"):
        return metric["where"]
    paper, code = entry.get("paper") or {}, entry.get("code") or {}
    if paper.get("url"):
        return paper["url"]
    return f"https://github.com/{code['repo']}" if code.get("repo") else ""


def card_metadata(entry: dict, metrics: list, retrained: bool) -> str:
    """The YAML front matter, built with huggingface_hub's own ``ModelCardData`` / ``EvalResult`` (so the Hub
    reads it): license, library_name, tags, datasets, pipeline_tag and the reported mIoUs as ``model-index``
    (none for retrained weights)."""
    from huggingface_hub import EvalResult, ModelCardData

    lic = license_of(entry)
    tags = ["wsss_zoo", "weakly-supervised-semantic-segmentation", "pytorch", "safetensors", entry.get("method", "")]
    if retrained:
        tags.append("retrained")
    results = []
    for m in ([] if retrained else metrics):
        ds_name, ds_type = _dataset_card(m.get("dataset", entry.get("dataset")))
        what = format_metric(m, with_count=False).split(", ", 1)[-1]
        label = f"mIoU {m.get('split', '')} {what}" + (f" (pipeline {m['via']})" if m.get("via") else "")
        url = _source_url(entry, m)
        results.append(EvalResult(
            task_type="image-segmentation", dataset_type=ds_type, dataset_name=ds_name,
            dataset_split=str(m.get("split", "")) or None, metric_type="mean_iou", metric_value=m["miou"],
            metric_name=" ".join(label.split()), source_name=str(m.get("source") or "reported") if url else None,
            source_url=url or None))
    data = ModelCardData(
        license=str(lic["spdx"]).lower() if lic["spdx"] else None, library_name="wsss_zoo",
        pipeline_tag="image-segmentation", tags=[t for t in tags if t],
        datasets=[_dataset_card(entry.get("dataset"))[1]], model_name=entry["name"] if results else None,
        eval_results=results or None)
    return data.to_yaml()


def hub_card(entry: dict, *, source_sha256: str, provenance: str, retrained: bool = False) -> str:
    """README.md of a Hugging Face repo written by ``wsss-zoo publish``: YAML front matter, then use,
    provenance, reported results (never for retrained weights), license and citation.

    ``provenance``: how ``source_sha256`` was checked, e.g. "equals the sha256 recorded when it was
    downloaded from <url> on <date>".
    """
    from . import __version__

    name, lic = entry["name"], license_of(entry)
    metrics = [m for m in metrics_of(entry) if m.get("miou") is not None]
    if retrained:
        what = (f"Weights **retrained** by the publisher of this repository for the {entry.get('method')} "
                f"{entry.get('task')} network `{name}`, saved by wsss_zoo {__version__} as safetensors. They are "
                "not the authors' published weights: the authors' reported numbers do not apply to them.")
    else:
        what = (f"Converted by wsss_zoo {__version__} from the authors' published checkpoint to safetensors: the "
                "tensors are the authors' weights under wsss_zoo's module key names; nothing was retrained.")
    body = ["", f"# {name}", "", entry.get("description") or f"{entry.get('method')} {entry.get('task')} network",
            "", what, "", "## Use", "", "```python", "import wsss_zoo",
            f'model = wsss_zoo.load("hf-hub:<user>/{name}")  # <user>/{name}: the id of this repository']
    if not retrained:
        body.append(f'model = wsss_zoo.load("{name}", weights="hf-hub:<user>/{name}")  # the same, by its name')
    if entry.get("inference", {}).get("cam"):
        body.append('cams = wsss_zoo.cam(model, "image.jpg", ["person"])  # float32 [K, H, W]')
    if entry.get("inference", {}).get("segment"):
        body.append('mask = wsss_zoo.segment(model, "image.jpg")  # uint8 [H, W]')
    body += ["```", "", "## Provenance", ""]
    if retrained:
        body.append(f"- sha256 of the file it was converted from: `{source_sha256}` (the publisher's own training)")
        body.append(f"- network: `{entry.get('architecture', {}).get('builder', '?')}` as for the authors' "
                    f"`{entry.get('filename', '?')}`")
    else:
        body.append(f"- upstream file: `{entry.get('filename', '?')}` (layout `{entry.get('layout', '?')}`)")
        body.append(f"- sha256 of that file: `{source_sha256}` ({provenance})")
        body += [f"- source: {src.get('url') or src.get('id')}" for src in entry.get("sources", [])
                 if (src.get("url") or src.get("id")) and not src.get("superseded") and not src.get("manual")]
    code = entry.get("code") or {}
    if code.get("repo"):
        commit = f" @ {code['commit'][:7]}" if code.get("commit") else ""
        body.append(f"- code: https://github.com/{code['repo']}{commit}")
    paper = entry.get("paper") or {}
    if paper.get("url"):
        body.append(f"- paper: {paper.get('title', '')} ({paper.get('venue', '')}) {paper['url']}")
    if metrics and not retrained:
        body += ["", "## Reported results (mIoU, %)", ""]
        body += [f"- {format_metric(m)}" + (f" -- pipeline `{m['via']}`" if m.get("via") else "") +
                 (f" [{m['source']}]" if m.get("source") else "") for m in metrics]
    body += ["", "## License", "", f"{format_license(lic)}. {lic['source']}".strip()]
    if lic["notes"]:
        body += ["", lic["notes"]]
    citation = citation_of(entry)
    if citation:
        body += ["", "## Citation", "", "```bibtex", citation.strip(), "```"]
    return "---\n" + card_metadata(entry, metrics, retrained).rstrip("\n") + "\n---\n" + "\n".join(body) + "\n"
