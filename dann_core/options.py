"""The one coercer of option and setting values: strings from ``--set`` or files to typed values.

Component options are coerced to the type of their default (:func:`coerce_option`); run settings
(:mod:`dann_core.config`) use the same word lists through :func:`to_bool`, so "yes", "on" and "1"
mean true everywhere.

It sits at the bottom of the package (it imports nothing of dann_core): specs, plugins and config
all build on it. :class:`InvalidOptionError` and :func:`suggest` live here for that reason;
:mod:`dann_core.plugins` re-exports them.
"""
from __future__ import annotations

import difflib
import keyword
import math
import os
import reprlib
from pathlib import Path
from typing import Any

TRUE_WORDS = frozenset({"true", "1", "yes", "on", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "n", "f"})
NONE_WORDS = frozenset({"none", "null", "~"})


MAX_ERROR_CHARS = 400
"""Longest error line the coercer and the config produce; longer messages end in "…"."""

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6
_SHORT.maxlevel = 3


def shown(value: Any) -> str:
    """``repr(value)`` cut to a few dozen characters, without building the whole text of a huge value."""
    return _SHORT.repr(value)


def one_line(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """The first line of ``message``, at most ``limit`` characters (ending in "…" when cut)."""
    line = str(message).split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


class InvalidOptionError(ValueError):
    """An option a component does not take, or a value that cannot be coerced to its type (one short line)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(one_line(message))


def suggest(name: str, choices) -> str:
    """``"did you mean 'x'? "`` for the closest of ``choices``, or ``""``.

    Closest by typing mistakes: a swap of two neighbouring letters counts half an insertion, deletion
    or replacement (:func:`edit_distance`; case ignored), so ``dnan`` suggests ``dann`` (one swap), not
    ``dan`` (one deletion); ties go to :mod:`difflib`'s ratio, so ``dnn`` suggests ``dann``. Nothing is
    suggested beyond a third of the name's length in edits, unless difflib finds the two close.
    """
    name = str(name)
    choices = [str(choice) for choice in choices]
    if not name or not choices:
        return ""

    def rank(choice: str) -> tuple[float, float]:
        return edit_distance(name.lower(), choice.lower()), -difflib.SequenceMatcher(None, name, choice).ratio()

    best = min(choices, key=rank)
    near = edit_distance(name.lower(), best.lower()) <= max(1, len(name) // 3)
    return f"did you mean '{best}'? " if near or difflib.get_close_matches(name, [best], n=1, cutoff=0.5) else ""


def edit_distance(a: str, b: str) -> float:
    """Edits turning ``a`` into ``b``: an insertion, deletion or replacement counts 1, a swap of two
    neighbouring characters 0.5 (the commonest typing mistake; optimal string alignment)."""
    previous2, previous = None, [float(j) for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        current = [float(i)] + [0.0] * len(b)
        for j in range(1, len(b) + 1):
            cost = float(a[i - 1] != b[j - 1])
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if previous2 is not None and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1] and a[i - 1] != a[i - 2]:
                current[j] = min(current[j], previous2[j - 2] + 0.5)
        previous2, previous = previous, current
    return previous[len(b)]


def option_name(parameter: str) -> str:
    """The public name of a factory parameter: ``lambda_`` (a Python keyword plus ``_``) → ``lambda``."""
    stripped = parameter[:-1] if parameter.endswith("_") else parameter
    return stripped if keyword.iskeyword(stripped) else parameter


def parameter_name(option: str) -> str:
    """The factory parameter of a public option name (inverse of :func:`option_name`)."""
    return f"{option}_" if keyword.iskeyword(option) else option


def validate_options(spec, options: dict[str, Any], *, kind: str = "component") -> dict[str, Any]:
    """``options`` with names checked against ``spec.options`` and values coerced to the defaults' types.

    Option names may use ``-`` for ``_``. Returns public option names (call the factory through
    :func:`as_parameters`). A spec whose options depend on one another's values (a method's
    ``NAME_OPTION`` applies only with NAME in its ``plus``: :class:`dann_core.methods.plus.ComposableSpec`)
    has ``check_options(coerced)``, called last, and ``applicable_options(options)``, listed when a
    name is unknown.
    """
    coerced = {}
    for raw_key, value in options.items():
        key = str(raw_key).replace("-", "_")
        if key not in spec.options:
            applicable = getattr(spec, "applicable_options", None)  # a spec whose options depend on others' values
            valid = ", ".join(sorted(applicable(options) if applicable else spec.options)) or "(it takes no options)"
            raise InvalidOptionError(
                f"unknown option '{raw_key}' for {kind} '{spec.name}'; {suggest(key, spec.options)}valid options: {valid}"
            )
        where = f"{kind} '{spec.name}' option '{key}'"
        if key in getattr(spec, "path_options", ()):
            coerced[key] = to_path(value, where)
        else:
            coerced[key] = coerce_option(value, spec.options[key], where=where)
    check = getattr(spec, "check_options", None)
    if check is not None:
        check(coerced)
    return coerced


def to_path(value: Any, where: str) -> Path | None:
    """A path option's value: a ``Path`` (``~`` expanded), or None for None, "" and none/null."""
    if value is None or (isinstance(value, str) and value.strip().lower() in NONE_WORDS | {""}):
        return None
    if isinstance(value, (str, os.PathLike)):
        return Path(value).expanduser()
    raise InvalidOptionError(f"{where} expects a file or folder path, got {shown(value)}")


def absolute_path(value: Any) -> Any:
    """The text of ``value`` as an absolute path (relative to the current directory); None and "" unchanged.

    A comma-separated list (``source=A,B``) is made absolute part by part, unless the whole text names
    an existing path."""
    path = to_path(value, "path option")
    if path is None:
        return value
    if "," in str(value) and not path.exists():
        return ",".join(str(Path(part.strip()).expanduser().absolute()) for part in str(value).split(",") if part.strip())
    return str(path.absolute())


def as_parameters(options: dict[str, Any]) -> dict[str, Any]:
    """Public option names → factory keyword arguments."""
    return {parameter_name(key): value for key, value in options.items()}


def to_bool(value: Any, where: str) -> bool:
    """A bool from a bool, 0/1 or a true/false word; InvalidOptionError naming ``where`` otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise InvalidOptionError(f"{where} expects true or false (also yes/no, on/off, 1/0), got {shown(value)}")


def coerce_option(value: Any, default: Any, *, where: str = "option") -> Any:
    """Coerce ``value`` to the type of ``default``.

    Strings: bool from true/false/1/0/yes/no/on/off; int; float; tuple/list from comma-separated
    items (each coerced like the default's first item, or as a number when the default is empty;
    ``""`` gives an empty sequence); a ``None`` default accepts a number or a string ("none"/"null"
    give None). Non-strings are checked (an int is accepted for a float, 0/1 for a bool, a scalar
    for a one-item sequence); a string default keeps a YAML-parsed value's text (``yes`` stays
    ``'yes'``, not ``'True'``), and a list's items joined by ``,`` (``plus: [mcc, bsp]`` is
    ``'mcc,bsp'``, as on the command line). Raises :class:`InvalidOptionError` naming ``where`` and the type.
    """
    if default is None:
        if isinstance(value, str):
            if value.strip().lower() in NONE_WORDS:
                return None
            return _number_or_text(value)
        return value
    if isinstance(default, bool):
        return to_bool(value, where)
    if isinstance(default, (tuple, list)):
        return _to_sequence(value, default, where)
    for kind in (int, float, str):
        if isinstance(default, kind):
            return _to_scalar(value, kind, where)
    return value


def _to_scalar(value: Any, kind: type, where: str) -> Any:
    if kind is str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (list, tuple)) and not any(isinstance(item, (list, tuple, dict)) for item in value):
            return ",".join(_to_scalar(item, str, where) for item in value)  # a file's list: the comma-separated text
        return str(value)
    if isinstance(value, bool):
        raise InvalidOptionError(f"{where} expects {_article(kind)}, got {shown(value)}")
    try:
        if kind is int and isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            return int(value)
        if kind is int and isinstance(value, str):
            number = float(value.strip())
            if not number.is_integer():
                raise ValueError
            return int(number)
        number = kind(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidOptionError(f"{where} expects {_article(kind)}, got {shown(value)}") from None
    if kind is float and not math.isfinite(number):
        raise InvalidOptionError(f"{where} expects a finite float, got {shown(value)}")
    return number


def _to_sequence(value: Any, default: tuple | list, where: str) -> tuple | list:
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, (tuple, list)):
        items = list(value)
    else:
        items = [value]
    if default:
        template = default[0]
        items = [coerce_option(item, template, where=where) for item in items]
    else:
        items = [_number_or_text(item) if isinstance(item, str) else item for item in items]
    return type(default)(items)


def _number_or_text(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            pass
    return text


def expected(default: Any) -> str:
    """What :func:`coerce_option` accepts for ``default``'s type, in words ("an int", "true or false")."""
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, float):
        return "a finite float"
    return _article(type(default)) if isinstance(default, int) else "a string"


def _article(kind: type) -> str:
    return {int: "an int", float: "a float"}.get(kind, kind.__name__)
