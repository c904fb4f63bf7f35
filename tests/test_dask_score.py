"""``score --engine dask``: the same cells as the single-process ``score``, partition by partition.

Every comparison runs the real CLI twice on the same input (one process, then Dask) and reads
both outputs back: same rows, same order, every column, exact values.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from backend.cli import main
from backend.core.batch import score_chunk
from backend.core.outputs import CLOSE_PROBABILITY, LEAD_SCORE, OUTPUT_COLUMNS, PREDICTED_MRR, SCORED_AT
from backend.errors import BundleIntegrityError
from backend.sample.generate import generate
from backend.store import registry

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from backend.scale import cluster as cluster_module  # noqa: E402
from backend.scale import dask_score  # noqa: E402
from backend.scale.dask_score import bundle_payload, default_output, worker_bundle  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Dask's own Parquet reader still calls reset_index(inplace=True), which pandas 3.1 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
FROZEN = dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC)


class _Frozen(dt.datetime):
    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
        return FROZEN if tz is not None else FROZEN.replace(tzinfo=None)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """One ``Scored At`` for both runs: every loaded ``backend`` module's ``datetime`` reads a fixed minute."""
    for name, module in list(sys.modules.items()):
        if name.startswith("backend.") and getattr(module, "datetime", None) is dt.datetime:
            monkeypatch.setattr(module, "datetime", _Frozen)


@pytest.fixture(scope="module", autouse=True)
def workers_import_this_checkout() -> Iterator[None]:
    """Worker processes inherit the environment: make them import the backend under test."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
        yield


@pytest.fixture(scope="module")
def scheduler(workers_import_this_checkout: None) -> Iterator[str]:
    """One 2-worker cluster at a tcp:// address, shared by the tests that pass --scheduler.

    Its workers are threads of this process (quick to start); the 50k-row test runs the
    default, a local cluster of worker processes that receive the model over the wire.
    """
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  dashboard_address=None) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def model() -> str:
    """The bundle that ships with the repo (the active one in models/)."""
    return str(ROOT / "models")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dask-data")


def _local(path: Path, model: str, out: Path) -> None:
    assert main(["score", str(path), "--model", model, "-o", str(out), "--top", "1"]) == 0


def _dask(path: Path | str, model: str, *extra: str) -> int:
    return main(["score", str(path), "--model", model, "--engine", "dask", *extra])


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _read_parts(folder: Path, ext: str) -> pd.DataFrame:
    parts = sorted(folder.glob(f"part-*.{ext}"))
    assert parts, f"no parts in {folder}"
    return pd.concat([_read(p) for p in parts], ignore_index=True)


def _same(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_a_50k_row_csv_scores_the_same_on_two_dask_workers_as_in_one_process(
        data: Path, model: str, capsys: pytest.CaptureFixture[str]) -> None:
    src = data / "leads50k.csv"
    generate(rows=50_000, seed=21).to_csv(src, index=False)
    _local(src, model, data / "local50k.csv")
    capsys.readouterr()
    # No --scheduler: a local cluster for the run, two workers, ~1 MB of CSV per partition.
    assert _dask(src, model, "--workers", "2", "--blocksize", "1MB") == 0
    printed = capsys.readouterr().out
    parts = sorted((data / "leads50k.scored").glob("part-*.csv"))
    assert len(parts) >= 5, parts   # several partitions, so the order of the parts matters
    assert [p.name for p in parts] == [f"part-{i:05d}.csv" for i in range(len(parts))]
    expected = _read(data / "local50k.csv")
    got = _read_parts(data / "leads50k.scored", "csv")
    _same(expected, got)
    assert list(got.columns[-len(OUTPUT_COLUMNS):]) == list(OUTPUT_COLUMNS)
    assert set(got[SCORED_AT]) == {"2026-03-04 05:06"}
    assert got[LEAD_SCORE].ne("").all() and got[LEAD_SCORE].nunique() == 10
    assert "Scored 50,000 rows" in printed and f"{len(parts)} CSV part(s)" in printed


def test_an_explicit_scheduler_and_parquet_parts_from_a_csv(data: Path, model: str, scheduler: str) -> None:
    src = data / "leads4k.csv"
    generate(rows=4_000, seed=22).to_csv(src, index=False)
    _local(src, model, data / "local4k.parquet")
    out = data / "scored4k.parquet"       # a folder: its suffix picks the parts' format
    assert _dask(src, model, "--scheduler", scheduler, "--blocksize", "200KB", "-o", str(out)) == 0
    assert out.is_dir() and len(list(out.glob("part-*.parquet"))) >= 2
    expected, got = _read(data / "local4k.parquet"), _read_parts(out, "parquet")
    _same(expected, got)
    assert str(got[LEAD_SCORE].dtype) == "Int64"   # whole numbers, blank where a row was not scored
    assert got[CLOSE_PROBABILITY].dtype == got[PREDICTED_MRR].dtype == "float64"


def test_parquet_in_parquet_out_keeps_the_column_types(data: Path, model: str, scheduler: str) -> None:
    frame = generate(rows=8_000, seed=23).astype(str)
    frame["Email Opens"] = pd.to_numeric(frame["Email Opens"]).astype("int64")      # typed columns
    frame["Employees"] = pd.to_numeric(frame["Employees"], errors="coerce")          # floats with blanks
    frame.loc[frame.index % 7 == 0, "Lead Source"] = None                            # missing text
    src = data / "typed.parquet"
    frame.to_parquet(src, index=False, row_group_size=2_000)
    _local(src, model, data / "local-typed.parquet")
    assert _dask(src, model, "--scheduler", scheduler, "--blocksize", "100KB") == 0
    out = data / "typed.scored"
    assert len(list(out.glob("part-*.parquet"))) >= 2
    expected, got = _read(data / "local-typed.parquet"), _read_parts(out, "parquet")
    _same(expected, got)
    assert str(got["Email Opens"].dtype) == "int64" and got["Lead Source"].isna().sum() > 0


def test_a_glob_of_two_files_is_scored_in_name_order(data: Path, model: str, scheduler: str) -> None:
    folder = data / "batch"
    folder.mkdir()
    generate(rows=3_000, seed=24).to_csv(folder / "leads-1.csv", index=False)
    generate(rows=2_000, seed=25).to_csv(folder / "leads-2.csv", index=False)
    for name in ("leads-1", "leads-2"):
        _local(folder / f"{name}.csv", model, data / f"local-{name}.csv")
    assert _dask(folder / "leads-*.csv", model, "--scheduler", scheduler) == 0
    expected = pd.concat([_read(data / "local-leads-1.csv"), _read(data / "local-leads-2.csv")], ignore_index=True)
    got = _read_parts(data / "batch" / "leads.scored", "csv")
    _same(expected, got)


def test_cells_with_line_breaks_are_read_whole_and_score_the_same(data: Path, model: str, scheduler: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    frame = generate(rows=2_000, seed=27)
    frame["Notes"] = ["called twice,\nno answer" if i % 5 == 0 else n for i, n in enumerate(frame["Notes"])]
    src = data / "notes.csv"
    frame.to_csv(src, index=False)
    _local(src, model, data / "local-notes.csv")
    capsys.readouterr()
    assert _dask(src, model, "--scheduler", scheduler) == 0
    assert "cells hold line breaks" in capsys.readouterr().err
    _same(_read(data / "local-notes.csv"), _read_parts(data / "notes.scored", "csv"))


def test_the_model_travels_as_bytes_and_is_checked_on_the_worker(model: str, tmp_path: Path) -> None:
    source = registry.resolve(model, Path(model))
    copy = tmp_path / "bundle"
    shutil.copytree(source, copy)
    payload = bundle_payload(copy)
    shutil.rmtree(copy)                         # no shared disk: the worker has only the bytes
    bundle = worker_bundle(payload)
    assert bundle.version == payload["version"] and worker_bundle(payload) is bundle   # loaded once
    damaged = dict(payload, digest="0" * 64, files=dict(payload["files"]))
    damaged["files"]["classifier.ubj"] = payload["files"]["classifier.ubj"][:-1] + b"\x00"
    with pytest.raises(BundleIntegrityError, match="sha256"):
        worker_bundle(damaged)


def test_parts_written_where_this_machine_cannot_see_them_are_not_reported_as_done(
        data: Path, model: str, scheduler: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # As when workers on other machines write to their own disks: here, they write nothing.
    monkeypatch.setattr(dask_score, "_write_part", lambda *args: None)   # the workers are threads of this process
    assert _dask(ROOT / "backend" / "sample" / "leads.csv", model, "--scheduler", scheduler,
                 "-o", str(data / "unseen")) == 2
    err = capsys.readouterr().err
    assert "where this machine cannot see them" in err and "s3://" in err


def test_a_dask_dataframe_scored_lazily_matches_one_chunk(model: str) -> None:
    import dask
    import dask.dataframe as dd

    frame = generate(rows=900, seed=28)          # mixed cells: numbers and text in one column
    payload = bundle_payload(registry.resolve(model, Path(model)))
    with dask.config.set({"dataframe.convert-string": False}):   # keep the cells as they are
        ddf = dd.from_pandas(frame, npartitions=3)
    lazy = dask_score.score_dataframe(ddf, payload, scored_at="2026-03-04 05:06")
    assert list(lazy.columns) == [*frame.columns, *OUTPUT_COLUMNS]
    got = lazy.compute(scheduler="sync").reset_index(drop=True)
    whole, _ = score_chunk(worker_bundle(payload), frame.astype(object), scored_at="2026-03-04 05:06")
    pd.testing.assert_frame_equal(got, whole, check_exact=True)


def test_no_file_matching_the_glob_is_a_one_line_error(data: Path, model: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert _dask(data / "nothing-*.csv", model) == 2
    err = capsys.readouterr().err
    assert "No files match" in err and "Traceback" not in err


def test_an_unknown_scheduler_address_is_a_one_line_error(model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = ROOT / "backend" / "sample" / "leads.csv"
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT", "1s")
    for address in ("not-an-address", "tcp://127.0.0.1:9"):   # malformed; nothing listening
        assert _dask(src, model, "--scheduler", address, "-o", str(tmp_path / "out")) == 2
        err = capsys.readouterr().err
        assert f"Cannot reach the Dask scheduler at {address}" in err and "Traceback" not in err


def test_without_dask_installed_the_error_says_how_to_install_it(model: str, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)   # what an install without the extra looks like
    assert _dask(ROOT / "backend" / "sample" / "leads.csv", model) == 2
    err = capsys.readouterr().err
    assert "pip install '.[dask]'" in err


def test_files_with_different_headers_are_refused(data: Path, model: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = data / "mixed"
    folder.mkdir()
    frame = generate(rows=100, seed=26)
    frame.to_csv(folder / "a.csv", index=False)
    frame.drop(columns=["Notes"]).to_csv(folder / "b.csv", index=False)
    assert _dask(folder, model) == 2
    err = capsys.readouterr().err
    assert "b.csv does not have the same columns as a.csv" in err and "Notes" in err


def test_an_output_folder_holding_the_inputs_is_refused(data: Path, model: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    folder = data / "in-place"
    folder.mkdir()
    generate(rows=50, seed=29).to_csv(folder / "part-00000.csv", index=False)   # named like a part
    assert _dask(folder, model, "-o", str(folder)) == 2
    assert "holds the files being scored" in capsys.readouterr().err
    assert (folder / "part-00000.csv").is_file()          # the input was not removed as an old part


def test_the_default_output_folder_sits_beside_the_input() -> None:
    assert default_output("data/leads.csv") == "data/leads.scored"
    assert default_output("data/leads-*.csv") == "data/leads.scored"
    assert default_output("s3://bucket/in/part-*.parquet") == "s3://bucket/in/part.scored"
    assert default_output("leads.parquet") == "leads.scored"


def test_the_default_score_path_never_imports_dask(tmp_path: Path, model: str) -> None:
    script = tmp_path / "run.py"
    script.write_text(
        "import json, sys\n"
        "from backend.cli import main\n"
        f"code = main(['score', {str(ROOT / 'backend' / 'sample' / 'leads.csv')!r}, '--model', {model!r},\n"
        f"             '-o', {str(tmp_path / 'out.csv')!r}, '--top', '1'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "print(json.dumps({'code': code, 'loaded': loaded}))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120, check=False)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "loaded": []}, proc.stderr
