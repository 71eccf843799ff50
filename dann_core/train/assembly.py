"""Assembling a run from its config: the device, the dataset, the networks and the method, built
through the plugin registry, and what config.json records about who provided each component."""
from __future__ import annotations

from typing import Any

import torch

from .. import checkpoint as ckpt
from ..methods import SOURCE, TARGET_LABELLED, Method, MethodContext, OptimSettings
from ..config import COMPONENT_KINDS, RunConfig
from ..loggers import logger_names
from ..model import build_networks
from ..plugins import get_registry, validate_options
from ..rows import is_lazy
from ..specs import DomainData
from .errors import RunError

DEVICES = "auto, cpu, cuda or cuda:N"


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cpu``, ``cuda``, ``cuda:N`` (and ``mps`` where present)."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise RunError(f"unknown device '{name}'; use {DEVICES}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RunError(f"device '{name}' requested but CUDA is not available; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RunError(f"device '{name}' does not exist: {torch.cuda.device_count()} CUDA device(s); use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise RunError(f"device '{name}' requested but MPS is not available; use {DEVICES}")
    elif device.type != "cpu":
        raise RunError(f"device '{name}' cannot train or evaluate (no data on {device.type} tensors); use {DEVICES}")
    return device


def num_domains(data: DomainData) -> int:
    """2 for source vs target; K+1 when ``data.domains`` marks K > 1 source domains (target = K)."""
    if data.domains is not None and data.num_source_domains > 1:
        return data.num_source_domains + 1
    return 2


def build_components(
    cfg: RunConfig, data: DomainData | None, registry=None, restoring: bool = False
) -> tuple[DomainData, Method]:
    """Seed everything, then build the dataset (unless given), the networks and the method, as a run does.

    Every component's name and options are checked before the dataset is built (no image is read
    for a run that cannot start). ``restoring``: a checkpoint's weights are loaded next, so options
    that only initialise parameters (``ComponentSpec.init_options``, e.g. a pretrained weights file)
    stay at their defaults and the original file is not needed.
    """
    registry = registry if registry is not None else get_registry()
    validate_components(cfg, registry)
    ckpt.seed_everything(cfg.seed)
    if data is None:
        data = build_dataset(cfg, registry)
    backbone_options = cfg.backbone_options
    if restoring:
        init = registry.get("backbone", cfg.backbone).init_options
        backbone_options = {key: value for key, value in backbone_options.items() if key not in init}
    backbone, classifier, make_discriminator = build_networks(
        registry, data, cfg.backbone, cfg.discriminator, backbone_options, cfg.discriminator_options, num_domains(data),
        bottleneck=cfg.bottleneck,
    )
    adopt_normalization(data, getattr(backbone, "input_normalization", None))
    optim = OptimSettings(cfg.steps, cfg.lr, cfg.lr_schedule, cfg.momentum, cfg.weight_decay, cfg.backbone_lr_mult)
    context = MethodContext(backbone, classifier, make_discriminator, data.num_classes, num_domains(data), optim)
    method = registry.build("method", cfg.method, cfg.method_options, context=context)
    if not isinstance(method, Method):
        raise TypeError(f"method '{cfg.method}' built {type(method).__name__}, expected a dann_core.methods.Method")
    method.input_normalization = getattr(backbone, "input_normalization", None)
    check_labels(cfg, data, method)
    return data, method


def validate_components(cfg: RunConfig, registry) -> None:
    """UnknownComponentError / InvalidOptionError for any component of ``cfg``, before anything is built."""
    for key, kind in COMPONENT_KINDS.items():
        spec = registry.get(kind, getattr(cfg, key))
        options = getattr(cfg, f"{key}_options", None)
        if options is not None:
            validate_options(spec, options, kind=kind)


def build_dataset(cfg: RunConfig, registry) -> DomainData:
    """The run's dataset, built with the run's seed (global RNGs seeded first, as a run does)."""
    ckpt.seed_everything(cfg.seed)
    return registry.build("dataset", cfg.dataset, cfg.dataset_options, seed=cfg.seed)


def check_labels(cfg: RunConfig, data: DomainData, method: Method) -> None:
    if SOURCE in method.needs and data.source_train.y is None:
        raise RunError(f"dataset '{cfg.dataset}' has no labels on source_train; method '{cfg.method}' trains on labelled source")
    if TARGET_LABELLED in method.needs and data.target_train.y is None:
        raise RunError(f"method '{cfg.method}' needs target labels, but dataset '{cfg.dataset}' has none on target_train")


# ------------------------------------------------------------------------------- normalisation


def lazy_inputs(data: DomainData) -> list:
    """The splits' inputs that are read on demand (LazyRows)."""
    return [split.x for split in (data.source_train, data.source_val, data.target_train, data.target_test) if is_lazy(split.x)]


def adopt_normalization(data: DomainData, name: str | None) -> None:
    """Tell every split read on demand that the backbone expects inputs normalised as ``name``."""
    if not name:
        return
    for x in lazy_inputs(data):
        x.adopt_normalization(name)


def restore_normalization(method: Method, data: DomainData, state: dict[str, Any]) -> None:
    """Inputs are normalised as when the checkpoint was trained, although the backbone was rebuilt
    without its init options (a pretrained weights file, which is what declared the normalisation)."""
    name = state.get("input_normalization")
    if name:
        adopt_normalization(data, name)
        method.input_normalization = name
    statistics = state.get("input_statistics")
    if statistics:  # statistics estimated from the files when it trained, not from the files as they are now
        for x in lazy_inputs(data):
            x.load_normalization_state(statistics)


def normalization_state(data: DomainData) -> dict | None:
    """The normalisation the run's lazily read inputs derived from the data (source_train's rows)."""
    return data.source_train.x.normalization_state() if is_lazy(data.source_train.x) else None


# ---------------------------------------------------------------------------------- provenance


def provenance(cfg: RunConfig, registry) -> dict[str, Any]:
    """What config.json records besides the settings: who provided each component, what was recommended."""
    components = {key: registry.provenance(kind, getattr(cfg, key)) for key, kind in COMPONENT_KINDS.items()}
    loggers = [registry.provenance("logger", name) for name in logger_names(cfg.log)]
    return {"components": components, "loggers": loggers, "recommended": dict(getattr(cfg, "recommended", {}) or {})}


def check_installed(cfg: RunConfig, recorded: dict[str, Any], registry) -> None:
    """Raise RunError naming the package to install when a run's component is no longer registered."""
    for key, kind in COMPONENT_KINDS.items():
        name = getattr(cfg, key)
        if name in registry.of_kind(kind):
            continue
        source = (recorded.get("components") or {}).get(key) or {}
        broken = [b for b in getattr(registry.pm, "broken", {}).values() if source.get("distribution") and b.distribution == source["distribution"]]
        if broken:
            raise RunError(f"{kind} '{name}' of this run came from {source['distribution']}, which is installed but broken: {broken[0].error}")
        if source.get("distribution"):
            raise RunError(
                f"{kind} '{name}' of this run came from {source['distribution']} {source.get('version') or ''}".rstrip()
                + f", which is not installed (or is disabled by --no-plugins); pip install {source['distribution']}"
            )
        if source.get("plugin"):
            raise RunError(f"{kind} '{name}' of this run came from plugin '{source['plugin']}', registered by hand; register it again (registry=)")
