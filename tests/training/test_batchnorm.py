"""training/batchnorm.py (``--train-bn``): batch statistics while training, the published modules afterwards."""
import torch
import torch.nn as nn

from training.batchnorm import use_batch_statistics
from wsss_zoo.models.resnet50_irn import FixedBatchNorm, ResNet50Cam
from wsss_zoo.models import build_model
from wsss_zoo.registry import model_entry


def _batchnorms(model):
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def test_irn_fixed_batchnorm_becomes_plain_batchnorm_with_the_same_tensors():
    torch.manual_seed(0)
    net = ResNet50Cam(20).train()
    before = net.state_dict(keep_vars=True)
    flags = {k: p.requires_grad for k, p in net.named_parameters()}
    use_batch_statistics(net)
    assert not any(isinstance(m, FixedBatchNorm) for m in net.modules())
    assert all(type(m) is nn.BatchNorm2d and m.training for m in _batchnorms(net))
    after = net.state_dict(keep_vars=True)
    assert list(after) == list(before) and all(after[k] is before[k] for k in before)  # same objects, same keys
    assert {k: p.requires_grad for k, p in net.named_parameters()} == flags  # stem stays frozen
    assert not net.resnet50.conv1.weight.requires_grad and not net.resnet50.bn1.weight.requires_grad


def test_a_training_step_normalises_with_batch_statistics_and_the_checkpoint_loads_as_published():
    torch.manual_seed(0)
    net = use_batch_statistics(ResNet50Cam(20).train())
    x = torch.randn(4, 3, 48, 48) * 3 + 5  # far from the init statistics (mean 0, var 1)
    bn1 = net.resnet50.bn1
    stem_out = bn1(net.resnet50.conv1(x))
    per_channel = stem_out.transpose(0, 1).reshape(stem_out.shape[1], -1)
    torch.testing.assert_close(per_channel.mean(1), bn1.bias.detach().expand(64), atol=1e-4, rtol=0)
    assert float(bn1.running_mean.abs().max()) > 0.1  # running statistics moved
    net(x)
    published = ResNet50Cam(20)
    published.load_state_dict(net.state_dict())
    net.eval(), published.eval()
    with torch.no_grad():
        torch.testing.assert_close(published.cam_logits(x), net.cam_logits(x), atol=1e-4, rtol=1e-4)
        # in eval mode the running statistics normalise, not the batch's
        assert float((bn1(net.resnet50.conv1(x)) - stem_out).abs().max()) > 0.1


def test_resnet38_batchnorm_trains_statistics_but_keeps_the_family_frozen_parameters():
    net = build_model(model_entry("eps_base_resnet38_voc")).train()  # upstream train(): BN in eval mode, conv1a/b2* frozen
    assert not any(m.training for m in _batchnorms(net))
    use_batch_statistics(net)
    assert all(m.training for m in _batchnorms(net))
    assert not any(m.weight.requires_grad for m in _batchnorms(net))  # not in PSA's optimiser groups
    assert not net.conv1a.weight.requires_grad and net.b3.conv_branch2a.weight.requires_grad
    mean = net.b3.bn_branch2a.running_mean.clone()
    net(torch.randn(2, 3, 32, 32) + 2)
    assert not torch.equal(net.b3.bn_branch2a.running_mean, mean)


def test_eval_mode_is_kept():
    net = ResNet50Cam(20).eval()
    use_batch_statistics(net)
    assert not any(m.training for m in _batchnorms(net))
