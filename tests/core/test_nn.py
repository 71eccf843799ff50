import torch
from torch import nn

from dann_core.nn import DomainAdversarialLoss, GradientReversal


def test_gradient_reversal_is_identity_forward_and_scales_gradient_by_minus_lambda():
    x = torch.randn(4, 3, requires_grad=True)
    y = GradientReversal()(x, 0.25)
    assert torch.equal(y, x)
    upstream = torch.randn(4, 3)
    y.backward(upstream)
    torch.testing.assert_close(x.grad, -0.25 * upstream)


def test_gradient_reversal_buffer_changes_only_when_set():
    grl = GradientReversal(lambd=0.5)
    x = torch.ones(2, requires_grad=True)
    for _ in range(3):  # repeated forwards must not advance any schedule
        grl(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((2,), -1.5))
    grl.set_lambda(2.0)
    x.grad = None
    grl(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((2,), -2.0))
    assert "lambd" in grl.state_dict()


class LinearDiscriminator(nn.Module):
    def __init__(self, d, k):
        super().__init__()
        self.linear = nn.Linear(d, k)

    def forward(self, features, class_probs=None):
        return self.linear(features)


def test_binary_domain_loss_matches_bce_with_logits_and_reverses_gradient():
    torch.manual_seed(0)
    disc = LinearDiscriminator(5, 1)
    features = torch.randn(6, 5, requires_grad=True)
    out = DomainAdversarialLoss(disc)(features, 2, lambd=0.5)
    logits = disc(features)
    labels = torch.tensor([0.0, 0, 1, 1, 1, 1])
    expected = nn.functional.binary_cross_entropy_with_logits(logits.squeeze(1), labels)
    torch.testing.assert_close(out.loss, expected)
    assert out.accuracy == ((logits.squeeze(1) > 0).float() == labels).float().mean()
    out.loss.backward()
    plain = features.detach().requires_grad_()
    nn.functional.binary_cross_entropy_with_logits(disc(plain).squeeze(1), labels).backward()
    torch.testing.assert_close(features.grad, -0.5 * plain.grad)


def test_k_way_domain_loss_uses_cross_entropy():
    torch.manual_seed(0)
    disc = LinearDiscriminator(4, 3)
    features = torch.randn(5, 4)
    domains = torch.tensor([0, 1, 2, 2, 1])
    out = DomainAdversarialLoss(disc, reverse_gradient=False)(features, domains)
    torch.testing.assert_close(out.loss, nn.functional.cross_entropy(disc(features), domains))
    assert int(out.n_correct) == int((disc(features).argmax(1) == domains).sum())
