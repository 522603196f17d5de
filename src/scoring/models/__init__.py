"""Models: BTYD transaction models and Gamma-Gamma spend (``btyd``, ``gamma_gamma``), LightGBM,
baselines and recommenders (see docs/architecture.md). Import from the submodules."""
