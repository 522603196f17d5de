"""Rolling-origin churn and revenue models, one responsibility per module:

* ``panel``: rolling origins and the stacked training panel (features and labels per origin);
* ``btyd_features``: BG/NBD (or NBD) + Gamma-Gamma outputs as ``btyd_*`` features;
* ``lgbm``: the cross-fitted LightGBM estimators ``LGBMChurnModel`` / ``LGBMRevenueModel``;
* ``calibration``: their calibration step (isotonic, platt, scale, btyd_level).

``scoring.models.lgbm`` re-exports every name (the former single module).
"""

from .btyd_features import (
    BTYD_CHURN,
    BTYD_PREFIX,
    BTYD_REVENUE,
    NBDModel,
    btyd_features,
    btyd_origin_features,
    fit_btyd_feature_models,
    spend_fit_rows,
)
from .calibration import PROBABILITY_CLIP
from .lgbm import (
    DEFAULT_CHURN_PARAMS,
    DEFAULT_REVENUE_PARAMS,
    N_ESTIMATORS_FROM_BTYD,
    N_ESTIMATORS_FROM_SCRATCH,
    NOT_FITTED_MESSAGE,
    LGBMChurnModel,
    LGBMRevenueModel,
)
from .panel import (
    DAYS_PER_YEAR,
    LABEL_COLUMNS,
    SEASON_TOLERANCE_DAYS,
    RollingOriginPanel,
    build_rolling_origin_panel,
    origin_labels,
    rolling_origins,
    same_season_origins,
)

__all__ = [
    "BTYD_CHURN",
    "BTYD_PREFIX",
    "BTYD_REVENUE",
    "DAYS_PER_YEAR",
    "DEFAULT_CHURN_PARAMS",
    "DEFAULT_REVENUE_PARAMS",
    "LABEL_COLUMNS",
    "LGBMChurnModel",
    "LGBMRevenueModel",
    "NBDModel",
    "NOT_FITTED_MESSAGE",
    "N_ESTIMATORS_FROM_BTYD",
    "N_ESTIMATORS_FROM_SCRATCH",
    "PROBABILITY_CLIP",
    "SEASON_TOLERANCE_DAYS",
    "RollingOriginPanel",
    "btyd_features",
    "btyd_origin_features",
    "build_rolling_origin_panel",
    "fit_btyd_feature_models",
    "origin_labels",
    "rolling_origins",
    "same_season_origins",
    "spend_fit_rows",
]
