"""What each kind of factory must return, checked once when the registry builds a component.

A plugin that breaks the contract fails at build time with one line naming the component and the
plugin, instead of as a shape or attribute error deep inside the first training step. Each check
returns why a built component is invalid (in words) or None; :mod:`.kinds` says which kind uses which.
"""
from __future__ import annotations

from typing import Any


def dataset_problem(built: Any) -> str | None:
    from ..data import DomainData

    if not isinstance(built, DomainData):
        return f"returned {_what(built)}, expected a dann_core.specs.DomainData"
    return None


def module_problem(built: Any) -> str | None:
    from torch import nn

    if not isinstance(built, nn.Module):
        return f"returned {_what(built)}, expected a torch.nn.Module"
    return None


def backbone_problem(built: Any) -> str | None:
    problem = module_problem(built)
    if problem:
        return problem
    width = getattr(built, "out_features", None)
    if type(width) is not int or width < 1:
        return f"returned {_what(built)} whose out_features is {width!r}, expected a positive int (the feature width)"
    if not callable(getattr(built, "default_head", None)):
        return f"returned {_what(built)} without a default_head(num_classes) method"
    return _pretrained_problem(built)


def method_problem(built: Any) -> str | None:
    """The method contract, checked by shape rather than by base class.

    The plugins layer sits below dann_core.methods, so it cannot import the Method base:
    a method is an nn.Module with a ``needs`` collection, a callable ``predict`` and a callable
    ``objective`` or ``update``.
    """
    from torch import nn

    missing = []
    if not isinstance(built, nn.Module):
        missing.append("it is not a torch.nn.Module")
    else:
        needs = getattr(built, "needs", None)
        if isinstance(needs, (str, bytes)) or not isinstance(needs, (set, frozenset, tuple, list)):
            missing.append("no needs set of batch kinds" if needs is None else f"its needs is {needs!r}, not a set of batch kinds")
        if not callable(getattr(built, "predict", None)):
            missing.append("no predict(x)")
        if not any(callable(getattr(built, name, None)) for name in ("objective", "update")):
            missing.append("neither objective(batch) nor update(batch)")
    if missing:
        return f"returned {_what(built)}, expected a dann_core.methods.Method ({'; '.join(missing)})"
    return None


def selector_problem(built: Any) -> str | None:
    if not callable(getattr(built, "score", None)):
        return f"returned {_what(built)} without a score(candidate) method, expected a Selector (see the register_selectors hook)"
    return None


def logger_problem(built: Any) -> str | None:
    if not callable(getattr(built, "log", None)):
        return f"returned {_what(built)} without a log(record) method, expected a dann_core.loggers.Logger"
    return None


def launcher_problem(built: Any) -> str | None:
    if not callable(getattr(built, "launch", None)):
        return f"returned {_what(built)} without a launch(tasks, report) method, expected a launcher (see docs/sweeps.md)"
    return None


def _pretrained_problem(backbone) -> str | None:
    """Why the optional ``pretrained_parameters()`` / ``input_normalization`` of a backbone are malformed, or None."""
    normalization = getattr(backbone, "input_normalization", None)
    if normalization is not None and not isinstance(normalization, str):
        return f"returned {_what(backbone)} whose input_normalization is {normalization!r}, expected None or a name such as 'imagenet'"
    marked = getattr(backbone, "pretrained_parameters", None)
    if marked is None:
        return None
    if not callable(marked):
        return f"returned {_what(backbone)} whose pretrained_parameters is not a method"
    own = {id(p) for p in backbone.parameters()}
    if not all(id(p) in own for p in marked()):
        return f"returned {_what(backbone)} whose pretrained_parameters() yields parameters that are not its own"
    return None


def backbone_output_problem(backbone, classifier, sample, num_classes: int) -> str | None:
    """Why ``backbone`` and its default head do not map ``sample`` (2 rows) to (2, out_features) and (2, classes).

    Runs in eval mode without gradients (no RNG is drawn, no running statistic changes).
    """
    import torch
    from torch import nn

    if not isinstance(classifier, nn.Module):
        return f"default_head() returned {_what(classifier)}, expected a torch.nn.Module"
    was_training = backbone.training, classifier.training
    backbone.eval(), classifier.eval()
    try:
        with torch.no_grad():
            features = backbone(sample)
            if not isinstance(features, torch.Tensor) or tuple(features.shape) != (len(sample), backbone.out_features):
                shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
                return f"says out_features={backbone.out_features} but maps {len(sample)} inputs to {shape}, expected ({len(sample)}, {backbone.out_features})"
            logits = classifier(features)
            if tuple(logits.shape) != (len(sample), num_classes):
                return f"default_head({num_classes}) maps features to {tuple(logits.shape)}, expected ({len(sample)}, {num_classes})"
    except RuntimeError as exc:
        return f"fails on inputs of shape {tuple(sample.shape[1:])}: {(str(exc).splitlines() or [''])[0][:160]}"
    finally:
        backbone.train(was_training[0]), classifier.train(was_training[1])
    return None


def _what(value: Any) -> str:
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"
