"""Bad input and faults around the store: old schemas, misnamed records, changed data, racing resumes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import visaudit
from tests.helpers import REPO, cli_argv, run_cli, start_and_kill
from visaudit.engine.store import Store

DATA = Path(os.environ["VISAUDIT_DATA"])


def _one_record(tmp_path: Path) -> tuple[Path, dict]:
    store = tmp_path / "store"
    res = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=store, max_images=40)
    return store, res.records[0]


def test_a_store_written_by_schema_1_is_read_and_says_so(tmp_path):
    store, rec = _one_record(tmp_path)
    path = Store(store).record_path(rec["key"])
    old = json.loads(path.read_text())
    for k in ("keyed_by", "run", "label_protocol", "n_selected"):
        old.pop(k)
    old.update(
        schema=1,
        batch_size=64,
        device="cpu",
        label_map={"kind": "identity", "model_space": "cifar10", "data_space": "cifar10"},
    )
    path.write_text(json.dumps(old))
    out = run_cli("show", "--store", str(store), "--details")
    assert out.returncode == 0, out.stderr
    assert "schema 1" in out.stdout and "identity (schema-1 record)" in out.stdout
    out = run_cli("export", "--store", str(store), "-o", str(tmp_path / "e.csv"))
    assert out.returncode == 0 and "1" in (tmp_path / "e.csv").read_text().splitlines()[1].split(",")[-1]
    out = run_cli("report", str(store), "-o", str(tmp_path / "html"))
    assert out.returncode == 0, out.stderr


def test_a_record_of_an_unknown_schema_is_refused_with_a_clear_message(tmp_path):
    store, rec = _one_record(tmp_path)
    path = Store(store).record_path(rec["key"])
    data = json.loads(path.read_text())
    data["schema"] = 99
    path.write_text(json.dumps(data))
    out = run_cli("show", "--store", str(store))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "schema 99 is not one this visaudit reads" in (out.stdout + out.stderr).replace("\n", " ")
    # the job is recomputed, not answered by the unreadable record
    again = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=store, max_images=40)
    assert again.records[0]["cached"] is False


def test_a_record_whose_key_is_not_its_file_name_is_skipped_and_named(tmp_path):
    store, rec = _one_record(tmp_path)
    src = Store(store).record_path(rec["key"])
    shutil.copy(src, src.with_name("0" * 24 + ".json"))
    st = Store(store)
    assert [r["key"] for r in st.records()] == [rec["key"]]
    assert any("holds the record of key" in p for p in st.problems)
    out = run_cli("show", "--store", str(store))
    assert out.returncode == 0 and "holds the record of key" in out.stdout.replace("\n", " ")


def _folder_copy(tmp_path: Path, n_per_class: int = 60) -> Path:
    root = tmp_path / "folder"
    for cls in ("airplane", "cat", "dog", "ship", "truck"):
        (root / cls).mkdir(parents=True)
        for f in sorted((DATA / "cifar10-test" / cls).glob("*.jpg"))[:n_per_class]:
            shutil.copy(f, root / cls / f.name)
    return root


CFG = {"corruptions": {"corruptions": ["gaussian_noise", "glass_blur"], "severities": [1, 2, 3, 4, 5], "examples": 0}}


def _run_args(data: str, store: Path, *extra: str) -> list[str]:
    cfg = store.parent / "cfg.json"
    cfg.write_text(json.dumps(CFG))
    return cli_argv(
        "run",
        "-m",
        "cifar10_resnet20",
        "-p",
        "corruptions",
        "-d",
        data,
        "--store",
        str(store),
        "--chunk-size",
        "20",
        "--batch-size",
        "10",
        "--workers",
        "0",
        "-q",
        "--config",
        str(cfg),
        *extra,
    )


@pytest.mark.slow
def test_a_resume_after_the_datasets_files_changed_restarts_the_job(tmp_path):
    folder = _folder_copy(tmp_path)
    store = tmp_path / "store"
    start_and_kill(_run_args(str(folder), store), store / "work", 2, poll=0.02)
    killed_keys = {p.name for p in (store / "work").iterdir()}
    victim = sorted((folder / "cat").glob("*.jpg"))[0]
    victim.write_bytes((DATA / "cifar10-test" / "cat" / "0999.jpg").read_bytes())
    res = visaudit.audit(
        "cifar10_resnet20",
        "corruptions",
        str(folder),
        store=store,
        chunk_size=20,
        batch_size=10,
        workers=0,
        probe_config=CFG,
    )
    rec = res.records[0]
    assert rec["key"] not in killed_keys and rec["run"]["chunks_resumed"] == 0
    clean = visaudit.audit("cifar10_resnet20", "corruptions", str(folder), store=tmp_path / "clean", probe_config=CFG)
    assert rec["metrics"] == clean.records[0]["metrics"]


@pytest.mark.slow
def test_two_processes_resuming_the_same_killed_job_give_one_record(tmp_path):
    store = tmp_path / "store"
    args = _run_args("cifar10-test", store, "--max-images", "300")
    start_and_kill(args, store / "work", 2, poll=0.02)
    procs = [
        subprocess.Popen(args, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-400:] for o in outs]
    records = list(Store(store).records())
    assert len(records) == 1 and records[0]["status"] == "ok"
    assert any(" cached" in o[0] for o in outs), "the second process waited and read the first one's record"
    clean = visaudit.audit(
        "cifar10_resnet20", "corruptions", "cifar10-test", store=tmp_path / "clean", max_images=300, probe_config=CFG
    )
    assert records[0]["metrics"] == clean.records[0]["metrics"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--max-images", "0"], "max-images must be a positive integer"),
        (["--max-images", "-5"], "max-images must be a positive integer"),
        (["--batch-size", "0"], "batch-size must be a positive integer"),
        (["--chunk-size", "0"], "chunk-size must be a positive integer"),
        (["--device", "gpu"], "unknown device 'gpu'"),
    ],
)
def test_bad_run_options_fail_before_compute_with_exit_2(args, needle, tmp_path):
    out = run_cli("run", "-m", "cifar10_resnet20", "-d", "cifar10-test", "--store", str(tmp_path), *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert needle in out.stderr.replace("\n", " ") and "Traceback" not in out.stderr
    assert not (tmp_path / "records").exists()


@pytest.mark.parametrize(
    "config, needle",
    [
        ("accuracy: {bogus: 1}", "unknown option(s) ['bogus']"),
        ("corruptions: {severities: 3}", "expected a list, got int 3"),
        ("calibration: {n_bins: '15'}", "expected an integer, got str '15'"),
    ],
)
def test_probe_options_are_checked_before_compute(config, needle, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(config + "\n")
    probe = config.split(":", 1)[0]
    out = run_cli(
        "run",
        "-m",
        "cifar10_resnet20",
        "-p",
        probe,
        "-d",
        "cifar10-test",
        "--store",
        str(tmp_path / "s"),
        "--config",
        str(cfg),
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert needle in out.stderr.replace("\n", " ") and "Traceback" not in out.stderr
