"""The audit log: who scored or trained what, with which model, on which sheet, and how it went.

One SQLite table (the standard library's ``sqlite3``; path from ``LEADSCORE_AUDIT_DB``,
default ``<models dir>/audit.sqlite3``).  Each write opens its own short connection, so any
thread or process may write; WAL mode lets readers run while a request writes.  A failure
to record is logged and never fails the request it describes.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

COLUMNS = ("at", "who", "action", "model", "version", "sheet", "rows", "duration_ms", "outcome", "detail",
           "request_id")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    who TEXT,
    action TEXT NOT NULL,
    model TEXT,
    version TEXT,
    sheet TEXT,
    rows INTEGER,
    duration_ms REAL,
    outcome TEXT NOT NULL,
    detail TEXT,
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
"""


@dataclass(frozen=True)
class AuditLog:
    """The audit log at ``path`` (created on first write)."""

    path: Path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=5.0)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            with conn:  # one transaction
                yield conn

    def record(self, *, action: str, outcome: str, who: str | None = None, model: str | None = None,
               version: str | None = None, sheet: str | None = None, rows: int | None = None,
               duration_ms: float | None = None, detail: str | None = None, request_id: str | None = None) -> bool:
        """Append one entry; False (and a log line) when it could not be written."""
        values = (datetime.now(UTC).isoformat(timespec="milliseconds"), who, action, model, version, sheet, rows,
                  None if duration_ms is None else round(float(duration_ms), 2), outcome,
                  None if detail is None else str(detail)[:500], request_id)
        try:
            with self._connect() as conn:
                conn.execute(f"INSERT INTO audit ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                             values)
        except (sqlite3.Error, OSError) as exc:
            log.error("could not write the audit log %s: %s", self.path, exc)
            return False
        return True

    def recent(self, limit: int = 50, *, action: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        """The latest entries, newest first."""
        if not self.path.is_file():
            return []
        where, args = [], []
        if action:
            where.append("action = ?")
            args.append(action)
        if model:
            where.append("model = ?")
            args.append(model)
        sql = (f"SELECT {', '.join(COLUMNS)} FROM audit {'WHERE ' + ' AND '.join(where) if where else ''} "
               "ORDER BY id DESC LIMIT ?")
        with self._connect() as conn:
            rows = conn.execute(sql, [*args, int(limit)]).fetchall()
        return [dict(zip(COLUMNS, row, strict=True)) for row in rows]
