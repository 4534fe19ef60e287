"""The failure browser (``failures.html``) opened in a real headless Chromium.

Real runs fill the store (cifar10_resnet20 on CIFAR-10 test: accuracy and corruptions;
efficientnet_lite0 on cue-conflict: accuracy); counterfactual, attribution and disagreement
galleries come from synthetic records that follow the gallery contract (their probes are built
elsewhere). Screenshots go to the test's tmp dir and ``test-artifacts/report/`` (gitignored).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

try:  # tests/ is a package on main; fall back for a plain folder
    from tests.chromium_cdp import Chromium, find_chromium
except ImportError:  # pragma: no cover
    from chromium_cdp import Chromium, find_chromium

import visaudit
from visaudit.report.render import render_report
from visaudit.report.synthetic import GALLERY_PROBES, write_gallery_store

pytestmark = pytest.mark.slow  # real model runs, then a headless Chromium

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "report"
CORR = {"corruptions": ["gaussian_noise", "contrast"], "severities": [3], "examples": 0, "gallery": 8}

if find_chromium() is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI is set but chromium is not installed: run `apt-get install -y chromium` first")
    pytest.skip(
        "chromium not installed (apt-get install -y chromium); set CI=1 to make this an error", allow_module_level=True
    )

# every gallery image, scrolled into view one by one (they are lazy), then its decoded width
LOAD_ALL = """(async () => {
  const out = [];
  for (const img of document.querySelectorAll('li.gi img')) {
    img.scrollIntoView({block: 'center'});
    for (let i = 0; i < 200 && !(img.complete && img.naturalWidth > 0); i++) await new Promise(r => setTimeout(r, 10));
    out.push([img.getAttribute('loading'), img.alt, img.naturalWidth, img.naturalHeight]);
  }
  window.scrollTo(0, 0);
  return out;
})()"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    store = tmp_path_factory.mktemp("browser-store")
    runs = [
        ("cifar10_resnet20", "accuracy", "cifar10-test", 64, {}),
        ("cifar10_resnet20", "corruptions", "cifar10-test", 32, {"corruptions": CORR}),
        ("efficientnet_lite0", "accuracy", "cue-conflict", 24, {}),
    ]
    for model, probe, data, n, cfg in runs:
        res = visaudit.audit(model, probe, data, store=store, max_images=n, workers=0, probe_config=cfg)
        assert not res.errors, res.errors
    write_gallery_store(store, n_models=2)
    return render_report(store, tmp_path_factory.mktemp("browser-report"))


@pytest.fixture(scope="module")
def page(report):
    with Chromium.launch(width=1300, height=900) as br:
        pg = br.new_page()
        pg.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1300, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        pg.goto(report.browser.path.as_uri())
        yield pg


def test_every_gallery_is_on_the_page_and_every_image_loads(report, page, tmp_path):
    b = report.browser
    assert b is not None and b.n_placeholders == 0 and not b.notes
    assert page.errors() == []
    urls = page.requested_urls()
    assert urls and all(u.startswith(("file:", "data:")) for u in urls), urls
    secs = page.eval(
        "Array.from(document.querySelectorAll('.gallery-sec')).map(s => "
        "[s.closest('.card').id, s.dataset.probe, s.querySelectorAll('li.gi').length])"
    )
    assert [s for s in secs if s[1] == "disagreement"] == [["fm-across", "disagreement", 6]]
    by_card = {(c, p): n for c, p, n in secs}
    assert by_card[("fm-cifar10_resnet20", "accuracy")] > 0 and by_card[("fm-efficientnet_lite0", "accuracy")] > 0
    assert by_card[("fm-cifar10_resnet20", "corruptions")] == 8
    for probe in set(GALLERY_PROBES) - {"disagreement"}:
        assert by_card[("fm-synthetic-model-00", probe)] == 6 and by_card[("fm-synthetic-model-01", probe)] == 6
    assert len(secs) == len(b.galleries) and sum(n for *_, n in secs) == b.n_items
    imgs = page.eval(LOAD_ALL)
    assert len(imgs) > b.n_items  # corruption and synthetic items hold several images each
    assert all(lazy == "lazy" and alt and w > 0 and h > 0 for lazy, alt, w, h in imgs), imgs
    assert max(max(w, h) for *_, w, h in imgs) <= 128  # thumbnails
    assert page.eval("document.querySelectorAll('.ph').length") == 0
    assert page.errors() == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for folder in (tmp_path, ARTIFACTS):
        shot = page.screenshot(folder / "failure-browser.png")
        assert shot.stat().st_size > 20_000
    page.screenshot(ARTIFACTS / "failure-browser-full.png", full_page=True, max_height=12000)


def test_keyboard_moves_between_items_and_opens_and_closes_the_enlarged_view(page, tmp_path):
    items = "Array.from(document.querySelectorAll('li.gi'))"
    index = f"{items}.indexOf(document.activeElement)"
    page.eval("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    page.press("j")  # from nowhere: the first item
    assert page.eval(index) == 0
    page.press("ArrowRight")
    page.press("j")
    assert page.eval(index) == 2
    page.press("k")
    assert page.eval(index) == 1
    page.press("ArrowLeft")
    assert page.eval(index) == 0
    # from the last item of one gallery to the first of the next
    last = page.eval("document.querySelector('.gallery-sec').querySelectorAll('li.gi').length") - 1
    page.eval(f"{items}[{last}].focus()")
    page.press("ArrowRight")
    assert page.eval("document.activeElement === document.querySelectorAll('.gallery-sec')[1].querySelector('li.gi')")
    page.press("End")
    assert page.eval(index) == page.eval(f"{items}.length") - 1
    page.press("Home")
    assert page.eval(index) == 0
    assert page.eval("document.getElementById('viewer').hidden") is True
    page.press("Enter")
    assert page.eval("document.getElementById('viewer').hidden") is False
    assert page.eval("document.activeElement.id") == "viewer-close"
    same = (
        "Array.from(document.querySelectorAll('#viewer-ims img')).map(i => i.src).join() === "
        f"Array.from({items}[%d].querySelectorAll('img')).map(i => i.src).join()"
    )
    assert page.eval(same % 0)
    assert page.eval("document.querySelector('#viewer-ims img').getBoundingClientRect().width") >= 300
    cap0 = page.eval("document.getElementById('viewer-cap').textContent")
    page.press("ArrowRight")  # the enlarged view follows the items
    assert page.eval(same % 1) and page.eval("document.getElementById('viewer-cap').textContent") != cap0
    page.screenshot(tmp_path / "viewer.png")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(ARTIFACTS / "failure-browser-viewer.png")
    page.press("Escape")
    assert page.eval("document.getElementById('viewer').hidden") is True
    assert page.eval(index) == 1  # focus back on the item that was shown
    assert page.eval("document.getElementById('viewer').getAttribute('role')") == "dialog"
    assert page.errors() == []


def test_index_links_the_failure_browser(report):
    html = report.path.read_text()
    assert '<a href="failures.html">failure browser</a>' in html
    assert '<a href="index.html">report</a>' in report.browser.path.read_text()
