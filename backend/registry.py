"""The model registry: ``models/<version>/`` bundles plus ``models/active.json``.

``active.json`` names the version being served and the versions served before it
(most recent last), so a rollback is one step back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from backend.bundle import CARD, ModelBundle
from backend.errors import BadInput, ModelUnavailable

ACTIVE = "active.json"


def _read_active(model_dir: Path) -> dict[str, Any]:
    path = model_dir / ACTIVE
    if not path.is_file():
        return {"version": None, "history": []}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelUnavailable(f"{path} is damaged: fix it or run `python -m backend models promote VERSION`.") from exc


def _write_active(model_dir: Path, state: dict[str, Any]) -> None:
    tmp = model_dir / (ACTIVE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, model_dir / ACTIVE)  # atomic: a server reading it never sees half a file


def active_version(model_dir: Path) -> str | None:
    """The version being served, or None when nothing was promoted."""
    return _read_active(Path(model_dir)).get("version")


def list_versions(model_dir: Path) -> list[dict[str, Any]]:
    """Every bundle in the registry with its headline figures, oldest first."""
    model_dir = Path(model_dir)
    active = active_version(model_dir) if model_dir.is_dir() else None
    out = []
    for card_path in sorted(model_dir.glob(f"*/{CARD}")):
        try:
            card = json.loads(card_path.read_text())
        except json.JSONDecodeError:
            continue
        metrics = card.get("metrics", {}).get("classifier", {})
        out.append({"version": card_path.parent.name, "trained_at": card.get("trained_at"),
                    "auc": metrics.get("auc"), "precision": metrics.get("precision"),
                    "recall": metrics.get("recall"), "promotable": card.get("promotable"),
                    "active": card_path.parent.name == active})
    return sorted(out, key=lambda v: (v["trained_at"] or "", v["version"]))


def promote(model_dir: Path, version: str) -> None:
    """Make ``version`` the active model (remembering the previous one for rollback)."""
    model_dir = Path(model_dir)
    if not (model_dir / version / CARD).is_file():
        raise BadInput(f"There is no model version '{version}' in {model_dir}. "
                       "See `python -m backend models list`.")
    state = _read_active(model_dir)
    if state.get("version") == version:
        return
    history = [v for v in state.get("history", []) if v != version]
    if state.get("version"):
        history.append(state["version"])
    _write_active(model_dir, {"version": version, "history": history})


def rollback(model_dir: Path) -> str:
    """Go back to the previously active version; returns it."""
    model_dir = Path(model_dir)
    state = _read_active(model_dir)
    history = list(state.get("history", []))
    while history:
        previous = history.pop()
        if (model_dir / previous / CARD).is_file():
            _write_active(model_dir, {"version": previous, "history": history})
            return previous
    raise BadInput("There is no earlier model version to roll back to.")


def resolve(model: Path | str | None, model_dir: Path) -> Path:
    """The bundle directory to use: ``--model DIR`` (a bundle or a registry) or the active one."""
    if model is not None:
        path = Path(model)
        if (path / CARD).is_file():
            return path
        if (path / ACTIVE).is_file():
            model_dir = path
        else:
            raise ModelUnavailable(f"{path} is not a model bundle (no {CARD}) nor a models directory "
                                   f"(no {ACTIVE}).")
    version = active_version(Path(model_dir))
    if not version:
        raise ModelUnavailable(f"No active model in {model_dir}. Train one with "
                               "`python -m backend train DATA --target COL --positive VALUE`.")
    return Path(model_dir) / version


def load_active(model_dir: Path) -> ModelBundle:
    """Load the active bundle of a registry (hash-checked)."""
    return ModelBundle.load(resolve(None, Path(model_dir)))
