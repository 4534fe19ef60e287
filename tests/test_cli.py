"""The command line: fast help/list, run, show, export."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.helpers import run_cli, run_python


def test_help_and_list_import_no_torch():
    code = (
        "import sys, io, contextlib\n"
        "from visaudit.cli import app\n"
        "for argv in (['--help'], ['list', 'probes'], ['list', 'models'], ['list', 'datasets']):\n"
        "    buf = io.StringIO()\n"
        "    with contextlib.redirect_stdout(buf):\n"
        "        try:\n"
        "            app(argv)\n"
        "        except SystemExit as e:\n"
        "            assert e.code in (0, None), (argv, e.code)\n"
        "    assert buf.getvalue().strip(), argv\n"
        "print(sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules))\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_list_shows_registered_names():
    out = run_cli("list", "probes")
    assert out.returncode == 0 and "accuracy" in out.stdout
    out = run_cli("list", "datasets")
    assert "cue-conflict" in out.stdout and "cifar10-test" in out.stdout
    out = run_cli("list", "models")
    assert "efficientnet_lite0" in out.stdout and "timm:" in out.stdout


@pytest.mark.slow
def test_run_show_export(tmp_path):
    store = tmp_path / "s"
    out = run_cli(
        "run",
        "-m",
        "cifar10_resnet20",
        "-p",
        "accuracy",
        "-d",
        "cifar10-test",
        "--store",
        str(store),
        "--max-images",
        "200",
        "-q",
    )
    assert out.returncode == 0, out.stderr
    assert "top1" in out.stdout and " 0." in out.stdout and "cifar10_resnet20" in out.stdout
    out = run_cli("show", "--store", str(store))
    assert out.returncode == 0 and "accuracy" in out.stdout
    for fmt in ("csv", "json", "parquet"):
        target = tmp_path / f"out.{fmt}"
        out = run_cli("export", "--store", str(store), "--format", fmt, "-o", str(target))
        assert out.returncode == 0, out.stderr
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert {"model", "probe", "dataset", "metric", "value"} <= set(frame.columns)
    top1 = frame[(frame.metric == "top1")]
    assert len(top1) == 1 and top1.iloc[0]["model"] == "cifar10_resnet20" and top1.iloc[0]["higher_is_better"]
    assert len(pd.read_csv(tmp_path / "out.csv")) == len(frame)
    assert len(json.loads((tmp_path / "out.json").read_text())) == len(frame)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "-m", "cifar10_resnet2", "-d", "cifar10-test"], "Did you mean"),
        (["run", "-m", "cifar10_resnet20", "-p", "acuracy", "-d", "cifar10-test"], "Did you mean 'accuracy'"),
        (["run", "-m", "cifar10_resnet20", "-d", "cifar-10-test"], "Did you mean 'cifar10-test'"),
        (["run", "-m", "cifar10_resnet20", "-d", "/no/such/folder"], "does not exist"),
        (["run", "-m", "cifar10_resnet20", "-d", "edges"], "do not fit"),
    ],
)
def test_bad_input_gives_a_clear_message_and_exit_2(args, needle, tmp_path):
    out = run_cli(*args, "--store", str(tmp_path))
    assert out.returncode == 2, out.stdout + out.stderr
    assert needle in out.stderr.replace("\n", " ")
    assert "Traceback" not in out.stderr


def test_config_file_is_read_safely(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("accuracy: !!python/object/apply:os.system ['echo pwned']\n")
    out = run_cli("run", "-m", "cifar10_resnet20", "-d", "cifar10-test", "--config", str(cfg), "--store", str(tmp_path))
    assert out.returncode == 2 and "cannot read config" in out.stderr
    cfg.write_text("accuracy: {store_top_k: 3, bogus: 1}\n")
    out = run_cli("run", "-m", "cifar10_resnet20", "-d", "cifar10-test", "--config", str(cfg), "--store", str(tmp_path))
    assert out.returncode == 2 and "bogus" in out.stderr


def test_probe_options_are_listed_with_types_defaults_and_meaning():
    out = run_cli("probe", "corruptions")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "list[int]" in text and "[1, 2, 3, 4, 5]" in text and "which severities" in text
    assert "stored" in text and "ImageNet-C tree" in text.replace("\n", " ")
    out = run_cli("list", "probes", "--options")
    assert out.returncode == 0 and all(f"{p} options" in out.stdout for p in ("accuracy", "ood", "adversarial"))
    out = run_cli("probe", "corruptons")
    assert out.returncode == 2 and "Did you mean 'corruptions'" in out.stderr


@pytest.mark.slow
def test_progress_is_printed_as_plain_lines_when_stdout_is_not_a_terminal(tmp_path):
    import os
    import subprocess
    import sys

    from tests.helpers import REPO

    env = {**os.environ, "VISAUDIT_PROGRESS_EVERY": "0"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "visaudit.cli",
            "run",
            "-m",
            "cifar10_resnet20",
            "-d",
            "cifar10-test",
            "--store",
            str(tmp_path),
            "--max-images",
            "96",
            "--batch-size",
            "32",
            "--workers",
            "0",
        ],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("[start]") and "96 img" in line for line in lines)
    progress = [line for line in lines if line.startswith("[progress]")]
    assert progress and all("img/s" in line and "ETA" in line and "- img/s" not in line for line in progress)
    assert any(line.startswith("[done]") and "96/96" in line for line in lines)


def test_plain_progress_reports_rate_eta_and_a_failed_pass():
    from visaudit.engine.progress import PlainLines

    written: list[str] = []
    bars = PlainLines(every=0.0, write=written.append)
    h = bars.add(10, "layers x trials", unit="layer")
    h.advance(4)
    bars.fail_open()
    assert written[0] == "[start] layers x trials: 10 layer"
    assert written[1].startswith("[progress] layers x trials: 4/10 layer (40%)") and "layer/s" in written[1]
    assert written[-1].startswith("[failed]")


@pytest.mark.slow
def test_the_summary_fits_80_columns_without_cutting_a_number(tmp_path):
    store = tmp_path / "s"
    out = run_cli(
        "run",
        "-m",
        "cifar10_resnet20",
        "-p",
        "accuracy",
        "-p",
        "calibration",
        "-d",
        "cifar10-test",
        "--store",
        str(store),
        "--max-images",
        "1000",
        "-q",
    )
    assert out.returncode == 0, out.stderr
    import os
    import subprocess
    import sys

    from tests.helpers import REPO

    shown = subprocess.run(
        [sys.executable, "-m", "visaudit.cli", "show", "--store", str(store)],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        env={**os.environ, "COLUMNS": "80"},
        timeout=120,
    )
    lines = shown.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    assert "cifar10_resnet20" in lines[0]
    rows = {line.split()[0]: line.split() for line in lines if line.split()[:1] in (["accuracy"], ["calibration"])}
    assert rows["accuracy"][1:6] == ["cifar10-test", "full", "1000", "top1", rows["accuracy"][5]]
    assert 0 < float(rows["accuracy"][5]) <= 1 and float(rows["calibration"][5]) >= 0
