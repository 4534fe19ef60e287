"""CLI commands ``visaudit report`` and ``visaudit compare`` as typer-compatible functions.

Wire them in ``cli.py`` with::

    from visaudit.report.commands import compare_command, report_command
    app.command("report")(report_command)
    app.command("compare")(compare_command)

Only typer is imported here; pandas/scipy load when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from visaudit.errors import VisauditError


def _selected(store: Path, max_images: int | None, seed: int | None, all_images: bool) -> tuple[list, list[str]]:
    """The store's records that match the filters, and the lines of records it could not read."""
    from visaudit.report.records import load_store

    records, skipped = load_store(store)
    if all_images:
        records = [r for r in records if r.get("max_images") is None]
    elif max_images is not None:
        records = [r for r in records if r.get("max_images") == max_images]
    if seed is not None:
        records = [r for r in records if r.get("seed") == seed]
    return records, skipped


def _check_table_args(store: Path, format: str) -> None:
    """Refuse an unknown table format or a folder that is not a store."""
    from visaudit.report.tables import FORMATS

    if format not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    if not (store / "records").is_dir():
        raise typer.BadParameter(f"{store} holds no records/ folder", param_hint="--store")


def _emit(text: str, out: Path | None) -> None:
    """Write ``text`` to ``out`` (folders made) or to stdout."""
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text, nl=False)


def report_command(
    store_arg: Optional[Path] = typer.Argument(None, metavar="[STORE]", help="results store (same as --store)"),
    store_opt: Optional[Path] = typer.Option(None, "--store", help="results store (default visaudit-results)"),
    out: Path = typer.Option(Path("visaudit-report"), "-o", "--out", help="folder for index.html"),
    title: str = typer.Option("visaudit report", "--title", help="page title"),
    max_images: Optional[int] = typer.Option(None, "--max-images", help="only records of this subset size"),
    all_images: bool = typer.Option(False, "--all-images", help="only records of whole datasets"),
    seed: Optional[int] = typer.Option(None, "--seed", help="only records of this seed"),
) -> None:
    """Write a static HTML report (leaderboard, figures, model cards) from stored records."""
    from visaudit.report.render import render_report

    if store_arg is not None and store_opt is not None and store_arg != store_opt:
        raise typer.BadParameter("give the store once (STORE or --store)", param_hint="--store")
    store = store_opt or store_arg or Path("visaudit-results")
    if not (store / "records").is_dir():
        raise typer.BadParameter(
            f"{store} holds no records/ folder; run `visaudit run --store {store}` first", param_hint="STORE"
        )
    records, skipped = _selected(store, max_images, seed, all_images)
    try:
        res = render_report(store, out, title=title, records=records, skipped=skipped)
    except OSError as err:
        typer.echo(f"error: cannot write the report to {out}: {err.strerror or err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {res.path} ({res.n_models} subjects, {res.n_records} records, {len(res.figure_ids)} figures)")
    if res.browser is not None:
        b = res.browser
        typer.echo(f"wrote {b.path} ({len(b.galleries)} galleries, {b.n_items} items, {b.n_placeholders} placeholders)")
    for note in res.notes:
        typer.echo(f"note: {note}", err=True)


def compare_command(
    store: Path = typer.Option(Path("visaudit-results"), "--store", help="results store"),
    model: Optional[List[str]] = typer.Option(None, "-m", "--model", help="models to compare (default: all)"),
    format: str = typer.Option("md", "--format", help="md, csv or latex"),
    table: str = typer.Option("all", "--table", help="models, correlations, bias or all"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="write to this file instead of stdout"),
    min_models: int = typer.Option(3, "--min-models", help="leave out pairs with fewer models"),
    metrics: Optional[List[str]] = typer.Option(
        None, "--metrics", help="metrics shown besides each probe's headline ('all': every one)"
    ),
    max_images: Optional[int] = typer.Option(None, "--max-images", help="only records of this subset size"),
    all_images: bool = typer.Option(False, "--all-images", help="only records of whole datasets"),
    seed: Optional[int] = typer.Option(None, "--seed", help="only records of this seed"),
) -> None:
    """Compare models: metric table, Spearman/Kendall correlations, which bias predicts what."""
    from visaudit.report.comparison import compare

    _check_table_args(store, format)
    records, _ = _selected(store, max_images, seed, all_images)
    known = sorted({str(r["model"]["name"]) for r in records})
    missing = sorted(set(model or []) - set(known))
    if missing:
        raise typer.BadParameter(
            f"no records for {missing}; the store holds: {', '.join(known) or 'none'}", param_hint="--model"
        )
    comp = compare(store, models=model or None, min_models=min_models, metrics=metrics, records=records)
    try:
        text = comp.render(format, table)
    except ValueError as err:
        raise VisauditError(str(err)) from err
    _emit(text, out)


def consistency_command(
    store: Path = typer.Option(Path("visaudit-results"), "--store", help="results store"),
    format: str = typer.Option("md", "--format", help="md, csv or latex"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="write to this file instead of stdout"),
) -> None:
    """Human-likeness across the store: the model-vs-human ranking and error-consistency matrices."""
    import pandas as pd

    from visaudit.report.consistency import consistency_tables, human_likeness_ranking
    from visaudit.report.records import RecordBook
    from visaudit.report.tables import render

    _check_table_args(store, format)
    records, _ = _selected(store, None, None, False)
    book = RecordBook(records, store)
    ranking = human_likeness_ranking(book)
    if not ranking:
        raise VisauditError(
            "the store holds no human-likeness record: run `visaudit run -p human-likeness -d edges` (and import "
            "observers with `visaudit import --kind humans`) first"
        )
    parts = [
        render(
            pd.DataFrame(ranking).assign(datasets=lambda d: d["datasets"].map(", ".join)),
            format,
            "Most human-like (model-vs-human: mean rank of accuracy difference, observed and error consistency)",
        )
    ]
    for table in consistency_tables(book):
        frame = table.to_frame().reset_index(names="subject")
        parts.append(render(frame, format, f"Error consistency (Cohen's kappa), {table.dataset}"))
    text = "\n\n".join(parts)
    _emit(text, out)
