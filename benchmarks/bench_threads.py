"""LightGBM threads: the scorer's churn and revenue boosters on Online Retail II with every core
(the default, ``n_jobs=-1``) and with one thread, alone and with two jobs sharing the machine.

Usage: python benchmarks/bench_threads.py

Each measurement is a fresh process that builds the rolling-origin panel of the scorer's
``HybridChurnModel`` (13 origins, 90-day horizon, cutoff 2011-09-10) and times only the fit of
the cross-fitted ``LGBMChurnModel`` (BTYD-level anchoring) and ``LGBMRevenueModel`` on it. The
settings, by environment (read by OpenMP when LightGBM loads):

- ``default``: every core, OpenMP's default (busy) waiting;
- ``one_thread``: ``OMP_NUM_THREADS=1`` (what ``make test`` gives each pytest worker);
- ``passive``: every core, ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep at once).

"alone" runs one process; "pair" starts two at once (two jobs on the same cores), and reports
the slower. The boosters are identical in every setting (``tests/test_lgbm_threads.py``): only
the time differs. Writes benchmarks/results/threads.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from scoring.outputs import write_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "threads.json"
SETTINGS = {"default": {}, "one_thread": {"OMP_NUM_THREADS": "1"},
            "passive": {"OMP_WAIT_POLICY": "PASSIVE"}}

WORKER = """
import time, pandas as pd
from scoring.data import load_dataset
from scoring.models.churn import LGBMChurnModel, build_rolling_origin_panel
from scoring.models.churn.lgbm import LGBMRevenueModel
shop = load_dataset("online-retail-ii")
panel = build_rolling_origin_panel(shop.transactions, pd.Timestamp("2011-09-10"), 90,
                                   btyd=True, max_origins=13)
start = time.perf_counter()
LGBMChurnModel(horizon_days=90, calibration="btyd_level", use_btyd=True).fit(panel=panel)
LGBMRevenueModel(horizon_days=90, calibration="scale", use_btyd=True).fit(panel=panel)
print(round(time.perf_counter() - start, 2))
"""


def run(setting: str, processes: int) -> list[float]:
    """Fit seconds of each of ``processes`` workers started together under ``setting``."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **SETTINGS[setting]}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
               for _ in range(processes)]
    seconds = []
    for worker in workers:
        out, _ = worker.communicate()
        if worker.returncode:
            raise SystemExit(f"worker failed under {setting}")
        seconds.append(float(out.strip().splitlines()[-1]))
    return seconds


def main() -> None:
    result: dict = {"what": "LightGBM churn + revenue fit, Online Retail II, 13 origins",
                    "cpus": os.cpu_count(), "load_average_before": os.getloadavg()}
    for setting in SETTINGS:
        alone = run(setting, 1)[0]
        pair = max(run(setting, 2))
        result[setting] = {"alone_seconds": alone, "pair_slower_seconds": pair}
        print(setting, json.dumps(result[setting]), flush=True)
        time.sleep(2)
    result["load_average_after"] = os.getloadavg()
    RESULTS.parent.mkdir(exist_ok=True)
    write_json(result, RESULTS)


if __name__ == "__main__":
    main()
