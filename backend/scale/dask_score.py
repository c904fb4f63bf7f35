"""``score DATA --engine dask``: lead files scored partition by partition on a Dask cluster.

The same model bundle and the same per-chunk scorer as the single-process ``score``
(:func:`backend.core.batch.score_chunk`), so every written cell is the same; only where the
work runs differs.

- **Inputs**: a CSV or Parquet file, a glob (``leads-*.csv``, ``s3://bucket/leads/*.parquet``)
  or a folder of such files, scored in name order. CSV cells are read as text exactly as the
  single-process reader reads them (same separator and encoding sniffing, an empty cell is
  ``""``); Parquet columns keep their types.
- **The model** travels with the job, not through a shared disk: the bundle's files are read
  into bytes on the client and broadcast once to every worker, which writes them to a
  temporary folder, loads them with :meth:`ModelBundle.load` (every file's sha256 checked
  against the card) and keeps the loaded bundle for the life of the worker process, keyed by
  the card's digest.
- **Outputs**: one part per partition in an output folder, ``part-00000.csv`` (or
  ``.parquet``) onwards, so the parts read in name order are the input rows in order. Each
  part is written by the worker that scored it, with pandas' own writer (CSV: the same call
  the single-process path makes) and, for Parquet, one schema for every part.
- ``scored_at`` is fixed once on the client: every part says the same ``Scored At``.

Dask is imported inside the functions only: this module is imported on ``--engine dask`` alone.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import posixpath
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from backend.core.batch import OUTPUT_DTYPES, output_meta, score_chunk, user_columns
from backend.core.outputs import LEAD_SCORE, OUTPUT_COLUMNS
from backend.core.scoring import ScoreResult
from backend.errors import BadInput
from backend.sources.files import csv_write_options, sniff_text
from backend.store.bundle import CARD, ModelBundle

DEFAULT_BLOCKSIZE = "16MB"   # bytes of CSV (or Parquet data) per partition: ~100k lead rows, as one-process chunks
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
_HEAD_BYTES = 65536                 # what the single-process reader sniffs separator and encoding from
_GLOB_CHARS = re.compile(r"[*?\[\]]")
_PART = re.compile(r"^part-\d+\.(csv|parquet)$")
_SHARED = ("The workers read the inputs and write the parts themselves: on a cluster of other machines, pass "
           "files and an -o folder on storage every worker reaches (s3://..., gs://..., a shared drive).")

# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Inputs:
    """The files to score: their kind, their paths (URLs for remote storage) and how to read them."""

    kind: str                       # "csv" or "parquet"
    paths: list[str]
    columns: list[str]              # the header (CSV: of every file; Parquet: of the dataset)
    encoding: str = "utf-8"
    sep: str = ","
    line_breaks: bool = False       # a cell in the first 64 KiB of a CSV holds a line break


def _filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path on it, or a product error naming the missing package."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:   # s3:// without s3fs, gs:// without gcsfs, ...
        raise BadInput(f"Cannot read {url}: {exc}. Install that package on this machine and on the workers.") from exc
    except ValueError as exc:    # an unknown protocol
        raise BadInput(f"Cannot read {url}: {exc}.") from exc


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


def _full(fs: Any, path: str) -> str:
    """A path as Dask and the workers should see it: plain for local files, a URL for remote ones."""
    return path if _is_local(fs) else fs.unstrip_protocol(path)


def _expand(data: str) -> tuple[Any, list[str]]:
    """The files ``data`` names (a file, a glob or a folder), in name order."""
    fs, path = _filesystem(data)
    if _GLOB_CHARS.search(path):
        found = sorted(p for p in fs.glob(path) if fs.isfile(p))
        if not found:
            raise BadInput(f"No files match {data}. Check the folder and the pattern (e.g. 'leads/*.csv').")
        return fs, found
    if fs.isdir(path):
        found = sorted(p for p in fs.ls(path, detail=False)
                       if fs.isfile(p) and posixpath.splitext(p)[1].lower() in CSV_SUFFIXES + PARQUET_SUFFIXES)
        if not found:
            raise BadInput(f"{data} is a folder with no .csv or .parquet files in it. Pass a file, a folder of "
                           "CSV or Parquet files, or a pattern such as 'leads/*.csv'.")
        return fs, found
    if not fs.isfile(path):
        raise BadInput(f"File not found: {data}. Check the path and the file name.")
    return fs, [path]


def _kind_of(name: str, head: bytes) -> str:
    """``csv`` or ``parquet`` by the file's first bytes (its content, not its name), as the single-process reader."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        raise BadInput(f"{name} is an Excel workbook (.xlsx): --engine dask reads CSV and Parquet files. Save it "
                       "as .csv, or score it without --engine dask.")
    if not head.strip():
        raise BadInput(f"{name} is empty: it holds no header row and no leads.")
    if b"\x00" in head[:4096]:
        raise BadInput(f"Cannot read {name}: it is not a CSV or Parquet file.")
    return "csv"


def _sniff(raw: bytes) -> tuple[str, str]:
    """(encoding, separator) from a file's first 64 KiB: the single-process reader's rule."""
    return sniff_text(raw)


def _header(name: str, head: bytes, encoding: str, sep: str) -> list[str]:
    try:
        cols = pd.read_csv(io.BytesIO(head), sep=sep, encoding=encoding, dtype=str, nrows=0).columns
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BadInput(f"Cannot read the header row of {name}: {exc}.") from exc
    columns = [str(c).strip() for c in cols]
    if len(columns) < 2:
        raise BadInput(f"{name} reads as a single column ('{(columns or [''])[0][:60]}'): no comma, semicolon, tab "
                       "or | separates its values, so it is not a table. Save it as .csv (comma-separated).")
    return columns


def resolve_inputs(data: str) -> Inputs:
    """Find the files ``data`` names and check they can be scored together (one kind, one header).

    Reads only the first 64 KiB of each file, concurrently where the storage allows it.
    """
    fs, paths = _expand(data)
    heads = fs.cat_ranges(paths, [0] * len(paths), [_HEAD_BYTES] * len(paths))
    names = [posixpath.basename(p) for p in paths]
    kinds = {_kind_of(n, h) for n, h in zip(names, heads, strict=True)}
    if len(kinds) > 1:
        raise BadInput(f"{data} holds both CSV and Parquet files: score them separately.")
    full = [_full(fs, p) for p in paths]
    if kinds == {"parquet"}:
        return Inputs("parquet", full, columns=[])
    encoding, sep = _sniff(heads[0])
    first = _header(names[0], heads[0], encoding, sep)
    for name, head in zip(names[1:], heads[1:], strict=True):
        if _sniff(head) != (encoding, sep):
            raise BadInput(f"{name} and {names[0]} use different separators or text encodings: save them the same "
                           "way (CSV UTF-8, comma-separated), or score them separately.")
        columns = _header(name, head, encoding, sep)
        if sorted(columns) != sorted(first):
            extra = [c for c in columns if c not in first]
            missing = [c for c in first if c not in columns]
            said = "; ".join(part for part in (f"only in {name}: {', '.join(extra[:5])}" if extra else "",
                                               f"not in {name}: {', '.join(missing[:5])}" if missing else "") if part)
            raise BadInput(f"{name} does not have the same columns as {names[0]} ({said}). Files scored together "
                           "must share one header row; score them separately.")
    breaks = any(_has_line_breaks(h, encoding, sep) for h in heads)
    return Inputs("csv", full, columns=first, encoding=encoding, sep=sep, line_breaks=breaks)


def _has_line_breaks(head: bytes, encoding: str, sep: str) -> bool:
    """True when a quoted cell in the sample holds a line break (byte blocks would cut such a file wrongly)."""
    text = head.decode(encoding, errors="replace")
    return any("\n" in cell or "\r" in cell for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep)
               for cell in row)


def read_inputs(inputs: Inputs, blocksize: str | int | None = DEFAULT_BLOCKSIZE) -> Any:
    """A Dask DataFrame of the inputs, read the way the single-process reader reads one file.

    CSV: every column as text (``dtype=str``, ``keep_default_na=False``: a cell is exactly its
    text, an empty cell ``""``). ``blocksize=None`` reads each file as one partition (for CSV
    cells that hold line breaks, which byte blocks would cut).
    """
    import dask
    import dask.dataframe as dd

    # pandas' own string columns (as pd.read_csv / pd.read_parquet give them), not Dask's Arrow strings.
    with dask.config.set({"dataframe.convert-string": False}):
        if inputs.kind == "parquet":
            try:
                return dd.read_parquet(inputs.paths, blocksize=blocksize, split_row_groups="infer")
            except (ValueError, OSError) as exc:
                raise BadInput(f"Cannot read the Parquet files ({exc}). Check that they are complete and share "
                               "one set of columns.") from exc
        try:
            return dd.read_csv(inputs.paths, sep=inputs.sep, encoding=inputs.encoding, dtype=str,
                               keep_default_na=False, blocksize=blocksize)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise BadInput(f"Cannot read {posixpath.basename(inputs.paths[0])} as a table ({exc}). Save it as "
                           ".csv (UTF-8) and pass that file.") from exc


# --------------------------------------------------------------------------- the model on the workers

_LOADED: dict[str, tuple[ModelBundle, tempfile.TemporaryDirectory[str]]] = {}
_LOADING = threading.Lock()
_KEEP = 4   # bundles a worker keeps loaded (a long-lived cluster may score with several models)


def bundle_payload(directory: Path | str) -> dict[str, Any]:
    """The bundle's files as bytes, to ship to workers: ``{"digest": card sha256, "files": {name: bytes}}``."""
    directory = Path(directory)
    card = json.loads((directory / CARD).read_text())
    names = [CARD, *(card.get("files") or {})]
    return {"digest": str(card.get("card_sha256")), "version": str(card.get("version")),
            "files": {name: (directory / name).read_bytes() for name in names}}


def worker_bundle(payload: dict[str, Any]) -> ModelBundle:
    """The bundle a payload carries, loaded (and hash-checked) once per worker process."""
    digest = payload["digest"]
    with _LOADING:
        if digest not in _LOADED:
            folder = tempfile.TemporaryDirectory(prefix="leadscore-model-")  # removed when the process ends
            for name, data in payload["files"].items():
                (Path(folder.name) / Path(name).name).write_bytes(data)
            bundle = ModelBundle.load(folder.name)
            if bundle.card.get("card_sha256") != digest:
                raise BadInput("The model sent to this worker is not the one named: restart the run.")
            _LOADED[digest] = (bundle, folder)
            while len(_LOADED) > _KEEP:   # the oldest loaded goes first
                _LOADED.pop(next(iter(_LOADED)))[1].cleanup()
        return _LOADED[digest][0]


# --------------------------------------------------------------------------- scoring a partition


def score_partition(chunk: pd.DataFrame, payload: dict[str, Any], *, scored_at: str, reasons: bool = True
                    ) -> tuple[pd.DataFrame, ScoreResult]:
    """One partition scored exactly as the single-process path scores a chunk (cells as objects)."""
    chunk = chunk.reset_index(drop=True).astype(object)
    chunk.columns = [str(c).strip() for c in chunk.columns]
    return score_chunk(worker_bundle(payload), chunk, scored_at=scored_at, reasons=reasons)


def _scored(chunk: pd.DataFrame, payload: dict[str, Any], scored_at: str, reasons: bool) -> pd.DataFrame:
    return score_partition(chunk, payload, scored_at=scored_at, reasons=reasons)[0]


def score_dataframe(ddf: Any, payload: Any, *, scored_at: str, reasons: bool = True) -> Any:
    """A lazily scored Dask DataFrame: the input's columns followed by the output columns.

    ``payload`` is :func:`bundle_payload`'s dict, or a future of it (``client.scatter([payload],
    broadcast=True)[0]``: in a list, since a scattered dict is scattered value by value) so
    that it travels to each worker once. Build ``ddf`` under ``dask.config.set({"dataframe.
    convert-string": False})``: otherwise Dask turns object columns (cells as given) into text.
    """
    meta = output_meta([str(c).strip() for c in ddf.columns])
    return ddf.map_partitions(_scored, payload, scored_at, reasons, meta=meta)


# --------------------------------------------------------------------------- writing the parts

_STATS_META = {"part": "int64", "rows": "int64", "unscored": "int64", "warnings": "object"}


def part_name(number: int, width: int, fmt: str) -> str:
    """``part-00007.csv``: zero-padded so that name order is row order."""
    return f"part-{number:0{width}d}.{fmt}"


def output_schema(inputs: Inputs, ddf: Any) -> Any:
    """One Arrow schema for every Parquet part: the input's column types, then the output columns'."""
    import pyarrow as pa

    def arrow_type(dtype: Any) -> Any:
        if isinstance(dtype, pd.CategoricalDtype):
            dtype = dtype.categories.dtype
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype):
            return pa.string()
        return pa.Schema.from_pandas(pd.DataFrame({"c": pd.Series(dtype=dtype)}), preserve_index=False).field(0).type

    dtypes = ddf.dtypes
    fields = [pa.field(c, pa.string() if inputs.kind == "csv" else arrow_type(dtypes[c]))
              for c in user_columns([str(c).strip() for c in ddf.columns])]
    outputs = {"Int64": pa.int64(), "float64": pa.float64(), "object": pa.string()}
    fields += [pa.field(name, outputs[OUTPUT_DTYPES[name]]) for name in OUTPUT_COLUMNS]
    return pa.schema(fields)


def _write_part(frame: pd.DataFrame, path: str, fmt: str, schema: Any) -> None:
    import fsspec
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    with fsspec.open(path, "wb") as fh:
        if fmt == "csv":  # written as the one-process path writes its CSV
            pacsv.write_csv(table, fh, write_options=csv_write_options())
        else:
            pq.write_table(table, fh)


def _score_and_write(chunk: pd.DataFrame, payload: dict[str, Any], scored_at: str, reasons: bool, out: str,
                     fmt: str, width: int, schema: Any, partition_info: dict[str, Any] | None = None
                     ) -> pd.DataFrame:
    """Score one partition, write it as its part file and return what was done (one row)."""
    number = int((partition_info or {}).get("number", 0))
    merged, result = score_partition(chunk, payload, scored_at=scored_at, reasons=reasons)
    _write_part(merged, posixpath.join(out, part_name(number, width, fmt)), fmt, schema)
    return pd.DataFrame({"part": [number], "rows": [len(merged)], "unscored": [int(merged[LEAD_SCORE].isna().sum())],
                         "warnings": [json.dumps(result.warnings)]})


# --------------------------------------------------------------------------- the command


def default_output(data: str) -> str:
    """``leads.csv`` → ``leads.scored``; ``data/leads-*.csv`` → ``data/leads.scored`` (beside the input)."""
    head, tail = posixpath.split(data.rstrip("/"))
    stem = tail if data.rstrip("/") != data or "." not in tail else tail.rsplit(".", 1)[0]
    stem = _GLOB_CHARS.sub("", stem).strip("-_. ") or "leads"
    return posixpath.join(head, f"{stem}.scored") if head else f"{stem}.scored"


def _prepare_output(out: str) -> tuple[Any, str]:
    """Create the output folder; remove the parts an earlier run left there (only files named ``part-N.*``).

    Returns the filesystem and the folder as the workers should see it (absolute when local).
    """
    fs, path = _filesystem(out)
    if fs.isfile(path):
        raise BadInput(f"{out} is a file: with --engine dask, -o names a folder for the scored parts.")
    if fs.isdir(path):
        for old in fs.ls(path, detail=False):
            if _PART.match(posixpath.basename(old)):
                fs.rm(old)
    fs.makedirs(path, exist_ok=True)
    return fs, _full(fs, path)


def _output_format(out: str | None, inputs: Inputs) -> str:
    suffix = posixpath.splitext((out or "").rstrip("/"))[1].lower()
    if suffix == ".xlsx":
        raise BadInput("--engine dask writes CSV or Parquet parts into a folder, not .xlsx: pass -o DIR "
                       "(or DIR.parquet / DIR.csv to choose the format).")
    if suffix in (".csv", ".parquet"):
        return suffix[1:]
    return inputs.kind


def run_score(args: argparse.Namespace, settings: Any) -> int:
    """``score DATA --engine dask``: score on a Dask cluster, write the parts, print a summary."""
    from backend.cli.common import EXIT_OK
    from backend.scale.cluster import dask_client, require_dask
    from backend.store import registry

    require_dask()
    if getattr(args, "rules", None):
        raise BadInput("--rules is not available with --engine dask yet: score with the rulebook without --engine.")
    scheduler = getattr(args, "scheduler", None)
    workers = getattr(args, "workers", None)
    if scheduler and workers:
        raise BadInput("--workers sets the size of the local cluster; a cluster given with --scheduler keeps "
                       "its own workers. Pass one or the other.")
    reasons = not getattr(args, "no_reasons", False)
    blocksize = _blocksize(getattr(args, "blocksize", None))

    directory = registry.resolve(args.model, settings.model_dir)
    bundle = ModelBundle.load(directory)           # checked here first: a damaged bundle never leaves the client
    payload = bundle_payload(directory)
    if payload["digest"] != bundle.card.get("card_sha256"):
        raise BadInput(f"The model bundle {directory} changed while it was being read: run the command again.")
    inputs = resolve_inputs(args.data)
    out = (args.out or default_output(args.data)).rstrip("/")
    fmt = _output_format(args.out, inputs)
    scored_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")

    if inputs.line_breaks and getattr(args, "blocksize", None) is None and blocksize is not None:
        blocksize = None
        print("note: cells hold line breaks, so each file is read whole (one partition per file; "
              "--blocksize SIZE to split anyway).", file=sys.stderr)
    ddf = read_inputs(inputs, blocksize)
    columns = [str(c).strip() for c in ddf.columns]
    # Fail fast, before any work is sent: a sheet none of whose columns the model reads is refused here.
    score_chunk(bundle, pd.DataFrame([[""] * len(columns)], columns=columns, dtype=object),
                scored_at=scored_at, reasons=False)
    schema = output_schema(inputs, ddf) if fmt == "parquet" else None
    if any(posixpath.dirname(p.rstrip("/")) == _full(*_filesystem(out)).rstrip("/") for p in inputs.paths):
        raise BadInput(f"The output folder {out} holds the files being scored: pass another folder with -o.")
    fs, out = _prepare_output(out)
    width = max(5, len(str(ddf.npartitions - 1)))

    started = time.perf_counter()
    with dask_client(scheduler, workers=workers) as client:
        n_workers = len(client.nthreads())
        where = scheduler or "a local cluster"
        print(f"Scoring {len(inputs.paths)} file(s) in {ddf.npartitions} partition(s) on {where} "
              f"({n_workers} worker(s))", file=sys.stderr)
        (shipped,) = client.scatter([payload], broadcast=True)   # one future of the whole dict, on every worker
        stats = ddf.map_partitions(_score_and_write, shipped, scored_at, reasons, out, fmt, width, schema,
                                   meta=_STATS_META, enforce_metadata=False)
        try:
            done = stats.compute()
        except pd.errors.ParserError as exc:
            raise BadInput(f"Cannot read {args.data} in blocks ({exc}). A cell probably holds a line break: "
                           "pass --blocksize 0 to read each file whole.") from exc
        except UnicodeDecodeError as exc:
            raise BadInput(f"{args.data} is not all in one text encoding ({exc}): save the files as CSV UTF-8 "
                           "and pass them again.") from exc
        except OSError as exc:   # a worker could not open an input or write a part
            raise BadInput(f"A Dask worker could not read or write a file: {exc}. {_SHARED}") from exc
    elapsed = time.perf_counter() - started

    done = done.sort_values("part")
    missing = [p for p in (posixpath.join(out, part_name(int(n), width, fmt)) for n in done["part"])
               if not fs.exists(p)]
    if missing:
        raise BadInput(f"The workers wrote {len(missing)} part(s) where this machine cannot see them (e.g. "
                       f"{missing[0]}). {_SHARED}")
    warnings: dict[str, str] = {}
    for text in done["warnings"]:
        for w in json.loads(text):
            if w["code"] != "unscorable_rows":
                warnings.setdefault(w["code"] + str(w.get("columns")), w["message"])
    for message in warnings.values():
        print(f"warning: {message}", file=sys.stderr)
    rows, unscored = int(done["rows"].sum()), int(done["unscored"].sum())
    if unscored:
        print(f"warning: {unscored:,} row(s) have no values in any of the model's columns and were not scored.",
              file=sys.stderr)
    if rows == 0:
        raise BadInput(f"{args.data} has a header row but no leads under it.")
    rate = rows / elapsed if elapsed > 0 else float("inf")
    print(f"Scored {rows:,} rows with {bundle.name} {bundle.version} in {elapsed:.2f}s ({rate:,.0f} rows/s) on "
          f"{n_workers} Dask worker(s) → {len(done)} {fmt.upper()} part(s) in {out}/")
    return EXIT_OK


def _blocksize(value: str | None) -> str | int | None:
    """``--blocksize``: bytes per partition ("64MB", "1MB", 1000000), or 0 for one partition per file."""
    if value is None:
        return DEFAULT_BLOCKSIZE
    text = str(value).strip()
    if text in ("0", "none", "None"):
        return None
    from dask.utils import parse_bytes

    try:
        size = parse_bytes(text)
    except (ValueError, TypeError) as exc:
        raise BadInput(f"--blocksize {value}: not a size. Use e.g. 64MB, 256MB, or 0 for one partition per file."
                       ) from exc
    if size <= 0:
        return None
    return size
