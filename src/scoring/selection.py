"""What the evaluation chose, as one typed object the scorer is built from.

``ModelSelection`` is returned by the out-of-time evaluation (``pipeline.run_evaluate``) and
turned into the scorer's configuration by ``apply``: no model names are parsed anywhere. The
choice is made on data before the cutoff only (the validation origin for churn, validation
windows for the recommender); the holdout then measures the scorer built from it
(``evaluation.scorer_eval``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .scorer import ScoringConfig


@dataclass(frozen=True)
class ModelSelection:
    """The scorer's parts chosen by the evaluation.

    Attributes:
        transaction_model: ``"bgnbd"`` or ``"paretonbd"`` (BTYD model behind p_alive,
            expected orders and CLV).
        churn_model: ``"lgbm_hybrid"`` (LightGBM hybrid anchored to BG/NBD) or ``"btyd"``
            (the transaction model's P(no order)).
        recommender_spec: the recommender to fit (``models.recommend.spec``), or None for
            the scorer's default.
        reasons: why each part was chosen (rule and validation numbers), for the record.
    """

    transaction_model: str = "bgnbd"
    churn_model: str = "lgbm_hybrid"
    recommender_spec: dict | None = None
    reasons: dict = field(default_factory=dict)

    def apply(self, config: ScoringConfig) -> ScoringConfig:
        """``config`` with the chosen parts (everything else unchanged)."""
        changes = {"transaction_model": self.transaction_model,
                   "churn_model": self.churn_model}
        if self.recommender_spec is not None:
            changes["recommender_spec"] = dict(self.recommender_spec)
        return replace(config, **changes)

    @classmethod
    def configured(cls, config: ScoringConfig) -> ModelSelection:
        """The parts ``config`` names, chosen by no comparison (``evaluation.candidates``
        off: ``scoring run --shipped-only``)."""
        reason = ("configured (evaluation.candidates is off: no candidate compared; "
                  "scoring evaluate compares them)")
        return cls(transaction_model=config.transaction_model,
                   churn_model=config.churn_model,
                   recommender_spec=dict(config.recommender_spec),
                   reasons={part: reason for part in ("transaction_model", "churn",
                                                      "recommender")})

    def with_recommender(self, spec: dict | None, reason: str) -> ModelSelection:
        return replace(self, recommender_spec=spec,
                       reasons={**self.reasons, "recommender": reason})

    def to_dict(self) -> dict:
        return {"transaction_model": self.transaction_model, "churn_model": self.churn_model,
                "recommender_spec": self.recommender_spec, "reasons": dict(self.reasons)}
