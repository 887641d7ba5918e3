"""Adaptation method registry: `get_method(cfg)` returns the method named by `adaptation.method`."""

from xlgen.adaptation import adapters, freeze, full, peft_methods  # noqa: F401  (registration)
from xlgen.adaptation.base import MANIFEST, METHODS, Method, get_method, parameter_report, read_manifest, register_method, write_manifest

__all__ = ["METHODS", "MANIFEST", "Method", "get_method", "parameter_report", "read_manifest", "register_method", "write_manifest"]
