"""wsss_zoo: published weakly-supervised semantic segmentation methods (DRS, CDA, EPS, SBNet, RIB)
under one API, with outputs equal to the upstream code's.

>>> import wsss_zoo
>>> wsss_zoo.list_models(method="EPS")
>>> mask = wsss_zoo.pseudo_mask("examples/cyclist.jpg", ["bicycle", "person"], method="eps_voc")
>>> for image_id, mask in wsss_zoo.pseudo_masks("photos/", "labels.txt", method="eps_voc"): ...
>>> ds = wsss_zoo.open_dataset("voc", "VOCdevkit/VOC2012", "train")
>>> wsss_zoo.generate(ds, wsss_zoo.load_pipeline("eps_voc"), "pseudo-mask", "out/eps_train")
"""
from .errors import *  # noqa: F401,F403
from .errors import WsssZooError  # noqa: F401
from .registry import list_models, list_pipelines, model_info  # noqa: F401
from .api import cam, cams, load, load_pipeline, pseudo_mask, pseudo_masks, segment  # noqa: F401
from .pipelines.base import Pipeline  # noqa: F401

__version__ = "0.1.0"

_LAZY = {"rib_cam": "wsss_zoo.pipelines.rib", "ImagePool": "wsss_zoo.pipelines.rib",
         "open_dataset": "wsss_zoo.data", "generate": "wsss_zoo.data.generate"}


def __getattr__(name):  # PEP 562: heavy recipe modules load on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'wsss_zoo' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
