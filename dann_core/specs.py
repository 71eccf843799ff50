"""What a registered component is: :class:`ComponentSpec` (name, factory, options, recommendations).

What a dataset yields (:class:`DomainData`, :class:`Split`) lives in :mod:`dann_core.data`; it is
re-exported here because plugins import ``dann_core.specs.DomainData``.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from . import references
from .options import option_name


@dataclass(frozen=True)
class ComponentSpec:
    """One named thing a plugin registers (a dataset, backbone, discriminator or method).

    ``factory(**options)`` builds it; ``options`` maps every accepted option to its default, so the
    CLI can validate ``--set dataset.angle=50`` and list what a component takes. Factories also get
    the context arguments documented in hookspecs.py (seed, input_shape, in_features, context, ...).

    ``recommended`` maps run settings to the values this component trains best with, in config-file
    keys (``{"backbone": "lenet", "lr": 0.03, "method.lambda": "schedule"}``). They apply when the
    component is chosen, above the defaults and below --config, --set and explicit flags.

    ``init_options`` names options that only initialise parameters a checkpoint then replaces (a
    backbone's pretrained ``weights`` file): rebuilding a trained run from its checkpoint (resume,
    ``dann eval``, ``load_run``) leaves them at their defaults, so the original file is not needed.
    """

    name: str
    factory: Callable[..., Any]
    description: str
    options: dict[str, Any] = field(default_factory=dict)
    recommended: dict[str, Any] = field(default_factory=dict)
    path_options: frozenset[str] = frozenset()
    init_options: frozenset[str] = frozenset()

    @classmethod
    def from_factory(
        cls,
        name: str,
        factory: Callable[..., Any],
        description: str | None = None,
        recommended: dict[str, Any] | None = None,
        init_options: tuple[str, ...] | frozenset[str] = (),
    ) -> "ComponentSpec":
        """A spec whose options are the factory's parameters that have defaults (declared once).

        Parameters without a default are the context arguments (seed, input_shape, ...). A
        parameter named after a Python keyword plus ``_`` is the option without it (``lambda_`` →
        ``lambda``). The description defaults to the first sentence of the factory's docstring.
        A parameter annotated ``pathlib.Path`` (or ``Path | None``) is a path option: the factory
        gets a ``Path``, and a resolved config records it as an absolute path.
        """
        return cls._from_signature(name, factory, inspect.signature(factory), inspect.getdoc(factory), description, recommended, init_options)

    @classmethod
    def from_reference(
        cls,
        name: str,
        reference: str,
        description: str | None = None,
        recommended: dict[str, Any] | None = None,
        init_options: tuple[str, ...] | frozenset[str] = (),
    ) -> "ComponentSpec":
        """:meth:`from_factory` for the factory ``"package.module:attr"``, read without importing it.

        Options, path options and description come from the factory's source (:mod:`dann_core.references`);
        the factory is a :class:`~dann_core.references.LazyFactory` that imports the module when the
        component is built. So registering a component costs nothing, and ``dann plugins`` or
        ``dann --help`` never import torch for it. Where the source cannot tell (a default computed
        from a constant, an inherited ``__init__``), the factory is imported: the same spec, sooner.
        """
        read = references.read_factory(reference)
        if read is None:
            return cls.from_factory(name, references.resolve(reference), description, recommended, init_options)
        signature, doc = read
        factory = references.LazyFactory(reference, signature, doc)
        return cls._from_signature(name, factory, signature, doc, description, recommended, init_options)

    @classmethod
    def _from_signature(cls, name, factory, signature, doc, description, recommended, init_options) -> "ComponentSpec":
        parameters = [
            param
            for param in signature.parameters.values()
            if param.default is not inspect.Parameter.empty
            and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
        ]
        options = {option_name(param.name): param.default for param in parameters}
        paths = frozenset(option_name(param.name) for param in parameters if _is_path_annotation(param.annotation))
        if description is None:
            description = first_sentence(doc or name)
        return cls(name=name, factory=factory, description=description, options=options,
                   recommended=dict(recommended or {}), path_options=paths, init_options=frozenset(init_options))


def _is_path_annotation(annotation: Any) -> bool:
    """``Path``, ``Path | None``, ``Optional[Path]`` or their text (``from __future__ import annotations``)."""
    if annotation is inspect.Parameter.empty:
        return False
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return re.search(r"(?<![\w.])(pathlib\.)?Path\b", text.replace("<class 'pathlib.Path'>", "Path")) is not None


def __getattr__(name: str):
    """``DomainData`` and ``Split``, re-exported lazily: plugins import them from here, and a plugin
    that only registers components must not pay for importing torch (``dann --help`` stays fast)."""
    if name in ("DomainData", "Split"):
        from . import data

        return getattr(data, name)
    raise AttributeError(f"module 'dann_core.specs' has no attribute '{name}'")


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line (a summary wrapped over two
    lines is not cut at the line break)."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z`(])", paragraph)  # "e.g. x" does not end a sentence
    return paragraph[: match.start()] if match else paragraph
