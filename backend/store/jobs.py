"""Training jobs: history uploaded in chunks, trained in the background, progress on disk.

A sheet's history can be tens of thousands of rows, more than one request should carry, so
it arrives in chunks: an *upload* is created with the header, rows are appended to it, and
a *job* trains on it.  Uploads and jobs are files under the models directory
(``.uploads/<id>/`` and ``.jobs/<id>.json``), so any server process (the server runs several)
can take the next chunk or answer a progress question, and a job outlives the request that
started it.  Each process trains on one worker thread, fed by a bounded queue: a full queue
refuses new jobs (try again shortly) instead of piling them up.

Training itself is :func:`backend.store.training_run.run_training`, the code ``python -m
backend train`` runs.  Nothing here knows about HTTP.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.errors import BadInput, Busy, LeadScoreError, NotFound, TooLarge
from backend.store.registry import file_lock

UPLOADS = ".uploads"
JOBS = ".jobs"
MAX_UPLOAD_ROWS = 250_000
STALE_AFTER_S = 15 * 60       # a running job with no progress for this long was interrupted
UPLOAD_TTL_S = 24 * 3600      # unfinished uploads older than this are removed
_ID = re.compile(r"[0-9a-f]{32}")

# Overall percent: each training stage fills its own band, in the order train() runs them.
STAGE_BANDS: dict[str, tuple[float, float]] = {
    "queued": (0, 0), "reading": (0, 5), "tuning": (5, 30), "classifier": (30, 65),
    "cross-validation": (65, 75), "mrr": (75, 90), "report": (90, 97), "saving": (97, 99),
}

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise NotFound(f"There is no {what} '{str(value)[:40]}'.")
    return value


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)  # atomic: a reader never sees half a file


@dataclass
class TrainSpec:
    """What to train on an upload (the sidebar's choices)."""

    target: str
    positive: str
    negatives: list[str] = field(default_factory=list)
    value: str | None = None
    drop: list[str] = field(default_factory=list)
    gates: dict[str, float] = field(default_factory=dict)   # min_auc, min_precision, min_recall
    auto_promote: bool = True                                # promote when the gates pass (as the CLI does)

    def to_json(self) -> dict[str, Any]:
        """The spec as recorded with the job."""
        return {"target": self.target, "positive": self.positive, "negatives": self.negatives, "value": self.value,
                "drop": self.drop, "gates": self.gates, "auto_promote": self.auto_promote}


class JobRunner:
    """Uploads, a bounded queue and one worker thread training jobs into ``root/<model name>/``.

    ``config_defaults`` are passed to every ``TrainConfig`` (e.g. fewer boosting rounds);
    ``on_finish(job)`` is called with each finished job's record (for the audit log).
    """

    def __init__(self, root: Path | str, *, max_queued: int = 4, config_defaults: dict[str, Any] | None = None,
                 on_finish: Callable[[dict[str, Any]], None] | None = None, mlflow_uri: str | None = None,
                 mlflow_experiment: str = "lead-score") -> None:
        self.root = Path(root)
        self.config_defaults = dict(config_defaults or {})
        self.on_finish = on_finish
        self.mlflow_uri, self.mlflow_experiment = mlflow_uri, mlflow_experiment
        self._queue: queue.Queue[str] = queue.Queue(maxsize=max_queued)
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------------ uploads

    def _upload_dir(self, model: str, upload_id: str) -> Path:
        path = self.root / UPLOADS / _check_id(upload_id, "upload")
        meta = path / "meta.json"
        if not meta.is_file() or json.loads(meta.read_text()).get("model") != model:
            raise NotFound(f"There is no upload '{upload_id}' for model '{model}'. Start the upload again.")
        return path

    def create_upload(self, model: str, header: list[str], *, who: str | None = None) -> dict[str, Any]:
        """A new, empty upload of rows under ``header``; returns its record."""
        self._sweep_uploads()
        upload_id = uuid.uuid4().hex
        path = self.root / UPLOADS / upload_id
        path.mkdir(parents=True)
        record = {"upload_id": upload_id, "model": model, "header": header, "rows": 0, "created_at": _now(),
                  "who": who}
        _write_json(path / "meta.json", record)
        (path / "rows.jsonl").touch()
        return {k: record[k] for k in ("upload_id", "model", "rows", "created_at")}

    def upload_header(self, model: str, upload_id: str) -> list[str]:
        """The header an upload's rows are sent under."""
        return list(json.loads((self._upload_dir(model, upload_id) / "meta.json").read_text())["header"])

    def append_rows(self, model: str, upload_id: str, rows: list[list[Any]]) -> dict[str, Any]:
        """Append a chunk of rows (each as wide as the header) to an upload; returns its record."""
        path = self._upload_dir(model, upload_id)
        with file_lock(path / ".lock"):
            meta = json.loads((path / "meta.json").read_text())
            if meta.get("job_id"):
                raise BadInput("This upload is already being trained on; start a new upload to add rows.")
            total = meta["rows"] + len(rows)
            if total > MAX_UPLOAD_ROWS:
                raise TooLarge(f"An upload holds at most {MAX_UPLOAD_ROWS:,} rows; this chunk would make it "
                               f"{total:,}. Train on the most recent {MAX_UPLOAD_ROWS:,} rows.")
            with (path / "rows.jsonl").open("a") as fh:
                fh.write(json.dumps(rows, default=str) + "\n")
            meta["rows"] = total
            _write_json(path / "meta.json", meta)
        return {"upload_id": upload_id, "model": model, "rows": total, "created_at": meta["created_at"]}

    def _read_upload(self, path: Path) -> tuple[list[str], list[list[Any]]]:
        meta = json.loads((path / "meta.json").read_text())
        rows: list[list[Any]] = []
        with (path / "rows.jsonl").open() as fh:
            for line in fh:
                if line.strip():
                    rows.extend(json.loads(line))
        return meta["header"], rows

    def _sweep_uploads(self) -> None:
        folder = self.root / UPLOADS
        if not folder.is_dir():
            return
        cutoff = time.time() - UPLOAD_TTL_S
        for child in folder.iterdir():
            try:
                if child.is_dir() and child.stat().st_mtime < cutoff:
                    shutil.rmtree(child, ignore_errors=True)
            except OSError:
                continue

    # ------------------------------------------------------------------ jobs

    def _job_path(self, job_id: str) -> Path:
        return self.root / JOBS / f"{_check_id(job_id, 'training job')}.json"

    def submit(self, model: str, upload_id: str, spec: TrainSpec, *, who: str | None = None,
               sheet: str | None = None) -> dict[str, Any]:
        """Queue a training job on an upload; returns the job's record (state ``queued``)."""
        path = self._upload_dir(model, upload_id)
        job_id = uuid.uuid4().hex
        with file_lock(path / ".lock"):
            meta = json.loads((path / "meta.json").read_text())
            if meta.get("job_id"):
                raise BadInput(f"This upload is already being trained on (job {meta['job_id']}).")
            if not meta["rows"]:
                raise BadInput("The upload holds no rows: send the sheet's history rows before training.")
            job = {"job_id": job_id, "model": model, "upload_id": upload_id, "state": "queued", "stage": "queued",
                   "percent": 0, "rows": meta["rows"], "sheet": sheet, "who": who, "spec": spec.to_json(),
                   "created_at": _now(), "updated_at": _now(), "result": None, "error": None}
            (self.root / JOBS).mkdir(parents=True, exist_ok=True)
            _write_json(self._job_path(job_id), job)
            try:
                self._queue.put_nowait(job_id)
            except queue.Full:
                self._job_path(job_id).unlink(missing_ok=True)
                raise Busy(f"{self._queue.maxsize} training jobs are already waiting on this server. "
                           "Try again in a few minutes.") from None
            meta["job_id"] = job_id
            _write_json(path / "meta.json", meta)
        self._ensure_worker()
        return job

    def get(self, job_id: str) -> dict[str, Any]:
        """A job's record: state, stage, percent, and its result or error when finished."""
        path = self._job_path(job_id)
        try:
            job = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotFound(f"There is no training job '{job_id}'.") from None
        if job["state"] in ("queued", "running"):
            updated = datetime.fromisoformat(job["updated_at"]).timestamp()
            if time.time() - updated > STALE_AFTER_S:
                job = {**job, "state": "failed", "error": {
                    "title": "Interrupted",
                    "detail": "Training stopped without finishing (the server restarted). Train again."}}
        return job

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Block until the job finishes (for scripts and tests); returns its record."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
                return job
            time.sleep(0.05)

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="leadscore-training", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            try:
                self._run(job_id)
            except Exception:  # the worker must survive any one job
                log.exception("training job %s crashed", job_id)
            finally:
                self._queue.task_done()

    def _update(self, job: dict[str, Any], **changes: Any) -> None:
        job.update(changes, updated_at=_now())
        _write_json(self._job_path(job["job_id"]), job)

    def _run(self, job_id: str) -> None:
        job = json.loads(self._job_path(job_id).read_text())
        started = time.perf_counter()
        self._update(job, state="running", stage="reading", percent=1, started_at=_now())
        try:
            result = self._train(job)
        except LeadScoreError as exc:
            self._update(job, state="failed", error={"title": type(exc).__name__, "detail": exc.detail,
                                                     **({"column": exc.column} if exc.column else {})})
        except Exception as exc:
            log.exception("training job %s failed", job_id)
            self._update(job, state="failed", error={"title": "Internal error", "detail":
                         f"Training failed unexpectedly ({exc.__class__.__name__}); it has been logged."})
        else:
            self._update(job, state="succeeded", stage="done", percent=100, result=result)
        finally:
            shutil.rmtree(self.root / UPLOADS / job["upload_id"], ignore_errors=True)
        job["duration_s"] = round(time.perf_counter() - started, 3)
        self._update(job, finished_at=_now())
        if self.on_finish is not None:
            try:
                self.on_finish(job)
            except Exception:
                log.exception("recording training job %s failed", job_id)

    def _train(self, job: dict[str, Any]) -> dict[str, Any]:
        from backend.core.evaluate import Gates
        from backend.core.schema import RoleOverrides
        from backend.core.train import TrainConfig
        from backend.sources.history import values_to_frame
        from backend.store.training_run import run_training

        header, rows = self._read_upload(self.root / UPLOADS / job["upload_id"])
        frame = values_to_frame([header, *rows], "The uploaded history")
        spec = job["spec"]
        options: dict[str, Any] = {**self.config_defaults}
        gates = options.pop("gates", None) or Gates()
        if spec["gates"]:
            gates = Gates(**{**gates.to_dict(), **spec["gates"]})
        config = TrainConfig(target=spec["target"], positive=spec["positive"], negatives=spec["negatives"],
                             value=spec["value"], overrides=RoleOverrides(drop=spec["drop"]), gates=gates,
                             name=job["model"], **options)
        last = {"percent": 1.0, "written": 0.0, "stage": "reading"}

        def progress(stage: str, done: int, total: int) -> None:
            lo, hi = STAGE_BANDS.get(stage, (last["percent"], last["percent"]))
            percent = max(last["percent"], lo + (hi - lo) * (done / total if total else 1.0))
            now = time.monotonic()
            if stage != last["stage"] or now - last["written"] >= 0.5:
                last.update(percent=percent, written=now, stage=stage)
                self._update(job, stage=stage, percent=int(percent))
            else:
                last["percent"] = percent

        run = run_training(frame, config, self.root / job["model"], source=f"upload of {job['rows']} rows"
                           + (f" from {job['sheet']}" if job.get("sheet") else ""), command="train (sidebar)",
                           auto_promote=spec["auto_promote"], progress=progress, mlflow_uri=self.mlflow_uri,
                           mlflow_experiment=self.mlflow_experiment)
        return result_of(run, job["model"])


def report_path(model: str, version: str) -> str:
    """The API path of a version's report."""
    return f"/v1/models/{model}/versions/{version}/report"


def result_of(run: Any, model: str) -> dict[str, Any]:
    """A finished run as the job reports it: figures in words, gates, data quality, leakage, report link."""
    from backend.store.model_health import summary

    card = run.card
    has_report = (run.bundle_dir / "report.html").is_file()
    health = summary(card, name=model, active=run.promoted,
                     report_url=report_path(model, card["version"]) if has_report else None)
    return {
        **health,
        "promoted": run.promoted,
        "outcome": run.outcome,
        "reason": run.reason,
        "previous_version": run.previous,
        "counts": run.result.counts,
        "data_quality": card.get("data_quality"),
        "leakage": [{"column": f.column, "kind": f.kind, "why": f.why, "figure": f.figure, "excluded": f.excluded}
                    for f in run.result.leakage],
        "excluded": [{"column": c.get("name"), "reason": c.get("reason")} for c in card.get("excluded") or []
                     if c.get("role") not in ("target", "value", "leakage")],
        "notes": list(run.result.notes),
    }
