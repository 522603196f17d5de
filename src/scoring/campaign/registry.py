"""The learnt response to bonuses as an MLflow model (``uplift-model``) and its use in scoring.

An :class:`UpliftBundle` holds what the next allocation needs from a past campaign: the
:class:`~scoring.campaign.uplift.UpliftModel` (incremental revenue per treatment arm), the
:class:`~scoring.campaign.redemption.RedemptionModel` (probability the bonus is paid), each
arm's bonus multiplier and the campaign's learning floor ``min_bonus``. It is logged as a
pyfunc model from code (``serving_uplift.py``, the bundle pickled as the ``uplift`` artifact)
and registered as ``uplift-model`` with the alias ``current``. Load only models from the
project's own registry (unpickling runs code).

Allocation (:func:`allocate_with_uplift`): the options of a customer are the learnt treatment
arms, bonus ``multiplier * max(candidate_bonus, min_bonus)`` (the bonuses the model saw);
expected incremental profit = predicted incremental revenue - bonus * P(redeem); customers
are funded greedily by profit per unit of bonus within the budget
(:func:`~scoring.campaign.allocate.allocate_by_uplift`). The control group and leads get
nothing, so measurement never stops.
"""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from scoring.data.errors import DataError
from scoring.registry import pinned_requirements

from .allocate import allocate_by_uplift
from .redemption import RedemptionModel
from .uplift import UpliftModel

MODEL_NAME = "uplift-model"
MODEL_CODE = Path(__file__).with_name("serving_uplift.py")
UPLIFT_REQUIREMENTS = ("scoring", "mlflow", "numpy", "scipy", "pandas", "pyarrow",
                       "scikit-learn", "lightgbm", "causalml")
"""What unpickling and running the bundle imports (causalml learners on LightGBM)."""


@dataclass
class UpliftBundle:
    """A fitted uplift model with everything the allocation needs (module docstring)."""

    uplift: UpliftModel
    redemption: RedemptionModel
    multipliers: dict[str, float]
    control_arm: str
    min_bonus: float
    campaign: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @property
    def arms(self) -> list[str]:
        """Treatment arms, in the uplift model's column order."""
        return list(self.uplift.arms_)

    def options(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per customer (rows of ``frame``) and arm: predicted incremental revenue, bonus
        (face value) and redemption probability, each (n, arms). ``frame`` needs the model's
        features and ``policy_bonus`` or ``candidate_bonus`` (currency)."""
        frame = with_policy_bonus(frame, self.min_bonus)
        effect = self.uplift.predict(frame)[self.arms].to_numpy()
        redemption = self.redemption.predict(frame).reindex(columns=self.arms).fillna(1.0)
        multiplier = np.array([self.multipliers[a] for a in self.arms])
        bonus = frame["policy_bonus"].to_numpy(float)[:, None] * multiplier[None, :]
        return effect, bonus, redemption.to_numpy()


def with_policy_bonus(frame: pd.DataFrame, min_bonus: float) -> pd.DataFrame:
    """``frame`` with ``policy_bonus`` = max(candidate_bonus, min_bonus) when it lacks one."""
    if "policy_bonus" in frame:
        return frame
    if "candidate_bonus" not in frame:
        raise DataError("uplift allocation: the scores need 'candidate_bonus' (the offer "
                        "policy's bonus) or 'policy_bonus'.")
    bonus = pd.to_numeric(frame["candidate_bonus"]).fillna(0.0).to_numpy(float)
    return frame.assign(policy_bonus=np.maximum(bonus, float(min_bonus)))


class UpliftPyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: ``predict(features)`` -> predicted incremental revenue per arm."""

    def load_context(self, context) -> None:
        with open(context.artifacts["uplift"], "rb") as handle:
            self.bundle: UpliftBundle = pickle.load(handle)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        effect, bonus, redemption = self.bundle.options(model_input)
        out = pd.DataFrame(effect, columns=[f"incremental_revenue_{a}" for a in
                                            self.bundle.arms], index=model_input.index)
        for j, a in enumerate(self.bundle.arms):
            out[f"bonus_{a}"] = bonus[:, j]
            out[f"redemption_{a}"] = redemption[:, j]
        return out


def log_uplift_model(bundle: UpliftBundle, example: pd.DataFrame, register: bool = True
                     ) -> dict:
    """Log ``bundle`` as a pyfunc model from code in the active run and register it as
    ``uplift-model`` (alias ``current``). ``example``: a few feature rows (no ids).
    Returns {"model_uri", "version"}."""
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "uplift.pkl"
        path.write_bytes(pickle.dumps(bundle))
        wrapper = UpliftPyfunc()
        wrapper.bundle = bundle  # what load_context restores, for the signature's output
        signature = infer_signature(example, wrapper.predict(None, example))
        info = mlflow.pyfunc.log_model(
            name="uplift_model", python_model=str(MODEL_CODE), artifacts={"uplift": str(path)},
            signature=signature, input_example=example,
            pip_requirements=pinned_requirements(UPLIFT_REQUIREMENTS),
            registered_model_name=MODEL_NAME if register else None)
    result = {"model_uri": info.model_uri, "version": None}
    if register:
        version = str(info.registered_model_version)
        client = MlflowClient()
        client.set_registered_model_alias(MODEL_NAME, "current", version)
        for key, value in {"learner": bundle.uplift.learner_,
                           "campaign_start": bundle.campaign.get("start", ""),
                           "arms": ",".join(bundle.arms)}.items():
            client.set_model_version_tag(MODEL_NAME, version, key, str(value))
        result.update(version=version, model_uri=f"models:/{MODEL_NAME}/{version}")
    return result


def load_uplift_model(model_uri: str) -> UpliftBundle:
    """The bundle of a registered ``uplift-model`` (only models from our own registry)."""
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except mlflow.exceptions.MlflowException as exc:
        raise DataError(f"cannot load uplift model {model_uri!r}: {exc}. Fit one with "
                        "`scoring campaign uplift` first (it registers models:/uplift-model@"
                        "latest).") from exc
    bundle = model.unwrap_python_model().bundle
    if not isinstance(bundle, UpliftBundle):
        raise DataError(f"{model_uri!r} is not an uplift model of this project.")
    return bundle


def allocate_with_uplift(scores: pd.DataFrame, pre: pd.DataFrame, bundle: UpliftBundle,
                         budget: float | None) -> tuple[pd.DataFrame, dict]:
    """Replace the response assumption by the learnt response: the scores table (one row per
    customer, from ``CustomerScorer.finalize``) with ``bonus_amount``, ``bonus_reason``
    (``uplift_allocation`` / ``no_expected_profit`` / ``budget_exhausted``) and
    ``expected_incremental_revenue`` (currency, 0 without a bonus) from the uplift model;
    ``pre``: ``pre_orders`` / ``pre_revenue`` per customer_id (the 365 days before the
    cutoff). Leads and the control group (``ab_group`` in the policy's control arms) keep no
    bonus. Returns ``(scores, summary)``."""
    out = scores.copy()
    out["pre_orders"] = pre["orders"].reindex(out["customer_id"].astype(str)).fillna(0).to_numpy()
    out["pre_revenue"] = pre["revenue"].reindex(out["customer_id"].astype(str)).fillna(0.0
                                                                                     ).to_numpy()
    eligible = (out["lifecycle_stage"].astype(str) != "lead").to_numpy()
    if "control_group" in out:
        eligible = eligible & ~out["control_group"].fillna(False).astype(bool).to_numpy()
    rows = out.loc[eligible]
    effect, bonus, redemption = bundle.options(rows)
    # the budget caps the bonuses' face value (what --budget means everywhere); the expected
    # cost (face x redemption) ranks the options
    allocation = allocate_by_uplift(rows["customer_id"].astype(str).to_numpy(), effect, bonus,
                                    budget, redemption=redemption, budget_basis="face")
    funded = allocation["option"].to_numpy() >= 0
    reason = np.where(funded, "uplift_allocation", "no_expected_profit")
    if budget is not None:
        positive = (effect - bonus * redemption).max(axis=1) > 0
        reason = np.where(~funded & positive, "budget_exhausted", reason)
    out["expected_incremental_revenue"] = 0.0
    out.loc[eligible, "bonus_amount"] = allocation["bonus_amount"].to_numpy()
    out.loc[eligible, "expected_incremental_revenue"] = (
        allocation["expected_incremental_revenue"].to_numpy())
    out["bonus_reason"] = out["bonus_reason"].astype(object)
    out.loc[eligible, "bonus_reason"] = reason
    out["bonus_reason"] = out["bonus_reason"].astype("string")
    out = out.drop(columns=["pre_orders", "pre_revenue"])
    summary = {"allocation": "uplift_model", "budget": budget,
               "uplift_model_learner": bundle.uplift.learner_,
               "uplift_campaign_start": bundle.campaign.get("start"),
               "customers_with_bonus": int(funded.sum()),
               "bonus_total": float(allocation["bonus_amount"].sum()),
               "expected_bonus_cost": float(allocation["expected_bonus_cost"].sum()),
               "expected_incremental_revenue": float(
                   allocation["expected_incremental_revenue"].sum()),
               "expected_incremental_profit": float(
                   allocation["expected_incremental_profit"].sum())}
    return out, summary
