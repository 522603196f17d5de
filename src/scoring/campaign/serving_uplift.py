"""The code of the ``uplift-model`` pyfunc model (MLflow "models from code").

``campaign.registry.log_uplift_model`` logs this file as the model's ``python_model``; the
fitted :class:`~scoring.campaign.registry.UpliftBundle` is the ``uplift`` artifact, unpickled
by ``UpliftPyfunc.load_context``: load only models from the project's own registry.
"""

import mlflow

from scoring.campaign.registry import UpliftPyfunc

mlflow.models.set_model(UpliftPyfunc())
