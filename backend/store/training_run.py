"""One training run into a registry, the same for the CLI and the HTTP training jobs.

train → attach the model report → save the bundle → promote it if it passed its gates (or
when forced) → append the run to the experiment log.  The caller decides how to show it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.errors import LeadScoreError
from backend.store import experiments, registry

ProgressFn = Any  # (stage, done, total) -> None, as backend.core.train.train takes it


@dataclass
class RunOutcome:
    """What a training run produced and what became of it."""

    result: Any            # backend.core.train.TrainResult
    bundle_dir: Path
    promoted: bool
    outcome: str           # "promoted", "promoted (forced)" or "not promoted"
    reason: str
    elapsed_s: float
    log_path: Path
    previous: str | None   # the version that was active before this run

    @property
    def card(self) -> dict[str, Any]:
        """The new bundle's card."""
        return self.result.bundle.card


def active_or_none(model_dir: Path, notes: list[str] | None = None) -> Any:
    """The registry's active bundle, or None (nothing promoted yet, or it does not load)."""
    try:
        return registry.load_active(model_dir)
    except LeadScoreError as exc:
        if notes is not None and registry.active_version(model_dir) is not None:
            notes.append(f"the active model could not be loaded for comparison ({exc.detail})")
        return None


def run_training(frame: Any, config: Any, out_dir: Path, *, source: str, command: str, force: bool = False,
                 auto_promote: bool = True, progress: ProgressFn | None = None,
                 mlflow_uri: str | None = None, mlflow_experiment: str = "lead-score",
                 notes: list[str] | None = None, trainer: Any = None) -> RunOutcome:
    """Train, store the bundle, promote it if it passed (or ``force``), log the run.

    With ``auto_promote`` False nothing is promoted: the bundle waits for a decision
    (``registry.promote``).  ``trainer`` replaces the single-process ``train(frame, config, …)``
    (``frame`` is then unused): called as ``trainer(config, progress=…, active=…)``, it returns a
    ``TrainResult`` — the Dask engine (``backend.scale.dask_train``) is one.
    """
    from backend.core.train import train
    from backend.reports.model_report import attach_report

    out_dir = Path(out_dir)
    previous = registry.active_version(out_dir) if (out_dir / registry.ACTIVE).is_file() else None
    active = active_or_none(out_dir, notes)
    started = time.perf_counter()
    if trainer is None:
        result = train(frame, config, progress=progress, active=active)
    else:
        result = trainer(config, progress=progress, active=active)
    elapsed = time.perf_counter() - started
    card = result.bundle.card
    if result.heldout is not None:  # the model report travels with the bundle (sealed by its card)
        if progress is not None:
            progress("report", 0, 1)
        attach_report(result)
    if progress is not None:
        progress("saving", 0, 1)
    bundle_dir = result.bundle.save(out_dir / card["version"])
    promoted = auto_promote and (result.passed or force)
    if promoted:
        registry.promote(out_dir, card["version"])
    if result.passed:
        outcome, reason = ("promoted" if promoted else "not promoted"), "passed every quality gate"
    elif force and promoted:
        outcome, reason = "promoted (forced)", "failed gates, promoted with --force: " + " ".join(result.failures)
    else:
        outcome, reason = "not promoted", " ".join(result.failures)
    if not auto_promote and result.passed:
        reason += "; waiting for a decision to promote it"
    log_path = experiments.record(out_dir, experiments.entry_for(
        card, command=command, source=source, promoted=promoted, outcome=outcome, reason=reason, elapsed_s=elapsed),
        mlflow_uri=mlflow_uri, mlflow_experiment=mlflow_experiment)
    return RunOutcome(result, bundle_dir, promoted, outcome, reason, elapsed, log_path, previous)
