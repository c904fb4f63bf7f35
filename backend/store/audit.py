"""The audit log: who scored or trained what, with which model, on which sheet, and how it went.

One SQLite table (the standard library's ``sqlite3``; path from ``LEADSCORE_AUDIT_DB``,
default ``<models dir>/audit.sqlite3``).  Each thread of each process keeps its own
connection (opened on its first write, the table created then), so any thread or process
may write and a request pays for one insert, not a connection; WAL mode lets readers run
while a request writes, and ``synchronous=NORMAL`` commits without waiting for the disk
(WAL keeps the file consistent; a power cut can lose the last entries, never corrupt
the log).  A failure to record is logged and never fails the request it describes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


_held = threading.local()  # this thread's connections: {path: (process id, connection)}


@dataclass(frozen=True)
class AuditLog:
    """The audit log at ``path`` (created on first write)."""

    path: Path

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=5.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (a forked process opens its own), in one transaction."""
        held = _held.__dict__.setdefault("connections", {})
        key = str(self.path)
        entry = held.get(key)
        if entry is None or entry[0] != os.getpid() or not self.path.exists():
            entry = held[key] = (os.getpid(), self._open())
        conn = entry[1]
        try:
            with conn:  # one transaction
                yield conn
        except sqlite3.Error:
            held.pop(key, None)  # open afresh next time
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            raise

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
