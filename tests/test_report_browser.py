"""The report opened in a real headless Chromium, from a store filled by real runs.

Needs Debian's ``chromium`` (``apt-get install -y chromium``). Skipped with a reason only when
chromium is absent and ``CI`` is unset; in CI a missing browser fails the test.
Screenshots go to ``test-artifacts/report/`` (gitignored).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

try:  # tests/ is a package on main; fall back for a plain folder
    from tests.chromium_cdp import Chromium, find_chromium
except ImportError:  # pragma: no cover
    from chromium_cdp import Chromium, find_chromium

from visaudit.report.render import render_report
from visaudit.report.synthetic import synthetic_records, write_store

pytestmark = pytest.mark.slow  # audits real models, then drives a headless Chromium

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "report"
RESNETS = ["cifar10_resnet20", "cifar10_resnet32", "cifar10_resnet44", "cifar10_resnet56"]

if find_chromium() is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI is set but chromium is not installed: run `apt-get install -y chromium` first")
    pytest.skip(
        "chromium not installed (apt-get install -y chromium); set CI=1 to make this an error", allow_module_level=True
    )


@pytest.fixture(scope="module")
def real_store(tmp_path_factory) -> Path:
    """Real runs (small subsets): the four CIFAR-10 ResNets on CIFAR-10 test, efficientnet_lite0 on edges."""
    import visaudit  # data roots come from tests/conftest.py

    store = tmp_path_factory.mktemp("real-store")
    res = visaudit.audit(RESNETS, ["accuracy"], ["cifar10-test"], store=store, max_images=128, workers=0)
    assert not res.errors
    res = visaudit.audit(["efficientnet_lite0"], ["accuracy"], ["edges"], store=store, max_images=48, workers=0)
    assert not res.errors
    # Cheap probes of other issues join once their modules are on main.
    for probe, models, data, n in EXTRA_RUNS:
        if _probe_available(probe):
            visaudit.audit(models, [probe], data, store=store, max_images=n, workers=0)
    return store


# (probe, models, datasets, max_images); shape bias must draw its figure from the metric names
# that its issue fixes (shape_bias@<category>).
EXTRA_RUNS = [
    ("shape-bias", ["efficientnet_lite0"], ["cue-conflict"], 64),
    ("calibration", RESNETS[:2], ["cifar10-test"], 128),
]
MUST_DRAW = {"shape-bias"}


def _probe_available(name: str) -> bool:
    from visaudit.probes import PROBES

    try:
        PROBES.get(name)
    except Exception:  # noqa: BLE001 - module not on main yet
        return False
    return True


@pytest.fixture(scope="module")
def browser():
    with Chromium.launch(width=1400, height=1000) as br:
        yield br


def _column(page, idx: int) -> list[str]:
    return page.eval(
        f"Array.from(document.querySelectorAll('#leaderboard tbody tr')).map("
        f"r => r.cells[{idx}].getAttribute('data-v') || '')"
    )


def _check_page(page, expected_figures: int) -> None:
    assert page.errors() == []
    urls = page.requested_urls()
    assert urls and all(u.startswith(("file:", "data:")) for u in urls), urls
    figs = page.eval(
        "Array.from(document.querySelectorAll('figure.fig')).map(f => {"
        "const g = f.querySelector('svg, img'); const r = g ? g.getBoundingClientRect() : null;"
        "return [f.id, r ? r.width : 0, r ? r.height : 0, !!f.querySelector('figcaption a')]; })"
    )
    assert len(figs) == expected_figures
    assert all(w > 50 and h > 50 and linked for _, w, h, linked in figs), figs


def test_report_of_real_runs_in_chromium(real_store, browser, tmp_path):
    out = tmp_path / "report"
    res = render_report(real_store, out)
    records = res_records(real_store)
    extra = [r for r in records if r["probe"]["name"] != "accuracy"]
    assert res.n_models == 5 and res.n_records == 5 + len(extra)
    assert all(r["status"] == "ok" for r in records)
    # one per-class figure per accuracy record, plus the extra probes' figures
    assert len(res.figure_ids) >= 5

    page = browser.new_page()
    page.send(
        "Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
    )
    page.goto(res.path.as_uri())
    _check_page(page, len(res.figure_ids))

    drawn = page.eval("Array.from(document.querySelectorAll('.card figure.fig')).map(f => f.dataset.probe)")
    assert drawn.count("accuracy") == 5
    for probe in MUST_DRAW & {r["probe"]["name"] for r in extra}:
        assert probe in drawn, f"{probe} records drew no figure"

    heads = page.eval("Array.from(document.querySelectorAll('#leaderboard thead th')).map(h => h.textContent)")
    assert heads[:3] == ["model", "source", "params (M)"]
    cifar = next(i for i, h in enumerate(heads) if "accuracy" in h and "cifar10-test" in h)
    models = page.eval(
        "Array.from(document.querySelectorAll('#leaderboard tbody tr td:first-child')).map(t => t.textContent)"
    )
    assert models == sorted(RESNETS + ["efficientnet_lite0"])
    # efficientnet_lite0 has no CIFAR-10 record: "not run", never an error
    cells = page.eval(
        f"Array.from(document.querySelectorAll('#leaderboard tbody tr')).map(r => r.cells[{cifar}].textContent)"
    )
    assert cells[models.index("efficientnet_lite0")] == "not run"
    assert page.eval("document.querySelectorAll('.card .notrun').length") >= 5 * 10

    # real clicks on the header: best first (top-1 is higher-is-better), then reversed; not-run last
    page.click(f"#leaderboard thead th:nth-child({cifar + 1})")
    first = [float(v) for v in _column(page, cifar) if v]
    assert first == sorted(first, reverse=True) and len(first) == 4
    assert _column(page, cifar)[-1] == ""
    assert (
        page.eval(f"document.querySelectorAll('#leaderboard thead th')[{cifar}].getAttribute('aria-sort')")
        == "descending"
    )
    page.click(f"#leaderboard thead th:nth-child({cifar + 1})")
    second = [float(v) for v in _column(page, cifar) if v]
    assert second == sorted(second) and _column(page, cifar)[-1] == ""
    page.click("#leaderboard thead th:nth-child(1)")
    names = page.eval(
        "Array.from(document.querySelectorAll('#leaderboard tbody tr td:first-child')).map(t => t.textContent)"
    )
    assert names == sorted(names)
    # the values on the page are the stored ones
    stored = sorted(
        r["metrics"]["top1"]
        for r in records
        if r["dataset"]["name"] == "cifar10-test" and r["probe"]["name"] == "accuracy"
    )
    assert sorted(second) == pytest.approx(stored)
    assert page.errors() == []

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(ARTIFACTS / "real-runs-leaderboard.png")
    shot = page.screenshot(ARTIFACTS / "real-runs-full.png", full_page=True)
    assert shot.stat().st_size > 20_000


def res_records(store: Path) -> list[dict]:
    from visaudit.report.records import load_records

    return load_records(store)


def test_every_figure_kind_renders_in_chromium(browser, tmp_path):
    """All documented data layouts (synthetic records) render without console errors."""
    write_store(synthetic_records(n_models=4, seed=7), tmp_path / "store")
    res = render_report(tmp_path / "store", tmp_path / "out")
    page = browser.new_page()
    page.goto(res.path.as_uri())
    _check_page(page, len(res.figure_ids))
    probes = set(page.eval("Array.from(document.querySelectorAll('figure.fig')).map(f => f.dataset.probe)"))
    from visaudit.report.synthetic import PROBES

    assert probes == set(PROBES)  # a figure of every probe the synthetic store holds
    assert page.eval("document.querySelectorAll('#bias-table tbody tr').length") > 10
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(ARTIFACTS / "synthetic-all-probes-full.png", full_page=True, max_height=12000)
