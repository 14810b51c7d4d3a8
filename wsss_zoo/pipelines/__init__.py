"""Inference recipes: one multi-scale CAM loop, one random walk, and per-method configuration.

Shared blocks: :mod:`.preprocess` (image -> network input), :mod:`.cam` (the one multi-scale loop and
its :class:`~wsss_zoo.pipelines.cam.CamRecipe` configuration), :mod:`.random_walk` and :mod:`.path_index`
(the affinity random walk), :mod:`.settings` (typed, range-checked pipeline settings). Each method module
(``resnet38``, ``irn``, ``rib``, ``drs``, ``affinity``, ``eps``, ``deeplab``) registers its CAM recipes,
segmentation recipes and pipeline classes (see :mod:`.base`); the registries import them on first use.
"""
from .base import Pipeline  # noqa: F401
