"""Render the data-quality section of a model report trained on the messy sample history, as a PNG.

    .venv/bin/python bench/data_quality_screenshot.py --out docs/data-quality.png

Trains on ``backend.sample.messy`` (2,000 rows, seed 0), writes the bundle's report.html to a
temporary folder and photographs its ``#data-quality`` section with Debian's headless
Chromium through playwright-core (``npm ci`` installs it; NODE_PATH may point elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from backend.core.evaluate import Gates
from backend.core.train import TrainConfig, train
from backend.sample.messy import messy_history

ROOT = Path(__file__).resolve().parent.parent
SHOT = """
const { chromium } = require('playwright-core');
(async () => {
  const [page_url, out] = process.argv.slice(-2);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  const page = await browser.newPage({ viewport: { width: 1120, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(page_url);
  await page.locator('#data-quality').screenshot({ path: out });
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
"""


def main() -> None:
    """Train, render, photograph."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "data-quality.png")
    args = p.parse_args()
    history = messy_history(rows=2000, seed=0)
    result = train(history.messy, TrainConfig(target="Status", positive="Won", value="MRR", now_days=20_800.0,
                                              gates=Gates(min_auc=0.6, min_precision=0.3, min_recall=0.5)))
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_bytes(result.bundle.attachments["report.html"])
        script = Path(tmp) / "shot.js"
        script.write_text(SHOT)
        env = {**os.environ, "NODE_PATH": os.environ.get("NODE_PATH", str(ROOT / "node_modules"))}
        subprocess.run(["node", str(script), page.as_uri(), str(args.out.resolve())], check=True, env=env)
    counts = {c["name"]: c["unreadable"] for c in result.bundle.card["data_quality"]["columns"]}
    print(f"Wrote {args.out}; unreadable cells counted: {json.dumps(counts)}; planted: {history.unreadable}")


if __name__ == "__main__":
    main()
