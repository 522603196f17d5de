"""Former home of the rolling-origin panel and the LightGBM churn / revenue models, now the
package ``scoring.models.churn`` (``panel``, ``btyd_features``, ``lgbm``, ``calibration``).
This module re-exports every name so existing imports keep working."""

from scoring.models.churn import *  # noqa: F403
from scoring.models.churn import __all__ as _churn_all
from scoring.models.churn.calibration import _logit
from scoring.models.churn.lgbm import _RollingOriginLGBM

__all__ = [*_churn_all, "_RollingOriginLGBM", "_logit"]
