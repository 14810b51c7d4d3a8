"""Network families, one module each (resnet38, resnet50_irn, affinity, vgg_drs, deeplab, ...).

:func:`load_all` imports every family module here and every converter module of
:mod:`wsss_zoo.convert`, which registers their builders (``@register_model``) and upstream layouts
(``@register_layout``). The registry calls it on first use, so ``import wsss_zoo`` stays light
(torchvision's model zoo is only imported when a network is built).
"""
import importlib
import pkgutil

_LOADED = False


def _import_all(package):
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")


def load_all():
    """Import (once) every network family and converter module, registering them."""
    global _LOADED
    if _LOADED:
        return
    from .. import convert

    _import_all(convert)
    _import_all(importlib.import_module(__name__))
    _LOADED = True
