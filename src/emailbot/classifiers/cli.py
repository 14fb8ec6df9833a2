"""`emailbot model ...`: train and evaluate the local classifier from the command line.

Every data argument is a file plus, for a JSON file of named splits (CLINC150's data_full.json), a split. DATA is
the default file for every role, so one benchmark file reads naturally:
    emailbot model eval data_full.json --train-split train --test-split val --unknown-split oos_val
    emailbot model eval train.csv --cv 5
    emailbot model eval --train mine.jsonl --test held_out.csv
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from emailbot.classifiers.evaluation import cross_validate, format_report, train_test
from emailbot.classifiers.model import CALIBRATIONS, DEFAULT_CALIBRATION, DEFAULT_NULL_MARGIN, Calibration
from emailbot.classifiers.model_store import ModelStore
from emailbot.classifiers.training import DataError, Example, load_examples, source_of, timed_train

T = TypeVar("T")

app = typer.Typer(help="Train, evaluate and calibrate the classifiers.", no_args_is_help=True)

CalibrationOption = Annotated[
    str, typer.Option(help=f"Probability calibration: {', '.join(CALIBRATIONS)}.", show_default=True)
]
NullMarginOption = Annotated[
    float, typer.Option(help="SVM margin of the 'none of these' logit (temperature calibration only).")
]
BackgroundOption = Annotated[
    Path | None,
    typer.Option(help="Out-of-scope examples trained as a hidden class that lowers look-alikes' confidence."),
]
BackgroundSplitOption = Annotated[
    str | None, typer.Option(help="Split of the background file (the file defaults to DATA).")
]
ClassifierOption = Annotated[
    str, typer.Option(help="local (train and test here), llm or hybrid (the configured EMAILBOT_LLM_* server).")
]
LimitOption = Annotated[int | None, typer.Option(help="Use at most this many examples (each costs an LLM request).")]
AbstainOption = Annotated[
    bool,
    typer.Option(
        "--abstain/--no-abstain", help="Keep the 'none of these' logit that lowers confidence on out-of-scope text."
    ),
]


def _options(calibration: str, null_margin: float, abstain: bool) -> dict[str, Any]:
    if calibration not in CALIBRATIONS:
        raise typer.BadParameter(f"choose one of {', '.join(CALIBRATIONS)}", param_hint="--calibration")
    chosen: Calibration = calibration  # narrowed by the membership test above
    return {"calibration": chosen, "null_margin": null_margin if abstain else None}


def _background(data: Path | None, path: Path | None, split: str | None) -> dict[str, Any]:
    """Training options for background examples; the file defaults to DATA once a background split is named."""
    if path is None and split is None:
        return {}
    path = path or data
    return {"background": _load(path, split, "background"), "background_source": source_of(path, split) if path else ""}


def _load(path: Path | None, split: str | None, role: str) -> list[Example]:
    if path is None:
        raise typer.BadParameter(f"no file for the {role} data: give DATA or --{role}")
    try:
        return load_examples(path, split)
    except DataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def train(
    data: Annotated[Path | None, typer.Argument(help="Training data: .csv, .jsonl or .json.")] = None,
    split: Annotated[str | None, typer.Option(help="Split to read from a JSON file of named splits.")] = None,
    model_dir: Annotated[Path | None, typer.Option(help="Where models are kept (default: EMAILBOT_MODEL_DIR).")] = None,
    cv: Annotated[int, typer.Option(help="Folds for the reported CV metrics; 0 skips them.")] = 5,
    calibration: CalibrationOption = DEFAULT_CALIBRATION,
    null_margin: NullMarginOption = DEFAULT_NULL_MARGIN,
    abstain: AbstainOption = True,
    background: BackgroundOption = None,
    background_split: BackgroundSplitOption = None,
    from_feedback: Annotated[
        bool,
        typer.Option(
            "--from-feedback",
            help="Retrain on the starter data plus operators' feedback; activate only if not worse on held-out data.",
        ),
    ] = False,
) -> None:
    """Train on DATA, save a new model version (it becomes LATEST), print the version and CV accuracy."""
    if from_feedback:
        _train_from_feedback(model_dir)
        return
    if data is None:
        raise typer.BadParameter("give DATA, or --from-feedback", param_hint="DATA")
    options = _options(calibration, null_margin, abstain)
    examples = _load(data, split, "train")
    options.update(_background(data, background, background_split))
    metrics: dict[str, float] = {}
    if cv:
        report = _run(lambda: cross_validate(examples, cv, **options))
        metrics = {"folds": cv, "accuracy": report.accuracy, "macro_f1": report.macro_f1, "ece": report.ece}
    source = source_of(data, split)
    model, seconds = _run(lambda: timed_train(examples, source=source, cv_metrics=metrics, **options))
    version = ModelStore(model_dir or _default_model_dir()).save(model)
    typer.echo(
        f"model {version}: {len(examples)} examples, {len(model.categories)} categories, trained in {seconds:.1f} s"
    )
    if metrics:
        typer.echo(
            f"{cv}-fold CV accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.1%}, "
            f"ECE {metrics['ece']:.1%}"
        )


@app.command("eval")
def evaluate_command(
    data: Annotated[Path | None, typer.Argument(help="Default file for every role below.")] = None,
    cv: Annotated[int | None, typer.Option(help="k-fold cross-validation on one file (default: 5).")] = None,
    split: Annotated[str | None, typer.Option(help="Split of DATA for cross-validation.")] = None,
    train: Annotated[Path | None, typer.Option("--train", help="Training file (default: DATA).")] = None,
    train_split: Annotated[str | None, typer.Option(help="Split of the training file.")] = None,
    test: Annotated[Path | None, typer.Option("--test", help="Test file: train/test mode (default: DATA).")] = None,
    test_split: Annotated[str | None, typer.Option(help="Split of the test file: train/test mode.")] = None,
    unknown: Annotated[Path | None, typer.Option(help="Out-of-scope examples (default: DATA).")] = None,
    unknown_split: Annotated[str | None, typer.Option(help="Split holding out-of-scope examples.")] = None,
    calibration: CalibrationOption = DEFAULT_CALIBRATION,
    null_margin: NullMarginOption = DEFAULT_NULL_MARGIN,
    abstain: AbstainOption = True,
    background: BackgroundOption = None,
    background_split: BackgroundSplitOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    classifier: ClassifierOption = "local",
    limit: LimitOption = None,
) -> None:
    """Evaluate: k-fold CV on one file, or train on one file/split and test on another.

    Test rows whose label is not among the training labels count as unknown (out-of-scope), like --unknown ones.
    With --classifier llm|hybrid, the configured LLM (EMAILBOT_LLM_*) classifies the test data (DATA or --test).
    """
    if classifier != "local":
        examples = _load(test or data, test_split or split, "test")[: limit or None]
        _evaluate_llm(classifier, examples, as_json)
        return
    options = _options(calibration, null_margin, abstain)
    options.update(_background(data, background, background_split))
    unknowns: list[Example] = []
    if unknown is not None or unknown_split is not None:
        unknowns = _load(unknown or data, unknown_split, "unknown")
    if test is not None or test_split is not None:
        if cv is not None:
            raise typer.BadParameter("use either --cv or --test/--test-split", param_hint="--cv")
        train_set = _load(train or data, train_split or split, "train")
        test_set = _load(test or data, test_split or split, "test")
        report = _run(lambda: train_test(train_set, test_set, unknowns, **options))
    else:
        examples = _load(train or data, split or train_split, "train")
        report = _run(lambda: cross_validate(examples, cv or 5, unknowns, **options))
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_report(report))


def _llm_settings(classifier: str) -> Any:
    from emailbot.settings import SettingsError, load_settings

    if classifier not in ("llm", "hybrid"):
        raise typer.BadParameter("choose local, llm or hybrid", param_hint="--classifier")
    try:
        return load_settings(classifier=classifier)
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _evaluate_llm(classifier: str, examples: list[Example], as_json: bool) -> None:
    from emailbot.classifiers.llm.evaluation import report, run_labelled
    from emailbot.classifiers.llm.factory import build_llm_classifier
    from emailbot.taxonomy import load_taxonomy

    settings = _llm_settings(classifier)

    async def evaluate() -> Any:
        built = build_llm_classifier(settings)
        try:
            return await run_labelled(built, examples)
        finally:
            await built.close()

    result, raw_ece, fallbacks = report(
        asyncio.run(evaluate()), load_taxonomy(settings.taxonomy_file).names, classifier
    )
    if as_json:
        typer.echo(json.dumps(result.as_dict() | {"raw_ece": raw_ece, "fallbacks": fallbacks}, indent=2))
        return
    typer.echo(format_report(result))
    typer.echo(f"ECE before calibration {raw_ece:.1%}; {fallbacks} of {len(examples)} classified by the local model")


@app.command()
def calibrate(
    data: Annotated[Path | None, typer.Argument(help="Labelled examples (.csv, .jsonl, .json).")] = None,
    split: Annotated[str | None, typer.Option(help="Split of DATA.")] = None,
    classifier: ClassifierOption = "llm",
    feedback: Annotated[
        bool, typer.Option("--feedback/--no-feedback", help="Also use operators' corrections from the database.")
    ] = True,
    limit: LimitOption = None,
) -> None:
    """Fit the LLM's (or hybrid's) confidence calibration on labelled data and feedback; save it for the service."""
    from emailbot.classifiers.llm.confidence import calibration_path, fit_calibrator
    from emailbot.classifiers.llm.evaluation import feedback_pairs, run_labelled
    from emailbot.classifiers.llm.factory import build_llm_classifier
    from emailbot.classifiers.llm.prompts import PROMPT_VERSION

    settings = _llm_settings(classifier)
    examples = _load(data, split, "calibration")[: limit or None] if data else []

    async def collect() -> tuple[list[tuple[float, bool]], list[tuple[float, bool]]]:
        built = build_llm_classifier(settings)
        try:
            labelled = (await run_labelled(built, examples)).raw_pairs(classifier) if examples else []
        finally:
            await built.close()
        return labelled, (await feedback_pairs(settings.database_url, classifier) if feedback else [])

    labelled, reviewed = asyncio.run(collect())
    pairs = labelled + reviewed
    # The labelled pairs are kept in the map, so the scheduled refit from new feedback does not forget them.
    meta = {"prompt_version": PROMPT_VERSION, "labelled_pairs": labelled, "feedback_n": len(reviewed)}
    try:
        fitted = fit_calibrator([p for p, _ in pairs], [c for _, c in pairs], **meta)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    path = calibration_path(settings.model_dir, classifier)
    fitted.save(path)
    accuracy = sum(c for _, c in pairs) / len(pairs)
    typer.echo(
        f"calibration for {classifier} fitted on {len(pairs)} examples (accuracy {accuracy:.1%}), saved to {path}"
    )


def _run(action: Callable[[], T]) -> T:
    """Run a training step, turning a data problem into a one-line error instead of a traceback."""
    try:
        return action()
    except DataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _default_model_dir() -> Path:
    from emailbot.settings import SettingsError, load_settings

    try:
        return load_settings().model_dir
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _train_from_feedback(model_dir: Path | None) -> None:
    import asyncio

    from emailbot.learning.retrain import retrain_from_feedback
    from emailbot.settings import SettingsError, load_settings
    from emailbot.store.db import Database
    from emailbot.taxonomy import load_taxonomy

    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    async def run() -> dict[str, Any]:
        db = Database(settings.database_url)
        try:
            names = load_taxonomy(settings.taxonomy_file).names
            return (await retrain_from_feedback(db, model_dir or settings.model_dir, names)).as_dict()
        finally:
            await db.dispose()

    report = _run(lambda: asyncio.run(run()))
    typer.echo(report["message"])
    typer.echo(
        f"feedback examples {report['feedback_examples']}, training examples {report['training_examples']}, "
        f"held out {report['held_out']}: accuracy before {_percent(report['accuracy_before'])}, "
        f"after {_percent(report['accuracy_after'])}"
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
