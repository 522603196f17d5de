"""Tests of the uplift model and the budget allocation (scoring.campaign.uplift / .allocate).

A seeded simulation with known truth: two treatment arms (half and full policy bonus) and a
control, conversion lifted most for churn-prone customers with a purchase history, revenue
zero for non-buyers; potential outcomes of every arm share the random numbers, so the true
individual effects and redemptions are known.
"""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from scoring.campaign.allocate import (
    ALLOCATION_COLUMNS,
    allocate_by_uplift,
    allocate_by_value_at_risk,
    allocate_oracle,
    budget_curve,
    hull_steps,
    true_incremental_profit,
    true_spend,
)
from scoring.campaign.uplift import (
    DERIVED_FEATURES,
    LEARNERS,
    UPLIFT_FEATURES,
    UpliftModel,
    cross_fitted_effects,
    qini_coefficient,
    uplift_features,
    with_derived_features,
)

MULTIPLIER = {"control": 0.0, "bonus_50": 0.5, "bonus_100": 1.0}
STRENGTH = {"control": 0.0, "bonus_50": 0.6, "bonus_100": 1.0}  # concave in the bonus
N, N_TRAIN = 8000, 6000
# The simulation's y is revenue and X has no expected order value: the tests of the learners
# use the revenue design (value_column=None); the orders x value design is tested below.
FAST = {"n_estimators": 100, "num_leaves": 7, "min_child_samples": 100, "value_column": None}
REVENUE = {"value_column": None}


def simulate(n: int = N, seed: int = 0):
    """(X, arm, y, truth): features, assigned arm, window revenue, potential outcomes."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 2, n)
    clv = rng.lognormal(5.0, 0.6, n)
    var = p * clv
    policy_bonus = np.clip(np.floor(0.1 * var / 5) * 5, 5, None)
    pre_orders = rng.poisson(1 + 4 * (1 - p))
    pre_revenue = pre_orders * clv / 6 * rng.lognormal(0, 0.3, n)
    stage = rng.choice(["first_time", "second_order", "loyal", "lapsed"], n)
    tier = pd.cut(clv, [0, 100, 200, 400, np.inf], labels=["low", "medium", "high", "vip"])
    q0 = 0.05 + 0.4 * (1 - p)
    response = p**2 * np.minimum(pre_orders, 3) / 3 * np.where(stage == "lapsed", 0.2, 1.0)
    basket = clv / 4
    u = rng.random(n)
    noise = rng.lognormal(-0.02, 0.2, n)
    arm = rng.choice(list(MULTIPLIER), n)
    X = pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(n)],
            "churn_probability": p, "predicted_clv_12m": clv, "value_at_risk": var,
            "policy_bonus": policy_bonus, "pre_orders": pre_orders, "pre_revenue": pre_revenue,
            "value_tier": tier.astype(str), "lifecycle_stage": stage,
        }
    )
    truth = {}
    for a in MULTIPLIER:
        q = q0 + (1 - q0) * response * STRENGTH[a]
        conv = u < q
        truth[f"conv_{a}"] = conv
        truth[f"rev_{a}"] = conv * basket * noise
        truth[f"tau_{a}"] = (q - q0) * basket  # expected incremental revenue, currency
    truth = pd.DataFrame(truth)
    y = np.select([arm == a for a in MULTIPLIER], [truth[f"rev_{a}"] for a in MULTIPLIER])
    return X, arm, y, truth


@pytest.fixture(scope="module")
def data():
    return simulate()


@pytest.fixture(scope="module")
def fitted(data):
    X, arm, y, _ = data
    return UpliftModel(learner="auto", n_folds=3, **FAST).fit(
        X.iloc[:N_TRAIN], arm[:N_TRAIN], y[:N_TRAIN]
    )


# --- uplift model -------------------------------------------------------------------------


def test_features_are_those_present(data):
    X = data[0]
    assert uplift_features(X) == [c for c in UPLIFT_FEATURES if c in X.columns]
    assert "customer_id" not in uplift_features(X)
    assert "days_since_last_order" not in uplift_features(X)


def test_auto_picks_a_learner_by_cross_fitted_qini(fitted):
    assert set(fitted.cv_qini_) == set(LEARNERS)
    assert all(np.isfinite(v) for v in fitted.cv_qini_.values())
    assert fitted.learner_ == max(fitted.cv_qini_, key=fitted.cv_qini_.get)
    assert fitted.arms_ == ["bonus_100", "bonus_50"]
    oof = fitted.oof_effect_
    assert oof.shape == (N_TRAIN, 2) and list(oof.columns) == fitted.arms_
    assert np.isfinite(oof.to_numpy()).all()
    assert fitted.cv_qini_[fitted.learner_] > 0  # better than random targeting
    assert fitted.propensity_ == pytest.approx({"bonus_100": 0.5, "bonus_50": 0.5}, abs=0.03)


def test_recovers_effect_ranking_on_held_out_rows(data, fitted):
    X, _, _, truth = data
    pred = fitted.predict(X.iloc[N_TRAIN:])
    assert pred.shape == (N - N_TRAIN, 2) and list(pred.columns) == fitted.arms_
    held = truth.iloc[N_TRAIN:]
    corr = {a: np.corrcoef(pred[a], held[f"tau_{a}"])[0, 1] for a in fitted.arms_}
    assert corr["bonus_100"] > 0.5, corr
    assert corr["bonus_50"] > 0.4, corr
    # the average effect is about right (currency)
    assert pred["bonus_100"].mean() == pytest.approx(held["tau_bonus_100"].mean(), rel=0.35)


@pytest.mark.parametrize("learner", LEARNERS)
def test_every_learner_runs(data, learner):
    X, arm, y, truth = data
    model = UpliftModel(learner=learner, n_folds=0, **FAST).fit(
        X.iloc[:N_TRAIN], arm[:N_TRAIN], y[:N_TRAIN]
    )
    assert model.learner_ == learner and model.oof_effect_ is None and model.cv_qini_ == {}
    pred = model.predict(X.iloc[N_TRAIN:])
    assert np.isfinite(pred.to_numpy()).all()
    corr = np.corrcoef(pred["bonus_100"], truth["tau_bonus_100"].iloc[N_TRAIN:])[0, 1]
    assert corr > 0.4


def test_deterministic_with_random_state(data):
    X, arm, y, _ = data
    rows = slice(0, 3000)
    a = UpliftModel(learner="x", n_folds=2, random_state=3, **FAST).fit(X[rows], arm[rows], y[rows])
    b = UpliftModel(learner="x", n_folds=2, random_state=3, **FAST).fit(X[rows], arm[rows], y[rows])
    pd.testing.assert_frame_equal(a.oof_effect_, b.oof_effect_)
    pd.testing.assert_frame_equal(a.predict(X.iloc[N_TRAIN:]), b.predict(X.iloc[N_TRAIN:]))
    assert a.cv_qini_ == b.cv_qini_


def test_pickle_and_clone(data, fitted):
    X = data[0].iloc[N_TRAIN:]
    restored = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(restored.predict(X), fitted.predict(X))
    fresh = clone(fitted)
    assert fresh.get_params() == fitted.get_params()
    assert not hasattr(fresh, "model_")
    with pytest.raises(NotFittedError):
        fresh.predict(X)


def test_predict_is_independent_of_the_batch(data, fitted):
    X = data[0].iloc[N_TRAIN:]
    full = fitted.predict(X)
    permuted = fitted.predict(X.sample(frac=1.0, random_state=1))
    pd.testing.assert_frame_equal(permuted.loc[full.index], full)
    halves = pd.concat([fitted.predict(X.iloc[:7]), fitted.predict(X.iloc[7:])])
    pd.testing.assert_frame_equal(halves, full)
    one = fitted.predict(X.iloc[[5]])
    pd.testing.assert_frame_equal(one, full.iloc[[5]])


def test_unseen_and_missing_categories_predict(data, fitted):
    X = data[0].iloc[N_TRAIN:N_TRAIN + 3].copy()
    X["lifecycle_stage"] = ["brand_new", None, "loyal"]
    assert np.isfinite(fitted.predict(X).to_numpy()).all()


def test_cross_fitted_effects_matches_model(data):
    X, arm, y, _ = data
    rows = slice(0, 2000)
    model = UpliftModel(learner="t", n_folds=2, **FAST)
    oof = cross_fitted_effects(model, X[rows], arm[rows], y[rows])
    fitted = clone(model).fit(X[rows], arm[rows], y[rows])
    pd.testing.assert_frame_equal(oof, fitted.oof_effect_)


def test_qini_coefficient_is_causalml_summed_over_arms(data):
    from causalml.metrics import qini_score

    _, arm, y, truth = data
    effect = pd.DataFrame({a: truth[f"tau_{a}"] for a in ("bonus_100", "bonus_50")})
    expected = 0.0
    for a in effect.columns:
        rows = (arm == a) | (arm == "control")
        frame = pd.DataFrame({"s": effect[a][rows], "y": y[rows], "w": (arm[rows] == a) * 1})
        expected += float(qini_score(frame, "y", "w", "none", normalize=False)["s"])
    assert qini_coefficient(effect, arm, y) == pytest.approx(expected)
    noise = pd.DataFrame(np.random.default_rng(0).random((N, 2)), columns=effect.columns)
    assert qini_coefficient(effect, arm, y) > qini_coefficient(noise, arm, y)


def test_model_input_validation(data):
    X, arm, y, _ = data
    X, arm, y = X.iloc[:500], arm[:500], y[:500]
    with pytest.raises(ValueError, match="learner"):
        UpliftModel(learner="s", **REVENUE).fit(X, arm, y)
    with pytest.raises(ValueError, match="control"):
        UpliftModel(learner="t", n_folds=0, **REVENUE).fit(X, np.where(arm == "control", "x", arm), y)
    with pytest.raises(ValueError, match="treatment arm"):
        UpliftModel(learner="t", n_folds=0, **REVENUE).fit(X, np.full(500, "control"), y)
    with pytest.raises(ValueError, match="missing or infinite"):
        UpliftModel(learner="t", n_folds=0, **REVENUE).fit(X, arm, np.where(np.arange(500) == 3, np.nan, y))
    with pytest.raises(ValueError, match="rows"):
        UpliftModel(learner="t", n_folds=0, **REVENUE).fit(X, arm[:-1], y)
    with pytest.raises(ValueError, match="n_folds"):
        UpliftModel(learner="auto", n_folds=1, **REVENUE).fit(X, arm, y)
    model = UpliftModel(learner="t", n_folds=0, **FAST).fit(X, arm, y)
    with pytest.raises(ValueError, match="missing the feature"):
        model.predict(X.drop(columns="pre_orders"))


# --- the orders x expected order value design (value_column) -------------------------------


def orders_data(data):
    """The simulation as orders and a value per order: a converter makes one order worth
    ``basket`` (= predicted_clv_12m / 4) times noise, so tau_orders(x) * basket = tau(x)."""
    X, arm, y, truth = data
    X = X.assign(expected_order_value=X["predicted_clv_12m"] / 4)
    orders = (y > 0).astype(float)
    return X, arm, orders, y, truth


VALUED = {**FAST, "value_column": "expected_order_value"}
NO_VALUE_FEATURE = ["churn_probability", "predicted_clv_12m", "value_at_risk", "policy_bonus",
                    "pre_orders", "pre_revenue", "value_tier", "lifecycle_stage"]


@pytest.fixture(scope="module")
def valued(data):
    X, arm, orders, y, _ = orders_data(data)
    return UpliftModel(learner="auto", n_folds=3, **VALUED).fit(
        X.iloc[:N_TRAIN], arm[:N_TRAIN], orders[:N_TRAIN], revenue=y[:N_TRAIN])


def test_default_design_values_incremental_orders():
    assert UpliftModel().value_column == "expected_order_value"


def test_valued_effects_are_currency(data, valued):
    X, _, _, _, truth = orders_data(data)
    held = slice(N_TRAIN, N)
    pred = valued.predict(X.iloc[held])
    assert list(pred.columns) == valued.arms_ == ["bonus_100", "bonus_50"]
    corr = {a: np.corrcoef(pred[a], truth[f"tau_{a}"].iloc[held])[0, 1] for a in valued.arms_}
    assert corr["bonus_100"] > 0.5, corr
    # incremental orders x currency per order: the average effect in currency
    assert pred["bonus_100"].mean() == pytest.approx(truth["tau_bonus_100"].iloc[held].mean(),
                                                     rel=0.35)
    # the learner is chosen on revenue: the cross-fitted Qini of the currency effects
    assert valued.cv_qini_[valued.learner_] == pytest.approx(qini_coefficient(
        valued.oof_effect_, data[1][:N_TRAIN], data[2][:N_TRAIN]))


def test_valued_prediction_scales_with_the_value_per_order(data):
    X, arm, orders, y, _ = orders_data(data)
    model = UpliftModel(learner="t", n_folds=0, features=NO_VALUE_FEATURE, **VALUED).fit(
        X.iloc[:3000], arm[:3000], orders[:3000], revenue=y[:3000])
    rows = X.iloc[N_TRAIN:N_TRAIN + 50]
    base = model.predict(rows)
    doubled = model.predict(rows.assign(expected_order_value=2 * rows["expected_order_value"]))
    pd.testing.assert_frame_equal(doubled, 2 * base)
    # a missing value per order is the training median
    gap = rows.assign(expected_order_value=np.nan)
    median = X["expected_order_value"].iloc[:3000].median()
    assert model.value_fill_ == pytest.approx(median)
    pd.testing.assert_frame_equal(model.predict(gap),
                                  base.div(rows["expected_order_value"], axis=0) * median)


def test_valued_model_is_deterministic_and_batch_independent(data, valued):
    X, arm, orders, y, _ = orders_data(data)
    rows = slice(0, 3000)
    a = UpliftModel(learner="auto", n_folds=2, random_state=3, **VALUED).fit(
        X[rows], arm[rows], orders[rows], revenue=y[rows])
    b = UpliftModel(learner="auto", n_folds=2, random_state=3, **VALUED).fit(
        X[rows], arm[rows], orders[rows], revenue=y[rows])
    pd.testing.assert_frame_equal(a.oof_effect_, b.oof_effect_)
    assert a.cv_qini_ == b.cv_qini_
    held = X.iloc[N_TRAIN:]
    pd.testing.assert_frame_equal(a.predict(held), b.predict(held))
    full = valued.predict(held)
    permuted = valued.predict(held.sample(frac=1.0, random_state=1))
    pd.testing.assert_frame_equal(permuted.loc[full.index], full)
    halves = pd.concat([valued.predict(held.iloc[:7]), valued.predict(held.iloc[7:])])
    pd.testing.assert_frame_equal(halves, full)
    pd.testing.assert_frame_equal(valued.predict(held.iloc[[5]]), full.iloc[[5]])
    restored = pickle.loads(pickle.dumps(valued))
    pd.testing.assert_frame_equal(restored.predict(held), full)


def test_valued_model_needs_its_value_column(data):
    X, arm, orders, y, _ = orders_data(data)
    with pytest.raises(ValueError, match="value column"):
        UpliftModel(learner="t", n_folds=0, **VALUED).fit(
            X.drop(columns="expected_order_value").iloc[:500], arm[:500], orders[:500])
    model = UpliftModel(learner="t", n_folds=0, features=NO_VALUE_FEATURE, **VALUED).fit(
        X.iloc[:500], arm[:500], orders[:500])
    with pytest.raises(ValueError, match="value column"):
        model.predict(X.drop(columns="expected_order_value").iloc[500:510])


def test_derived_features_are_computed_in_fit_and_predict(data):
    X, arm, orders, y, _ = orders_data(data)
    X = X.assign(days_since_last_order=np.linspace(1, 400, N), expected_orders_90d=0.9)
    derived = with_derived_features(X)
    assert list(DERIVED_FEATURES) == ["order_gaps_since_last"]
    np.testing.assert_allclose(derived["order_gaps_since_last"],
                               X["days_since_last_order"] * 0.9 / 90)
    assert "order_gaps_since_last" not in with_derived_features(data[0])  # inputs missing
    assert "order_gaps_since_last" not in uplift_features(derived)  # opt-in
    features = [*uplift_features(X), "order_gaps_since_last"]
    model = UpliftModel(learner="t", n_folds=0, features=features, **VALUED).fit(
        X.iloc[:2000], arm[:2000], orders[:2000])
    assert "order_gaps_since_last" in model.feature_names_
    held = X.iloc[N_TRAIN:N_TRAIN + 20]  # without the derived column: computed in predict
    pd.testing.assert_frame_equal(model.predict(held), model.predict(with_derived_features(held)))


# --- allocation ---------------------------------------------------------------------------


def _brute_force(effect, cost, charge, budget):
    """Best total profit choosing at most one option per customer within the budget."""
    n, k = effect.shape
    best = 0.0
    for choice in itertools.product(range(-1, k), repeat=n):
        used = sum(charge[i, c] for i, c in enumerate(choice) if c >= 0)
        if used <= budget + 1e-9:
            best = max(best, sum(effect[i, c] - cost[i, c] for i, c in enumerate(choice) if c >= 0))
    return best


def test_greedy_with_upgrades_matches_brute_force_on_tiny_cases():
    rng = np.random.default_rng(7)
    exact_hits = 0
    for _ in range(40):
        n, k = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        bonus = rng.integers(0, 6, (n, k)).astype(float)
        effect = rng.integers(-2, 12, (n, k)).astype(float)
        ids = [f"c{i}" for i in range(n)]
        profit = effect - bonus
        vertex, ratio = hull_steps(bonus, profit)
        prev_charge = np.zeros(n)
        prev_profit = np.zeros(n)
        max_step = 0.0
        for s in range(k):
            has = vertex[:, s] >= 0
            v = np.maximum(vertex[:, s], 0)
            step = np.where(has, profit[np.arange(n), v] - prev_profit, 0.0)
            max_step = max(max_step, float(step.max()))
            prev_charge = np.where(has, bonus[np.arange(n), v], prev_charge)
            prev_profit = np.where(has, profit[np.arange(n), v], prev_profit)
        for budget in range(0, int(bonus.sum()) + 2):
            alloc = allocate_by_uplift(ids, effect, bonus, budget)
            got = float(alloc["expected_incremental_profit"].sum())
            spent = float(alloc["expected_bonus_cost"].sum())
            assert spent <= budget + 1e-9
            opt = _brute_force(effect, bonus, bonus, budget)
            assert got <= opt + 1e-9
            assert got >= opt - max_step - 1e-9  # the documented bound
            unlimited = allocate_by_uplift(ids, effect, bonus, None)
            if spent == budget or alloc["option"].equals(unlimited["option"]):
                assert got == pytest.approx(opt)  # LP optimum integral: greedy is optimal
                exact_hits += 1
    assert exact_hits > 60


def test_unlimited_budget_gives_each_customer_its_most_profitable_option():
    rng = np.random.default_rng(1)
    effect = rng.normal(10, 8, (200, 3))
    bonus = rng.uniform(1, 12, (200, 3))
    red = rng.uniform(0.2, 1, (200, 3))
    alloc = allocate_by_uplift(np.arange(200), effect, bonus, None, redemption=red)
    profit = effect - red * bonus
    best = np.where(profit.max(axis=1) > 0, profit.argmax(axis=1), -1)
    np.testing.assert_array_equal(alloc["option"], best)
    assert list(alloc.columns) == list(ALLOCATION_COLUMNS)


def test_hull_skips_dominated_options_and_orders_upgrades():
    # A: charge 10 profit 1 lies under the chord none -> B (20, 30): never chosen
    vertex, ratio = hull_steps(np.array([[10.0, 20.0]]), np.array([[1.0, 30.0]]))
    assert vertex[0].tolist() == [1, -1] and ratio[0, 0] == pytest.approx(1.5)
    # concave: none -> A (ratio 1) -> B (ratio 0.5)
    vertex, ratio = hull_steps(np.array([[10.0, 20.0]]), np.array([[10.0, 15.0]]))
    assert vertex[0].tolist() == [0, 1] and ratio[0].tolist() == [1.0, 0.5]
    # a free option with positive profit is a step of infinite ratio
    vertex, ratio = hull_steps(np.array([[0.0, 5.0]]), np.array([[2.0, 3.0]]))
    assert vertex[0].tolist() == [0, 1] and np.isinf(ratio[0, 0])


def test_upgrade_competes_with_new_customers():
    # a: small bonus 10 -> profit 20 (2/unit), upgrade +10 -> +5 (0.5/unit)
    # b: bonus 10 -> profit 10 (1/unit). Budget 20: a small, then b, not a's upgrade.
    effect = np.array([[30.0, 45.0], [20.0, 20.0]])
    bonus = np.array([[10.0, 20.0], [10.0, 20.0]])
    alloc = allocate_by_uplift(["a", "b"], effect, bonus, 20)
    assert alloc["option"].tolist() == [0, 0]
    alloc = allocate_by_uplift(["a", "b"], effect, bonus, 30)
    assert alloc["option"].tolist() == [1, 0]


def test_never_exceeds_budget_and_prefers_profit_per_unit():
    rng = np.random.default_rng(2)
    n = 500
    effect = rng.gamma(2, 10, (n, 2))
    bonus = np.column_stack([rng.uniform(2, 10, n), rng.uniform(10, 20, n)])
    red = rng.uniform(0.3, 1.0, (n, 2))
    ids = np.array([f"C{i:04d}" for i in range(n)])
    for basis in ("expected", "face"):
        for budget in (0, 10, 100, 1000, 5000):
            alloc = allocate_by_uplift(ids, effect, bonus, budget, red, budget_basis=basis)
            charged = alloc["expected_bonus_cost"] if basis == "expected" else alloc["bonus_amount"]
            assert charged.sum() <= budget + 1e-9
            assert (alloc.loc[alloc["option"] >= 0, "expected_incremental_profit"] > 0).all()
    # single option: funded customers have the best profit per unit
    alloc = allocate_by_uplift(ids, effect[:, :1], bonus[:, :1], 300)
    per_unit = (effect[:, 0] - bonus[:, 0]) / bonus[:, 0]
    funded = alloc["option"].to_numpy() >= 0
    assert funded.any() and per_unit[funded].min() >= per_unit[~funded].max()


def test_ties_are_broken_by_customer_id_whatever_the_row_order():
    ids = np.array(["c3", "c1", "c2", "c0"])
    effect = np.full((4, 1), 20.0)
    bonus = np.full((4, 1), 10.0)
    alloc = allocate_by_uplift(ids, effect, bonus, 20)
    assert sorted(alloc.loc[alloc["option"] >= 0, "customer_id"]) == ["c0", "c1"]
    order = [2, 0, 3, 1]
    again = allocate_by_uplift(ids[order], effect, bonus, 20)
    assert sorted(again.loc[again["option"] >= 0, "customer_id"]) == ["c0", "c1"]


def test_value_at_risk_rule():
    ids = ["a", "b", "c", "d"]
    var = np.array([100.0, 50.0, 90.0, 10.0])
    bonus = np.array([10.0, 10.0, 5.0, 0.0])
    alloc = allocate_by_value_at_risk(ids, var, bonus, 15, option=1)
    # per unit: c 18, a 10, b 5; budget 15 funds c and a
    assert alloc["option"].tolist() == [1, -1, 1, -1]
    assert alloc["bonus_amount"].sum() == 15
    assert alloc["expected_incremental_profit"].isna().sum() == 2
    # prefix: the first bonus that does not fit ends the allocation
    assert allocate_by_value_at_risk(ids, var, bonus, 12, option=1)["option"].tolist() == [-1, -1, 1, -1]


def test_oracle_beats_uplift_beats_random_on_held_out_rows(data, fitted):
    X, arm, y, truth = data
    held = slice(N_TRAIN, N)
    Xh, th = X.iloc[held], truth.iloc[held]
    arms = fitted.arms_
    face = np.column_stack([MULTIPLIER[a] * Xh["policy_bonus"].to_numpy() for a in arms])
    true_effect = np.column_stack([th[f"rev_{a}"] - th["rev_control"] for a in arms])
    redeemed = np.column_stack([th[f"conv_{a}"].to_numpy() for a in arms])
    true_cost = face * redeemed
    # redemption estimate: the arm's conversion rate in the training campaign
    train_arm = arm[:N_TRAIN]
    rate = [(y[:N_TRAIN][train_arm == a] > 0).mean() for a in arms]
    redemption = np.broadcast_to(rate, face.shape)
    ids = Xh["customer_id"].to_numpy()
    budget = 0.15 * face[:, arms.index("bonus_100")].sum()
    full = arms.index("bonus_100")
    rules = {
        "oracle": lambda b: allocate_oracle(ids, true_effect, face, b, redeemed),
        "uplift": lambda b: allocate_by_uplift(ids, fitted.predict(Xh).to_numpy(), face, b,
                                               redemption),
        "value_at_risk": lambda b: allocate_by_value_at_risk(
            ids, Xh["value_at_risk"], Xh["policy_bonus"], b, option=full),
        "random": lambda b: allocate_by_value_at_risk(
            ids, np.random.default_rng(0).random(len(ids)), Xh["policy_bonus"], b, option=full),
    }
    profit = {name: true_incremental_profit(rule(budget), true_effect, true_cost)
              for name, rule in rules.items()}
    assert profit["oracle"] >= profit["uplift"] >= profit["random"], profit
    assert profit["uplift"] > 0
    assert true_spend(rules["oracle"](budget), true_cost) <= budget + 1e-9
    curve = budget_curve([0, budget / 2, budget], rules, true_effect, true_cost)
    assert curve.shape == (12, 5)
    assert (curve.loc[curve["budget"] == 0, "true_incremental_profit"] == 0).all()
    last = curve[curve["budget"] == budget].set_index("rule")["true_incremental_profit"]
    assert last.to_dict() == pytest.approx(profit)


def test_allocation_input_validation():
    ids = ["a", "b"]
    effect = np.ones((2, 2))
    bonus = np.ones((2, 2))
    with pytest.raises(ValueError, match="shape"):
        allocate_by_uplift(ids, effect, np.ones((2, 3)), 10)
    with pytest.raises(ValueError, match="shape"):
        allocate_by_uplift(["a"], effect, bonus, 10)
    with pytest.raises(ValueError, match="missing or infinite"):
        allocate_by_uplift(ids, np.array([[1.0, np.nan], [1.0, 1.0]]), bonus, 10)
    with pytest.raises(ValueError, match="negative"):
        allocate_by_uplift(ids, effect, -bonus, 10)
    with pytest.raises(ValueError, match="probabilities"):
        allocate_by_uplift(ids, effect, bonus, 10, redemption=np.full((2, 2), 1.5))
    with pytest.raises(ValueError, match="duplicates"):
        allocate_by_uplift(["a", "a"], effect, bonus, 10)
    with pytest.raises(ValueError, match="budget"):
        allocate_by_uplift(ids, effect, bonus, -1)
    with pytest.raises(ValueError, match="budget_basis"):
        allocate_by_uplift(ids, effect, bonus, 10, budget_basis="other")
    with pytest.raises(ValueError, match="boolean"):
        allocate_oracle(ids, effect, bonus, 10, redeemed=np.ones((2, 2)))
    with pytest.raises(ValueError, match="negative"):
        allocate_by_value_at_risk(ids, [1.0, 2.0], [1.0, -2.0], 10)
    with pytest.raises(ValueError, match="out of range"):
        true_incremental_profit(pd.DataFrame({"option": [0, 5]}), effect, bonus)


# --- redemption model ---------------------------------------------------------------------


def test_redemption_model_predicts_the_conversion_of_treated_customers_per_arm(data):
    from scoring.campaign.redemption import RedemptionModel

    X, arm, _, truth = data
    converted = np.select([arm == a for a in MULTIPLIER],
                          [truth[f"conv_{a}"] for a in MULTIPLIER])
    multipliers = {a: m for a, m in MULTIPLIER.items() if a != "control"}
    model = RedemptionModel(n_estimators=50).fit(X.iloc[:N_TRAIN], arm[:N_TRAIN],
                                                 converted[:N_TRAIN], multipliers)
    test = X.iloc[N_TRAIN:]
    proba = model.predict(test)
    assert list(proba.columns) == sorted(multipliers) and proba.index.equals(test.index)
    assert ((proba >= 0) & (proba <= 1)).all().all()
    # calibrated on average: close to the treated customers' conversion on unseen rows
    treated = arm[N_TRAIN:] != "control"
    observed = converted[N_TRAIN:][treated].mean()
    assert abs(proba.to_numpy().mean() - observed) < 0.05
    # per row: the same whatever the batch
    pd.testing.assert_frame_equal(model.predict(test.iloc[::-1]).sort_index(),
                                  proba.sort_index())
    pickle.loads(pickle.dumps(model))
