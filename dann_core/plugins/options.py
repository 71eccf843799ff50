"""The old home of the option coercer, kept so ``dann_core.plugins.options`` imports keep working.

The coercer now lives in :mod:`dann_core.options`, below specs, plugins and config.
"""
from ..options import (  # noqa: F401
    FALSE_WORDS,
    NONE_WORDS,
    TRUE_WORDS,
    InvalidOptionError,
    absolute_path,
    as_parameters,
    coerce_option,
    expected,
    option_name,
    parameter_name,
    suggest,
    to_bool,
    to_path,
    validate_options,
)
