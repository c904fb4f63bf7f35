"""The same file scored with the clock a year ahead gives identical probabilities (real clock, faketime)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.core.train import train
from backend.sample.histories import junk_source_history
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parent.parent
FAKETIME = shutil.which("faketime")


def _run(args: list[str], shift: str | None) -> subprocess.CompletedProcess[str]:
    prefix = [FAKETIME, "-f", shift] if shift else []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*prefix, sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.skipif(FAKETIME is None, reason="faketime is not installed (apt-get install faketime)")
def test_cli_scores_are_identical_a_year_later(tmp_path: Path) -> None:
    clock = _run(["-c", "import time; print(time.time())"], "+365d")
    moved = float(clock.stdout.strip()) - time.time()
    if not 360 * 86400 < moved < 370 * 86400:
        pytest.skip(f"faketime does not move this Python's clock (moved {moved:.0f} s)")
    frame = junk_source_history(800, seed=6)
    frame["First Call"] = [(pd.Timestamp(c) + pd.Timedelta(days=int(d))).date().isoformat()
                           for c, d in zip(frame["Created"], np.random.default_rng(1).integers(0, 30, len(frame)))]
    bundle = train(frame, tiny_config(value=None, bootstrap_rounds=50)).bundle
    bundle.save(tmp_path / "model")
    leads = tmp_path / "leads.csv"
    frame.to_csv(leads, index=False)
    outputs = []
    for shift, name in ((None, "today.csv"), ("+365d", "next_year.csv")):
        proc = _run(["-m", "backend", "score", str(leads), "--model", str(tmp_path / "model"),
                     "-o", str(tmp_path / name)], shift)
        assert proc.returncode == 0, proc.stderr
        outputs.append(pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False))
    today, next_year = outputs
    assert today["Scored At"].iloc[0][:4] != next_year["Scored At"].iloc[0][:4]  # the clock did move
    for column in ("Close Probability", "Lead Score", "Score Reasons", "Segment"):
        assert today[column].tolist() == next_year[column].tolist(), column
