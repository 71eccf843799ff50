"""Model selection without target labels: the selector contract (hook ``register_selectors``) and
the label-free view of a run's data that selectors score candidates on.

Built-in selectors live in ``plugins/dann_selectors``; ``dann eval select`` in ``plugins/dann_evaluation``.
"""
from .contract import EVAL_BATCH, VIEW_ROWS, Candidate, SelectionData, Selector, ViewUnavailable, better, choose, top_steps, view_inputs

__all__ = ["EVAL_BATCH", "VIEW_ROWS", "Candidate", "SelectionData", "Selector", "ViewUnavailable", "better", "choose", "top_steps", "view_inputs"]
