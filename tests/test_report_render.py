"""The HTML report from stored records: every documented layout drawn, bad layouts tolerated."""

from __future__ import annotations

import copy
import re

import pytest

from visaudit.report.figures import figures_for
from visaudit.report.figures.common import parse_attack, parse_condition
from visaudit.report.records import RecordBook, headline_metric, load_records
from visaudit.report.render import render_report
from visaudit.report.svg import nice_ticks
from visaudit.report.synthetic import PROBES, synthetic_record, synthetic_records, write_store


def test_metric_name_parsing():
    assert parse_attack("autoattack/linf=8/255") == ("autoattack", "linf", pytest.approx(8 / 255))
    assert parse_attack("pgd20/l2=0.5") == ("pgd20", "l2", 0.5)
    assert parse_attack("no-eps") is None
    assert parse_condition("gaussian_noise/3") == ("gaussian_noise", 3.0)
    assert parse_condition("lowpass") is None


def test_nice_ticks_cover_range():
    ticks = nice_ticks(0.03, 0.91)
    assert ticks[0] >= 0.03 - 1e-9 and ticks[-1] <= 0.91 + 1e-9 and 3 <= len(ticks) <= 8
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1


def test_headline_metrics_follow_the_issue():
    import random

    rnd = random.Random(0)
    heads = {p: headline_metric(synthetic_record("m", p, rnd, 0.8)) for p in PROBES}
    assert heads["accuracy"] == "top1"
    assert heads["corruptions"] == "mce"
    assert heads["adversarial"].startswith("robust_top1@autoattack/")
    assert heads["shape-bias"] == "shape_bias"
    assert heads["calibration"] == "ece"
    assert heads["ood"].startswith("auroc@")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth-report")
    recs = synthetic_records(n_models=3, seed=1)
    human = synthetic_record("subject-01", "shape-bias", __import__("random").Random(5), 0.9)
    human["model"]["source"] = "human"
    human["key"] = "human0subject01"
    recs.append(human)
    # one model misses most probes and has a failed job
    partial = [r for r in synthetic_records(n_models=1, seed=2, probes=["accuracy", "ood"])]
    for r in partial:
        r["model"]["name"] = "partial-model"
        r["key"] = "partial" + r["key"][:12]
    partial[1]["status"] = "error"
    partial[1]["error"] = "CUDA out of memory <script>alert(1)</script>"
    partial[1]["metrics"] = {}
    recs += partial
    write_store(recs, root / "store")
    (root / "store" / "records" / "broken.json").write_text("{ not json", encoding="utf-8")
    res = render_report(root / "store", root / "out")
    return root, recs, res


def test_every_probe_layout_is_drawn(synth):
    root, recs, _ = synth
    book = RecordBook(load_records(root / "store"), root / "store")
    for probe in PROBES:
        rec = book.for_model("synthetic-model-00", probe)[0]
        figs = figures_for(rec, book.artifact_path, book.for_probe(probe))
        drawn = [f for f in figs if f.body]
        assert drawn, f"no figure for {probe}"
        assert all(f.body.startswith("<svg") for f in drawn), probe
        assert not [f.note for f in figs if not f.body], probe


def test_report_page_structure(synth):
    root, recs, res = synth
    html = res.path.read_text(encoding="utf-8")
    assert res.n_models == 5  # 3 synthetic + human + partial; the broken file is skipped
    assert html.count('<figure class="fig"') == len(res.figure_ids) > 3 * len(PROBES)
    # every figure states probe, version, dataset, n and links to an existing record
    for fig in re.findall(r'<figure class="fig".*?</figure>', html, flags=re.S):
        caption = fig.rsplit("<figcaption>", 1)[1]
        assert re.search(r"\S+ v\d+ · [\w-]+ · n=\d+", caption), caption[:200]
        for href in re.findall(r'href="([^"]+)"', caption):
            assert (res.path.parent / href).resolve().is_file(), href
    # nothing is loaded from the network
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "Content-Security-Policy" in html


def test_missing_and_failed_probes_render_as_not_run_and_failed(synth):
    _, _, res = synth
    html = res.path.read_text(encoding="utf-8")
    card = html.split('id="model-partial-model"', 1)[1].split('<section class="card"', 1)[0]
    for probe in PROBES:
        if probe not in ("accuracy", "ood"):
            assert f'data-probe="{probe}">{probe}: not run' in card
    assert "this job failed: CUDA out of memory &lt;script&gt;" in card
    assert "<script>alert" not in html
    board = html.split('id="leaderboard"', 1)[1].split("</table>", 1)[0]
    row = board.split('<a href="#model-partial-model">', 1)[1].split("</tr>", 1)[0]
    assert 'class="err" data-v="">error</td>' in row and 'class="na" data-v="">not run</td>' in row


def test_human_subjects_share_the_shape_bias_plot(synth):
    _, _, res = synth
    html = res.path.read_text(encoding="utf-8")
    across = html.split('id="across"', 1)[1].split("Model cards", 1)[0]
    assert "subject-01" in across and "synthetic-model-02" in across
    card = html.split('id="model-synthetic-model-00"', 1)[1].split('<section class="card"', 1)[0]
    assert "Shape bias per category (with human observers)" in card and "subject-01" in card


def test_malformed_layouts_never_raise(tmp_path):
    import random

    rnd = random.Random(0)
    bad_values = [None, "text", 3, [1, "a"], {"x": [1, 2], "top1": [1]}, [[1, 2], [3]], {"threshold": "x"}]
    recs = []
    for i, probe in enumerate(PROBES):
        rec = synthetic_record(f"bad-{i % 3}", probe, rnd, 0.5)
        for j, key in enumerate(list(rec["data"])):
            rec["data"][key] = copy.deepcopy(bad_values[(i + j) % len(bad_values)])
        rec["metrics"]["robust_top1@weird"] = 0.5
        rec["metrics"]["top1@nolevel"] = float("nan")
        rec["artifacts"] = ["artifacts/missing.png", 7]
        recs.append(rec)
    unknown = synthetic_record("bad-0", "accuracy", rnd, 0.5)
    unknown["probe"] = {"name": "future-probe", "version": 3, "config": {}}
    unknown["key"] = "future"
    unknown["data"] = {"curve": {"x": [0, 1, 2], "y": [0.1, 0.5, 0.2], "xlabel": "knob"}}
    recs.append(unknown)
    odd = {"key": "odd", "model": "just-a-string", "probe": None, "metrics": {"x": "nan"}, "data": [1, 2]}
    recs.append(odd)
    write_store(recs, tmp_path / "store")
    res = render_report(tmp_path / "store", tmp_path / "out")
    html = res.path.read_text(encoding="utf-8")
    assert "future-probe" in html and ">curve</div>" in html
    # a record that no schema can read is refused by name, not half-drawn
    assert "just-a-string" not in html and "odd.json" in html and "Skipped records" in html
    assert any("odd.json" in n for n in res.notes)


def test_artifact_images_are_inlined(tmp_path):
    import random

    rec = synthetic_record("with-art", "corruptions", random.Random(0), 0.7)
    art = tmp_path / "store" / "artifacts" / rec["key"] / "example.png"
    art.parent.mkdir(parents=True)
    # a 1x1 PNG written by matplotlib (no image file in the repo needed)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(art, [[[0.2, 0.4, 0.6]]])
    rec["artifacts"] = [f"artifacts/{rec['key']}/example.png"]
    write_store([rec], tmp_path / "store")
    res = render_report(tmp_path / "store", tmp_path / "out")
    html = res.path.read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in html and "example.png" in html


def test_cli_commands_through_typer(synth, tmp_path):
    import typer
    from typer.testing import CliRunner

    from visaudit.report.commands import compare_command, report_command

    root, _, _ = synth
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("compare")(compare_command)
    runner = CliRunner()
    out = tmp_path / "rep"
    r = runner.invoke(app, ["report", str(root / "store"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "index.html").is_file() and "figures" in r.output
    r = runner.invoke(
        app,
        [
            "compare",
            "--store",
            str(root / "store"),
            "--format",
            "latex",
            "--table",
            "bias",
            "-o",
            str(tmp_path / "t.tex"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "\\begin{tabular}" in (tmp_path / "t.tex").read_text()
    r = runner.invoke(
        app,
        [
            "compare",
            "--store",
            str(root / "store"),
            "-m",
            "synthetic-model-00",
            "-m",
            "synthetic-model-01",
            "-m",
            "synthetic-model-02",
            "--format",
            "csv",
            "--table",
            "models",
        ],
    )
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("model,") and len(lines) == 4
    r = runner.invoke(app, ["compare", "--store", str(root / "store"), "-m", "nope"])
    assert r.exit_code != 0 and "nope" in r.output
    r = runner.invoke(app, ["report", str(tmp_path / "empty")])
    assert r.exit_code != 0 and "records" in r.output
