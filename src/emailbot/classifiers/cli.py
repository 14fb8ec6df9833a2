"""`emailbot model ...`: train, evaluate, calibrate, list and promote the local classifier's versions.

Every data argument is a file plus, for a JSON file of named splits (CLINC150's data_full.json), a split. DATA is
the default file for every role, so one benchmark file reads naturally:
    emailbot model eval data_full.json --train-split train --test-split val --unknown-split oos_val
    emailbot model eval train.csv --cv 5
    emailbot model eval --train mine.jsonl --test held_out.csv
    emailbot model eval held_out.csv --model live --predictions out.csv
Only the standard library and Typer are imported here; scikit-learn, numpy and the training code are imported by
the command that needs them (`emailbot --help` must stay fast).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from emailbot.classifiers.choices import CALIBRATIONS, DEFAULT_CALIBRATION, DEFAULT_NULL_MARGIN, Calibration

if TYPE_CHECKING:
    from emailbot.classifiers.datafiles import Columns, Example
    from emailbot.classifiers.evaluation import EvalReport
    from emailbot.classifiers.predictions import PredictionRow


app = typer.Typer(help="Train, evaluate, calibrate, list and promote the classifiers.", no_args_is_help=True)

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
TextColumnOption = Annotated[
    str | None, typer.Option(help="Column (CSV) or field (JSONL) holding the text [default: text, or subject+body].")
]
LabelColumnOption = Annotated[str, typer.Option(help="Column (CSV) or field (JSONL) holding the label.")]
ModelDirOption = Annotated[Path | None, typer.Option(help="Where models are kept (default: EMAILBOT_MODEL_DIR).")]


def _options(calibration: str, null_margin: float, abstain: bool) -> dict[str, Any]:
    if calibration not in CALIBRATIONS:
        raise typer.BadParameter(f"choose one of {', '.join(CALIBRATIONS)}", param_hint="--calibration")
    chosen: Calibration = calibration  # narrowed by the membership test above
    return {"calibration": chosen, "null_margin": null_margin if abstain else None}


def _columns(text_column: str | None, label_column: str) -> Columns:
    from emailbot.classifiers.datafiles import Columns

    return Columns(text=text_column or None, label=label_column)


def _background(data: Path | None, path: Path | None, split: str | None, columns: Columns) -> dict[str, Any]:
    """Training options for background examples; the file defaults to DATA once a background split is named."""
    from emailbot.classifiers.commands import load
    from emailbot.classifiers.training import source_of

    if path is None and split is None:
        return {}
    path = path or data
    background = load(path, split, "background", columns)
    return {"background": background, "background_source": source_of(path, split, columns) if path else ""}


@app.command()
def train(
    data: Annotated[Path | None, typer.Argument(help="Training data: .csv, .jsonl or .json.")] = None,
    split: Annotated[str | None, typer.Option(help="Split to read from a JSON file of named splits.")] = None,
    model_dir: ModelDirOption = None,
    cv: Annotated[int, typer.Option(help="Folds for the reported CV metrics; 0 skips them.")] = 5,
    calibration: CalibrationOption = DEFAULT_CALIBRATION,
    null_margin: NullMarginOption = DEFAULT_NULL_MARGIN,
    abstain: AbstainOption = True,
    background: BackgroundOption = None,
    background_split: BackgroundSplitOption = None,
    text_column: TextColumnOption = None,
    label_column: LabelColumnOption = "category",
    promote: Annotated[bool, typer.Option("--promote", help="Make the new model live at once.")] = False,
    from_feedback: Annotated[
        bool,
        typer.Option(
            "--from-feedback",
            help="Retrain on the starter data plus operators' feedback; live only if not worse on held-out data.",
        ),
    ] = False,
) -> None:
    """Train on DATA and save a candidate version (the live model is unchanged unless --promote)."""
    from emailbot.classifiers.commands import TrainRequest, load
    from emailbot.classifiers.commands import train as run_training

    if from_feedback:
        if promote:
            raise typer.BadParameter("--from-feedback goes live only when not worse", param_hint="--promote")
        _train_from_feedback(model_dir)
        return
    if data is None:
        raise typer.BadParameter("give DATA, or --from-feedback", param_hint="DATA")
    options = _options(calibration, null_margin, abstain)
    columns = _columns(text_column, label_column)
    examples = load(data, split, "train", columns)
    options.update(_background(data, background, background_split, columns))
    run_training(TrainRequest(data, split, columns, model_dir, cv, promote, options), examples)


@app.command("eval")
def evaluate_command(
    data: Annotated[Path | None, typer.Argument(help="Default file for every role below.")] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Score this saved model (version id, unique prefix, 'live', or a path) on DATA/--test."),
    ] = None,
    model_dir: ModelDirOption = None,
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
    text_column: TextColumnOption = None,
    label_column: LabelColumnOption = "category",
    predictions: Annotated[Path | None, typer.Option(help="Write one CSV row per test example here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    classifier: ClassifierOption = "local",
    limit: LimitOption = None,
) -> None:
    """Score a saved model (--model); without it, train here and throw away: k-fold CV, or --train/--test files.

    Test labels the model does not know count as unknown (out-of-scope), like --unknown ones. --classifier llm|hybrid
    scores the configured LLM (EMAILBOT_LLM_*) on the test data (DATA or --test)."""
    from emailbot.classifiers import commands

    columns = _columns(text_column, label_column)
    test_file, test_part = test or data, test_split or split
    if classifier != "local":
        examples = commands.load(test_file, test_part, "test", columns)[: limit or None]
        return _evaluate_llm(classifier, examples, as_json, predictions)
    if cv is not None and (test is not None or test_split is not None or model is not None):
        raise typer.BadParameter("use --cv alone, not with --test/--test-split/--model", param_hint="--cv")
    unknowns = commands.load(unknown or data, unknown_split, "unknown", columns) if unknown or unknown_split else []
    if model is not None:
        result = commands.eval_saved(model, model_dir, test_file, test_part, columns, unknowns)
    else:
        options = _options(calibration, null_margin, abstain)
        options.update(_background(data, background, background_split, columns))
        result = _train_and_test(data, train, train_split, test, test_split, split, cv, unknowns, options, columns)
    commands.show(*result, predictions, as_json=as_json)


def _train_and_test(
    data: Path | None,
    train_file: Path | None,
    train_split: str | None,
    test: Path | None,
    test_split: str | None,
    split: str | None,
    cv: int | None,
    unknowns: list[Example],
    options: dict[str, Any],
    columns: Columns,
) -> tuple[EvalReport, list[PredictionRow]]:
    """Today's evaluation: train/test when a test file or split is named, else k-fold CV (nothing is saved)."""
    from emailbot.classifiers import commands

    train_file = train_file or data
    if test is not None or test_split is not None:
        train_set = commands.load(train_file, train_split or split, "train", columns)
        test_set = commands.load(test or data, test_split or split, "test", columns)
        return commands.eval_train_test(train_set, test_set, unknowns, options)
    examples = commands.load(train_file, split or train_split, "train", columns)
    return commands.eval_cv(examples, cv or 5, unknowns, options)


def _llm_settings(classifier: str) -> Any:
    from emailbot.settings import SettingsError, load_settings

    if classifier not in ("llm", "hybrid"):
        raise typer.BadParameter("choose local, llm or hybrid", param_hint="--classifier")
    try:
        return load_settings(classifier=classifier)
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _evaluate_llm(classifier: str, examples: list[Example], as_json: bool, predictions: Path | None) -> None:
    from emailbot.classifiers.llm.evaluation import report, run_labelled
    from emailbot.classifiers.llm.factory import build_llm_classifier
    from emailbot.classifiers.predictions import PredictionRow, write_predictions
    from emailbot.taxonomy import load_taxonomy

    settings = _llm_settings(classifier)

    async def evaluate() -> Any:
        built = build_llm_classifier(settings)
        try:
            return await run_labelled(built, examples)
        finally:
            await built.close()

    run = asyncio.run(evaluate())
    result, raw_ece, fallbacks = report(run, load_taxonomy(settings.taxonomy_file).names, classifier)
    if predictions is not None:
        # The LLM names one category, so there is no runner-up column here.
        rows = [PredictionRow(e, r.category, r.confidence) for e, r in zip(run.examples, run.results, strict=True)]
        typer.echo(f"{write_predictions(predictions, rows)} predictions written to {predictions}", err=True)
    if as_json:
        typer.echo(json.dumps(result.as_dict() | {"raw_ece": raw_ece, "fallbacks": fallbacks}, indent=2))
        return
    from emailbot.classifiers.evaluation import format_report

    typer.echo(format_report(result))
    typer.echo(f"ECE before calibration {raw_ece:.1%}; {fallbacks} of {len(examples)} classified by the local model")


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Version id (or a unique prefix, or a path to a saved model).")],
    model_dir: ModelDirOption = None,
) -> None:
    """Make a saved model version the live one (the running service switches to it on its next cycle)."""
    from emailbot.classifiers.versions import promote as run_promote

    run_promote(version, model_dir)


@app.command("list")
def list_command(
    model_dir: ModelDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the versions as JSON.")] = False,
) -> None:
    """Saved model versions, newest first: which is live, when trained, from what data, CV and eval scores."""
    from emailbot.classifiers.versions import list_versions

    list_versions(model_dir, as_json=as_json)


@app.command()
def calibrate(
    data: Annotated[Path | None, typer.Argument(help="Labelled examples (.csv, .jsonl, .json).")] = None,
    split: Annotated[str | None, typer.Option(help="Split of DATA.")] = None,
    classifier: ClassifierOption = "llm",
    feedback: Annotated[
        bool, typer.Option("--feedback/--no-feedback", help="Also use operators' corrections from the database.")
    ] = True,
    limit: LimitOption = None,
    text_column: TextColumnOption = None,
    label_column: LabelColumnOption = "category",
) -> None:
    """Fit the LLM's (or hybrid's) confidence calibration on labelled data and feedback; save it for the service."""
    from emailbot.classifiers.commands import load
    from emailbot.classifiers.llm.confidence import calibration_path, fit_calibrator
    from emailbot.classifiers.llm.evaluation import feedback_pairs, run_labelled
    from emailbot.classifiers.llm.factory import build_llm_classifier
    from emailbot.classifiers.llm.prompts import PROMPT_VERSION

    settings = _llm_settings(classifier)
    columns = _columns(text_column, label_column)
    examples = load(data, split, "calibration", columns)[: limit or None] if data else []

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


def _train_from_feedback(model_dir: Path | None) -> None:
    from emailbot.classifiers.versions import guarded
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

    report = guarded(lambda: asyncio.run(run()))
    typer.echo(report["message"])
    typer.echo(
        f"feedback examples {report['feedback_examples']}, training examples {report['training_examples']}, "
        f"held out {report['held_out']}: accuracy before {_percent(report['accuracy_before'])}, "
        f"after {_percent(report['accuracy_after'])}"
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
