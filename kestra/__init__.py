"""Kestra as Pulumi sees it: a REST client (`kestra.client`) and dynamic resources (`kestra.resources`).

The names below are imported lazily, on first use, so that ``import kestra.client`` or
``import kestra.config`` does not pull in Pulumi, and so that the dynamic-provider host, which
imports ``kestra.resources`` to unpickle a provider, runs nothing else. This package never
imports ``infra``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "KestraClient": "kestra.client",
    "KestraApiError": "kestra.client",
    "KestraNotFound": "kestra.client",
    "KestraAuthError": "kestra.client",
    "KestraUnavailable": "kestra.client",
    "KestraValidationError": "kestra.client",
    "KestraTlsError": "kestra.client",
    "KestraConnection": "kestra.resources",
    "Flow": "kestra.resources",
    "NamespaceFile": "kestra.resources",
    "KvEntry": "kestra.resources",
    "Dashboard": "kestra.resources",
    "NamespaceFlows": "kestra.resources",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kestra' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
