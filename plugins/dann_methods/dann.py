"""``dann``: Ganin & Lempitsky (ICML 2015), Ganin et al. (JMLR 2016).

Source and target go through the backbone as one batch; ``ops.split_reverse`` hands the source rows
to the label classifier unchanged and every row to the discriminator through a gradient reversal
scaled by λ (the paper's ramp λp = 2/(1+exp(−γp))−1, or a constant). With several source domains
the discriminator is K-way (sources 0..K-2, target K-1). The step is the public
:class:`dann_core.methods.DomainAdversarial`, which other methods build on.
"""
from __future__ import annotations

from dann_core.methods import DomainAdversarial


class DANN(DomainAdversarial):
    """DANN: label loss on source plus the reversed-gradient domain loss on source and target.

    Options:
      lambda: GRL factor λ: 'schedule' (the paper's ramp 2/(1+exp(-γp))-1) or a number ≥ 0.
      gamma: γ of the λ schedule (10 in the paper).
      plus: regularisers added to the loss (e.g. 'bsp': DANN+BSP).
    """
