"""``--train-bn``: BatchNorm on batch statistics, for networks trained from a random initialisation.

Upstream never trains BatchNorm statistics in the ResNet families: IRN's ResNet-50 uses ``FixedBatchNorm``
(jiwoon-ahn/irn ``net/resnet50.py``: running statistics in train mode too) and ResNet-38's ``train()``
puts every BatchNorm in eval mode (jiwoon-ahn/psa ``network/resnet38d.py``), both relying on the ImageNet
statistics of their init. A randomly initialised network has none (mean 0, variance 1), so its
activations are not normalised at all. With ``--train-bn`` each BatchNorm normalises with the batch's
statistics and updates its running statistics, which the exported checkpoint carries, so the published
modules (frozen BN) run the trained network unchanged. Which BN affine parameters train stays the
family's choice: IRN's optimiser groups hold them (layer3/layer4), ResNet-38's groups leave them out.
"""
from __future__ import annotations

import torch.nn as nn


def _plain_batchnorm(frozen: nn.BatchNorm2d) -> nn.BatchNorm2d:
    """An ``nn.BatchNorm2d`` sharing ``frozen``'s parameters and buffers (same state-dict keys and objects)."""
    bn = nn.BatchNorm2d(frozen.num_features, frozen.eps, frozen.momentum, frozen.affine, frozen.track_running_stats)
    if frozen.affine:
        bn.weight, bn.bias = frozen.weight, frozen.bias
    if frozen.track_running_stats:
        bn.running_mean, bn.running_var = frozen.running_mean, frozen.running_var
        bn.num_batches_tracked = frozen.num_batches_tracked
    return bn


def use_batch_statistics(model: nn.Module) -> nn.Module:
    """Make every BatchNorm of ``model`` normalise with batch statistics in training.

    BatchNorm subclasses that ignore the mode (IRN ``FixedBatchNorm``) are replaced by plain
    ``nn.BatchNorm2d`` modules holding the same tensors; every BatchNorm is then put in train mode (after
    the family's ``train()``, which ResNet-38 uses to freeze them). Returns ``model``.
    """
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.BatchNorm2d) and type(child) not in (nn.BatchNorm2d, nn.SyncBatchNorm):
                setattr(module, name, _plain_batchnorm(child))
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.train(model.training)
    return model
