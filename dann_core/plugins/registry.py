"""Every component the plugins of one manager register, looked up by kind and name.

:class:`Registry` collects the ``register_*`` hooks, validates and coerces options and calls the
factories (:meth:`Registry.build`), tells which distribution provided a component
(:meth:`Registry.provenance`) and describes itself for ``dann plugins`` (:meth:`Registry.describe`).
"""
from __future__ import annotations

import inspect
from typing import Any

import pluggy

from ..specs import ComponentSpec
from .errors import ComponentError, DuplicateComponentError, InvalidOptionError, UnknownComponentError, suggest
from .kinds import BY_NAME, COMPONENT_KINDS, LEGACY_KINDS, contract_problem
from .listing import call_each, plugin_listing
from .manager import describe_exception, mark_broken
from ..options import as_parameters, shown, validate_options

KINDS = COMPONENT_KINDS
"""Component kinds, singular, as :meth:`Registry.get` and :meth:`Registry.build` take them (from :mod:`.kinds`)."""


class Registry:
    """Every dataset, backbone, discriminator, method, selector and logger the plugins of one manager register.

    ``datasets``, ``backbones``, ``discriminators``, ``methods``, ``selectors`` and ``loggers`` map names to
    :class:`ComponentSpec`; ``provider[(kind, name)]`` is the name of the plugin that registered it.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.provider: dict[tuple[str, str], str] = {}
        for kind in KINDS:
            setattr(self, BY_NAME[kind].plural, self._collect(kind))
        for name, spec in self.methods.items():  # a method taking plus sees every regulariser, whichever hook registered it
            self.methods[name] = spec.recomposed() if hasattr(spec, "recomposed") else spec
        broken = set(getattr(pm, "broken", {}))  # a plugin found broken by a later hook loses its earlier components too
        for (kind, name), plugin in list(self.provider.items()):
            if plugin in broken:
                del self.of_kind(kind)[name], self.provider[(kind, name)]

    def _collect(self, kind: str) -> dict[str, ComponentSpec]:
        specs: dict[str, ComponentSpec] = {}
        for hook, plugin_name, returned in ((hook, *found) for hook in BY_NAME[kind].hooks for found in call_each(self.pm, hook)):
            wrong = _not_a_spec_list(returned)
            if wrong:
                mark_broken(self.pm, plugin_name, f"its {hook}() returned {wrong}, expected a list of dann_core.specs.ComponentSpec")
                continue
            unfilled = next((problem for spec in returned or [] if (problem := _unfilled_parameter(kind, spec))), None)
            if unfilled:
                mark_broken(self.pm, plugin_name, f"its {hook}() returned {unfilled}")
                continue
            for spec in returned or []:
                if spec.name in specs:
                    other = self.provider[(kind, spec.name)]
                    raise DuplicateComponentError(
                        f"{kind} '{spec.name}' is registered by two plugins: '{other}' and '{plugin_name}'"
                    )
                specs[spec.name] = spec
                self.provider[(kind, spec.name)] = plugin_name
        return dict(sorted(specs.items()))

    @property
    def algorithms(self) -> dict[str, ComponentSpec]:
        """Deprecated name of :attr:`methods` (the kind ``algorithm`` is now ``method``)."""
        return self.of_kind("algorithm")

    def of_kind(self, kind: str) -> dict[str, ComponentSpec]:
        """The name → spec table of ``kind`` (one of :data:`KINDS`)."""
        kind = current_kind(kind)
        if kind not in KINDS:
            raise ValueError(f"unknown component kind '{kind}'; choices: {', '.join(KINDS)}")
        return getattr(self, BY_NAME[kind].plural)

    def get(self, kind: str, name: str) -> ComponentSpec:
        """The spec registered as ``name``; :class:`UnknownComponentError` lists the choices otherwise."""
        kind = current_kind(kind)
        table = self.of_kind(kind)
        if name in table:
            return table[name]
        broken = getattr(self.pm, "broken", {})
        hint = "".join(f"; broken plugin '{b.name}' was skipped ({b.error})" for b in broken.values())
        raise UnknownComponentError(f"unknown {kind} {shown(name)}; {suggest(name, table)}choices: {_names(table)}{hint}")

    def origin(self, kind: str, name: str) -> str:
        """``plugin 'x' (distribution version)`` of a registered component, for error messages."""
        kind = current_kind(kind)
        if (kind, name) not in self.provider:
            return "no plugin (added to the registry by hand)"
        source = self.provenance(kind, name)
        where = f" ({source['distribution']} {source['version']})" if source["distribution"] else ""
        return f"plugin '{source['plugin']}'{where}"

    def build(self, kind: str, name: str, options: dict[str, Any] | None = None, **context: Any) -> Any:
        """Validate and coerce ``options`` against the spec, then call ``spec.factory(**context, **options)``.

        Option names may use ``-`` for ``_``. String values are coerced to the type of the option's
        default (see :func:`~dann_core.plugins.coerce_option`); options not given keep the defaults.
        What the factory returns is checked against the kind's contract (:mod:`.kinds`). A
        factory's ValueError or OSError (its message about the user's input) passes through, an
        OSError about the file an option names reworded to name the component and option
        (:func:`file_option_error`); any other exception, or a wrong return value, is a
        :class:`ComponentError` naming the plugin.
        """
        kind = current_kind(kind)
        spec = self.get(kind, name)
        coerced = as_parameters(validate_options(spec, options or {}, kind=kind))
        clash = sorted(set(coerced) & set(context))
        if clash:
            raise InvalidOptionError(f"{kind} '{name}' option '{clash[0]}' collides with a context argument the caller passes")
        try:
            built = spec.factory(**context, **coerced)
        except OSError as exc:
            named = file_option_error(kind, name, coerced, exc)
            if named is None:
                raise
            raise named from exc
        except ValueError:
            raise
        except Exception as exc:
            raise ComponentError(f"{kind} '{name}' of {self.origin(kind, name)} failed: {describe_exception(exc)}") from exc
        problem = contract_problem(kind, built)
        if problem:
            raise ComponentError(f"{kind} '{name}' of {self.origin(kind, name)} {problem}")
        return built

    def provenance(self, kind: str, name: str) -> dict[str, Any]:
        """``{"name", "plugin", "distribution", "version"}`` of a registered component.

        distribution and version are None for a plugin registered by hand rather than installed.
        """
        kind = current_kind(kind)
        self.get(kind, name)
        plugin = self.provider[(kind, name)]
        source = getattr(self.pm, "sources", {}).get(plugin)
        return {
            "name": name,
            "plugin": plugin,
            "distribution": source.distribution if source else None,
            "version": source.version if source else None,
        }

    def describe(self, command_group=None) -> dict[str, Any]:
        """JSON-ready data for ``dann plugins``: the plugin listing and every component with its own
        options; ``components["regularizers"]`` lists each regulariser once (:meth:`_regularizers`).

        ``command_group`` is passed to :func:`~dann_core.plugins.plugin_listing` (lists plugin commands)."""
        components = {
            BY_NAME[kind].plural: [
                {
                    "name": spec.name,
                    "description": spec.description,
                    "options": {key: _jsonable(value) for key, value in getattr(spec, "own_options", spec.options).items()},
                    "recommended": {key: _jsonable(value) for key, value in spec.recommended.items()},
                    "plugin": self.provider[(kind, spec.name)],
                    "doc": inspect.getdoc(spec.factory) or "",
                }
                for spec in self.of_kind(kind).values()
            ]
            for kind in KINDS
        }
        return {"plugins": plugin_listing(self.pm, command_group), "components": {**components, "regularizers": self._regularizers()}}

    def _regularizers(self) -> list[dict[str, Any]]:
        """The regularisers the methods taking ``plus`` accept, once each: options as the method options
        ``NAME_OPTION`` they are set by, and the methods whose ``plus`` takes them.

        A method's own options (:meth:`describe`) leave them out: a ``ComposableSpec`` (see
        :mod:`dann_core.methods.plus`) keeps its own in ``own_options`` and the regularisers in ``regularizers``."""
        found: dict[str, tuple[ComponentSpec, list[str]]] = {}
        for method in self.methods.values():
            for name, spec in getattr(method, "regularizers", {}).items():
                found.setdefault(name, (spec, []))[1].append(method.name)
        return [
            {
                "name": name,
                "description": spec.description,
                "options": {f"{name}_{key}": _jsonable(value) for key, value in spec.options.items()},
                "recommended": {},
                "methods": methods,
                "doc": inspect.getdoc(spec.factory) or "",
            }
            for name, (spec, methods) in sorted(found.items())
        ]


def file_option_error(kind: str, name: str, options: dict[str, Any], exc: OSError) -> OSError | None:
    """``exc`` (a factory's file error) again, of the same type, with a message naming the component and
    the option whose path it is about; None when no option's value is the file it names, or when the
    message already names the component.

    An operating-system error (``open()``: errno and filename set) becomes ``dataset 'csv-table' option
    'path': /x.csv: no such file or directory``; a factory's own message is kept whole, after the
    component and option, less a leading ``<name>:`` or ``<name> dataset:`` of its own
    (``dataset 'mnist' option 'root': MNIST file 't10k-labels-idx1-ubyte' (or .gz) not found in /m``)."""
    import os
    import re

    message = str(exc)
    if f"{kind} '{name}'" in message:  # the factory's own line already names the component
        return None
    filename = os.fspath(exc.filename) if isinstance(exc.filename, (str, os.PathLike)) else None
    for option, value in options.items():
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            continue
        path = os.fspath(value)
        if filename is not None:
            if filename not in (path, os.path.abspath(path)):
                continue
            reason = exc.strerror or message
            text = f"{path}: {reason[:1].lower() + reason[1:]}"
        else:
            if not re.search(rf"(?<![\w/.~-]){re.escape(path)}(?![\w/.~-])", message):
                continue
            text = re.sub(rf"^{re.escape(name)}( {re.escape(kind)})?: ", "", message.strip().splitlines()[0])
        text = f"{kind} '{name}' option '{option}': {text}"
        try:
            named = type(exc)(text)
        except Exception:  # a subclass with a constructor of its own
            named = OSError(text)
        return named  # no errno/filename: with them str() would be "[Errno 2] ...: path", not this line
    return None


def get_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    """The :class:`Registry` of ``pm`` (a fresh :func:`get_plugin_manager` when omitted)."""
    from .manager import get_plugin_manager

    return Registry(pm if pm is not None else get_plugin_manager())


def current_kind(kind: str) -> str:
    """``kind``, or its new name when it is an old one (``algorithm`` → ``method``), warning once per old name."""
    if kind not in LEGACY_KINDS:
        return kind
    if kind not in _WARNED_KINDS:
        import warnings

        _WARNED_KINDS.add(kind)
        warnings.warn(f"component kind '{kind}' is renamed '{LEGACY_KINDS[kind]}'; pass '{LEGACY_KINDS[kind]}'", DeprecationWarning, stacklevel=3)
    return LEGACY_KINDS[kind]


_WARNED_KINDS: set[str] = set()


def _not_a_spec_list(returned: Any) -> str | None:
    """What is wrong with a ``register_*`` hook's return value (in words), or None."""
    if returned is None:
        return None
    if not isinstance(returned, (list, tuple)):
        return f"a {type(returned).__name__}"
    bad = [item for item in returned if not isinstance(item, ComponentSpec)]
    return f"a list holding a {type(bad[0]).__name__}" if bad else None


def _unfilled_parameter(kind: str, spec: ComponentSpec) -> str | None:
    """Why ``spec.factory`` could never be called (a parameter neither an option nor context), or None.

    Options are the parameters with defaults; the host passes only the kind's context arguments
    (:mod:`.kinds`), so any other parameter without a default would fail at the first build.
    """
    try:
        parameters = inspect.signature(spec.factory).parameters.values()
    except (TypeError, ValueError):  # not introspectable (a C callable): checked when built
        return None
    context = BY_NAME[kind].context
    for param in parameters:
        if param.default is inspect.Parameter.empty and param.kind is not param.VAR_POSITIONAL and param.kind is not param.VAR_KEYWORD:
            if param.name not in context:
                takes = f"the context arguments of a {kind} factory are {', '.join(context)}" if context else f"a {kind} factory gets no context arguments"
                return f"{kind} '{spec.name}' whose factory parameter '{param.name}' has no default; give it one (it is an option) — {takes}"
    return None


def _names(table: dict[str, Any]) -> str:
    return ", ".join(sorted(table)) or "(none registered)"


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
