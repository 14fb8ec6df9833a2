from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emailbot.classifiers.model import TrainedModel
from emailbot.classifiers.model_store import (
    IncompatibleModelError,
    ModelNotFoundError,
    ModelStore,
    ModelStoreError,
)

TEXTS = ["my password expired", "quote for 3 laptops", "whole office offline!!", "lunch on friday?"]


def test_round_trip_keeps_predictions_and_metadata(tmp_path: Path, starter_model: TrainedModel) -> None:
    store = ModelStore(tmp_path)
    version = store.save(starter_model)
    loaded = store.load_latest()
    assert loaded.version == version
    assert loaded.categories == starter_model.categories
    assert loaded.training_size == starter_model.training_size
    assert loaded.source == "starter:default"
    np.testing.assert_allclose(loaded.probabilities(TEXTS), starter_model.probabilities(TEXTS))
    meta = json.loads((tmp_path / version / "meta.json").read_text())
    assert meta["categories"] == list(starter_model.categories)
    assert meta["calibration"] == "temperature"
    assert "sklearn_version" in meta
    assert sorted(p.name for p in (tmp_path / version).iterdir()) == ["meta.json", "model.joblib"]


def test_latest_points_at_the_newest_save(tmp_path: Path, starter_model: TrainedModel) -> None:
    store = ModelStore(tmp_path)
    first = store.save(starter_model)
    second = store.save(starter_model)
    assert store.latest_version() == second == (tmp_path / "LATEST").read_text().strip()
    assert set(store.versions()) == {first, second}
    assert store.load(first).version == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_version_is_timestamp_and_hash(tmp_path: Path, starter_model: TrainedModel) -> None:
    version = ModelStore(tmp_path).save(starter_model)
    stamp, _, digest = version.partition("-")
    assert len(stamp) == 16
    assert stamp.endswith("Z")
    assert len(digest) == 8


def test_empty_store_says_so(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no saved model"):
        ModelStore(tmp_path / "nothing").load_latest()


def test_model_from_another_sklearn_is_refused(tmp_path: Path, starter_model: TrainedModel) -> None:
    store = ModelStore(tmp_path)
    version = store.save(starter_model)
    meta_path = tmp_path / version / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["sklearn_version"] = "1.0.2"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IncompatibleModelError, match=r"scikit-learn 1\.0\.2.*retrain") as caught:
        store.load_latest()
    assert caught.value.meta["source"] == "starter:default"


def test_damaged_model_file_is_detected(tmp_path: Path, starter_model: TrainedModel) -> None:
    store = ModelStore(tmp_path)
    version = store.save(starter_model)
    with (tmp_path / version / "model.joblib").open("ab") as handle:
        handle.write(b"garbage")
    with pytest.raises(ModelStoreError, match="does not match"):
        store.load(version)
