"""Network families, one module each (resnet38, resnet50_irn, affinity, vgg_drs, deeplab).

Importing this package imports every family module here and every converter module of
:mod:`wsss_zoo.convert`, which registers their builders (``@register_model``) and upstream layouts
(``@register_layout``).
"""
import importlib
import pkgutil

from .. import convert as _convert


def _import_all(package):
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")


_import_all(_convert)
_import_all(importlib.import_module(__name__))
