"""Logic the notebooks used to carry, now in the package: monthly activity, the P(alive)
matrix, expected vs actual holdout purchases by frequency, the trimmed recommender grid and
the product-name lookup (plus the figures drawn from them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from scoring.data import load_dataset
from scoring.data.errors import DataError
from scoring.evaluation import plots
from scoring.evaluation.metrics import holdout_by_frequency_table
from scoring.evaluation.recommend_eval import MODELS, default_config, trimmed_config
from scoring.features.rfm import calibration_and_holdout
from scoring.models.btyd import BetaGeoModel, ParetoNBDModel, p_alive_matrix
from scoring.models.recommend import product_names
from scoring.segments import monthly_activity


@pytest.fixture(scope="module")
def cdnow():
    return calibration_and_holdout(load_dataset("cdnow-sample").transactions, "1997-10-01", 273)


@pytest.fixture(scope="module")
def bgnbd(cdnow):
    return BetaGeoModel().fit(cdnow)


# --- monthly activity ---------------------------------------------------------------------------


def test_monthly_activity_counts_orders_revenue_and_customers():
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "b", "a", "c"],
        "order_id": ["1", "1", "2", "3", "4"],
        "timestamp": pd.to_datetime(["2024-01-03 10:00", "2024-01-03 10:00", "2024-01-20 09:30",
                                     "2024-03-01 00:00", "2024-03-31 23:00"]),
        "amount": [10.0, 5.0, 7.5, 1.0, 2.0],
    })
    monthly = monthly_activity(tx)
    assert list(monthly.columns) == ["orders", "revenue", "customers"]
    assert list(monthly.index) == list(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]))
    assert monthly.index.name == "month"
    assert monthly["orders"].tolist() == [2, 0, 2]  # February has no purchases: zeros
    assert monthly["revenue"].tolist() == [22.5, 0.0, 3.0]
    assert monthly["customers"].tolist() == [2, 0, 2]


def test_monthly_activity_of_online_retail_adds_up():
    tx = load_dataset("online-retail-ii").transactions
    monthly = monthly_activity(tx)
    assert len(monthly) == 25  # December 2009 to December 2011
    assert monthly["revenue"].sum() == pytest.approx(float(tx["amount"].sum()))
    assert monthly["orders"].sum() == tx["order_id"].nunique()  # an order lies in one month


def test_monthly_activity_names_missing_columns():
    with pytest.raises(DataError, match="amount"):
        monthly_activity(pd.DataFrame({"customer_id": [], "order_id": [], "timestamp": []}))


# --- P(alive) matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ParetoNBDModel])
def test_p_alive_matrix_matches_p_alive_per_cell(cdnow, model_cls):
    model = model_cls().fit(cdnow)
    T = float(cdnow["T"].max())
    matrix = p_alive_matrix(model, T, max_frequency=12, n_recency=7)
    assert matrix.shape == (13, 7)
    assert matrix.index.tolist() == list(range(13)) and matrix.index.name == "frequency"
    np.testing.assert_allclose(matrix.columns, np.linspace(0, T, 7))
    assert matrix.columns.name == "recency"
    values = matrix.to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()
    # a few cells against the model on single rows
    for f, j in [(1, 3), (5, 6), (12, 1)]:
        r = matrix.columns[j]
        row = pd.DataFrame({"frequency": [float(f)], "recency": [r], "T": [T]})
        assert matrix.iloc[f, j] == pytest.approx(model.p_alive(row)[0], rel=1e-12)
    # one-time buyers have recency 0: row 0 is P(alive | 0, 0, T) everywhere
    zero = pd.DataFrame({"frequency": [0.0], "recency": [0.0], "T": [T]})
    np.testing.assert_allclose(values[0], model.p_alive(zero)[0], rtol=1e-12)
    # for a repeat buyer, a more recent last purchase means more likely alive
    assert (np.diff(values[1:], axis=1) >= -1e-12).all()


def test_p_alive_matrix_bgnbd_one_time_buyers_are_alive(bgnbd):
    matrix = p_alive_matrix(bgnbd, 200.0, max_frequency=3, n_recency=5)
    np.testing.assert_allclose(matrix.loc[0], 1.0)


def test_p_alive_matrix_refuses_bad_grid(bgnbd):
    for kwargs in ({"T": 0.0}, {"T": 10.0, "max_frequency": -1}, {"T": 10.0, "n_recency": 0}):
        with pytest.raises(DataError, match="p_alive_matrix"):
            p_alive_matrix(bgnbd, **kwargs)


def test_p_alive_figures(cdnow, bgnbd):
    matrix = p_alive_matrix(bgnbd, 270.0, max_frequency=5, n_recency=4)
    fig = plots.p_alive_heatmap(matrix, title="P(alive)")
    assert isinstance(fig, Figure)
    image = fig.axes[0].images[0]
    np.testing.assert_array_equal(image.get_array(), matrix.to_numpy())
    assert image.get_extent() == [0.0, 270.0, -0.5, 5.5]
    fig = plots.p_alive_matrix(bgnbd, rfm=cdnow)  # the evaluation's figure: same computation
    assert fig.axes[0].images[0].get_array().shape[1] == 60


# --- holdout purchases by frequency -------------------------------------------------------------


def test_holdout_by_frequency_table_pools_the_last_group():
    table = holdout_by_frequency_table(
        frequency=[0, 0, 1, 3, 9],
        actual_orders=[0, 1, 2, 4, 6],
        expected_orders={"m": np.array([0.5, 0.5, 1.0, 2.0, 4.0])},
        max_frequency=3,
    )
    assert table.index.tolist() == [0, 1, 3] and table.index.name == "frequency"
    assert list(table.columns) == ["n", "actual", "m"]
    assert table["n"].tolist() == [2, 1, 2]
    assert table["actual"].tolist() == [0.5, 2.0, 5.0]
    assert table["m"].tolist() == [0.5, 1.0, 3.0]


def test_holdout_by_frequency_table_checks_lengths():
    with pytest.raises(DataError, match="expected_orders"):
        holdout_by_frequency_table([0, 1], [0, 1], {"m": [0.0]})


def test_holdout_by_frequency_figure_on_cdnow(cdnow, bgnbd):
    expected = {"BG/NBD": bgnbd.expected_orders(cdnow, 273)}
    table = holdout_by_frequency_table(cdnow["frequency"], cdnow["frequency_holdout"], expected)
    assert table.index.tolist() == list(range(8)) and table["n"].sum() == len(cdnow)
    # BG/NBD's total holdout purchase days within 15% of the actual total (12% under here)
    assert (table["BG/NBD"] * table["n"]).sum() == pytest.approx(
        (table["actual"] * table["n"]).sum(), rel=0.15)
    fig = plots.holdout_by_frequency(cdnow["frequency"], cdnow["frequency_holdout"], expected)
    actual_line, model_line = fig.axes[0].lines
    np.testing.assert_allclose(actual_line.get_ydata(), table["actual"])
    np.testing.assert_allclose(model_line.get_ydata(), table["BG/NBD"])
    assert fig.axes[0].get_xticklabels()[-1].get_text() == "7+"


# --- recommender grid trimming ------------------------------------------------------------------


def test_trimmed_config_keeps_the_first_settings_of_the_listed_models():
    full = default_config()
    models = ["popularity", "buy_again", "item_knn_bm25", "als"]
    config = trimmed_config(models)
    assert config["models"] == models
    assert set(config["grids"]) == set(models)
    for name in models:
        assert config["grids"][name] == full["grids"][name][:1]
    assert config["hybrid"]["collaborative_candidates"] == ["als", "item_knn_bm25"]
    assert config["hybrid"]["weight_step"] == 0.25
    assert config["hybrid"]["components"] == full["hybrid"]["components"]
    two = trimmed_config(["als", "hybrid"], settings_per_model=2, weight_step=0.5)
    assert set(two["grids"]) == {"als"} and two["grids"]["als"] == full["grids"]["als"][:2]
    assert two["hybrid"]["weight_step"] == 0.5
    assert set(trimmed_config(list(MODELS))["grids"]) == set(full["grids"])


def test_trimmed_config_refuses_unknown_models_and_bad_sizes():
    for args in ((["knn"],), (["als"], 0), (["als"], 1, 0.0)):
        with pytest.raises(DataError, match="trimmed_config"):
            trimmed_config(*args)


# --- product-name lookup ------------------------------------------------------------------------


def test_product_names_takes_the_last_named_line():
    tx = pd.DataFrame({
        "product_id": pd.array(["p1", "p2", "p1", "p3", "p2", None], dtype="string"),
        "product_name": pd.array(["old mug", "lamp", "new mug", None, None, "orphan"],
                                 dtype="string"),
    })
    names = product_names(tx)
    assert names.to_dict() == {"p1": "new mug", "p2": "lamp"}  # p3 has no name, None no id
    assert names.index.name == "product_id" and names.dtype == "string"
    recs = pd.Series(["p2", "p3", "p1"])
    assert recs.map(names).tolist() == ["lamp", pd.NA, "new mug"]


def test_product_names_of_online_retail():
    tx = load_dataset("online-retail-ii").transactions
    names = product_names(tx)
    assert names.index.is_unique
    assert set(names.index) == set(tx["product_id"].dropna().loc[tx["product_name"].notna()])
    assert names["85123A"] != ""


def test_product_names_needs_the_columns():
    with pytest.raises(DataError, match="product_name"):
        product_names(pd.DataFrame({"product_id": ["p1"]}))
