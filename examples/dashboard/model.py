"""The model endpoint: an iris classifier trained at start-up from scikit-learn's bundled data
(nothing is downloaded), served over HTTP/JSON by FastAPI + uvicorn.

    GET  /health   -> {"ok": true}
    GET  /info     -> the model, its classes and its accuracy on held-out flowers
    POST /predict  {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
                   -> {"species": "setosa", "probabilities": {...}, "served_by": "host:pid"}
"""

from __future__ import annotations

import os
import socket

from fastapi import FastAPI
from pydantic import BaseModel, Field
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

IRIS = load_iris()
X_TRAIN, X_TEST, Y_TRAIN, Y_TEST = train_test_split(IRIS.data, IRIS.target, test_size=0.25, random_state=0)
MODEL = LogisticRegression(max_iter=1000).fit(X_TRAIN, Y_TRAIN)
ACCURACY = float(MODEL.score(X_TEST, Y_TEST))
SERVED_BY = f"{socket.gethostname()}:{os.getpid()}"

app = FastAPI(title="iris model")


class Flower(BaseModel):
    """One flower's measurements, in centimetres."""

    sepal_length: float = Field(gt=0, lt=20)
    sepal_width: float = Field(gt=0, lt=20)
    petal_length: float = Field(gt=0, lt=20)
    petal_width: float = Field(gt=0, lt=20)


@app.get("/health")
def health() -> dict:
    """The replica's probe: the model is trained and the server answers."""
    return {"ok": True}


@app.get("/info")
def info() -> dict:
    """What the model is and how well it does on flowers it never saw."""
    return {"model": "LogisticRegression", "classes": [str(name) for name in IRIS.target_names],
            "test_accuracy": ACCURACY, "served_by": SERVED_BY}


@app.post("/predict")
def predict(flower: Flower) -> dict:
    """The most likely species and every species' probability."""
    features = [[flower.sepal_length, flower.sepal_width, flower.petal_length, flower.petal_width]]
    probabilities = MODEL.predict_proba(features)[0]
    names = [str(name) for name in IRIS.target_names]
    return {"species": names[int(probabilities.argmax())],
            "probabilities": {name: float(p) for name, p in zip(names, probabilities)},
            "served_by": SERVED_BY}
