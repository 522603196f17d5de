"""The customer scorer: every fitted component in one object, and the per-customer table.

``CustomerScorer.fit(shop, as_of)`` fits, on everything up to the as-of date: the transaction
model (BG/NBD or Pareto/NBD) and Gamma-Gamma spend model, the churn model the evaluation
ships (``churn_model="lgbm_hybrid"``: LightGBM on behavioural and BTYD features, anchored to
BG/NBD, see ``models.hybrid_churn``; or ``"btyd"``: the transaction model's P(no order)),
and the recommender the evaluation ships. ``score`` turns a shop's tables into the
scoring table, in two steps:

1. ``score_customers`` (per customer, no population statistics): activity, BTYD outputs,
   churn probability, CLV, flags, recommendations. Customers are independent given the fitted
   models, so this step can run on any partition of customers (the Spark engine runs it per
   customer bucket with ``applyInPandas``).
2. ``finalize`` (population level): RFM quintile scores and segments, lifecycle stage, leads
   from the profile table, value tiers, offers, bonus budget, control groups.

Prediction conventions: ``as_of`` is the last day of data (``scoring.timeframe.ScoringMoment``;
every ``as_of`` argument takes a date-like or a ScoringMoment); predictions cover the days from
its cutoff (the next day) on.
``churn_probability`` = P(no order in the next ``churn_horizon_days`` (90) days), from the
churn model; ``p_alive``, ``expected_orders_90d`` and the next-order date from the transaction
model;
``predicted_clv_12m`` = discounted expected revenue over 12 months (BTYD x Gamma-Gamma, monthly
discount rate ``monthly_discount_rate``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from ._memory import release_memory
from .data.errors import DataError
from .data.schema import ShopData, rows_before
from .features.rfm import rfm_summary
from .models.btyd import BetaGeoModel, ParetoNBDModel
from .models.gamma_gamma import GammaGammaModel, customer_lifetime_value
from .models.hybrid_churn import HybridChurnModel
from .offers import OfferPolicy, assign_offers
from .segments import (
    SegmentConfig,
    cart_abandoners,
    customer_activity,
    email_engagement,
    lifecycle_stage,
    rfm_scores,
)
from .timeframe import ScoringMoment

TRANSACTION_MODELS = {"bgnbd": BetaGeoModel, "paretonbd": ParetoNBDModel}


def _hybrid_churn(config: ScoringConfig) -> HybridChurnModel:
    return HybridChurnModel(horizon_days=config.churn_horizon_days,
                            max_origins=config.lgbm_max_origins,
                            max_training_customers=config.lgbm_training_customers,
                            random_state=config.random_state, n_jobs=config.n_jobs)


CHURN_MODELS: dict = {"lgbm_hybrid": _hybrid_churn, "btyd": None}
"""``ScoringConfig.churn_model`` -> a function of the config giving the unfitted churn model
(``fit(transactions, as_of, events, rfm=rfm)``, ``predict_proba(transactions, as_of, events,
rfm)``), or None: the transaction model's P(no order in the horizon). Adding a churn model to
the scorer is one entry here."""
CUSTOMERS_PER_CHUNK = 100_000
"""The pandas engine scores customers in chunks of this many (an execution setting, not part
of the model): ``benchmarks/bench_scoring.py`` scores 1M customers within 7.8 GB with it
(goal 8 GB); larger chunks hold more intermediate tables at once."""
LGBM_INPUT_COLUMNS: tuple[str, ...] = ("order_id", "quantity", "country")
"""Transaction columns the LightGBM features read when the training data had them."""

SCORE_COLUMNS: tuple[str, ...] = (
    "customer_id", "first_name", "email", "country", "lifecycle_stage", "rfm_segment",
    "p_alive", "churn_probability", "expected_orders_90d", "expected_next_order_date",
    "predicted_clv_12m", "value_tier", "offer_type", "bonus_amount", "control_group",
    "recommended_product_ids", "recommended_product_names", "model_version",
)
"""The documented columns of scores.parquet, in this order (more columns follow them)."""

PER_CUSTOMER_COLUMNS: tuple[str, ...] = (
    "customer_id", "country", "n_orders", "revenue", "first_order_at", "last_order_at",
    "days_since_last_order", "tenure_days", "frequency", "recency", "T", "monetary_value",
    "p_alive", "churn_probability", "expected_orders_90d", "expected_days_to_next_order",
    "expected_order_value", "predicted_clv_12m", "cart_abandoner", "email_engagement",
    "recommended_product_ids", "recommended_product_names",
)


@dataclass(frozen=True)
class ScoringConfig:
    """What the scorer fits and how it scores (days unless stated)."""

    transaction_model: str = "bgnbd"
    churn_model: str = "lgbm_hybrid"
    churn_horizon_days: int = 90
    lgbm_max_origins: int = 13
    lgbm_training_customers: int = 100_000
    random_state: int = 0
    n_jobs: int = -1
    clv_months: int = 12
    monthly_discount_rate: float = 0.01
    n_recommendations: int = 5
    recommender_spec: dict = field(default_factory=lambda: {"model": "buy_again"})
    filter_already_bought: bool = False
    budget: float | None = None
    min_customers: int = 50
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    offers: OfferPolicy = field(default_factory=OfferPolicy)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))


class CustomerScorer:
    """All fitted components of the scoring table.

    Fitted attributes: ``transaction_model_``, ``spend_model_``, ``churn_model_``
    (HybridChurnModel, or None when churn comes from the transaction model), ``recommender_``,
    ``fitted_as_of_`` (Timestamp), ``n_customers_`` (int), ``product_names_`` (Series
    product_id -> name), ``version_`` (content hash of the fitted state).
    """

    def __init__(self, config: ScoringConfig | None = None):
        self.config = config or ScoringConfig()

    # ------------------------------------------------------------------------------ fit
    def fit(self, shop: ShopData, as_of=None) -> CustomerScorer:
        """Fit every component on the shop's rows up to the as-of day ``as_of`` (last day of
        data; date-like or ``ScoringMoment``; default ``shop.as_of``)."""
        cfg = self.config
        moment = ScoringMoment.of(as_of if as_of is not None else shop.as_of)
        as_of = moment.as_of
        tx = rows_before(shop.transactions, moment.cutoff)
        n = tx["customer_id"].nunique()
        if n < cfg.min_customers:
            raise DataError(f"{shop.name}: only {n:,} customers with orders up to {as_of.date()}; "
                            f"the scorer needs at least {cfg.min_customers:,}.")
        if cfg.transaction_model not in TRANSACTION_MODELS:
            raise DataError(f"transaction_model {cfg.transaction_model!r} is not one of "
                            f"{sorted(TRANSACTION_MODELS)}")
        rfm = rfm_summary(tx, moment.observation_end)
        self.transaction_model_ = TRANSACTION_MODELS[cfg.transaction_model]().fit(rfm)
        # Free repeat orders (e.g. CDNOW's $0 purchases) cannot enter the Gamma-Gamma fit.
        self.spend_model_ = GammaGammaModel(drop_nonpositive=True).fit(rfm)
        if cfg.churn_model not in CHURN_MODELS:
            raise DataError(f"churn_model {cfg.churn_model!r} is not one of {list(CHURN_MODELS)}")
        build = CHURN_MODELS[cfg.churn_model]
        release_memory()  # the peak of a large fit: churn model, then recommender matrices
        self.churn_model_ = (None if build is None
                             else build(cfg).fit(tx, as_of, shop.events, rfm=rfm))
        release_memory()
        self.recommender_ = None
        self.product_names_ = pd.Series(dtype="string")
        if shop.has_products:
            from .models.recommend.spec import fit_recommender

            self.recommender_ = fit_recommender(cfg.recommender_spec, tx,
                                                moment.cutoff, events=shop.events)
            release_memory()
            names = (tx[["product_id", "product_name"]].dropna(subset=["product_id"])
                     .drop_duplicates("product_id", keep="last")
                     .set_index("product_id")["product_name"])
            self.product_names_ = names.astype("string")
        self.fitted_as_of_ = as_of
        self.n_customers_ = int(n)
        # What the input had (the cleaned table fills absent optional columns).
        had = shop.input_columns or tuple(c for c in tx if tx[c].notna().any())
        self.input_columns_ = ["customer_id", "timestamp", "amount"] + (
            ["product_id"] if shop.has_products else []) + (
            [c for c in LGBM_INPUT_COLUMNS if c in had]
            if self.churn_model_ is not None else [])
        self.version_ = self._fingerprint()
        return self

    def _fingerprint(self) -> str:
        state = {"config": self.config.to_dict(), "as_of": str(self.fitted_as_of_.date()),
                 "transaction": self.transaction_model_.params_,
                 "spend": self.spend_model_.params_,
                 "churn": None if self.churn_model_ is None else {
                     "shift": self.churn_model_.level_shift_,
                     "trees": [b.booster_.model_to_string()
                               for b in self.churn_model_.model_.boosters_]},
                 "recommender": repr(self.recommender_)}
        return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()
                              ).hexdigest()[:12]

    # ---------------------------------------------------------------------------- score
    def check_input(self, transactions: pd.DataFrame,
                    input_columns: tuple[str, ...] | None = None) -> None:
        """Refuse input that does not match what the model was fitted on.

        ``input_columns``: the canonical columns the input file really had
        (``ShopData.input_columns``); the cleaned table has every canonical column (missing
        optional ones empty), so without it a column counts as present when it has a value.
        """
        if input_columns is None or not len(input_columns):
            input_columns = tuple(c for c in transactions.columns
                                  if transactions[c].notna().any())
        missing = [c for c in self.input_columns_ if c not in input_columns]
        if missing:
            raise DataError(
                f"the scoring input lacks {', '.join(missing)}, which model "
                f"{self.version_} was fitted with (the model needs "
                f"{', '.join(self.input_columns_)}; the input has {', '.join(input_columns)}). "
                "Map the column(s) with --columns, or fit a model on data without them "
                "(scoring run on this input)")
        if self.recommender_ is not None:
            known = transactions["product_id"].isin(self.recommender_.product_ids_).mean()
            if known < 0.5:
                raise DataError(
                    f"only {known:.0%} of the input's product ids are in the catalogue of model "
                    f"{self.version_} (e.g. {transactions['product_id'].head(3).tolist()}): "
                    "the input is from another shop or the model is stale; refit with scoring run")

    def score_customers(self, transactions: pd.DataFrame, as_of,
                        events: pd.DataFrame | None = None,
                        customers: pd.DataFrame | None = None,
                        with_recommendations: bool = True) -> pd.DataFrame:
        """Per-customer model outputs for customers with an order up to ``as_of``.

        ``as_of``: the as-of day (last day of data; date-like or ``ScoringMoment``): rows
        before its cutoff (the next day) count. Needs no population statistics: any partition
        of the customers gives the same rows. ``with_recommendations=False`` leaves the
        recommendation lists empty (the out-of-time evaluation measures the churn and revenue
        columns here and the recommender on its own holdout sample). Returns
        PER_CUSTOMER_COLUMNS, one row per customer, sorted by customer_id.
        """
        cfg = self.config
        moment = ScoringMoment.of(as_of)
        as_of = moment.as_of
        tx = rows_before(transactions, moment.cutoff)
        activity = customer_activity(tx, moment)
        rfm = rfm_summary(tx, moment.observation_end).reindex(activity.index)
        out = activity.join(rfm)
        out["country"] = (tx.groupby("customer_id")["country"].last().reindex(out.index)
                          if "country" in tx else pd.NA)
        btyd = self.transaction_model_.predict(rfm, cfg.churn_horizon_days)
        out["p_alive"] = btyd["p_alive"].to_numpy()
        if self.churn_model_ is None:
            out["churn_probability"] = btyd["churn_probability"].to_numpy()
        else:
            out["churn_probability"] = self.churn_model_.predict_proba(
                tx, as_of, events, rfm).reindex(out.index).to_numpy()
        out["expected_orders_90d"] = btyd["expected_orders"].to_numpy()
        out["expected_days_to_next_order"] = btyd["expected_days_to_next_order"].to_numpy()
        out["expected_order_value"] = self.spend_model_.expected_order_value(rfm)
        out["predicted_clv_12m"] = customer_lifetime_value(
            self.transaction_model_, self.spend_model_, rfm, months=cfg.clv_months,
            monthly_discount_rate=cfg.monthly_discount_rate)
        out["cart_abandoner"] = False
        out["email_engagement"] = pd.Series(pd.NA, index=out.index, dtype="string")
        if events is not None and len(events):
            ev = events.loc[events["customer_id"].isin(out.index)]
            flags = cart_abandoners(ev, tx, moment, cfg.segments)
            out["cart_abandoner"] = flags.reindex(out.index).fillna(False).astype(bool)
            out["email_engagement"] = email_engagement(ev, moment, None, cfg.segments).reindex(
                out.index)
        # the customers' histories in this input (a later as-of sees later purchases); the
        # product side (catalogue, factors, similarities, weights) stays as fitted
        if with_recommendations:
            recommender = None if self.recommender_ is None else (
                self.recommender_.with_history(tx, moment.cutoff, events=events))
            ids, names = self._recommendations(out.index, recommender)
        else:
            ids, names = [[] for _ in range(len(out))], [[] for _ in range(len(out))]
        out["recommended_product_ids"] = ids
        out["recommended_product_names"] = names
        out.index.name = "customer_id"
        return out.reset_index()[list(PER_CUSTOMER_COLUMNS)]

    def _recommendations(self, customer_ids, recommender=None) -> tuple[list, list]:
        """Top-n product ids and names per customer (lists; empty without products), from
        ``recommender`` (default: the fitted one, whose unknown customers get popularity)."""
        n_customers = len(customer_ids)
        recommender = recommender if recommender is not None else self.recommender_
        if recommender is None:
            return [[] for _ in range(n_customers)], [[] for _ in range(n_customers)]
        recs = recommender.recommend(np.asarray(customer_ids, dtype=str),
                                           n=self.config.n_recommendations,
                                           filter_already_bought=self.config.filter_already_bought)
        # recommend() returns each customer's rows together, in input order, best first:
        # cut the id and name columns into per-customer lists with offsets (one pass).
        per_customer = recs["customer_id"].value_counts(sort=False).reindex(
            pd.Index(customer_ids, dtype="string"), fill_value=0).to_numpy()
        offsets = pa.array(np.concatenate(([0], np.cumsum(per_customer))), type=pa.int64())
        names = recs["product_id"].map(self.product_names_).fillna("")
        return (pa.ListArray.from_arrays(offsets, pa.array(recs["product_id"].astype(str))
                                         ).to_pylist(),
                pa.ListArray.from_arrays(offsets, pa.array(names.astype(str))).to_pylist())

    def finalize(self, per_customer: pd.DataFrame, as_of,
                 customers: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
        """Population-level steps: RFM segments, lifecycle, leads, profiles, offers.

        ``as_of``: the as-of day (last day of data; date-like or ``ScoringMoment``): profiles
        signed up before its cutoff (the next day) are leads; next-order dates count from it.
        """
        cfg = self.config
        moment = ScoringMoment.of(as_of)
        as_of = moment.as_of
        table = per_customer.set_index("customer_id").sort_index()
        table = table.join(rfm_scores(table, cfg.segments))
        if customers is not None and len(customers):
            known = customers.loc[customers["signup_at"].isna()
                                  | (customers["signup_at"] < moment.cutoff)]
            leads = pd.Index(known["customer_id"], dtype="string").difference(table.index)
            if len(leads):
                lead_rows = pd.DataFrame(index=leads)
                lead_rows["n_orders"] = 0
                lead_rows["revenue"] = 0.0
                lead_rows["cart_abandoner"] = False
                ids, names = self._recommendations(leads)  # cold start: popularity
                lead_rows["recommended_product_ids"] = ids
                lead_rows["recommended_product_names"] = names
                table = pd.concat([table, lead_rows]).sort_index()
            profile = customers.drop_duplicates("customer_id").set_index("customer_id")
            for column in ("first_name", "email"):
                if column in profile:
                    table[column] = profile[column].reindex(table.index)
            if "country" in profile:
                table["country"] = table["country"].fillna(profile["country"].reindex(table.index))
        for column in ("first_name", "email"):
            if column not in table:
                table[column] = pd.Series(pd.NA, index=table.index, dtype="string")
        table.index.name = "customer_id"
        table["n_orders"] = table["n_orders"].fillna(0).astype("int64")
        table["lifecycle_stage"] = lifecycle_stage(table["n_orders"],
                                                   table["days_since_last_order"], cfg.segments)
        table["cart_abandoner"] = table["cart_abandoner"].fillna(False).astype(bool)
        table["expected_next_order_date"] = (
            as_of + pd.to_timedelta(np.round(table["expected_days_to_next_order"]), unit="D"))
        offers, summary = assign_offers(table.reset_index(), cfg.offers, budget=cfg.budget)
        offers["model_version"] = self.version_
        offers["lifecycle_stage"] = offers["lifecycle_stage"].astype("string")
        for column in ("value_tier", "offer_type", "ab_group", "bonus_reason", "template_key",
                       "email_subject"):
            if column in offers:
                offers[column] = offers[column].astype("string")
        offers["rfm_segment"] = offers["rfm_segment"].astype("string")
        ordered = list(SCORE_COLUMNS) + [c for c in offers.columns if c not in SCORE_COLUMNS]
        scores = offers[ordered].sort_values("customer_id", kind="stable").reset_index(drop=True)
        summary = {"as_of": str(moment), "customers": len(scores),
                   "model_version": self.version_, **summary}
        return scores, summary

    def score(self, shop: ShopData, as_of=None,
              customers_per_chunk: int = CUSTOMERS_PER_CHUNK) -> tuple[pd.DataFrame, dict]:
        """The scoring table and the campaign summary for a shop as of the as-of day ``as_of``
        (last day of data; date-like or ``ScoringMoment``; default ``shop.as_of``), customers
        scored ``customers_per_chunk`` at a time."""
        moment = ScoringMoment.of(as_of if as_of is not None else shop.as_of)
        self.check_input(shop.transactions, shop.input_columns)
        if getattr(self.churn_model_, "uses_events_", False) and shop.events is None:
            raise DataError(
                f"model {self.version_} was fitted with the shop's events (email, site and cart "
                "events feed its churn features); the scoring input has none: pass --events "
                "or refit without events")
        per_customer = self.score_customers_in_chunks(shop.transactions, moment, shop.events,
                                                      customers_per_chunk)
        return self.finalize(per_customer, moment, shop.customers)

    def score_customers_in_chunks(self, transactions: pd.DataFrame, as_of,
                                  events: pd.DataFrame | None = None,
                                  customers_per_chunk: int = CUSTOMERS_PER_CHUNK,
                                  with_recommendations: bool = True) -> pd.DataFrame:
        """``score_customers`` over chunks of ``customers_per_chunk`` customers (the pandas
        engine's memory bound); the same rows as one call. ``as_of``: the as-of day (date-like
        or ``ScoringMoment``); ``with_recommendations``: see ``score_customers``."""
        moment = ScoringMoment.of(as_of)
        parts = [self.score_customers(tx, moment, chunk_events,
                                      with_recommendations=with_recommendations)
                 for tx, chunk_events in customer_chunks(transactions, events,
                                                         customers_per_chunk)]
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def customer_chunks(transactions: pd.DataFrame, events: pd.DataFrame | None,
                    customers_per_chunk: int):
    """Yield (transactions, events) of disjoint groups of at most about
    ``customers_per_chunk`` customers, rows in their input order within each group, so that
    ``score_customers`` holds one group's intermediate tables at a time (memory). Customers
    are independent in ``score_customers``: the chunks give the rows one call would."""
    codes, uniques = pd.factorize(transactions["customer_id"])
    n_chunks = -(-len(uniques) // max(int(customers_per_chunk), 1))
    if n_chunks <= 1:
        yield transactions, events
        return
    # one small chunk number per row (int32), then one boolean pass per chunk: no
    # row-sized index arrays beyond the chunk being scored
    row_chunk = (codes % n_chunks).astype(np.int32)
    del codes
    event_chunk = None
    if events is not None:
        event_codes = pd.Index(uniques).get_indexer(events["customer_id"])
        event_chunk = np.where(event_codes >= 0, event_codes % n_chunks, -1).astype(np.int32)
        del event_codes
    for k in range(n_chunks):
        chunk_events = None
        if event_chunk is not None:
            chunk_events = events.iloc[np.flatnonzero(event_chunk == k)]
        yield transactions.iloc[np.flatnonzero(row_chunk == k)], chunk_events
