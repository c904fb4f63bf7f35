"""``python -m backend audit``: recent entries of the audit log, newest first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.cli import main
from backend.store.audit import AuditLog


def test_audit_prints_recent_entries_newest_first(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "audit.sqlite3"
    monkeypatch.setenv("LEADSCORE_AUDIT_DB", str(db))
    log = AuditLog(db)
    assert log.record(action="score", outcome="ok", who="rep@example.com", model="1SheetA", version="v1",
                      sheet="1SheetA", rows=20, duration_ms=12.5)
    assert log.record(action="train", outcome="error 400", who="api-key #1", model="team-emea",
                      detail="'target' must be a column name")
    assert main(["audit", "--limit", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "2 most recent entries" in out[0]
    assert "train" in out[1] and "error 400" in out[1] and "team-emea" in out[1]
    assert "'target' must be a column name" in out[2]
    assert "rep@example.com" in out[3] and "1SheetA@v1" in out[3] and "rows=20" in out[3]

    assert main(["audit", "--json", "--action", "score"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["who"] for e in lines] == ["rep@example.com"]


def test_audit_without_a_log_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--db", str(tmp_path / "none.sqlite3")]) == 0
    assert "No entries" in capsys.readouterr().out
    assert not (tmp_path / "none.sqlite3").exists()


def test_an_unwritable_log_never_fails_the_caller(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert AuditLog(blocker / "audit.sqlite3").record(action="score", outcome="ok") is False
