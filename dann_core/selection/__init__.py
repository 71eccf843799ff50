"""Model selection without target labels: the selector contract (hook ``register_selectors``), the
label-free view of a run's data that selectors score candidates on, the stored views, and the
estimate of target accuracy.

Built-in selectors live in ``plugins/dann_selectors``; ``dann eval select`` in ``plugins/dann_evaluation``;
the reader of a run directory's evaluations, views and kept candidates is :class:`dann_core.train.StoredRun`.
"""
from .contract import EVAL_BATCH, Candidate, SelectionData, Selector, ViewUnavailable, better, choose, top_steps
from .estimate import ESTIMATORS, estimate_target_accuracy
from .views import MIX_WEIGHT, VIEW_NAMES, VIEW_ROWS, view_inputs

__all__ = ["EVAL_BATCH", "ESTIMATORS", "MIX_WEIGHT", "VIEW_NAMES", "VIEW_ROWS", "Candidate", "SelectionData", "Selector",
           "ViewUnavailable", "better", "choose", "estimate_target_accuracy", "top_steps", "view_inputs"]
