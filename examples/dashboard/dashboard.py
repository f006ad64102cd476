"""The dashboard: pick a flower's measurements, see the model endpoint's prediction and a chart
of its probabilities. It calls the endpoint from the server side, at the address roost gives
it in ROOST_ROUTE_API (the balancer's 127.0.0.1 listener for the /api route)."""

from __future__ import annotations

import json
import os
import urllib.request

import pandas as pd
import streamlit as st

API = os.environ.get("ROOST_ROUTE_API", "http://127.0.0.1:8000")


def call(path: str, payload: dict | None = None) -> dict:
    """GET (or POST ``payload`` as JSON to) the model endpoint."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(f"{API}{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


st.set_page_config(page_title="Iris model dashboard")
st.title("Iris model dashboard")
left, right = st.columns(2)
flower = {
    "sepal_length": left.slider("sepal length (cm)", 4.0, 8.0, 5.1, 0.1),
    "sepal_width": left.slider("sepal width (cm)", 2.0, 4.5, 3.5, 0.1),
    "petal_length": right.slider("petal length (cm)", 1.0, 7.0, 1.4, 0.1),
    "petal_width": right.slider("petal width (cm)", 0.1, 2.5, 0.2, 0.1),
}
result = call("/predict", flower)
st.subheader(f"Prediction: {result['species']}")
chart = pd.DataFrame({"probability": result["probabilities"]})
st.bar_chart(chart)
info = call("/info")
st.caption(f"{info['model']}, accuracy on held-out flowers {info['test_accuracy']:.0%}; "
           f"answered by {result['served_by']}")
