"""The notebooks in notebooks/ are jupytext pairs: the py:percent files are the source, the
.ipynb carry the same cells (type and source) and are committed without outputs, and every
notebook executes top to bottom."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
STEMS = sorted({p.stem for p in NOTEBOOK_DIR.glob("*.py")} | {p.stem for p in NOTEBOOKS})
SYNC = "run `jupytext --sync notebooks/*.py` (or save the notebook in JupyterLab with jupytext)"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("SCORING_NOTEBOOK_FAST", "1")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and not c.get("execution_count") for c in code)
    assert any("from scoring" in "".join(c["source"]) for c in code)


def _cells(cells) -> list[tuple[str, str]]:
    return [(c["cell_type"], "".join(c["source"])) for c in cells]


def _lines(cells: list[tuple[str, str]]) -> list[str]:
    return [line for kind, text in cells for line in [f"# %% [{kind}]", *text.splitlines()]]


@pytest.mark.parametrize("stem", STEMS)
def test_notebook_pair_in_sync(stem):
    """An edit to either file of a pair that was not synced to the other fails here."""
    py, ipynb = NOTEBOOK_DIR / f"{stem}.py", NOTEBOOK_DIR / f"{stem}.ipynb"
    missing = [p.name for p in (py, ipynb) if not p.exists()]
    assert not missing, f"notebooks/{stem}: {missing} missing, every notebook is a .py/.ipynb pair; {SYNC}"
    source = _cells(jupytext.read(py).cells)
    committed = _cells(json.loads(ipynb.read_text())["cells"])
    if committed != source:
        diff = difflib.unified_diff(_lines(committed), _lines(source), fromfile=ipynb.name,
                                    tofile=py.name, lineterm="", n=1)
        pytest.fail(f"{ipynb.name} and {py.name} differ; {SYNC}.\n" + "\n".join(list(diff)[:40]))
