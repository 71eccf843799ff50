"""Model selection without target labels: the selector interface and the rules every selector shares.

A selector (hook ``register_selectors``) scores a candidate checkpoint of one run from source data
and *unlabelled* target inputs only: :class:`SelectionData` carries no target label, so a selector
cannot read one. A run scores its own selector (``--select``), ``last`` and those named by
``--score`` at every evaluation (scores go to metrics.jsonl); selectors that are not per-evaluation
(reverse validation: it trains a model) score the stored candidates once, when the run ends or in
``dann eval select``. Ties go to the later step.

One evaluation pass: every input a selector may look at is one of a few fixed views of the run's
data (:meth:`SelectionData.subsample` gives the same rows for the same size at every evaluation,
nested: the first n of one seeded permutation per split), and a :class:`Candidate` computes the
logits (and, when asked, the features) of each view once, so the reported accuracies and every
selector share one forward pass per view. The named views (:mod:`.views`: ``source_val``, ``target``,
``target_mix``) are stored at every evaluation, so a selector that reads only their logits
(:meth:`Candidate.view_logits`) scores every evaluated step of a finished run.

Set-level selectors: a selector may score a *set* of candidates at once (:meth:`Selector.score_all`:
the evaluated steps of one run, or the chosen checkpoints of the runs of a sweep or table), e.g.
EnsV, which scores each candidate by its agreement with the ensemble of all. Per-candidate selectors
implement :meth:`Selector.score` only; ``score_all`` then scores each on its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch

from ..methods import Method
from ..rows import batches, eval_batch, take
from ..specs import Split
from .views import VIEW_NAMES, VIEW_ROWS, mixed, view_inputs

EVAL_BATCH = 1024
"""Rows per evaluation forward on a GPU (:func:`dann_core.rows.eval_batch` picks per device)."""
KEEP_FEATURES = 1 << 22
"""A forward for logits keeps the backbone features it computed on the way when they hold at most this
many numbers (16 MB: a LeNet's 768 of 5,000 rows), so that a selector asking for them (dev, classami)
does not forward the same rows again."""


class ViewUnavailable(LookupError):
    """A candidate rebuilt from stored views was asked for something the views do not hold."""


@dataclass(frozen=True)
class SelectionData:
    """What a selector may look at: labelled source splits and target inputs without labels."""

    source_train: Split
    source_val: Split
    target_x: torch.Tensor  # or a dann_core.rows.LazyRows
    num_classes: int
    seed: int = 0
    _views: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, data, seed: int = 0) -> "SelectionData":
        """The label-free view of a :class:`~dann_core.specs.DomainData` (target labels dropped)."""
        return cls(data.source_train, data.source_val, data.target_train.x, data.num_classes, seed)

    def subsample(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """At most ``n`` rows of ``x``: the first ``n`` of one seeded permutation of ``x``, the same
        object at every call (so its outputs are computed once per candidate, and every selector sees
        the same fixed subsets). Rows read on demand stay unread until a candidate reads them."""
        if len(x) <= n:
            return x
        key = (id(x), n)
        if key not in self._views:
            self._views[key] = (x, take(x, self._order(len(x))[:n]))  # x kept alive: its id stays its own
        return self._views[key][1]

    def subsample_split(self, split: Split, n: int) -> Split:
        """At most ``n`` labelled rows of ``split`` (the same rows as :meth:`subsample` of its ``x``)."""
        if len(split) <= n:
            return split
        key = (id(split), n)
        if key not in self._views:
            y = None if split.y is None else split.y[self._order(len(split))[:n]]
            self._views[key] = (split, Split(self.subsample(split.x, n), y))
        return self._views[key][1]

    def view(self, name: str):
        """The inputs of the named view (``source_val``, ``target``, ``target_mix``: :mod:`.views`),
        the same object at every call."""
        if name == "source_val":
            return self.source_val.x
        if name == "target":
            return self.subsample(self.target_x, VIEW_ROWS)
        if name == "target_mix":
            key = ("target_mix", VIEW_ROWS)
            if key not in self._views:
                self._views[key] = (None, mixed(self.view("target")))
            return self._views[key][1]
        raise KeyError(f"no view {name!r}; the views are {', '.join(VIEW_NAMES)}")

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per run's data, then the same value (e.g. weights that depend on the data
        alone, not on the candidate). ``key`` should name the selector and its options."""
        key = ("cached", key)
        if key not in self._views:
            self._views[key] = (None, compute())
        return self._views[key][1]

    def _order(self, length: int) -> torch.Tensor:
        return torch.randperm(length, generator=torch.Generator().manual_seed(self.seed * 7919))


class Candidate:
    """One checkpoint of a run, as a selector sees it: the method in eval mode and the data.

    ``logits(x)`` and ``features(x)`` are computed once per input object and cached (one pass gives
    both when features are asked for); outputs live on the CPU in float32.
    """

    def __init__(self, step: int, method: Any, data: SelectionData, device: torch.device | str = "cpu",
                 config: Any = None, registry: Any = None, outputs: dict | None = None) -> None:
        self.step, self.method, self.data, self.device = step, method, data, device
        self.config, self.registry = config, registry
        self._outputs: dict[int, tuple[Any, torch.Tensor | None, torch.Tensor | None]] = {}
        self._stored = outputs  # name → logits, when rebuilt from stored views (no model)

    @property
    def algorithm(self):
        """Deprecated name of ``candidate.method`` (one DeprecationWarning)."""
        from ..train.errors import warn_renamed

        warn_renamed("Candidate.algorithm", "Candidate.method")
        return self.method

    @classmethod
    def from_views(cls, step: int, data: SelectionData, logits: dict[str, torch.Tensor], config: Any = None) -> "Candidate":
        """A candidate without weights whose ``logits`` come from views stored at its evaluation
        (``view_inputs(data)`` names them); asking for features or other inputs raises ViewUnavailable."""
        return cls(step, None, data, "cpu", config, None, outputs=logits)

    def computed(self, x) -> bool:
        """Whether this candidate already computed the outputs of ``x`` (asking again costs nothing)."""
        return id(x) in self._outputs

    def logits(self, x) -> torch.Tensor:
        """Class logits of ``x`` (eval mode, batched), on the CPU."""
        return self._forward(x, features=False)[1]

    def view_logits(self, name: str) -> torch.Tensor:
        """Class logits of the named view (``source_val``, ``target``, ``target_mix``): what a run
        stores at every evaluation, so a selector reading only these scores every evaluated step."""
        return self.logits(self.data.view(name))

    def features(self, x) -> torch.Tensor:
        """Backbone features of ``x`` (eval mode, batched), on the CPU."""
        return self._forward(x, features=True)[0]

    @torch.no_grad()
    def _forward(self, x, features: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
        if self._stored is not None:
            return self._from_views(x, features)
        cached = self._outputs.get(id(x))
        if cached is not None and (cached[1] is not None or not features):
            return cached[1], cached[2]
        model = self.method.model
        own_predict = getattr(type(self.method), "predict", Method.predict) is not Method.predict  # e.g. a target encoder
        was_training = model.training
        model.eval()
        feats, logits, keep = [], [], features
        try:
            for batch in batches(x, eval_batch(self.device, x), self.device):
                f = model.backbone(batch) if features or not own_predict else None
                logits.append((self.method.predict(batch) if own_predict else model.classifier(f)).float().cpu())
                if not feats and f is not None:  # the features came on the way: keep them while they are small
                    keep = features or len(x) * f[0].numel() <= KEEP_FEATURES
                if keep:
                    feats.append(f.float().cpu())
        finally:
            model.train(was_training)
        out = (x, torch.cat(feats) if keep else None, torch.cat(logits))
        self._outputs[id(x)] = out
        return out[1], out[2]

    def _from_views(self, x, features: bool) -> tuple[None, torch.Tensor]:
        if features:
            raise ViewUnavailable("features are not stored per evaluation")
        for name, view in view_inputs(self.data).items():
            if view is x and name in self._stored:
                return None, self._stored[name]
        raise ViewUnavailable("only the stored views' logits are available")


class Selector:
    """Base of selectors: ``score(candidate) -> float | None`` (None: cannot score this run), or, for
    a set-level selector, ``score_all(candidates) -> list of float | None``.

    ``higher_is_better`` orders scores; ``per_eval`` says the score is cheap enough for every
    evaluation; ``across_runs`` says scores of different runs are comparable (``dann sweep``);
    ``set_level`` says a candidate's score depends on the others of its set (implement
    ``score_all``; such a selector is never per-evaluation: it scores when the set is complete).
    """

    higher_is_better = True
    per_eval = True
    across_runs = True
    set_level = False

    def score(self, candidate: Candidate) -> float | None:
        if self.set_level:
            raise TypeError(f"{type(self).__name__} scores a set of candidates: call score_all([candidate, ...])")
        raise NotImplementedError(f"{type(self).__name__} must implement score(candidate)")

    def score_all(self, candidates: Sequence[Candidate]) -> list[float | None]:
        """The scores of a set of candidates, in their order: the evaluated steps of one run, or the
        chosen checkpoints of several runs on the same data. Default: each scored on its own."""
        if self.set_level:
            raise NotImplementedError(f"{type(self).__name__} is set_level: it must implement score_all(candidates)")
        return [self.score(candidate) for candidate in candidates]


def better(selector: Selector, a: float | None, b: float | None) -> bool:
    """Whether score ``a`` is at least as good as ``b`` (ties prefer ``a``, the later step; None loses)."""
    if a is None:
        return b is None
    if b is None:
        return True
    return a >= b if selector.higher_is_better else a <= b


def choose(scored: Iterable[tuple[int, float | None]], selector: Selector) -> int | None:
    """The step whose score is best, scanning in step order so that ties go to the later step."""
    best_step, best_score = None, None
    for step, score in sorted(scored, key=lambda item: item[0]):
        if score is None:
            continue
        if best_step is None or better(selector, score, best_score):
            best_step, best_score = step, score
    return best_step


def top_steps(history: list[dict[str, Any]], name: str, selector: Selector, k: int) -> set[int]:
    """Steps of the ``k`` best logged scores of selector ``name`` (later steps first among ties)."""
    scored = [(h["step"], h["scores"].get(name)) for h in history if h["scores"].get(name) is not None]
    sign = 1.0 if selector.higher_is_better else -1.0
    ranked = sorted(scored, key=lambda item: (sign * item[1], item[0]), reverse=True)
    return {step for step, _ in ranked[:k]}
