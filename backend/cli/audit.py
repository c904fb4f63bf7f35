"""``audit``: print the latest entries of the audit log (who scored or trained what, and how it went)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from backend.cli.common import EXIT_OK
from backend.config import Settings


def add_parsers(sub: Any) -> None:
    """The ``audit`` sub-command."""
    a = sub.add_parser("audit", help="print recent scoring and training requests from the audit log")
    a.add_argument("--limit", type=int, default=20, help="how many entries (default 20, newest first)")
    a.add_argument("--action", help="only this action (score, sheets.score, train, train finished, promote, rollback)")
    a.add_argument("--model", help="only this model name")
    a.add_argument("--db", type=Path, help="the audit database (default: LEADSCORE_AUDIT_DB or <models>/audit.sqlite3)")
    a.add_argument("--json", action="store_true", help="one JSON object per line")
    a.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from backend.store.audit import AuditLog

    path = Path(args.db or settings.audit_path)
    entries = AuditLog(path).recent(max(1, args.limit), action=args.action, model=args.model)
    if args.json:
        for entry in entries:
            print(json.dumps(entry, sort_keys=True))
        return EXIT_OK
    if not entries:
        print(f"No entries in {path}.")
        return EXIT_OK
    print(f"{len(entries)} most recent entries in {path} (newest first):")
    for e in entries:
        model = f"{e['model'] or '-'}@{e['version'] or '-'}"
        took = f"{e['duration_ms']:.0f} ms" if e["duration_ms"] is not None else "-"
        rows = e["rows"] if e["rows"] is not None else "-"
        line = (f"{e['at']}  {e['action']:<14} {e['outcome']:<18} who={e['who'] or '-'}  model={model}  "
                f"sheet={e['sheet'] or '-'}  rows={rows}  {took}")
        print(line)
        if e["detail"]:
            print(f"    {e['detail']}")
    return EXIT_OK
