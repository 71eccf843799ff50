"""What each kind of factory must return, checked once when the registry builds a component.

A plugin that breaks the contract fails at build time with one line naming the component and the
plugin, instead of as a shape or attribute error deep inside the first training step.
"""
from __future__ import annotations

from typing import Any


def problem(kind: str, built: Any) -> str | None:
    """Why ``built`` is not a valid ``kind`` (in words), or None."""
    from torch import nn

    from ..data import DomainData

    if kind == "dataset" and not isinstance(built, DomainData):
        return f"returned {_what(built)}, expected a dann_core.specs.DomainData"
    if kind in ("backbone", "discriminator") and not isinstance(built, nn.Module):
        return f"returned {_what(built)}, expected a torch.nn.Module"
    if kind == "backbone":
        width = getattr(built, "out_features", None)
        if type(width) is not int or width < 1:
            return f"returned {_what(built)} whose out_features is {width!r}, expected a positive int (the feature width)"
        if not callable(getattr(built, "default_head", None)):
            return f"returned {_what(built)} without a default_head(num_classes) method"
        return _pretrained_problem(built)
    if kind == "algorithm":
        from ..algorithms import Algorithm

        if not isinstance(built, Algorithm):
            return f"returned {_what(built)}, expected a dann_core.algorithms.Algorithm"
    if kind == "logger" and not callable(getattr(built, "log", None)):
        return f"returned {_what(built)} without a log(record) method, expected a dann_core.loggers.Logger"
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
