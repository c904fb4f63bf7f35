"""Models per sheet over HTTP: chunked uploads, background training jobs, health, promote, audit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.core.evaluate import Gates
from backend.sample.generate import generate
from backend.store.audit import AuditLog
from tests.conftest import TINY_ROUNDS
from tests.test_web_openapi import RecordingWriter
from tests.test_web_support import KEY_HEADERS, assert_documented, make_app, post_json, web_settings

SHEET_A = "1SheetAlphaPipeline0123456789"
SHEET_B = "1SheetBravoPartners9876543210"
# On a few hundred rows the held-out recall swings by ±0.15 between seeds: outside the gate tests,
# gates are lenient and a model that still misses one is promoted explicitly (force).
LENIENT = {"min_auc": 0.5, "min_precision": 0.0, "min_recall": 0.0}
STRICT = {"min_auc": 0.99, "min_precision": 0.99, "min_recall": 0.99}
CHUNK = 150


def cells(frame: pd.DataFrame) -> list[list[Any]]:
    """Rows as Range.getValues() gives them (blanks as "")."""
    return frame.astype(object).where(frame.notna(), "").values.tolist()


def sheet_a() -> pd.DataFrame:
    """The sample sheet's columns."""
    return generate(rows=500, seed=21)


def sheet_b() -> pd.DataFrame:
    """Another team's sheet: fewer columns, its own names, another outcome column."""
    frame = generate(rows=500, seed=22)[["Lead ID", "Company", "Lead Source", "Demo Booked", "Trial Signup",
                                         "Pages Visited", "Employees", "Status", "MRR"]]
    return frame.rename(columns={"Lead Source": "Channel", "Demo Booked": "Had Demo", "Pages Visited": "Site Pages",
                                 "Employees": "Headcount", "Status": "Result", "MRR": "Monthly Value"})


def new_app(folder: Path, fallback: Path) -> Flask:
    """An app whose models live in ``folder`` (the tiny model as the default), training kept small."""
    settings = web_settings(folder / "models", fallback_model_dir=fallback, audit_db=folder / "audit.sqlite3")
    app = make_app(settings, sheets_writer=RecordingWriter())
    app.config["LEADSCORE_TRAIN_DEFAULTS"] = {"max_rounds": TINY_ROUNDS,
                                              "gates": Gates(**LENIENT, max_calibration_error=1.0)}
    return app


@pytest.fixture()
def app(tmp_path: Path, tiny_models_dir: Path) -> Flask:
    return new_app(tmp_path, tiny_models_dir)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> dict[str, Any]:
    """Two sheets with different columns, each trained through the job API into its own model."""
    folder = tmp_path_factory.mktemp("pair")
    app = new_app(folder, tiny_models_dir)
    client = app.test_client()
    a, b = sheet_a(), sheet_b()
    job_a, seen = trained(client, SHEET_A, a, target="Status", positive="Won", value="MRR", sheet="Leads",
                          spreadsheet_id=SHEET_A, gates=LENIENT)
    job_b, _ = trained(client, SHEET_B, b, target="Result", positive="Won", value="Monthly Value", gates=LENIENT)
    return {"app": app, "folder": folder, "a": a, "b": b, "job_a": job_a, "job_b": job_b, "seen": seen}


def upload(client: FlaskClient, name: str, frame: pd.DataFrame) -> str:
    """Send the history as the add-on does: the header with a first chunk, then the other chunks."""
    rows = cells(frame)
    response = post_json(client, f"/v1/models/{name}/uploads", {"header": list(frame.columns), "rows": rows[:CHUNK]})
    assert response.status_code == 201, response.data
    body = assert_documented("POST", "/v1/models/{name}/uploads", response)
    for start in range(CHUNK, len(rows), CHUNK):
        response = post_json(client, f"/v1/models/{name}/uploads/{body['upload_id']}",
                             {"rows": rows[start:start + CHUNK]})
        assert response.status_code == 200, response.data
        assert assert_documented("POST", "/v1/models/{name}/uploads/{upload_id}", response)["rows"] == min(
            start + CHUNK, len(rows))
    return str(body["upload_id"])


def train(client: FlaskClient, name: str, frame: pd.DataFrame, **options: Any) -> tuple[dict[str, Any], list[dict]]:
    """Upload, start training (202 at once), poll the job until it finishes; returns (job, polls seen)."""
    upload_id = upload(client, name, frame)
    response = post_json(client, f"/v1/models/{name}/train", {"upload_id": upload_id, **options})
    assert response.status_code == 202, response.data
    job = assert_documented("POST", "/v1/models/{name}/train", response)
    assert job["state"] in ("queued", "running") and response.headers["Location"] == job["status_url"]
    seen = []
    deadline = time.monotonic() + 120
    while job["state"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.01)
        response = client.get(job["status_url"], headers=KEY_HEADERS)
        job = assert_documented("GET", "/v1/jobs/{job_id}", response)
        seen.append({k: job[k] for k in ("state", "stage", "percent")})
    return job, seen


def trained(client: FlaskClient, name: str, frame: pd.DataFrame, **options: Any) -> tuple[dict[str, Any], list[dict]]:
    """``train`` and make sure the new version serves (promoted by its gates, or forced)."""
    job, seen = train(client, name, frame, **options)
    assert job["state"] == "succeeded", job["error"]
    if not job["result"]["promoted"]:
        response = post_json(client, f"/v1/models/{name}/promote", {"version": job["result"]["version"], "force": True})
        assert response.status_code == 200, response.data
    return job, seen


def score(client: FlaskClient, frame: pd.DataFrame, model: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"header": list(frame.columns), "rows": cells(frame.head(20))}
    if model is not None:
        payload["model"] = model
    response = post_json(client, "/v1/score", payload)
    assert response.status_code == 200, response.data
    return assert_documented("POST", "/v1/score", response)


def test_a_jobs_progress_is_observable_while_it_trains(pair: dict[str, Any]) -> None:
    seen = pair["seen"]
    running = [s for s in seen if s["state"] == "running"]
    assert running and any(0 < s["percent"] < 100 for s in running)
    assert {s["stage"] for s in running} & {"classifier", "mrr", "report", "saving"}
    percents = [s["percent"] for s in seen]
    assert percents == sorted(percents) and percents[-1] == 100 and seen[-1]["state"] == "succeeded"


def test_two_sheets_with_different_columns_train_and_score_with_their_own_models(pair: dict[str, Any]) -> None:
    client, a, b, job_a, job_b = (pair[k] for k in ("app", "a", "b", "job_a", "job_b"))
    client = client.test_client()
    for job in (job_a, job_b):
        assert job["result"]["promoted"] is job["result"]["gates"]["passed"]  # auto-promoted when it passed

    res_a = score(client, a, SHEET_A)
    res_b = score(client, b, SHEET_B)
    assert res_a["model"] == {"name": SHEET_A, "version": job_a["result"]["version"]}
    assert res_b["model"] == {"name": SHEET_B, "version": job_b["result"]["version"]}
    assert job_a["result"]["version"] != job_b["result"]["version"]
    assert all(r["lead_score"] is not None for r in res_a["results"] + res_b["results"])
    # Sheet B's rows hold none of model A's engagement columns: model A says so, model B does not.
    missing_b_under_a = [w for w in score(client, b, SHEET_A)["warnings"] if w.get("code") == "missing_columns"]
    assert missing_b_under_a and not [w for w in res_b["warnings"] if w.get("code") == "missing_columns"]

    # No model named: the default (fallback) model; /v1/sheets/score picks the sheet's own model by its id.
    assert score(client, a, None)["model"]["name"] != SHEET_A
    sheet_rows = [{"row": i + 2, "values": row} for i, row in enumerate(cells(b.head(5)))]
    response = post_json(client, "/v1/sheets/score", {"spreadsheet_id": SHEET_B, "sheet": "Leads",
                                                      "header": list(b.columns), "rows": sheet_rows})
    assert response.status_code == 200, response.data
    assert assert_documented("POST", "/v1/sheets/score", response)["model"]["name"] == SHEET_B

    listed = assert_documented("GET", "/v1/models", client.get("/v1/models", headers=KEY_HEADERS))
    assert {m["name"] for m in listed["models"]} == {SHEET_A, SHEET_B}


def test_a_finished_job_lists_gates_words_leakage_and_a_working_report_link(pair: dict[str, Any]) -> None:
    client = pair["app"].test_client()
    result = pair["job_a"]["result"]
    assert set(result["gates"]) >= {"passed", "forced", "failures", "min_auc"}
    assert result["heldout"]["n"] > 0 and 0 <= result["heldout"]["precision"] <= 1
    of_ten = round(10 * result["heldout"]["precision"])
    assert f"Of 10 leads it calls likely, {of_ten} closed" in " ".join(result["in_words"])
    assert isinstance(result["leakage"], list) and result["counts"]["labelled"] > 0
    report = client.get(result["report_url"], headers=KEY_HEADERS)
    assert report.status_code == 200 and report.mimetype == "text/html" and b"<html" in report.data.lower()
    health = assert_documented("GET", "/v1/models/{name}", client.get(f"/v1/models/{SHEET_A}", headers=KEY_HEADERS))
    assert health["version"] == result["version"] and health["name"] == SHEET_A
    assert health["status"] == ("ok" if result["gates"]["passed"] else "degraded")
    assert health["leads"]["labelled"] == result["counts"]["labelled"]


def test_a_model_that_fails_its_gates_waits_and_promoting_it_anyway_is_degraded(app: Flask) -> None:
    client = app.test_client()
    first, _ = train(client, SHEET_A, sheet_a().head(300), target="Status", positive="Won", gates=STRICT)
    result = first["result"]
    assert result["promoted"] is False and result["gates"]["passed"] is False and result["gates"]["failures"]
    assert client.get(f"/v1/models/{SHEET_A}", headers=KEY_HEADERS).status_code == 404  # no model yet

    refused = post_json(client, f"/v1/models/{SHEET_A}/promote", {"version": result["version"]})
    assert refused.status_code == 400
    assert "failed its quality gates" in assert_documented("POST", "/v1/models/{name}/promote", refused)["detail"]
    forced = post_json(client, f"/v1/models/{SHEET_A}/promote", {"version": result["version"], "force": True})
    body = assert_documented("POST", "/v1/models/{name}/promote", forced)
    assert body["version"] == result["version"] and body["status"] == "degraded" and body["gates"]["forced"]
    assert score(client, sheet_a(), SHEET_A)["model"]["version"] == result["version"]

    second, _ = train(client, SHEET_A, sheet_a().tail(300), target="Status", positive="Won", gates=STRICT)
    assert second["result"]["promoted"] is False and second["result"]["previous_version"] == result["version"]
    health = assert_documented("GET", "/v1/models/{name}", client.get(f"/v1/models/{SHEET_A}", headers=KEY_HEADERS))
    assert health["version"] == result["version"]  # Keep current: the one serving stays

    post_json(client, f"/v1/models/{SHEET_A}/promote", {"version": second["result"]["version"], "force": True})
    back = client.post(f"/v1/models/{SHEET_A}/rollback", headers=KEY_HEADERS)
    assert assert_documented("POST", "/v1/models/{name}/rollback", back)["version"] == result["version"]


def test_a_failed_training_reports_why(app: Flask) -> None:
    client = app.test_client()
    job, _ = train(client, SHEET_A, sheet_a(), target="No Such Column", positive="Won")
    assert job["state"] == "failed" and "No Such Column" in job["error"]["detail"]
    assert job["result"] is None


@pytest.mark.parametrize("name", ["..", ".hidden", "a b", "x" * 201, "semi;colon", "uploads", "%2e%2e"])
def test_an_invalid_model_name_is_refused(app: Flask, name: str) -> None:
    client = app.test_client()
    response = post_json(client, f"/v1/models/{name}/uploads", {"header": ["Status"]})
    assert response.status_code in (400, 404)
    problem = orjson.loads(response.data)
    assert response.mimetype == "application/problem+json"
    if response.status_code == 400:
        assert "not a model name" in problem["detail"]
    scored = post_json(client, "/v1/score", {"header": ["Status"], "rows": [["Won"]], "model": name})
    assert scored.status_code == 400 and "not a model name" in orjson.loads(scored.data)["detail"]
    assert not any(p.name.startswith(".") is False and p.name == name for p in Path(app.extensions["leadscore"]
                   .settings.model_dir).glob("*"))


def test_a_path_in_the_model_name_never_reaches_the_disk(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    for path in ("/v1/models/../uploads", "/v1/models/a/b/uploads", "/v1/models/%2F..%2Fx/uploads"):
        response = post_json(client, path, {"header": ["Status"]})
        assert response.status_code in (400, 404), path
    assert not (tmp_path / "x").exists() and not (tmp_path / "uploads").exists()


def test_an_unknown_model_or_job_is_404(app: Flask) -> None:
    client = app.test_client()
    response = post_json(client, "/v1/score", {"header": ["Status"], "rows": [["Won"]], "model": "nobody-trained-me"})
    assert response.status_code == 404 and "Train" in orjson.loads(response.data)["detail"]
    assert client.get("/v1/jobs/" + "0" * 32, headers=KEY_HEADERS).status_code == 404
    assert client.get("/v1/models/nobody-trained-me", headers=KEY_HEADERS).status_code == 404


def test_the_audit_log_records_scoring_and_training(pair: dict[str, Any]) -> None:
    client, job = pair["app"].test_client(), pair["job_a"]
    score(client, pair["a"], SHEET_A)
    post_json(client, "/v1/score", {"header": ["Status"], "rows": [["Won"]], "model": "nobody-trained-me"})
    entries = AuditLog(pair["folder"] / "audit.sqlite3").recent(50)
    by_action: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_action.setdefault(entry["action"], []).append(entry)
    scored = by_action["score"]
    ok = next(e for e in scored if e["outcome"] == "ok" and e["model"] == SHEET_A)
    assert ok["version"] == job["result"]["version"] and ok["rows"] == 20
    assert ok["who"].startswith("api-key") and ok["duration_ms"] > 0
    failed = next(e for e in scored if e["outcome"] != "ok")
    assert failed["outcome"] == "error 404" and "nobody-trained-me" in failed["detail"]
    requested = next(e for e in by_action["train"] if e["model"] == SHEET_A)
    assert requested["outcome"] == "accepted" and requested["rows"] == 500
    assert requested["sheet"] == f"{SHEET_A}/Leads"
    finished = next(e for e in by_action["train finished"] if e["model"] == SHEET_A)
    assert finished["outcome"] == job["result"]["outcome"] and finished["version"] == job["result"]["version"]
    assert finished["who"] == requested["who"] and finished["rows"] == 500
    assert any(e["action"] == "sheets.score" and e["model"] == SHEET_B for e in entries)


def test_models_survive_a_restart_and_the_sample_stays_the_default(pair: dict[str, Any], tiny_models_dir: Path,
                                                                   tiny_bundle: Any) -> None:
    # A new process on the same models directory (the mounted volume) serves what was trained before.
    restarted = new_app(pair["folder"], tiny_models_dir).test_client()
    assert score(restarted, pair["a"], SHEET_A)["model"]["version"] == pair["job_a"]["result"]["version"]
    health = restarted.get("/healthz")
    assert health.status_code == 200 and health.get_json()["model"]["version"] == tiny_bundle.version
    # An empty volume: the default model still serves requests that name none.
    empty = new_app(pair["folder"] / "empty", tiny_models_dir).test_client()
    assert score(empty, pair["a"], None)["model"] == tiny_bundle.ref
