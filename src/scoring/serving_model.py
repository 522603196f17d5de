"""The code of the ``customer-scorer`` pyfunc model (MLflow "models from code").

``registry.log_scorer`` logs this file as the model's ``python_model``: MLflow copies it into
the model and runs it when the model is loaded, so the wrapper is code, not a cloudpickled
object. The fitted scorer is the model's ``scorer`` artifact, unpickled by
``ScorerModel.load_context``: load only models from the project's own registry.
"""

import mlflow

from scoring.registry import ScorerModel

mlflow.models.set_model(ScorerModel())
