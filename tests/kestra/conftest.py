"""Fixtures for the kestra package tests: a running Kestra stand-in and ways to talk to it."""

from __future__ import annotations

import pytest

from kestra.client import KestraClient
from tests.support.kestra_standin import KestraStandin

FLOW = """\
# a comment that Kestra keeps but the diff ignores
id: {id}
namespace: {ns}
description: stand-in test flow
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{message}"
"""


def flow_source(flow_id: str = "hello", ns: str = "dev.testing", message: str = "hi") -> str:
    return FLOW.format(id=flow_id, ns=ns, message=message)


DASHBOARD = """\
id: {id}
title: {title}
charts: []
"""


@pytest.fixture
def standin():
    """A started stand-in with fresh state, stopped after the test."""
    server = KestraStandin().start()
    yield server
    server.stop()


@pytest.fixture
def client(standin):
    """A client for the stand-in with fast retries and a short deadline."""
    with KestraClient(
        standin.url, standin.username, standin.password, backoff_factor=0.01, deadline=3, timeout=(1, 2)
    ) as c:
        yield c


@pytest.fixture
def conn(standin) -> dict:
    """The connection inputs a resource carries, as the provider receives them."""
    return {
        "url": standin.url,
        "username": standin.username,
        "password": standin.password,
        "tenant": "main",
        "deadline": 3,
    }
