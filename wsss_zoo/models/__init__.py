"""Network families, one module each, each owning its builders and its checkpoint layout rules.

``resnet38`` (PSA/EPS/SEAM/SBNet heads), ``affinity`` (AffinityNet), ``resnet50_irn`` (IRN CAM and
EdgeDisplacement), ``vgg_drs`` (DRS), ``deeplab`` (DeepLab-V1/V2/V3+), ``torchvision_init`` (ImageNet inits).
A family module registers builders with ``@register_model`` and upstream layouts with
:func:`wsss_zoo.convert.register_layout`; the registries import the family modules on first lookup, so
``import wsss_zoo`` stays light (torchvision's model zoo is only imported when a network is built).
"""
from ._factory import ARCHITECTURES, build_model, list_architectures, register_model  # noqa: F401
