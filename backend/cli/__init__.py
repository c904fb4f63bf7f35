"""The command line: ``python -m backend train | retrain | score | evaluate | serve | models | rules | segments``.

Exit codes: 0 ok, 2 usage or bad input (the message names the column / row and what to
do), 3 a quality gate failed.  ``train`` and ``retrain`` read a file or a Google Sheet tab
(``sheet://SPREADSHEET_ID/TAB``); every run is appended to ``models/experiments.jsonl``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from backend.cli import audit, models, regions, rules, score, train
from backend.cli.common import EXIT_GATE, EXIT_OK, EXIT_USAGE
from backend.cli.train import RETRAIN_LOCK
from backend.config import Settings
from backend.errors import LeadScoreError, QualityGateFailed

__all__ = ["EXIT_GATE", "EXIT_OK", "EXIT_USAGE", "RETRAIN_LOCK", "main"]

# One module per command group; each adds its sub-commands and names their functions.
GROUPS = (train, score, models, rules, regions, audit)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m backend", description="Lead scoring for Google Sheets.")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return p


def exit_code(exc: LeadScoreError) -> int:
    """The process exit code for an error: 3 a quality gate failed, 2 anything else the user can fix."""
    return EXIT_GATE if isinstance(exc, QualityGateFailed) else EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become a one-line message and an exit code, never a traceback."""
    args = _parser().parse_args(argv)
    # XGBoost's OpenMP threads spin while they wait; on a shared machine (cron host, CI) that
    # starves every other process. Passive waiting costs nothing on a dedicated one.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    settings = Settings.from_env()
    try:
        return args.func(args, settings)
    except LeadScoreError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
