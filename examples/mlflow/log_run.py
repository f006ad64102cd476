"""Log a run to the MLflow server on this machine (MLFLOW_TRACKING_URI, set by roost): a parameter,
a metric and a small model."""

import mlflow
import mlflow.pyfunc


class Doubler(mlflow.pyfunc.PythonModel):
    """A model that doubles its input."""

    def predict(self, context, model_input, params=None):
        return [2 * x for x in model_input]


mlflow.set_experiment("roost-example")
with mlflow.start_run(run_name="first") as run:
    mlflow.log_param("lr", 0.1)
    for step, loss in enumerate([1.0, 0.5, 0.25]):
        mlflow.log_metric("loss", loss, step=step)
    info = mlflow.pyfunc.log_model(name="doubler", python_model=Doubler())
print(f"run {run.info.run_id}, model {info.model_uri}")
print("prediction:", mlflow.pyfunc.load_model(info.model_uri).predict([1, 2]))
