"""examples/dashboard for real on an SSH test host: `roost serve` brings the model endpoint
(FastAPI + scikit-learn) and the Streamlit dashboard up behind one HTTPS address with a login;
headless Chromium logs in, the page shows a prediction fetched from the endpoint and its
chart, and a screenshot lands in the test artifacts."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from pathlib import Path

import pytest
import yaml

import roost
from roost.gateway.site import https_status
from tests.browser import ARTIFACTS, chromium, spki_pin
from tests.e2e.test_gateway import host_entry
from tests.e2e.test_serve import roost_cli

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dashboard"


def test_dashboard_example_behind_one_https_address_with_a_login(testhosts, roost_home: Path, tmp_path: Path) -> None:
    host = testhosts.hosts[2]
    spec = yaml.safe_load((EXAMPLE / "service.yaml").read_text())
    spec.update(hosts=[host_entry(host)], workdir=str(EXAMPLE))
    path = tmp_path / "service.yaml"
    path.write_text(yaml.safe_dump(spec))
    up = roost_cli("serve", str(path), timeout=1200)
    assert up.returncode == 0, up.stderr
    url, ca = f"https://{host.ip}/", roost.trust("dashboard")
    assert https_status(url, ca) == 401 and https_status(url + "api/info", ca) == 401  # nothing without a login
    password = roost.add_user("dashboard", "alice")
    login = {"Authorization": "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()}
    context = ssl.create_default_context(cafile=str(ca))

    def api(route: str, payload: dict | None = None) -> dict:
        data = json.dumps(payload).encode() if payload else None
        request = urllib.request.Request(url + route, data=data, headers={**login, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=context, timeout=15) as response:
            return json.load(response)

    virginica = api("api/predict", {"sepal_length": 7.2, "sepal_width": 3.0, "petal_length": 6.1, "petal_width": 2.3})
    assert virginica["species"] == "virginica" and virginica["probabilities"]["virginica"] > 0.5
    assert api("api/info")["test_accuracy"] > 0.85
    assert len({api("api/info")["served_by"] for _ in range(8)}) == 2  # both model replicas answer
    status = roost.serve_status("dashboard")
    assert len(status.replicas) == 2 and all(r.healthy for r in status.replicas)
    assert sorted(status.routes) == ["/api"] and [r.healthy for r in status.routes["/api"]] == [True, True]

    with chromium(spki=spki_pin(host.ip, 443, ca)) as browser:
        page = browser.new_page(extra_http_headers=login, viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.get_by_text("accuracy on held-out flowers").wait_for(timeout=90_000)  # the script ran to its end
        text = page.inner_text("body")
        assert "Iris model dashboard" in text and "Prediction: setosa" in text
        shot = ARTIFACTS / "dashboard.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        try:  # the chart of the probabilities, drawn by vega-embed
            page.wait_for_function(
                "() => { const chart = document.querySelector('[data-testid=stVegaLiteChart]'); "
                "return !!chart && !!chart.querySelector('svg, canvas') "
                "&& chart.getBoundingClientRect().height > 100; }",
                timeout=30_000,
            )
        finally:
            page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
    assert roost_cli("down", "dashboard", timeout=300).returncode == 0
