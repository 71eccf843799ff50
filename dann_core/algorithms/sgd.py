"""Deprecated: :mod:`dann_core.methods.sgd` (this name is the module itself, imported from there)."""
import importlib
import sys

sys.modules[__name__] = importlib.import_module("dann_core.methods.sgd")
