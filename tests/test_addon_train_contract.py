"""Training and scoring from the add-on's own code against the real backend and the Sheets fake.

The add-on's .gs files run in node with the Apps Script fakes (tests/addon/train_driver.js);
each UrlFetchApp call goes over real HTTP to the backend served here, which trains in its
job runner and writes scores through real gspread into the Sheets API fake.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from werkzeug.serving import make_server

from backend.core.evaluate import Gates
from backend.core.outputs import LEAD_SCORE, MODEL_VERSION
from backend.sample.generate import generate
from tests.conftest import TINY_ROUNDS
from tests.sheets_fake import SheetsFake, settings_for, sheets_fake_fixture  # noqa: F401  (fixture)
from tests.test_web_support import API_KEY, make_app

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "addon" / "train_driver.js"
NODE, CURL = shutil.which("node"), shutil.which("curl")

pytestmark = pytest.mark.skipif(NODE is None or CURL is None,
                                reason="node and curl are needed to run the add-on's code against the backend")


@pytest.fixture
def backend_url(sheets_fake: SheetsFake, tmp_path: Path, tiny_models_dir: Path) -> Iterator[str]:
    settings = settings_for(sheets_fake, sheets_fake.service_account_file(tmp_path), model_dir=tmp_path / "models",
                            fallback_model_dir=tiny_models_dir, api_keys=(API_KEY,), max_rows=500,
                            audit_db=tmp_path / "audit.sqlite3")
    app = make_app(settings)
    app.config["LEADSCORE_TRAIN_DEFAULTS"] = {"max_rounds": TINY_ROUNDS,
                                              "gates": Gates(min_auc=0.5, min_precision=0.0, min_recall=0.0,
                                                             max_calibration_error=1.0)}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_addon_trains_this_sheets_model_and_scores_with_it(backend_url: str, sheets_fake: SheetsFake) -> None:
    frame = generate(rows=400, seed=5).drop(columns=["Notes"])
    header = list(frame.columns)
    rows = orjson.loads(orjson.dumps(frame.astype(object).where(frame.notna(), "").values.tolist(),
                                     option=orjson.OPT_SERIALIZE_NUMPY))
    sid = sheets_fake.add_spreadsheet([header, *rows], sheet="Deals")
    request = {"backendUrl": backend_url, "apiKey": API_KEY, "spreadsheet_id": sid, "sheet": "Deals",
               "header": header, "rows": rows, "maxRows": 150,
               "choice": {"target": "Status", "positive": "Won", "value": "MRR"}}
    proc = subprocess.run([NODE, str(DRIVER)], input=json.dumps(request), capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)

    suggested = out["options"]["suggested"]  # the messy sample spells Won several ways
    assert suggested["target"] == "Status" and suggested["positive"].strip().lower() == "won"
    assert out["uploads"] == [150, 150, 100]  # the sheet's rows in chunks under the row limit
    job = out["job"]
    assert job["state"] == "succeeded", job["error"]
    assert {p["stage"] for p in out["polls"]} - {"queued", "reading", "done"}  # progress seen on the way
    version = job["result"]["version"]
    assert out["health"]["state"] in ("passed", "forced") and out["health"]["health"]["version"] == version
    assert out["summary"]["model"] == {"name": sid, "version": version}  # scored with this sheet's model
    assert out["summary"]["scored"] == 400

    values = sheets_fake.values(sid, "Deals")
    out_header = values[0]
    score_col, version_col = out_header.index(LEAD_SCORE), out_header.index(MODEL_VERSION)
    assert {row[version_col] for row in values[1:]} == {version}
    assert all(1 <= row[score_col] <= 10 for row in values[1:] if row[score_col] != "")
    for old, new in zip(rows, values[1:]):  # the team's own cells are untouched
        assert new[:len(header)][0] == old[0]
