"""The layout's rules, checked on the source: the core imports no edge, the Sheets adapter no web layer.

Imports are read from each module's syntax tree (every ``import`` and ``from … import``, at
module level or inside a function), not grepped, so a lazy import inside a function counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parent.parent / "backend"

# Libraries of the edges: HTTP, Google APIs, plotting, experiment tracking.
EDGE_LIBRARIES = ("flask", "werkzeug", "gspread", "google", "requests", "matplotlib", "mlflow", "dask", "distributed")
# The product's own edges.
EDGE_PACKAGES = ("backend.web", "backend.sheets", "backend.cli", "backend.reports", "backend.sources", "backend.scale")


def imported_modules(source: str, module: str) -> set[str]:
    """Every module a source file imports (relative imports resolved against ``module``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: -node.level]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """``file: module`` for each import under ``package`` of a forbidden module or its submodules."""
    folder = BACKEND.parent.joinpath(*package.split("."))
    out = []
    for path in sorted(folder.rglob("*.py")):
        module = ".".join(path.relative_to(BACKEND.parent).with_suffix("").parts)
        for name in sorted(imported_modules(path.read_text(), module)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(BACKEND.parent)}: {name}")
    return out


def test_the_core_imports_no_edge_library_and_no_edge_package() -> None:
    assert violations("backend.core", EDGE_LIBRARIES + EDGE_PACKAGES) == []


def test_dask_is_imported_only_by_the_scale_package() -> None:
    """The optional extra stays optional: nothing outside ``backend.scale`` imports Dask at all."""
    for package in ("backend.core", "backend.store", "backend.sources", "backend.sheets", "backend.web",
                    "backend.reports", "backend.sample"):
        assert violations(package, ("dask", "distributed", "xgboost.dask")) == [], package


def test_the_sheets_adapter_does_not_import_the_web_layer() -> None:
    assert violations("backend.sheets", ("backend.web", "flask", "werkzeug")) == []


@pytest.mark.parametrize("source", [
    "import flask",
    "from google.oauth2 import id_token",
    "def plot():\n    import matplotlib.pyplot as plt\n",
    "from backend.web import create_app",
    "from ..web.auth import Authenticator",
])
def test_the_check_sees_every_form_of_import(source: str) -> None:
    names = imported_modules(source, "backend.core.scoring")
    assert any(n == f or n.startswith(f + ".") for n in names for f in EDGE_LIBRARIES + EDGE_PACKAGES)


def test_each_folder_is_a_package() -> None:
    for folder in ("core", "store", "sheets", "sources", "web", "reports", "cli"):
        assert (BACKEND / folder / "__init__.py").is_file(), folder
