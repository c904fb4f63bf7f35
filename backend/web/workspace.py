"""Which model serves a request: the one it names, the sheet's own, or the default.

The per-name registries (:class:`~backend.store.workspaces.Workspaces`) and the training
job runner live on the app (``app.extensions``), created on first need.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import current_app, g

from backend.store.workspaces import Workspaces, model_ref
from backend.web.state import app_state, current_bundle, current_settings

if TYPE_CHECKING:
    from backend.store.bundle import ModelBundle
    from backend.store.jobs import JobRunner

WORKSPACES = "leadscore.workspaces"
JOBS = "leadscore.jobs"
_lock = threading.Lock()


def _on_app(key: str, build: Callable[[], Any]) -> Any:
    """The app's object under ``key`` in ``app.extensions``, built once on first need."""
    held = current_app.extensions.get(key)
    if held is None:
        with _lock:
            held = current_app.extensions.get(key)
            if held is None:
                held = current_app.extensions[key] = build()
    return held


def workspaces() -> Workspaces:
    """The app's named model registries (under ``LEADSCORE_MODEL_DIR``)."""
    return _on_app(WORKSPACES, lambda: Workspaces(current_settings().model_dir))


def job_runner() -> JobRunner:
    """The app's training job runner (one worker thread, a bounded queue)."""
    return _on_app(JOBS, _build_job_runner)


def _build_job_runner() -> JobRunner:
    from backend.store.audit import AuditLog
    from backend.store.jobs import JobRunner

    settings = current_settings()
    audit = AuditLog(settings.audit_path)

    def finished(job: dict[str, Any]) -> None:
        result = job.get("result") or {}
        error = job.get("error") or {}
        outcome = ("failed" if job["state"] == "failed" else result.get("outcome", job["state"]))
        audit.record(action="train finished", outcome=outcome, who=job.get("who"), model=job["model"],
                     version=result.get("version"), sheet=job.get("sheet"), rows=job.get("rows"),
                     duration_ms=1000 * float(job.get("duration_s") or 0),
                     detail=error.get("detail") or result.get("reason"), request_id=job["job_id"])

    return JobRunner(settings.model_dir, on_finish=finished, mlflow_uri=settings.mlflow_uri,
                     mlflow_experiment=settings.mlflow_experiment,
                     config_defaults=current_app.config.get("LEADSCORE_TRAIN_DEFAULTS"))


def choose_model(name: str | None, spreadsheet_id: str | None = None) -> tuple[str | None, ModelBundle]:
    """(model name or None for the default model, bundle) for a request.

    ``name`` given: that model (404 when it has none); else the spreadsheet's own model when
    a registry by its id exists; else the default model.
    """
    spaces = workspaces()
    if name is None and spreadsheet_id is not None and spaces.exists(spreadsheet_id):
        name = spreadsheet_id
    if name is not None:
        g.audit_model = {"name": name, "version": None}
    return name, (spaces.bundle(name) if name is not None else current_bundle())


def scored_ref(name: str | None, bundle: ModelBundle) -> dict[str, str]:
    """Which model scored, as the answer (and the audit log) says it."""
    ref = model_ref(name, bundle)
    g.audit_model = ref
    return ref


__all__ = ["app_state", "choose_model", "job_runner", "scored_ref", "workspaces"]
