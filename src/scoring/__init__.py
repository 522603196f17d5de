"""Customer scoring for online shops: segments, churn, CLV, recommendations and offers."""

__version__ = "0.1.0"
