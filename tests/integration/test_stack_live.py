"""The stack through the real Pulumi CLI against a real Kestra 1.1 (``KESTRA_URL``): what a user
lives when something was deleted in Kestra's UI and `pulumi up` runs without a refresh.

Needs the engine tools (`scripts/install-tools`) besides ``KESTRA_URL``/``KESTRA_USERNAME``/
``KESTRA_PASSWORD``, and deploys the local profile (its namespaces ``dev.testing``,
``gcp.ecommerce`` and ``system``) to that Kestra, then destroys it: use a scratch Kestra.
"""

from __future__ import annotations

import os
import re
import time

import pytest
import requests

from kestra.client import KestraClient, KestraNotFound
from tests.engine.conftest import engine_project, pulumi_tools  # noqa: F401  (fixtures)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("KESTRA_URL"), reason="KESTRA_URL is not set"),
]

FLOW = ("dev.testing", "python_multi_step")
DASHBOARD = "gcp_walkthrough_overview"


def responsive(url: str) -> bool:
    started = time.monotonic()
    answer = requests.get(f"{url.rstrip('/')}/api/v1/configs", timeout=10)
    return answer.status_code == 200 and time.monotonic() - started < 5


def test_up_without_refresh_brings_back_a_flow_and_a_dashboard_deleted_by_hand(engine_project):  # noqa: F811
    url, user, password = (os.environ["KESTRA_URL"], os.environ.get("KESTRA_USERNAME", ""),
                           os.environ.get("KESTRA_PASSWORD", ""))
    project = engine_project
    project.set_config({"profile": "local", "kestraUrl": url, "kestraUsername": user})
    project.set_config({"kestraPassword": password}, secret=True)
    flow_file = project.dir / "flows" / FLOW[0] / f"{FLOW[1]}.yaml"
    dashboard_file = project.dir / "flows" / "gcp.ecommerce" / "dashboards" / f"{DASHBOARD}.yaml"
    with KestraClient(url, user, password, deadline=60) as kestra:
        try:
            project.pulumi("up", "--yes", "--skip-preview")
            kestra.delete_flow(*FLOW)  # by hand, in the UI
            kestra.delete_dashboard(DASHBOARD)
            flow_source = re.sub(r"^tasks:", "labels:\n  changed: after-delete\ntasks:", flow_file.read_text(),
                                 count=1, flags=re.M)
            dashboard_source = re.sub(r"^title: ", "title: Changed ", dashboard_file.read_text(), count=1, flags=re.M)
            assert flow_source != flow_file.read_text() and dashboard_source != dashboard_file.read_text()
            flow_file.write_text(flow_source)
            dashboard_file.write_text(dashboard_source)

            project.pulumi("up", "--yes", "--skip-preview")  # no --refresh: the state says both exist

            assert responsive(url)
            assert kestra.get_flow(*FLOW)["source"] == flow_source
            assert kestra.get_dashboard(DASHBOARD)["sourceCode"] == dashboard_source
            project.pulumi("preview", "--expect-no-changes")
        finally:
            project.pulumi("destroy", "--yes", "--skip-preview", check=False)
        with pytest.raises(KestraNotFound):
            kestra.get_flow(*FLOW)
        with pytest.raises(KestraNotFound):
            kestra.get_dashboard(DASHBOARD)
        assert responsive(url)
