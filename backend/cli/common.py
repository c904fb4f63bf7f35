"""What the command modules share: exit codes, the outcome arguments, a progress bar."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

EXIT_OK, EXIT_USAGE, EXIT_GATE = 0, 2, 3


def target_args(sp: argparse.ArgumentParser) -> None:
    """--target / --positive / --negative: which column says won or lost."""
    sp.add_argument("--target", required=True, help="the outcome column (e.g. Status)")
    sp.add_argument("--positive", required=True, help="the value that means won/converted (e.g. Won, 1, yes)")
    sp.add_argument("--negative", action="append", default=[], metavar="VALUE",
                    help="a value that means lost (repeatable; default: inferred, e.g. Lost for Won)")



def progress_bar():  # type: ignore[no-untyped-def]
    """A rich progress bar on an interactive terminal; None otherwise."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   transient=True)
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(f"training {stage}", total=total)
        bar.update(tasks[stage], completed=done)

    return bar, update


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner with ``message`` while a long step runs (a file read); nothing when not a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


@contextmanager
def row_progress(description: str) -> Iterator[Callable[[int], None]]:
    """A bar counting rows as they are done (``advance(n)``); silent when not a terminal."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}: {task.completed:,} rows"), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda n: bar.advance(task, n)
