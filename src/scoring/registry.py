"""The scorer as an MLflow pyfunc model, its registration and the champion alias.

The fitted ``CustomerScorer`` (segment rules, BTYD and Gamma-Gamma, the LightGBM hybrid churn
model, recommender, offer policy and config) is pickled as one artifact of a pyfunc model named
``customer-scorer``. The model is logged from code (MLflow "models from code"): its
``python_model`` is the file ``serving_model.py``, which sets a ``ScorerModel``; the wrapper is
not cloudpickled. Its input is canonical transaction lines (signature and input example
logged; the example holds made-up ids, never personal data); its output the scoring table.
Shops with events: the pyfunc input is one table, so event rows travel in it, marked by a
non-empty ``event_type`` (``email_open``, ``cart_add``, ...; ``amount`` empty); rows without an
``event_type`` are order lines. A scorer whose features were trained with events refuses
input without any.

Security: loading the model unpickles the scorer artifact (``ScorerModel.load_context``) and
runs the model's code file. Load only models from the project's own registry
(``models:/customer-scorer@champion``), never a model file from elsewhere.

Champion rule: the alias ``champion`` (and ``champion-<dataset>``) moves to a new version only
when there is no champion yet, or the current champion was trained on the same dataset and the
new version's holdout metrics are at least as good on every one of ``CHAMPION_METRICS``
(higher ROC-AUC and Gini, lower Brier).
"""

from __future__ import annotations

import pickle
import tempfile
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from .data.errors import DataError
from .scorer import CustomerScorer

MODEL_NAME = "customer-scorer"
MODEL_CODE = Path(__file__).with_name("serving_model.py")
"""The pyfunc model's code file (``mlflow.models.set_model(ScorerModel())``)."""
CHAMPION_METRICS = {"churn_roc_auc": "higher", "churn_brier": "lower", "revenue_gini": "higher"}


class ScorerModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: ``predict(transactions, params={"as_of": "YYYY-MM-DD"})``."""

    def load_context(self, context) -> None:
        with open(context.artifacts["scorer"], "rb") as handle:
            self.scorer: CustomerScorer = pickle.load(handle)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        from .data.cleaning import clean_events, clean_transactions
        from .data.schema import ShopData

        # The input goes through the data layer's rules like any file would.
        as_of = (params or {}).get("as_of") or None
        events = None
        if "event_type" in model_input:
            is_event = model_input["event_type"].notna() & (
                model_input["event_type"].astype("string").str.strip() != "")
            event_columns = [c for c in ("customer_id", "timestamp", "event_type", "product_id")
                             if c in model_input]
            events, _, _ = clean_events(model_input.loc[is_event, event_columns],
                                        "model input events", as_of=as_of)
            model_input = model_input.loc[~is_event].drop(columns="event_type")
        transactions, quarantine, report = clean_transactions(model_input, "model input",
                                                              as_of=as_of)
        shop = ShopData(name="pyfunc-input", transactions=transactions, quarantine=quarantine,
                        events=events if events is not None and len(events) else None,
                        rows_in=report["rows_in"], reports={"transactions": report},
                        as_of=pd.Timestamp(as_of or transactions["timestamp"].max()))
        scores, _ = self.scorer.score(shop, shop.as_of)
        return scores.astype({"recommended_product_ids": str, "recommended_product_names": str})


def input_example(scorer: CustomerScorer) -> pd.DataFrame:
    """Three made-up order lines in the input schema (no personal data), plus a made-up
    event row when the scorer's features use events. Dated in the months before the
    scorer's as-of date (the signature's default ``as_of``), so the example scores: MLflow
    validates it by predicting."""
    as_of = pd.Timestamp(scorer.fitted_as_of_).normalize()
    example = pd.DataFrame({
        "customer_id": ["example-1", "example-1", "example-2"],
        "order_id": ["example-order-1", "example-order-2", "example-order-3"],
        "timestamp": [as_of - pd.Timedelta(days=days, hours=-hours)
                      for days, hours in ((176, 10), (121, 12), (140, 9))],
        "amount": [12.5, 30.0, 8.0],
    })
    if "quantity" in scorer.input_columns_:
        example["quantity"] = [1.0, 3.0, 2.0]
    if "country" in scorer.input_columns_:
        example["country"] = ["Example Country"] * 3
    if "product_id" in scorer.input_columns_:
        example["product_id"] = list(scorer.recommender_.product_ids_[:3])
    if getattr(scorer.churn_model_, "uses_events_", False):
        event = {"customer_id": "example-1",
                 "timestamp": as_of - pd.Timedelta(days=120, hours=-8),
                 "event_type": "email_open"}
        example["event_type"] = None
        example = pd.concat([example, pd.DataFrame([event])], ignore_index=True)
        example["event_type"] = example["event_type"].astype("string")
    return example


SCORER_REQUIREMENTS = ("scoring", "mlflow", "numpy", "scipy", "pandas", "pyarrow",
                       "scikit-learn", "lightgbm", "implicit", "threadpoolctl")
"""What unpickling and running the scorer imports (``serving_model.py``, ``CustomerScorer``)."""


def pinned_requirements(packages) -> list[str]:
    """``name==installed version`` for each installed distribution of ``packages`` (in order;
    names not installed are left out). Given to ``log_model`` as ``pip_requirements``:
    MLflow would otherwise infer them by loading the model in a subprocess, which costs ~4 s
    per logged model and, for the scorer, missed ``lightgbm`` and ``implicit`` (imported only
    while unpickling the artifact)."""
    pinned = []
    for name in packages:
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pinned


def log_scorer(scorer: CustomerScorer, metrics: dict[str, float], dataset: str,
               register: bool = True) -> dict:
    """Log the scorer as a pyfunc model from code (``MODEL_CODE``, the fitted scorer as the
    ``scorer`` artifact) in the active run and register it.

    Returns {"model_uri", "version", "champion": bool, "reason"}.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scorer.pkl"
        path.write_bytes(pickle.dumps(scorer))
        example = input_example(scorer)
        params = {"as_of": str(scorer.fitted_as_of_.date())}
        signature = infer_signature(example, params=params)
        info = mlflow.pyfunc.log_model(
            name="customer_scorer", python_model=str(MODEL_CODE),
            artifacts={"scorer": str(path)},
            signature=signature, input_example=example,
            pip_requirements=pinned_requirements(SCORER_REQUIREMENTS),
            registered_model_name=MODEL_NAME if register else None,
        )
    result = {"model_uri": info.model_uri, "version": None, "champion": False, "reason": ""}
    if not register:
        return result
    client = MlflowClient()
    version = str(info.registered_model_version)
    tags = {"dataset": dataset, "scorer_version": scorer.version_,
            "fitted_as_of": str(scorer.fitted_as_of_.date()),
            **{k: f"{v:.6f}" for k, v in metrics.items() if k in CHAMPION_METRICS}}
    for key, value in tags.items():
        client.set_model_version_tag(MODEL_NAME, version, key, value)
    promote, reason = should_promote(client, dataset, metrics)
    if promote:
        client.set_registered_model_alias(MODEL_NAME, "champion", version)
        client.set_registered_model_alias(MODEL_NAME, f"champion-{dataset}", version)
    result.update(version=version, champion=promote, reason=reason)
    return result


def should_promote(client: MlflowClient, dataset: str, metrics: dict[str, float]
                   ) -> tuple[bool, str]:
    """The champion rule (see module docstring)."""
    try:
        champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    except mlflow.exceptions.MlflowException:
        return True, "no champion yet"
    if champion.tags.get("dataset") != dataset:
        return False, (f"champion v{champion.version} was trained on "
                       f"{champion.tags.get('dataset')}, not {dataset}")
    worse = []
    for name, direction in CHAMPION_METRICS.items():
        if name not in metrics or name not in champion.tags:
            continue
        # tags hold 6 decimals: compare at that precision, or float noise blocks a tie
        old, new = float(champion.tags[name]), round(float(metrics[name]), 6)
        if (direction == "higher" and new < old) or (direction == "lower" and new > old):
            worse.append(f"{name} {new:.4f} vs {old:.4f}")
    if worse:
        return False, f"worse than champion v{champion.version}: " + "; ".join(worse)
    return True, f"at least as good as champion v{champion.version} on every metric"


def load_scorer(model_uri: str) -> CustomerScorer:
    """Load the fitted scorer of a registered model (only models from our own registry)."""
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except mlflow.exceptions.MlflowException as exc:
        raise DataError(f"cannot load model {model_uri!r}: {exc}. Run `scoring run` first to "
                        "register a champion, or name an existing version.") from exc
    return model.unwrap_python_model().scorer
