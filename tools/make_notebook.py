"""Write a notebook from a list of (kind, source) cells, without outputs.

Used to (re)generate the numbered notebooks in notebooks/ from their cell lists in
tools/notebooks/*.py, so the committed files never carry outputs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def build(cells: list[tuple[str, str]], path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src.strip()) if kind == "md"
                else nbformat.v4.new_code_cell(src.strip()) for kind, src in cells]
    for number, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{number:02d}"  # deterministic: regenerating gives the same file
    nbformat.write(nb, path)


def main() -> None:
    for spec in sorted((ROOT / "tools" / "notebooks").glob("*.py")):
        module_spec = importlib.util.spec_from_file_location(spec.stem, spec)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        target = ROOT / "notebooks" / f"{spec.stem}.ipynb"
        build(module.CELLS, target)
        print(target.relative_to(ROOT))


if __name__ == "__main__":
    sys.exit(main())
