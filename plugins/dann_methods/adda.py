"""``adda``: Adversarial Discriminative Domain Adaptation (Tzeng, Hoffman, Saenko & Darrell, CVPR 2017).

Two phases. Pre-training (the first ``pretrain`` fraction of the steps): the encoder M and the
classifier C learn the source task, CE(C(M(x_s)), y_s). Adaptation: M's weights are frozen into the
source encoder M_s; the run's encoder becomes the target encoder M_t (starting from M_s, untied), and
every step is a GAN round with the inverted-label loss:

    discriminator D:  min BCE(D(M_s(x_s)), source) + BCE(D(M_t(x_t)), target)
    target encoder:   min BCE(D(M_t(x_t)), source)

C stays fixed; predictions are C(M_t(x)) for every input (the run's single predictor, so source-val
then measures M_t on source). Paper defaults: the target encoder initialised from the source one,
the inverted-label loss; the paper trains with Adam at 2e-4, here the run's SGD with the target
encoder at ``target_lr_mult`` × the run's rate (0.1).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from dann_core.methods import SOURCE, TARGET, Method, MethodContext, Batch, accuracy
from dann_core.nn import domain_classification_loss


class ADDA(Method):
    """ADDA: source pre-training, then an untied target encoder trained to fool a domain discriminator.

    Options:
      pretrain: fraction of the steps spent on source pre-training (0 < pretrain < 1).
      target_lr_mult: the target encoder's and discriminator's learning rate as a multiple of the run's.
    """

    needs = frozenset({SOURCE, TARGET})
    summary_metrics = ("label_loss", "domain_loss", "domain_acc", "encoder_loss")  # pre-training reports the first, adaptation the others
    progress_metrics = {"label_loss": "loss", "domain_acc": "d_acc"}

    def __init__(self, context: MethodContext, pretrain: float = 0.5, target_lr_mult: float = 0.1) -> None:
        super().__init__(context)
        if not 0 < pretrain < 1 or not target_lr_mult > 0:
            raise ValueError(f"bad adda options pretrain={pretrain!r} target_lr_mult={target_lr_mult!r}: use 0 < pretrain < 1 and target_lr_mult > 0")
        self.pretrain, self.target_lr_mult = float(pretrain), float(target_lr_mult)
        self.source_encoder = copy.deepcopy(self.model.backbone).requires_grad_(False)
        self.model.discriminator = context.make_discriminator(int(self.model.backbone.out_features))
        self.register_buffer("adapting", torch.zeros((), dtype=torch.bool))

    def configure_optimizers(self):
        lr = self.optim.lr * self.target_lr_mult
        model = self.model
        return {
            "source": self.sgd([*model.backbone.parameters(), *model.classifier.parameters()]),
            "discriminator": self.sgd(model.discriminator.parameters(), lr=lr),
            "target": self.sgd(model.backbone.parameters(), lr=lr),
        }

    def update(self, batch: Batch, engine):
        model = self.model
        if self.progress() < self.pretrain:
            with engine.autocast():
                logits = model.classifier(model.backbone(batch.source_x))
                loss = F.cross_entropy(logits, batch.source_y)
            engine.minimize(loss, "source")
            return {"label_loss": loss.detach(), "train_acc": accuracy(logits, batch.source_y)}
        if not self.adapting:  # M_s = the pre-trained encoder, frozen; M_t continues from it
            self.source_encoder.load_state_dict(model.backbone.state_dict())
            self.adapting.fill_(True)
        n = batch.source_x.shape[0]
        with engine.autocast():
            with torch.no_grad():
                features = torch.cat([self.source_encoder(batch.source_x), model.backbone(batch.target_x)])
            disc = domain_classification_loss(model.discriminator(features), n)
        engine.minimize(disc.loss, "discriminator")
        with engine.autocast():  # inverted labels: every target row labelled source (n_source = all rows)
            fooled = domain_classification_loss(model.discriminator(model.backbone(batch.target_x)), batch.target_x.shape[0])
        engine.minimize(fooled.loss, "target")
        return {"domain_loss": disc.loss.detach(), "domain_acc": disc.accuracy, "encoder_loss": fooled.loss.detach()}
