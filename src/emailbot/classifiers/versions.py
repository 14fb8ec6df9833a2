"""`emailbot model list|promote` and what every model command shares: errors as one line with exit code 2, the
model folder, and finding a saved version. Only the standard library, Typer and the model store's metadata code are
imported here, so listing and promoting do not load scikit-learn's seconds of imports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from emailbot.classifiers.datafiles import DataError
from emailbot.classifiers.model_store import ModelStore, ModelStoreError

T = TypeVar("T")


def fail(message: object) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def guarded(action: Callable[[], T]) -> T:
    """Run a step, turning a data or model-store problem into a one-line error instead of a traceback."""
    try:
        return action()
    except (DataError, ModelStoreError) as exc:
        fail(exc)


def default_model_dir() -> Path:
    from emailbot.settings import SettingsError, load_settings

    try:
        return load_settings().model_dir
    except SettingsError as exc:
        fail(exc)


def resolve(reference: str, model_dir: Path | None) -> tuple[ModelStore, str]:
    """A saved model from a version id (or unique prefix, or `live`) in the model store, or a path to one."""
    path = Path(reference)
    if (path / "meta.json").is_file():
        store = ModelStore(path.resolve().parent)
        return store, path.resolve().name
    if (path / "LATEST").is_file():
        store = ModelStore(path)
        return store, guarded(lambda: store.resolve("live"))
    store = ModelStore(model_dir or default_model_dir())
    return store, guarded(lambda: store.resolve(reference))


def promote(reference: str, model_dir: Path | None) -> None:
    """Make a saved version live; it must load with this scikit-learn, or the service could not use it."""
    store, version = resolve(reference, model_dir)
    guarded(lambda: store.load(version))
    previous = store.latest_version()
    store.activate(version)
    typer.echo(f"model {version} is now live (was {previous or 'none'}); the running service picks it up shortly")


def list_versions(model_dir: Path | None, *, as_json: bool) -> None:
    store = ModelStore(model_dir or default_model_dir())
    live = store.latest_version()
    items = [_describe(store, version, live) for version in store.versions()]
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    if not items:
        typer.echo(f"no saved models in {store.model_dir}")
        return
    for item in reversed(items):
        typer.echo(_line(item))


def _describe(store: ModelStore, version: str, live: str | None) -> dict[str, Any]:
    try:
        meta = store.read_meta(version)
    except (ModelStoreError, ValueError) as exc:
        return {"version": version, "live": version == live, "error": str(exc)}
    return {
        "version": version,
        "live": version == live,
        "trained_at": meta.get("trained_at") or meta.get("created_at"),
        "source": meta.get("source", ""),
        "training_size": meta.get("training_size"),
        "categories": len(meta.get("categories", [])),
        "cv_metrics": meta.get("cv_metrics", {}),
        "evals": store.evals(version),
    }


def _line(item: dict[str, Any]) -> str:
    marker = "* live" if item["live"] else "      "
    if "error" in item:
        return f"{marker} {item['version']}  unreadable: {item['error']}"
    scores = []
    cv = item["cv_metrics"]
    if cv.get("accuracy") is not None:
        scores.append(f"CV accuracy {cv['accuracy']:.1%}")
    if item["evals"]:
        last = item["evals"][-1]
        scores.append(f"eval accuracy {last['accuracy']:.1%} on {last['n']} of {last['data']}")
    return (
        f"{marker} {item['version']}  trained {item['trained_at']}  {item['training_size']} examples, "
        f"{item['categories']} categories from {item['source'] or '?'}" + (f"; {'; '.join(scores)}" if scores else "")
    )
