"""Versioned models on disk: `<model_dir>/<version>/model.joblib` + `meta.json`, and a `LATEST` pointer file.

`LATEST` names the live model. `emailbot model train` saves a candidate (LATEST unchanged) and `model promote`
moves LATEST; evaluations of a saved version are appended to `<model_dir>/evals/<version>.jsonl`, outside the
version directory, which stays exactly as it was written.

Why this layout: a version directory is never changed after it is written, so a running service can keep using
the model it loaded while a new one is trained; the switch is the atomic replacement of `LATEST`. The version is a
UTC timestamp (sorts by age) plus a short hash of the model file (tells two models of the same second apart, and
lets `load` detect a damaged file). A pickle from another scikit-learn version may load and then predict wrongly
without a word, so loading refuses it with IncompatibleModelError and the caller retrains.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emailbot.classifiers.model import TrainedModel

# joblib and scikit-learn are imported by the methods that save or load a model: listing versions, reading their
# metadata and moving LATEST (`emailbot model list|promote`) must not pay seconds of imports.

FORMAT = 1
LATEST = "LATEST"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
EVALS_DIR = "evals"


class ModelStoreError(Exception):
    """A model cannot be saved or loaded."""


class ModelNotFoundError(ModelStoreError):
    """There is no saved model (yet)."""


class IncompatibleModelError(ModelStoreError):
    """The saved model was made by another scikit-learn (or file format) version: retrain it."""

    def __init__(self, message: str, meta: dict[str, Any]) -> None:
        super().__init__(message)
        self.meta = meta


class ModelStore:
    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir

    def save(self, model: TrainedModel, *, activate: bool = True) -> str:
        """Write the model and its metadata under a new version, then (unless told not to) point LATEST at it;
        returns the version. A candidate saved with `activate=False` is used once `activate` (promote) names it."""
        import joblib

        self.model_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=self.model_dir))
        try:
            joblib.dump({"features": model.features, "classifier": model.classifier}, staging / MODEL_FILE)
            digest = _sha256(staging / MODEL_FILE)
            version = self._new_version(f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{digest[:8]}")
            _write_json(staging / META_FILE, _meta(model, version, digest))
            staging.rename(self.model_dir / version)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if activate:
            self.activate(version)
        return version

    def activate(self, version: str) -> None:
        """Make `version` the model that is loaded from now on (the running service reloads it)."""
        self.read_meta(version)
        _atomic_write(self.model_dir / LATEST, version + "\n")

    def _new_version(self, base: str) -> str:
        """A version no saved model has: the same data retrained within a second must not reuse a directory
        whose metadata (scikit-learn version, say) describes the older model."""
        version, suffix = base, 1
        while (self.model_dir / version).exists():
            suffix += 1
            version = f"{base}-{suffix}"
        return version

    def latest_version(self) -> str | None:
        pointer = self.model_dir / LATEST
        if not pointer.is_file():
            return None
        return pointer.read_text(encoding="utf-8").strip() or None

    def versions(self) -> list[str]:
        """Every saved version, oldest first."""
        if not self.model_dir.is_dir():
            return []
        return sorted(p.name for p in self.model_dir.iterdir() if (p / META_FILE).is_file())

    def load_latest(self) -> TrainedModel:
        version = self.latest_version()
        if version is None:
            raise ModelNotFoundError(f"{self.model_dir}: no saved model ({LATEST} is missing)")
        return self.load(version)

    def load(self, version: str) -> TrainedModel:
        """Load one version; IncompatibleModelError when it was written by another scikit-learn."""
        import joblib
        import sklearn
        from sklearn.exceptions import InconsistentVersionWarning

        folder = self.model_dir / version
        meta = self.read_meta(version)
        saved = meta.get("sklearn_version")
        if meta.get("format") != FORMAT or saved != sklearn.__version__:
            raise IncompatibleModelError(
                f"model {version} was saved with scikit-learn {saved} (format {meta.get('format')}); this is "
                f"scikit-learn {sklearn.__version__} (format {FORMAT}): retrain it with `emailbot model train`",
                meta,
            )
        if _sha256(folder / MODEL_FILE) != meta.get("sha256"):
            raise ModelStoreError(f"{folder / MODEL_FILE}: content does not match meta.json (damaged file?)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            try:
                parts = joblib.load(folder / MODEL_FILE)
            except InconsistentVersionWarning as exc:
                raise IncompatibleModelError(f"model {version}: {exc}", meta) from None
        return _model(parts, meta)

    def resolve(self, reference: str) -> str:
        """A version from its full id, a unique prefix of it, or `live`/`latest` (what LATEST names)."""
        if reference in ("live", "latest", LATEST):
            version = self.latest_version()
            if version is None:
                raise ModelNotFoundError(f"{self.model_dir}: no live model ({LATEST} is missing)")
            return version
        versions = self.versions()
        if reference in versions:
            return reference
        matches = [v for v in versions if v.startswith(reference)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ModelNotFoundError(f"{reference!r} matches {len(matches)} versions: {', '.join(matches[:5])}")
        listed = ", ".join(versions[-5:]) or "none"
        raise ModelNotFoundError(f"{self.model_dir}: no model version {reference!r}; newest are {listed}")

    def record_eval(self, version: str, result: dict[str, Any]) -> None:
        """Remember an evaluation of `version` (shown by `emailbot model list`)."""
        self.read_meta(version)
        folder = self.model_dir / EVALS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{version}.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(result, sort_keys=True) + "\n")

    def evals(self, version: str) -> list[dict[str, Any]]:
        """Recorded evaluations of `version`, oldest first; a damaged line is left out rather than fatal."""
        path = self.model_dir / EVALS_DIR / f"{version}.jsonl"
        if not path.is_file():
            return []
        results = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict):
                results.append(item)
        return results

    def read_meta(self, version: str) -> dict[str, Any]:
        path = self.model_dir / version / META_FILE
        if not path.is_file():
            raise ModelNotFoundError(f"{path}: no such model version")
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return meta


def _meta(model: TrainedModel, version: str, digest: str) -> dict[str, Any]:
    import sklearn

    return {
        "format": FORMAT,
        "version": version,
        "sha256": digest,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "trained_at": model.trained_at,
        "categories": list(model.categories),
        "training_size": model.training_size,
        "source": model.source,
        "background_source": model.background_source,
        "calibration": model.calibration,
        "null_margin": model.null_margin,
        "cv_metrics": dict(model.cv_metrics),
        "sklearn_version": sklearn.__version__,
    }


def _model(parts: dict[str, Any], meta: dict[str, Any]) -> TrainedModel:
    from emailbot.classifiers.model import TrainedModel

    model = TrainedModel(
        features=parts["features"],
        classifier=parts["classifier"],
        calibration=meta["calibration"],
        null_margin=meta["null_margin"],
        training_size=meta["training_size"],
        source=meta["source"],
        cv_metrics=meta["cv_metrics"],
        trained_at=meta["trained_at"],
        version=meta["version"],
        background_source=meta.get("background_source", ""),
    )
    if list(model.categories) != meta["categories"]:
        raise ModelStoreError(f"model {meta['version']}: categories differ from meta.json")
    return model


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename over `path` (atomic on POSIX)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
