"""Models per sheet over HTTP: health, history uploads, training jobs, promote and rollback.

    GET  /v1/models                                   the model names with an active model
    GET  /v1/models/<name>                            its health: version, figures in words, gates
    GET  /v1/models/<name>/versions/<v>/report        a version's report (HTML)
    POST /v1/models/<name>/uploads                    start an upload of history rows (201)
    POST /v1/models/<name>/uploads/<upload_id>        append a chunk of rows
    POST /v1/models/<name>/train                      train on an upload in the background (202)
    GET  /v1/jobs/<job_id>                            a job's stage, percent and result
    POST /v1/models/<name>/promote | /rollback        Promote / Keep current

Views parse, call the store (``backend.store``) and serialize; training runs on the job
runner's worker thread (``backend.store.jobs``), never in the request.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g

from backend.errors import BadInput, NotFound
from backend.store import registry
from backend.store.bundle import CARD, REPORT, ModelBundle
from backend.store.jobs import TrainSpec, report_path
from backend.store.model_health import summary
from backend.web.audit import who
from backend.web.context import require_auth
from backend.web.payloads import _cells, _header, _row_limit, json_object, json_response, read_json
from backend.web.state import current_settings
from backend.web.workspace import job_runner, workspaces

bp = Blueprint("jobs", __name__, url_prefix="/v1")
bp.before_request(require_auth)

_GATES = ("min_auc", "min_precision", "min_recall")


def _body(required: tuple[str, ...], optional: tuple[str, ...], example: str) -> dict[str, Any]:
    return json_object(read_json(), required=required, optional=optional, example=example)


def _text(body: dict[str, Any], key: str, *, required: bool = False, limit: int = 200) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip() \
            or len(str(value)) > limit:
        raise BadInput(f"'{key}' must be a column name or cell value (1-{limit} characters).")
    return str(value).strip() if isinstance(value, str) else str(value)


def _texts(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise BadInput(f"'{key}' must be a list of column names or values.")
    return [v.strip() for v in value]


def _health(name: str) -> dict[str, Any]:
    path = workspaces().require(name)
    bundle = workspaces().bundle(name)
    has_report = (path / bundle.version / REPORT).is_file()
    return summary(bundle.card, name=name, active=True,
                   report_url=report_path(name, bundle.version) if has_report else None)


@bp.get("/models")
def list_models() -> Response:
    """The model names kept on this server, with their active versions."""
    spaces = workspaces()
    out = []
    for name in spaces.names():
        out.append({"name": name, "version": registry.active_version(spaces.path(name))})
    return json_response({"models": out})


@bp.get("/models/<name>")
def health(name: str) -> Response:
    """The model's health: version, trained when, on how many leads, held-out figures, gates, report."""
    return json_response(_health(name))


@bp.get("/models/<name>/versions/<version>/report")
def report(name: str, version: str) -> Response:
    """A version's model report (self-contained HTML), checked against its card's hash."""
    path = workspaces().path(name) / registry.check_version_name(version)
    if not (path / CARD).is_file():
        raise NotFound(f"Model '{name}' has no version '{version}'.")
    bundle = ModelBundle.load(path)
    if REPORT not in (bundle.card.get("files") or {}):
        raise NotFound(f"Version '{version}' of model '{name}' has no report: retrain it to get one.")
    data = bundle.read_attachment(REPORT)
    response = Response(data, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return response


@bp.post("/models/<name>/uploads")
def create_upload(name: str) -> Response:
    """Start an upload of history rows under a header (rows may come with it)."""
    workspaces().path(name)
    body = _body(("header",), ("rows",), '{"header": [...], "rows": [[...], ...]}')
    header = _header(body["header"])
    upload = job_runner().create_upload(name, header, who=who())
    if body.get("rows"):
        upload = _append(name, upload["upload_id"], header, body["rows"])
    response = json_response(upload, status=201)
    response.headers["Location"] = f"/v1/models/{name}/uploads/{upload['upload_id']}"
    return response


def _append(name: str, upload_id: str, header: list[str], rows: Any) -> dict[str, Any]:
    if not isinstance(rows, list):
        raise BadInput("'rows' must be a list of rows, each a list of cell values.")
    _row_limit(len(rows), current_settings().max_rows)
    checked = [_cells(row, len(header), f"rows[{i}]") for i, row in enumerate(rows)]
    return job_runner().append_rows(name, upload_id, checked)


@bp.post("/models/<name>/uploads/<upload_id>")
def append_rows(name: str, upload_id: str) -> Response:
    """Append a chunk of history rows (at most the server's row limit per request)."""
    workspaces().path(name)
    body = _body(("rows",), (), '{"rows": [[...], ...]}')
    header = job_runner().upload_header(name, upload_id)
    return json_response(_append(name, upload_id, header, body["rows"]))


@bp.post("/models/<name>/train")
def train(name: str) -> Response:
    """Queue training on an upload; answers at once with the job's id (202)."""
    workspaces().path(name)
    body = _body(("upload_id", "target", "positive"),
                 ("negatives", "value", "drop", "gates", "auto_promote", "spreadsheet_id", "sheet"),
                 '{"upload_id": "...", "target": "Status", "positive": "Won", "value": "MRR"}')
    gates = body.get("gates") or {}
    if not isinstance(gates, dict) or set(gates) - set(_GATES) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in gates.values()):
        raise BadInput(f"'gates' may set {', '.join(_GATES)}, each a number from 0 to 1.")
    auto = body.get("auto_promote", True)
    if not isinstance(auto, bool):
        raise BadInput("'auto_promote' must be true or false.")
    spec = TrainSpec(target=_text(body, "target", required=True) or "",
                     positive=_text(body, "positive", required=True) or "",
                     negatives=_texts(body, "negatives"), value=_text(body, "value"), drop=_texts(body, "drop"),
                     gates={k: float(v) for k, v in gates.items()}, auto_promote=auto)
    sheet = _text(body, "spreadsheet_id")
    if body.get("sheet") is not None:
        sheet = f"{sheet or ''}/{_text(body, 'sheet')}"
    g.audit_model = {"name": name, "version": None}
    g.audit_sheet = sheet
    job = job_runner().submit(name, str(body["upload_id"]), spec, who=who(), sheet=sheet)
    g.audit_rows = job["rows"]
    response = json_response(_job_view(job), status=202)
    response.headers["Location"] = f"/v1/jobs/{job['job_id']}"
    return response


def _job_view(job: dict[str, Any]) -> dict[str, Any]:
    keys = ("job_id", "model", "state", "stage", "percent", "rows", "created_at", "updated_at", "result", "error")
    return {**{k: job.get(k) for k in keys}, "status_url": f"/v1/jobs/{job['job_id']}"}


@bp.get("/jobs/<job_id>")
def job_status(job_id: str) -> Response:
    """A training job's state, stage and percent; its result (or error) when finished."""
    return json_response(_job_view(job_runner().get(job_id)))


@bp.post("/models/<name>/promote")
def promote(name: str) -> Response:
    """Serve a trained version of this model (one that failed its gates only with ``force``)."""
    path = workspaces().path(name)
    body = _body(("version",), ("force",), '{"version": "...", "force": false}')
    version = registry.check_version_name(body["version"])
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise BadInput("'force' must be true or false.")
    if not (path / version / CARD).is_file():
        raise NotFound(f"Model '{name}' has no version '{version}'.")
    card = json.loads((path / version / CARD).read_text())
    gates = card.get("gates") or {}
    if not gates.get("passed") and not force:
        reasons = " ".join(gates.get("failures") or []) or "its gates were not recorded."
        raise BadInput(f"Version {version} failed its quality gates: {reasons} "
                       "Promote it anyway (force) only if you accept these figures.")
    g.audit_model = {"name": name, "version": version}
    registry.promote(path, version)
    return json_response(_health(name))


@bp.post("/models/<name>/rollback")
def rollback(name: str) -> Response:
    """Go back to the version served before (Keep current, after a promotion)."""
    path = workspaces().require(name)
    version = registry.rollback(path)
    g.audit_model = {"name": name, "version": version}
    return json_response(_health(name))
