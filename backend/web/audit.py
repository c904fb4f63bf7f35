"""Every scoring and training request goes into the audit log (``backend.store.audit``).

An ``after_request`` hook records the endpoints below once their response is known: who
called (the signed-in email or the API key's name), the model and version that served,
the sheet, how many rows, how long it took and how it went (``ok`` or the problem).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from flask import Flask, Response, current_app, g, request

from backend.store.audit import AuditLog
from backend.web.context import request_id
from backend.web.state import current_settings

AUDIT = "leadscore.audit"

# endpoint → action
AUDITED = {
    "score.score_leads": "score",
    "sheets.score_and_write": "sheets.score",
    "jobs.train": "train",
    "jobs.promote": "promote",
    "jobs.rollback": "rollback",
}


def audit_log() -> AuditLog:
    """The app's audit log (``Settings.audit_path``)."""
    held = current_app.extensions.get(AUDIT)
    if held is None:
        held = current_app.extensions[AUDIT] = AuditLog(current_settings().audit_path)
    return held


def who() -> str | None:
    """The signed-in caller, as the audit log names them."""
    principal = g.get("principal")
    return getattr(principal, "subject", None)


def _outcome(response: Response) -> tuple[str, str | None]:
    if response.status_code < 400:
        return ("accepted" if response.status_code == 202 else "ok"), None
    detail = None
    try:
        body: Any = orjson.loads(response.get_data())
        detail = body.get("detail") if isinstance(body, dict) else None
    except orjson.JSONDecodeError:
        pass
    return f"error {response.status_code}", detail


def _record(response: Response) -> Response:
    action = AUDITED.get(request.endpoint or "")
    if action is None:
        return response
    outcome, detail = _outcome(response)
    model = g.get("audit_model") or {}
    started = g.get("started")
    audit_log().record(
        action=action, outcome=outcome, detail=detail, who=who(), model=model.get("name"),
        version=model.get("version"), sheet=g.get("audit_sheet"), rows=g.get("audit_rows"),
        duration_ms=(time.perf_counter() - started) * 1000 if started is not None else None,
        request_id=request_id())
    return response


def install(app: Flask) -> None:
    """Record audited requests on ``app``."""
    app.after_request(_record)
