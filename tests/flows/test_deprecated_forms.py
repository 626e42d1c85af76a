"""No flow uses a form Kestra 1.1 deprecates.

- ``retry.maxAttempt`` is a deprecated-for-removal alias of ``maxAttempts`` (core
  ``io.kestra.core.models.tasks.retrys.AbstractRetry``, 1.1 source).
- Flow input type ``BOOLEAN`` maps to the deprecated ``BooleanInput``; ``BOOL`` to ``BoolInput``
  (core ``io.kestra.core.models.flows.Type``, 1.1 source).
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest


def retry_blocks(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every mapping under a ``retry`` key, anywhere in the document, with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "retry" and isinstance(value, dict):
                yield where, value
            yield from retry_blocks(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from retry_blocks(value, f"{path}[{i}]")


def test_retry_blocks_use_max_attempts(flow_file):
    bad = [where for where, retry in retry_blocks(flow_file.doc) if "maxAttempt" in retry]
    assert bad == [], f"{flow_file.rel}: use maxAttempts, not the deprecated maxAttempt, at {bad}"


def test_boolean_inputs_use_bool(flow_file):
    inputs = (flow_file.doc or {}).get("inputs") or []
    bad = [i.get("id") for i in inputs if isinstance(i, dict) and i.get("type") == "BOOLEAN"]
    assert bad == [], f"{flow_file.rel}: input type BOOLEAN is deprecated, use BOOL: {bad}"


@pytest.mark.parametrize("doc,found", [
    ({"tasks": [{"id": "t", "retry": {"type": "constant", "maxAttempt": 3}}]}, ["tasks[0].retry"]),
    ({"tasks": [{"id": "p", "tasks": [{"id": "t", "retry": {"maxAttempts": 3}}]}]}, []),
])
def test_the_retry_walk_finds_nested_blocks(doc, found):
    assert [w for w, r in retry_blocks(doc) if "maxAttempt" in r] == found
