"""The model bundle: one directory per model version.

    card.json          schema, metrics, thresholds, calibration, library versions,
                       training-data sha256, the sha256 of every other file, and the
                       sha256 of the card itself (``card_sha256``)
    preprocess.json    the fitted preprocessing as data (column roles, levels, parse rules):
                       no pickle, so loading a bundle never runs code
    classifier.ubj     XGBoost booster, native UBJSON
    regressor.ubj      XGBoost booster for MRR if won (absent without a value column)
    report.html        the model report (self-contained HTML), when training wrote one
    training_rows.npy  hashes of the rows the model learnt from (compares models fairly)
    segments.json      the lead segments (encoding, centroids, table) as JSON data, when trained

Every file's hash is checked before anything is read; attachments (report,
training rows) are checked again whenever they are read.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xgboost as xgb

from backend.core.features import FeatureBuilder
from backend.core.segments import FILE as SEGMENTS_FILE
from backend.core.segments import Segments
from backend.errors import BundleIntegrityError, ModelUnavailable

CARD = "card.json"
PREPROCESS = "preprocess.json"
CLASSIFIER = "classifier.ubj"
REGRESSOR = "regressor.ubj"
REPORT = "report.html"
TRAINING_ROWS = "training_rows.npy"
SEGMENTS = SEGMENTS_FILE
_CORE_FILES = frozenset({CARD, PREPROCESS, CLASSIFIER, REGRESSOR})
_ATTACHMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_digest(card: dict[str, Any]) -> str:
    """sha256 of the card's canonical JSON, without its own ``card_sha256`` field."""
    body = {k: v for k, v in card.items() if k != "card_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class ModelBundle:
    """Everything needed to score: preprocessing, boosters and the card."""

    card: dict[str, Any]
    features: FeatureBuilder
    classifier: xgb.Booster
    regressor: xgb.Booster | None = None
    path: Path | None = None
    attachments: dict[str, bytes] = field(default_factory=dict, repr=False)  # extra files to write and seal
    segments: Segments | None = None   # lead segments (saved as the segments.json attachment)

    @property
    def name(self) -> str:
        """The model's name (from the card)."""
        return str(self.card.get("name", "lead-score"))

    @property
    def version(self) -> str:
        """The model version (the bundle directory's name)."""
        return str(self.card["version"])

    @property
    def ref(self) -> dict[str, str]:
        """``{"name", "version"}``: which model scored, as every answer says."""
        return {"name": self.name, "version": self.version}

    def save(self, directory: Path) -> Path:
        """Write the bundle into ``directory`` (created) and seal the card with file hashes."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / PREPROCESS).write_text(json.dumps(self.features.to_json(), indent=1) + "\n")
        self.classifier.save_model(str(directory / CLASSIFIER))
        files = [PREPROCESS, CLASSIFIER]
        if self.regressor is not None:
            self.regressor.save_model(str(directory / REGRESSOR))
            files.append(REGRESSOR)
        for name, data in self.attachments.items():
            if name in _CORE_FILES or not _ATTACHMENT_NAME.match(name):
                raise ValueError(f"not a valid attachment name: {name!r}")
            (directory / name).write_bytes(data)
            files.append(name)
        self.card["files"] = {f: sha256_file(directory / f) for f in files}
        self.card["card_sha256"] = card_digest(self.card)
        (directory / CARD).write_text(json.dumps(self.card, indent=2, sort_keys=False) + "\n")
        self.path = directory
        return directory

    @classmethod
    def load(cls, directory: Path | str) -> ModelBundle:
        """Load a bundle after checking every file against the card; refuse a changed one."""
        directory = Path(directory)
        card_path = directory / CARD
        if not card_path.is_file():
            raise ModelUnavailable(f"No model bundle at {directory}: {CARD} is missing. "
                                   f"Train one with `python -m backend train ...` or pass --model.")
        try:
            card = json.loads(card_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleIntegrityError(f"The model card {card_path} is damaged ({exc.__class__.__name__}). "
                                       "Restore the bundle from a trusted copy or retrain.") from exc
        if card.get("card_sha256") != card_digest(card):
            raise BundleIntegrityError(f"The model card {card_path} was changed after training "
                                       "(its sha256 does not match). Restore the bundle or retrain.")
        for name, expected in (card.get("files") or {}).items():
            path = directory / name
            if not path.is_file():
                raise BundleIntegrityError(f"The model bundle {directory} is missing {name}. "
                                           "Restore the bundle or retrain.")
            if sha256_file(path) != expected:
                raise BundleIntegrityError(f"{path} does not match the sha256 in its card: the file was "
                                           "changed or damaged, so it will not be loaded. Restore the "
                                           "bundle from a trusted copy or retrain.")
        if PREPROCESS not in (card.get("files") or {}) or CLASSIFIER not in card["files"]:
            raise BundleIntegrityError(f"The model card in {directory} lists no files to check.")
        try:
            features = FeatureBuilder.from_json(json.loads((directory / PREPROCESS).read_text()))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise BundleIntegrityError(f"{directory / PREPROCESS} cannot be read as preprocessing data "
                                       f"({exc}). Restore the bundle from a trusted copy or retrain.") from exc
        classifier = xgb.Booster()
        classifier.load_model(str(directory / CLASSIFIER))
        regressor = None
        if REGRESSOR in card["files"]:
            regressor = xgb.Booster()
            regressor.load_model(str(directory / REGRESSOR))
        for booster in (classifier, regressor):
            if booster is not None:
                booster.set_param({"nthread": 1})
        bundle = cls(card=card, features=features, classifier=classifier, regressor=regressor, path=directory)
        if SEGMENTS in card["files"]:
            try:
                bundle.segments = Segments.from_json(json.loads(bundle.read_attachment(SEGMENTS)))
            except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
                raise BundleIntegrityError(f"{directory / SEGMENTS} cannot be read as segment data ({exc}). "
                                           "Restore the bundle from a trusted copy or retrain.") from exc
        return bundle

    def read_attachment(self, name: str) -> bytes:
        """An attached file's bytes (report, training rows), checked against the card's sha256."""
        if name in self.attachments:
            return self.attachments[name]
        expected = (self.card.get("files") or {}).get(name)
        if expected is None or self.path is None:
            raise ModelUnavailable(f"Model {self.card.get('version')} has no {name}: retrain it to get one.")
        path = Path(self.path) / name
        if not path.is_file():
            raise BundleIntegrityError(f"The model bundle {self.path} is missing {name}. "
                                       "Restore the bundle or retrain.")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != expected:
            raise BundleIntegrityError(f"{path} does not match the sha256 in its card: the file was changed or "
                                       "damaged. Restore the bundle from a trusted copy or retrain.")
        return data
