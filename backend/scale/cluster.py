"""The Dask client a command runs on: the cluster given, or a local one for the run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from backend.errors import BadInput

CONNECT_TIMEOUT = "20s"   # how long to wait for a scheduler given with --scheduler
INSTALL_HINT = "Install the Dask extra first: pip install '.[dask]' (or: pip install 'dask[dataframe]' distributed)."


def require_dask() -> None:
    """Refuse ``--engine dask`` with an actionable message when Dask is not installed."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise BadInput(f"--engine dask needs Dask, which is not installed. {INSTALL_HINT}") from exc


@contextmanager
def dask_client(scheduler: str | None = None, *, workers: int | None = None,
                threads_per_worker: int = 1) -> Iterator[Any]:
    """A ``distributed.Client``: connected to ``scheduler`` (``tcp://host:8786``), else a ``LocalCluster``.

    The local cluster lives for the ``with`` block; a given cluster is left running.
    """
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise BadInput(f"Cannot reach the Dask scheduler at {scheduler}: {exc}. Check the address "
                           "(e.g. tcp://scheduler:8786) and that the scheduler is running.") from exc
        try:
            yield client
        finally:
            client.close()
        return
    with LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client
