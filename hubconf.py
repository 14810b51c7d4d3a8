"""torch.hub entry points of wsss_zoo: one per published network and one per pseudo-mask pipeline.

    import torch
    net = torch.hub.load("<owner>/wsss_zoo", "eps_resnet38_voc")                 # nn.Module, eval mode
    net = torch.hub.load("<owner>/wsss_zoo", "eps_resnet38_voc", weights="x.pth")  # a local upstream file
    pipe = torch.hub.load("<owner>/wsss_zoo", "eps_voc")                          # wsss_zoo.Pipeline
    print(torch.hub.help("<owner>/wsss_zoo", "eps_voc"))                          # card: numbers, licence, BibTeX
    net = torch.hub.load("/path/to/clone", "eps_resnet38_voc", source="local")   # a local clone, no GitHub

``<owner>/wsss_zoo`` is the GitHub ``owner/repository`` that hosts this code (``<owner>`` is that account's
name); ``torch.hub.load`` needs exactly that string, optionally with ``:branch``. The entry points are generated from checkpoints.json. Everything is imported through the uniquely
named ``wsss_zoo`` package (never ``utils``/``net``/``tool``), so this repository does not shadow other
hub repositories' modules.
"""
dependencies = ["torch", "torchvision", "numpy", "PIL", "safetensors", "requests", "gdown"]

import wsss_zoo as _wsss_zoo  # noqa: E402
from wsss_zoo import model_card as _model_card  # noqa: E402
from wsss_zoo import registry as _registry  # noqa: E402
from wsss_zoo.errors import ConfigError as _ConfigError  # noqa: E402

_MODEL_USAGE = """

torch.hub arguments: pretrained=True (False: randomly initialised network, architecture keyword
overrides allowed), weights=None (None downloads by name; a path loads a local file in any published
upstream layout or our safetensors conversion), device="auto" (CUDA when available, else CPU),
precision="fp32" (exact; "bf16", "fp16" or "auto" for faster network forwards), progress=True."""

_PIPELINE_USAGE = """

torch.hub arguments: weights=None (a path for one-role pipelines, or a dict {role: path}; missing roles
download by name), device="auto", precision="fp32" ("bf16", "fp16", "auto"), progress=True, and keyword
overrides of the pipeline settings
(validated: unknown names and out-of-range values are errors)."""


def _model_entrypoint(name: str):
    def entrypoint(pretrained: bool = True, weights=None, device="auto", precision="fp32", progress: bool = True,
                   **kwargs):
        if not pretrained:
            if weights is not None:
                raise _ConfigError(f"{name}: pass either pretrained=False or weights=..., not both")
            from wsss_zoo.devices import resolve_device
            from wsss_zoo.models import build_model
            from wsss_zoo.precision import apply_precision, resolve_precision

            entry = _registry.model_entry(name)
            dev = resolve_device(device)
            model = build_model(entry, **kwargs)
            model.eval()
            model.wsss_zoo_entry = entry
            return apply_precision(model.to(dev), resolve_precision(precision, dev)[0])
        if kwargs:
            raise _ConfigError(f"{name}: unexpected arguments {sorted(kwargs)} for pretrained weights "
                               "(architecture overrides need pretrained=False)")
        return _wsss_zoo.load(name, weights=weights, device=device, precision=precision, progress=progress)

    return _named(entrypoint, name, _model_card.model_card(name) + _MODEL_USAGE)


def _pipeline_entrypoint(name: str):
    def entrypoint(weights=None, device="auto", precision="fp32", progress: bool = True, **settings):
        return _wsss_zoo.load_pipeline(name, weights=weights, device=device, precision=precision, progress=progress,
                                       **settings)

    return _named(entrypoint, name, _model_card.model_card(name) + _PIPELINE_USAGE)


def _named(fn, name: str, doc: str):
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


for _name in _registry.list_models():
    globals()[_name] = _model_entrypoint(_name)
for _name in _registry.list_pipelines():
    globals()[_name] = _pipeline_entrypoint(_name)
del _name
