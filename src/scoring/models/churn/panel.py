"""Rolling origins and the rolling-origin training panel of the LightGBM churn / revenue models.

Training data (``build_rolling_origin_panel``): behavioural features (and, for the hybrid
models, BTYD outputs, ``scoring.models.churn.btyd_features``) computed as of several *origins*
before the evaluation cutoff, stacked, each row labelled with what the customer did in the
``label_horizon_days`` after its origin:

* origins are ``cutoff - h``, ``cutoff - h - step``, ``cutoff - h - 2 step``, ... (``h`` = label
  horizon), so the label window of the most recent origin is ``[cutoff - h, cutoff)`` and
  ends the day before the evaluation cutoff: nothing at or after the cutoff is ever used.
  Origins need ``min_history_days`` of data before them.
* the label horizon is the evaluation horizon ``H`` when the data allow at least
  ``min_origins`` origins with a full ``H``-day window; otherwise it shrinks to fit (e.g.
  CDNOW: 9 months of history before a 273-day horizon). The models then rank customers by the
  shorter-horizon target and the revenue total is rescaled by ``H / h`` (or anchored to BTYD).
* labels: ``churned`` = 1 when the customer has no order in ``[origin, origin + h)``,
  ``revenue_next`` = gross revenue in that window (currency).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from scoring.data.errors import DataError
from scoring.features.behavioural import (
    DEFAULT_WINDOWS,
    behavioural_features_panel,
    prepare_transactions,
)

from .btyd_features import btyd_origin_features

LABEL_COLUMNS: tuple[str, ...] = ("churned", "revenue_next")
DAYS_PER_YEAR = 365
SEASON_TOLERANCE_DAYS = 7
"""An origin counts as 'same season' when it lies within this many days of ``cutoff - 365k``."""


def rolling_origins(
    cutoff,
    horizon_days: int,
    data_start,
    step_days: int = 28,
    max_origins: int = 26,
    min_history_days: int = 90,
    min_origins: int = 3,
    include_anniversaries: bool = True,
) -> tuple[list[pd.Timestamp], int]:
    """Training origins before ``cutoff`` and the label horizon they use.

    Returns ``(origins, label_horizon_days)``: origins (midnights, most recent first)
    ``cutoff - h - k * step_days`` for ``k = 0 .. max_origins - 1`` that have at least
    ``min_history_days`` of data after ``data_start``; ``h = horizon_days`` when that leaves
    ``min_origins`` origins, otherwise the largest ``h`` that does. With
    ``include_anniversaries`` (and ``h = horizon_days``) the origins ``cutoff - 365 k`` days
    (same part of the year, used for the seasonal level correction) are added when they have
    the history. Every label window ``[origin, origin + h)`` ends before the cutoff.
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    earliest = pd.Timestamp(data_start).normalize() + pd.Timedelta(days=int(min_history_days))
    available = (cutoff - earliest).days
    horizon = int(horizon_days)
    if horizon <= 0 or step_days <= 0 or max_origins <= 0:
        raise DataError(
            f"rolling_origins: horizon_days ({horizon_days}), step_days ({step_days}) and "
            f"max_origins ({max_origins}) must be positive."
        )
    wanted = max(1, min(int(min_origins), int(max_origins)))
    label_horizon = min(horizon, available - (wanted - 1) * int(step_days))
    if label_horizon < 1:
        raise DataError(
            f"rolling_origins: only {available} days between the first possible origin "
            f"({earliest.date()} = data start + {min_history_days} days of history) and the "
            f"cutoff {cutoff.date()}; not enough for {wanted} training origins. Use a later "
            "cutoff, fewer min_history_days or fewer min_origins."
        )
    last = cutoff - pd.Timedelta(days=label_horizon)
    origins = [last - pd.Timedelta(days=k * int(step_days)) for k in range(int(max_origins))]
    origins = [o for o in origins if o >= earliest]
    if include_anniversaries and label_horizon == horizon:
        # the same part of the year one (two, ...) years before the cutoff
        years = 1
        while (anniversary := cutoff - pd.Timedelta(days=DAYS_PER_YEAR * years)) >= earliest:
            if anniversary <= last and anniversary not in origins:
                origins.append(anniversary)
            years += 1
    return sorted(origins, reverse=True), int(label_horizon)


def origin_labels(transactions: pd.DataFrame, origins: Sequence, horizon_days: int) -> pd.DataFrame:
    """What each customer did in ``[origin, origin + horizon_days)`` for every origin.

    Returns a DataFrame with a (``origin``, ``customer_id``) MultiIndex holding only customers
    with an order in the window; columns ``purchase_days_next`` (distinct purchase days) and
    ``revenue_next`` (gross revenue, currency). Customers absent from an origin's rows had no
    order (churned).
    """
    if not len(origins):  # no training origin (the cutoff rows only): no label
        index = pd.MultiIndex.from_arrays(
            [pd.DatetimeIndex([], dtype="datetime64[ns]"), pd.Index([], dtype="string")],
            names=["origin", "customer_id"])
        return pd.DataFrame({"purchase_days_next": [], "revenue_next": []}, index=index)
    day = transactions["timestamp"].dt.floor("D").astype("datetime64[ns]")
    daily = (
        pd.DataFrame(
            {
                "customer_id": transactions["customer_id"].astype("string"),
                "day": day,
                "amount": transactions["amount"].astype("float64"),
            }
        )
        .groupby(["customer_id", "day"], observed=True, sort=False)["amount"]
        .sum()
        .reset_index()
    )
    frames = {}
    for origin in origins:
        start = pd.Timestamp(origin).normalize()
        end = start + pd.Timedelta(days=int(horizon_days))
        window = daily.loc[(daily["day"] >= start) & (daily["day"] < end)]
        grouped = window.groupby("customer_id", observed=True)["amount"]
        frames[start] = pd.DataFrame(
            {"purchase_days_next": grouped.size().astype("float64"), "revenue_next": grouped.sum()}
        )
    return pd.concat(frames, names=["origin", "customer_id"])

@dataclass
class RollingOriginPanel:
    """Stacked features and labels for rolling-origin training.

    ``features``: (``origin``, ``customer_id``) MultiIndex; the training origins and the
    cutoff itself (the rows to score). ``labels``: ``churned`` (0/1) and ``revenue_next``
    (currency) for the training origins' rows, aligned with ``features``.
    ``label_horizon_days``: length of the label windows (days). ``btyd_columns``: the BTYD
    feature names (empty without BTYD). ``btyd_params``: per origin, the fitted parameters.
    """

    features: pd.DataFrame
    labels: pd.DataFrame
    cutoff: pd.Timestamp
    horizon_days: int
    label_horizon_days: int
    origins: list[pd.Timestamp]
    btyd_columns: list[str] = field(default_factory=list)
    btyd_params: dict = field(default_factory=dict)

    def training(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(features, labels) of the training origins."""
        mask = self.features.index.get_level_values("origin") < self.cutoff
        return self.features.loc[mask], self.labels

    def at_cutoff(self) -> pd.DataFrame:
        """Features as of the cutoff, indexed by ``customer_id``."""
        return self.features.xs(self.cutoff, level="origin")


def build_rolling_origin_panel(
    transactions: pd.DataFrame,
    cutoff,
    horizon_days: int,
    returns: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    btyd: bool = True,
    step_days: int = 28,
    max_origins: int = 26,
    min_history_days: int = 90,
    min_origins: int = 3,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    origins: Sequence | None = None,
) -> RollingOriginPanel:
    """Features at each rolling origin and at the cutoff, labels for the origins.

    ``origins`` overrides the automatic schedule (``rolling_origins``); every given origin
    must satisfy ``origin + horizon_days <= cutoff``.
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    prepared = prepare_transactions(transactions, returns, events, customers)
    if origins is None:
        origins, label_horizon = rolling_origins(
            cutoff,
            horizon_days,
            prepared.data_start,
            step_days=step_days,
            max_origins=max_origins,
            min_history_days=min_history_days,
            min_origins=min_origins,
        )
    else:
        origins = sorted({pd.Timestamp(o).normalize() for o in origins}, reverse=True)
        label_horizon = int(horizon_days)
        late = [o for o in origins if o + pd.Timedelta(days=label_horizon) > cutoff]
        if late:
            raise DataError(
                f"origins {[str(o.date()) for o in late]}: their {label_horizon}-day label "
                f"windows reach the cutoff {cutoff.date()}; use origins on or before "
                f"{(cutoff - pd.Timedelta(days=label_horizon)).date()}."
            )
    all_origins = [*origins, cutoff]
    features = behavioural_features_panel(
        prepared, all_origins, windows=windows, horizon_days=label_horizon
    )
    btyd_columns: list[str] = []
    btyd_params: dict = {}
    if btyd:
        frames = {}
        for origin in all_origins:
            frames[origin], btyd_params[str(origin.date())] = btyd_origin_features(
                transactions, origin, label_horizon
            )
        btyd_frame = pd.concat(frames, names=["origin", "customer_id"])
        btyd_columns = list(btyd_frame.columns)
        features = features.join(btyd_frame, how="left")
    labels = origin_labels(transactions, origins, label_horizon)
    train_index = features.index[features.index.get_level_values("origin") < cutoff]
    labels = labels.reindex(train_index)
    labels = pd.DataFrame(
        {
            "churned": labels["purchase_days_next"].isna().astype("int8"),
            "revenue_next": labels["revenue_next"].fillna(0.0),
        },
        index=train_index,
    )
    return RollingOriginPanel(
        features=features,
        labels=labels,
        cutoff=cutoff,
        horizon_days=int(horizon_days),
        label_horizon_days=label_horizon,
        origins=list(origins),
        btyd_columns=btyd_columns,
        btyd_params=btyd_params,
    )


def build_sampled_panel(
    transactions: pd.DataFrame,
    cutoff,
    horizon_days: int,
    training_customers: pd.Index,
    returns: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    **settings,
) -> RollingOriginPanel:
    """``build_rolling_origin_panel`` whose training origins hold only ``training_customers``
    (a seeded sample, ``hybrid_churn.stable_sample``) and whose cutoff rows hold every
    customer: training time and memory stay bounded on a large shop, while every customer is
    still scored. ``settings``: the other keywords of ``build_rolling_origin_panel``.

    The sample's panel is built first (its origins and label horizon); the cutoff rows are then
    computed on all the data with that label horizon, exactly as the full panel computes them.
    """
    def sample(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        if frame is None:
            return None
        return frame.loc[frame["customer_id"].isin(training_customers)]

    panel = build_rolling_origin_panel(
        sample(transactions), cutoff, horizon_days, returns=sample(returns),
        events=sample(events), customers=sample(customers), **settings)
    settings = {k: v for k, v in settings.items()
                if k not in ("step_days", "max_origins", "min_history_days", "min_origins")}
    everyone = build_rolling_origin_panel(
        transactions, cutoff, panel.label_horizon_days, returns=returns, events=events,
        customers=customers, origins=[], **settings)
    training = panel.features.loc[panel.features.index.get_level_values("origin") < panel.cutoff]
    features = pd.concat([training, everyone.features.reindex(columns=training.columns)])
    for column in training.columns[training.dtypes == "category"]:
        levels = sorted(set(training[column].cat.categories)
                        | set(everyone.features[column].cat.categories))
        features[column] = pd.Categorical(features[column].astype("object"), categories=levels)
    btyd_params = {**panel.btyd_params, **everyone.btyd_params}
    return replace(panel, features=features, btyd_params=btyd_params)


def same_season_origins(
    origins: Sequence[pd.Timestamp], cutoff, tolerance_days: int = SEASON_TOLERANCE_DAYS
) -> list[pd.Timestamp]:
    """Origins within ``tolerance_days`` of ``cutoff - 365 k`` days (k >= 1): their label
    windows cover the same part of the year as the window after the cutoff."""
    cutoff = pd.Timestamp(cutoff).normalize()
    out = []
    for origin in origins:
        gap = (cutoff - pd.Timestamp(origin)).days
        years = round(gap / DAYS_PER_YEAR)
        if years >= 1 and abs(gap - DAYS_PER_YEAR * years) <= tolerance_days:
            out.append(pd.Timestamp(origin))
    return out

