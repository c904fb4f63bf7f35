"""Models per sheet: ``LEADSCORE_MODEL_DIR/<model name>/`` is one registry per model name.

A model name is chosen by the sheet: by default its spreadsheet id, or a shared name so
that several sheets (one team, one product line) use one model.  Each named directory is a
registry exactly like the top-level one (versions, ``active.json``, the experiment log,
each version's report).  A request that names no model, or a sheet without a registry of
its own, is served by the fallback registry (the bundled sample model by default).

Names are plain directory names checked against a strict pattern — letters, digits, ``-``
and ``_``, at most 200 characters, as in a spreadsheet id — so a name can never reach outside the models
directory; a name that is one of the fallback registry's version directories is refused.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from backend.errors import BadInput, NotFound
from backend.store.bundle import CARD, ModelBundle
from backend.store.registry import ACTIVE, ActiveModel

MAX_NAME = 200
_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_NAME}}}")  # a spreadsheet id is one
# Directories of the models directory that are never model names.
RESERVED = frozenset({"uploads", "jobs"})


def check_model_name(name: object) -> str:
    """A model name: 1-200 letters, digits, '-' or '_' (so never '.', '..' or a path)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.lower() in RESERVED:
        shown = repr(name)[:60] if isinstance(name, str) else f"a {type(name).__name__}"
        raise BadInput(f"{shown} is not a model name: use 1-{MAX_NAME} letters, digits, '-' or '_' "
                       "(for example the spreadsheet's id, or a team name such as 'emea-sales').",
                       extra={"field": "model"})
    return name


class Workspaces:
    """The named registries under one models directory, with their active bundles kept loaded.

    ``active(name)`` returns a hot-swapping :class:`ActiveModel` per name (a promotion or a
    rollback is picked up without a restart); at most ``keep`` of them stay loaded, the least
    recently used one is dropped first.
    """

    def __init__(self, root: Path | str, *, keep: int = 32,
                 loader: Callable[[Path], ModelBundle] = ModelBundle.load) -> None:
        self.root = Path(root)
        self.keep = keep
        self._loader = loader
        self._lock = threading.Lock()
        self._active: OrderedDict[str, ActiveModel] = OrderedDict()

    def path(self, name: str) -> Path:
        """The registry directory of ``name`` (checked; it may not exist yet)."""
        path = self.root / check_model_name(name)
        if (path / CARD).is_file():
            raise BadInput(f"'{name}' is a model version of the default registry, not a model name: "
                           "choose another name.", extra={"field": "model"})
        return path

    def exists(self, name: str) -> bool:
        """True when ``name`` has a registry with an active model."""
        return (self.path(name) / ACTIVE).is_file()

    def require(self, name: str) -> Path:
        """The registry of ``name``; NotFound when it has no active model yet."""
        path = self.path(name)
        if not (path / ACTIVE).is_file():
            raise NotFound(f"There is no model named '{name}' yet. Train one on this sheet from the "
                           "sidebar's Train panel, or pick the name of a model another sheet shares.",
                           extra={"model": name})
        return path

    def names(self) -> list[str]:
        """Every model name with a registry (an active model or at least one version)."""
        if not self.root.is_dir():
            return []
        out = []
        for child in sorted(self.root.iterdir()):
            if child.is_dir() and _NAME.fullmatch(child.name) and not (child / CARD).is_file() and (
                    (child / ACTIVE).is_file() or any(child.glob(f"*/{CARD}"))):
                out.append(child.name)
        return out

    def active(self, name: str) -> ActiveModel:
        """The hot-swapping active model of ``name`` (NotFound when it has none)."""
        with self._lock:
            held = self._active.get(name)
            if held is not None:
                self._active.move_to_end(name)
                return held
        path = self.require(name)
        with self._lock:
            held = self._active.get(name)
            if held is None:
                held = self._active[name] = ActiveModel(path, loader=self._loader)
                while len(self._active) > self.keep:
                    self._active.popitem(last=False)
            return held

    def bundle(self, name: str) -> ModelBundle:
        """The bundle ``name`` serves now, with the card naming the model by its registry name."""
        return self.active(name).get()


def model_ref(name: str | None, bundle: ModelBundle) -> dict[str, str]:
    """``{"name", "version"}`` as answers report it: the registry's name, or the card's for the fallback."""
    return {"name": name, "version": bundle.version} if name else bundle.ref
