"""Rolling origins, the training panel and the LightGBM churn / revenue models (CDNOW sample)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.data import load_dataset
from scoring.data.errors import DataError
from scoring.features.rfm import rfm_summary
from scoring.models.lgbm import (
    LGBMChurnModel,
    LGBMRevenueModel,
    NBDModel,
    build_rolling_origin_panel,
    rolling_origins,
    same_season_origins,
)

CUTOFF = pd.Timestamp("1997-10-01")
HORIZON = 273
FAST = {"n_estimators": 30, "n_folds": 3}


@pytest.fixture(scope="module")
def shop():
    return load_dataset("cdnow-sample")


@pytest.fixture(scope="module")
def panel(shop):
    return build_rolling_origin_panel(shop.transactions, CUTOFF, HORIZON, btyd=True)


@pytest.mark.parametrize("cutoff", ["2010-06-09", "2011-01-15", "2011-06-09", "2011-12-01"])
@pytest.mark.parametrize("horizon", [30, 90, 182, 365])
@pytest.mark.parametrize("step", [7, 28])
def test_rolling_origins_never_reach_the_cutoff(cutoff, horizon, step):
    start = pd.Timestamp("2009-12-01")
    cutoff = pd.Timestamp(cutoff)
    try:
        origins, label_horizon = rolling_origins(cutoff, horizon, start, step_days=step)
    except DataError:
        assert (cutoff - start).days < 90 + 2 * step + 1
        return
    assert 1 <= label_horizon <= horizon
    assert len(origins) >= 3
    assert origins == sorted(origins, reverse=True)
    for origin in origins:
        assert origin + pd.Timedelta(days=label_horizon) <= cutoff
        assert origin >= start + pd.Timedelta(days=90)


def test_anniversary_origin_is_added():
    origins, h = rolling_origins("2011-06-09", 182, "2009-12-01", step_days=28)
    assert h == 182
    assert pd.Timestamp("2010-06-09") in origins
    assert same_season_origins(origins, "2011-06-09") == [pd.Timestamp("2010-06-09")]


def test_short_history_shrinks_the_label_horizon(panel):
    # CDNOW: 9 months of history before a 273-day horizon
    assert panel.label_horizon_days < HORIZON
    assert len(panel.origins) >= 3
    assert max(panel.origins) + pd.Timedelta(days=panel.label_horizon_days) == CUTOFF


def test_panel_ignores_everything_at_or_after_the_cutoff(shop, panel):
    tx = shop.transactions
    rng = np.random.default_rng(0)
    future = tx.sample(n=800, random_state=0).copy()
    future["timestamp"] = CUTOFF + pd.to_timedelta(
        rng.integers(0, 300 * 24 * 60, len(future)), unit="min"
    )
    future["amount"] *= 5
    with_future = build_rolling_origin_panel(
        pd.concat([tx, future], ignore_index=True), CUTOFF, HORIZON, btyd=True
    )
    features, labels = panel.training()
    features_f, labels_f = with_future.training()
    pd.testing.assert_frame_equal(labels, labels_f)
    pd.testing.assert_frame_equal(features, features_f)
    pd.testing.assert_frame_equal(panel.at_cutoff(), with_future.at_cutoff())
    # labels: churned = no order in [origin, origin + h)
    assert set(labels["churned"].unique()) == {0, 1}
    assert (labels.loc[labels["churned"] == 1, "revenue_next"] == 0).all()


def test_explicit_origins_that_reach_the_cutoff_are_refused(shop):
    with pytest.raises(DataError, match="reach the cutoff"):
        build_rolling_origin_panel(
            shop.transactions, CUTOFF, 90, btyd=False, origins=["1997-07-15"]
        )


def test_churn_model_is_reproducible_and_calibrated(panel):
    x = panel.at_cutoff()
    first = LGBMChurnModel(HORIZON, use_btyd=True, random_state=0, **FAST).fit(panel=panel)
    second = LGBMChurnModel(HORIZON, use_btyd=True, random_state=0, **FAST).fit(panel=panel)
    p1, p2 = first.predict_proba(x), second.predict_proba(x)
    pd.testing.assert_series_equal(p1, p2)
    assert p1.name == "churn_probability" and p1.index.equals(x.index)
    assert ((p1 >= 0) & (p1 <= 1)).all()
    assert len(first.boosters_) == 3 and first.oof_raw_.notna().all()
    for calibration in ("platt", None, "btyd_level"):
        other = first.with_calibration(calibration)
        p = other.predict_proba(x)
        assert ((p > 0) & (p < 1)).all()
        # calibration never changes the ranking much (isotonic may create ties)
        assert np.corrcoef(p.rank(), p1.rank())[0, 1] > 0.95
    anchored = first.with_calibration("btyd_level").predict_proba(x)
    assert anchored.mean() == pytest.approx(x["btyd_churn_probability"].mean(), abs=1e-6)
    assert first.feature_importance().index[0] in first.feature_names_


def test_plain_model_runs_without_btyd_columns(shop):
    panel = build_rolling_origin_panel(shop.transactions, CUTOFF, HORIZON, btyd=False)
    model = LGBMChurnModel(HORIZON, use_btyd=False, **FAST).fit(panel=panel)
    assert not any(c.startswith("btyd_") for c in model.feature_names_)
    with pytest.raises(DataError, match="btyd=True"):
        LGBMChurnModel(HORIZON, use_btyd=True, **FAST).fit(panel=panel)


def test_fit_from_transactions_matches_fit_on_panel(shop, panel):
    x = panel.at_cutoff()
    direct = LGBMRevenueModel(HORIZON, use_btyd=True, **FAST).fit(shop.transactions, CUTOFF)
    on_panel = LGBMRevenueModel(HORIZON, use_btyd=True, **FAST).fit(panel=panel)
    pd.testing.assert_series_equal(direct.predict(x), on_panel.predict(x))


def test_revenue_model_scales(panel):
    x = panel.at_cutoff()
    model = LGBMRevenueModel(HORIZON, use_btyd=True, **FAST).fit(panel=panel)
    predicted = model.predict(x)
    assert predicted.name == "predicted_revenue" and (predicted >= 0).all()
    # "scale": on the latest origin the out-of-fold total matches the actual total, and the
    # H / h horizon ratio is applied on top
    origin = model.oof_raw_.index.get_level_values("origin")
    latest = np.asarray(origin == max(model.origins_))
    oof_total = np.exp(model.oof_raw_[latest]).sum()
    actual_total = model.train_labels_.loc[latest, "revenue_next"].sum()
    ratio = HORIZON / model.label_horizon_days_
    assert model.scale_ == pytest.approx(ratio * actual_total / oof_total)
    anchored = model.with_calibration("btyd_level")
    total = anchored.predict(x).sum()
    assert total == pytest.approx(x["btyd_predicted_revenue"].sum() * anchored.level_ratio_)
    # CDNOW has no same-season origin: the level ratio comes from the latest origin
    assert anchored.level_origins_ == [str(max(model.origins_).date())]


def test_nbd_fallback_model(shop):
    rfm = rfm_summary(shop.transactions, CUTOFF - pd.Timedelta(days=1))
    model = NBDModel().fit(rfm)
    assert model.params_["r"] > 0 and model.params_["alpha"] > 0
    short, long = model.prob_no_order(rfm, 30), model.prob_no_order(rfm, 300)
    assert ((long <= short) & (short <= 1) & (long > 0)).all()
    np.testing.assert_allclose(model.expected_orders(rfm, 300), 10 * model.expected_orders(rfm, 30))
    assert (model.p_alive(rfm) == 1).all()


def test_a_copy_sharing_the_boosters_calibrates_the_same_raw_scores(panel):
    """``proba_from_raw`` / ``predict_from_raw`` on ``predict_raw`` of the model (or of the
    copy ``with_calibration`` makes, which shares its boosters) give exactly
    ``predict_proba`` / ``predict``: the evaluation predicts LightGBM once for the hybrid and
    its anchored copy."""
    x = panel.at_cutoff()
    churn = LGBMChurnModel(HORIZON, use_btyd=True, **FAST).fit(panel=panel)
    revenue = LGBMRevenueModel(HORIZON, use_btyd=True, **FAST).fit(panel=panel)
    churn_raw, revenue_raw = churn.predict_raw(x), revenue.predict_raw(x)
    reference = x["btyd_churn_probability"].to_numpy() * 0.9
    for model in (churn, churn.with_calibration("btyd_level")):
        np.testing.assert_array_equal(model.predict_raw(x), churn_raw)
        pd.testing.assert_series_equal(model.proba_from_raw(churn_raw, x, reference),
                                       model.predict_proba(x, reference=reference))
    for model in (revenue, revenue.with_calibration("btyd_level")):
        np.testing.assert_array_equal(model.predict_raw(x), revenue_raw)
        pd.testing.assert_series_equal(model.predict_from_raw(revenue_raw, x),
                                       model.predict(x))
