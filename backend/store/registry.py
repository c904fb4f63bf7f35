"""The model registry: ``models/<version>/`` bundles plus ``models/active.json``.

``active.json`` names the version being served and the versions served before it
(most recent last), so a rollback is one step back.  It is replaced atomically, and every
read-modify-write of it holds a file lock, so a promotion from the CLI, a cron retrain and
a server reading it never see half a file or lose an update.  A version is only made active
after its bundle passes the integrity check (every file against the sha256 in its card).

Servers hold an :class:`ActiveModel`: it notices a promotion or rollback (the mtime of
``active.json``, checked at most once a second) and swaps the bundle without a restart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from backend.errors import BadInput, LeadScoreError, ModelUnavailable
from backend.store.bundle import CARD, ModelBundle

ACTIVE = "active.json"
LOCK = ".registry.lock"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

log = logging.getLogger(__name__)


def _try_lock(fh: Any, blocking: bool) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def file_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created) for the block; yields False if busy and not blocking.

    The lock is the operating system's (``flock`` / ``msvcrt.locking``): it is released when the
    process dies, so a crashed run never leaves a stale lock behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("a+")
    try:
        yield _try_lock(fh, blocking)
    finally:
        fh.close()  # closing the descriptor releases the lock


def check_version_name(version: str) -> str:
    """A version must be a plain directory name (no path separators, no ``..``)."""
    if not isinstance(version, str) or not _VERSION.match(version) or ".." in version:
        raise BadInput(f"'{version}' is not a model version name. See `python -m backend models list`.")
    return version


def _read_active(model_dir: Path) -> dict[str, Any]:
    path = model_dir / ACTIVE
    if not path.is_file():
        return {"version": None, "history": []}
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelUnavailable(f"{path} is damaged: fix it or run `python -m backend models promote VERSION`.") from exc
    if not isinstance(state, dict):
        raise ModelUnavailable(f"{path} is damaged: fix it or run `python -m backend models promote VERSION`.")
    state.setdefault("history", [])
    return state


def _write_active(model_dir: Path, state: dict[str, Any]) -> None:
    tmp = model_dir / (ACTIVE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, model_dir / ACTIVE)  # atomic: a server reading it never sees half a file


def active_version(model_dir: Path) -> str | None:
    """The version being served, or None when nothing was promoted."""
    return _read_active(Path(model_dir)).get("version")


def list_versions(model_dir: Path) -> list[dict[str, Any]]:
    """Every bundle in the registry with its headline figures, oldest first (damaged cards included)."""
    model_dir = Path(model_dir)
    active = active_version(model_dir) if model_dir.is_dir() else None
    out = []
    for card_path in sorted(model_dir.glob(f"*/{CARD}")):
        version = card_path.parent.name
        try:
            card = json.loads(card_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            out.append({"version": version, "trained_at": None, "damaged": True, "active": version == active,
                        "promotable": False, "auc": None, "precision": None, "recall": None, "failures": []})
            continue
        metrics = card.get("metrics", {}).get("classifier", {})
        cv = (card.get("metrics", {}).get("cross_validation") or {}).get("summary") or {}
        out.append({"version": version, "trained_at": card.get("trained_at"),
                    "auc": metrics.get("auc"), "precision": metrics.get("precision"),
                    "recall": metrics.get("recall"), "cv_auc": (cv.get("auc") or {}).get("mean"),
                    "promotable": card.get("promotable"),
                    "failures": (card.get("gates") or {}).get("failures", []),
                    "leakage": [f.get("column") for f in card.get("leakage") or [] if f.get("excluded")],
                    "data_sha256": (card.get("data") or {}).get("sha256"),
                    "active": version == active, "damaged": False})
    return sorted(out, key=lambda v: (v["trained_at"] or "", v["version"]))


def promote(model_dir: Path, version: str, *, require_promotable: bool = False) -> None:
    """Make ``version`` the active model (remembering the previous one for rollback).

    The bundle must pass its integrity check; with ``require_promotable`` it must also have
    passed its quality gates.
    """
    model_dir = Path(model_dir)
    check_version_name(version)
    if not (model_dir / version / CARD).is_file():
        raise BadInput(f"There is no model version '{version}' in {model_dir}. "
                       "See `python -m backend models list`.")
    bundle = ModelBundle.load(model_dir / version)  # refuses a changed or damaged bundle
    if require_promotable and not bundle.card.get("promotable", False):
        reasons = " ".join((bundle.card.get("gates") or {}).get("failures", [])) or "its gates were not recorded."
        raise BadInput(f"Model {version} failed its quality gates: {reasons} Promote it anyway with --force.")
    with file_lock(model_dir / LOCK):
        state = _read_active(model_dir)
        if state.get("version") == version:
            return
        history = [v for v in state.get("history", []) if v != version]
        if state.get("version"):
            history.append(state["version"])
        _write_active(model_dir, {"version": version, "history": history})


def rollback(model_dir: Path) -> str:
    """Go back to the previously active version; returns it. Versions that no longer load are skipped."""
    model_dir = Path(model_dir)
    with file_lock(model_dir / LOCK):
        state = _read_active(model_dir)
        history = list(state.get("history", []))
        while history:
            previous = history.pop()
            if not isinstance(previous, str) or not _VERSION.match(previous):
                continue
            try:
                ModelBundle.load(model_dir / previous)
            except LeadScoreError as exc:
                log.warning("rollback: skipping %s: %s", previous, exc.detail)
                continue
            _write_active(model_dir, {"version": previous, "history": history})
            return previous
    raise BadInput("There is no earlier model version to roll back to.")


def resolve(model: Path | str | None, model_dir: Path) -> Path:
    """The bundle directory to use: ``--model DIR`` (a bundle or a registry) or the active one."""
    if model is not None:
        path = Path(model)
        if (path / CARD).is_file():
            return path
        if (path / ACTIVE).is_file():
            model_dir = path
        else:
            raise ModelUnavailable(f"{path} is not a model bundle (no {CARD}) nor a models directory "
                                   f"(no {ACTIVE}).")
    version = active_version(Path(model_dir))
    if not version:
        raise ModelUnavailable(f"No active model in {model_dir}. Train one with "
                               "`python -m backend train DATA --target COL --positive VALUE`.")
    if not _VERSION.match(version) or ".." in version:
        raise ModelUnavailable(f"{Path(model_dir) / ACTIVE} names '{version}', which is not a version. "
                               "Run `python -m backend models promote VERSION`.")
    return Path(model_dir) / version


def load_active(model_dir: Path) -> ModelBundle:
    """Load the active bundle of a registry (hash-checked)."""
    return ModelBundle.load(resolve(None, Path(model_dir)))


class ActiveModel:
    """The active bundle of a registry, reloaded when ``active.json`` changes (thread-safe).

    ``get()`` stats ``active.json`` at most once per ``check_every`` seconds; when its mtime
    (or size or inode) changed, the named version is loaded and swapped in.  If the new bundle
    cannot be loaded, the one already serving stays, and the failure is logged.
    """

    def __init__(self, model_dir: Path | str, *, check_every: float = 1.0,
                 loader: Callable[[Path], ModelBundle] = ModelBundle.load,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.model_dir = Path(model_dir)
        self.check_every = check_every
        self._loader = loader
        self._clock = clock
        self._lock = threading.Lock()
        self._bundle: ModelBundle | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._checked_at = float("-inf")
        self._failed: tuple[tuple[int, int, int] | None, str] | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.model_dir / ACTIVE)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def get(self) -> ModelBundle:
        """The bundle to score with now (raises ModelUnavailable only when none has ever loaded)."""
        bundle = self._bundle
        if bundle is not None and self._clock() - self._checked_at < self.check_every:
            return bundle
        with self._lock:
            if self._bundle is None or self._clock() - self._checked_at >= self.check_every:
                self._refresh()
            if self._bundle is None:
                raise ModelUnavailable(f"No active model could be loaded from {self.model_dir}.")
            return self._bundle

    @property
    def version(self) -> str | None:
        """The version held now, without checking for a change."""
        return self._bundle.version if self._bundle is not None else None

    def _refresh(self) -> None:
        self._checked_at = self._clock()
        stamp = self._stat()
        if stamp is not None and stamp == self._stamp and self._bundle is not None:
            return
        try:
            path = resolve(None, self.model_dir)
            if self._bundle is not None and self._bundle.path is not None and Path(self._bundle.path) == path:
                self._stamp = stamp  # active.json rewritten, same version
                return
            new = self._loader(path)
        except LeadScoreError as exc:
            self._on_failure(stamp, exc.detail)
            if self._bundle is None:
                raise
            return
        except Exception as exc:  # a damaged file the loader did not anticipate
            self._on_failure(stamp, f"{exc.__class__.__name__}: {exc}")
            if self._bundle is None:
                raise ModelUnavailable(f"The active model in {self.model_dir} could not be loaded.") from exc
            return
        old = self._bundle
        self._bundle, self._stamp, self._failed = new, stamp, None
        if old is not None:
            log.info("active model changed: %s -> %s", old.version, new.version)

    def _on_failure(self, stamp: tuple[int, int, int] | None, detail: str) -> None:
        if self._failed != (stamp, detail):  # log each distinct failure once, not every second
            self._failed = (stamp, detail)
            serving = f"; still serving {self._bundle.version}" if self._bundle is not None else ""
            log.error("could not load the active model from %s: %s%s", self.model_dir, detail, serving)
