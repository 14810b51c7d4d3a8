"""The report in a real browser: headless Chromium runs its scripts, loads its pictures and paints it.

Needs Debian's ``chromium`` (.ci/run installs it where it can); without it the tests skip and say so.
``--dump-dom`` gives the DOM after the scripts ran (``--virtual-time-budget`` lets them finish), where
the page's script has recorded errors, readiness and how many ``<img>`` decoded; ``--screenshot`` gives
the painted page.
"""
import re
import shutil
import subprocess

import numpy as np
import pytest
from report_support import ReportParser, cell, reference_class_numbers
from PIL import Image

from wsss_zoo import evaluate
from wsss_zoo.data import open_dataset
from wsss_zoo.data.io import read_label_png

BROWSER = next(filter(None, (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome"))), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium on PATH (Debian: apt-get install chromium); "
                                                        "the browser checks of the HTML report are skipped")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions", "--hide-scrollbars",
         "--virtual-time-budget=5000"]


def _chromium(tmp_path, *args, timeout=90):
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    proc = subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=timeout, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    shutil.rmtree(profile, ignore_errors=True)
    return proc


@pytest.fixture(scope="module")
def browser_ok(tmp_path_factory):
    """Chromium starts and runs a script here; if it cannot (no display libraries, sandbox), skip with why."""
    tmp = tmp_path_factory.mktemp("chromium")
    probe = tmp / "probe.html"
    probe.write_text("<html><body><script>document.body.setAttribute('data-ok', '1')</script></body></html>")
    try:
        proc = _chromium(tmp, "--dump-dom", probe.as_uri(), timeout=60)
    except subprocess.TimeoutExpired:
        pytest.skip("Chromium did not answer within 60 s on a one-line page")
    if 'data-ok="1"' not in proc.stdout:
        pytest.skip(f"Chromium cannot run a page here (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    return True


@pytest.fixture(scope="module")
def report(voc_tree, pred_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("browser_report") / "report.html"
    ds = open_dataset("voc", voc_tree.root, "trainval")
    evaluate.evaluate_folder(ds, pred_dirs["a"], report=out, report_images=2)
    pairs = [(voc_tree.masks[i], read_label_png(pred_dirs["a"] / f"{i}.png")) for i in ds.ids]
    return out, reference_class_numbers(pairs, 21)


def _root_attrs(dom: str) -> dict:
    head = re.search(r"<html([^>]*)>", dom).group(1)
    return dict(re.findall(r'([\w-]+)="([^"]*)"', head))


def test_scripts_run_images_load_and_the_table_sorts(browser_ok, report, tmp_path):
    path, expected = report
    proc = _chromium(tmp_path, "--dump-dom", path.as_uri() + "#sort=class-table:iou:asc&class=person")
    dom = proc.stdout
    attrs = _root_attrs(dom)
    assert attrs.get("data-js-errors") == "0", attrs.get("data-js-error-text")
    assert attrs.get("data-report-ready") == "1"
    n_img = path.read_text().count("<img ")
    assert n_img > 4 and attrs.get("data-images") == f"{n_img}/{n_img}"   # every picture decoded
    parsed = ReportParser()
    parsed.feed(dom)
    ious = [cell(r[2]) for r in parsed.table_rows]
    assert len(ious) == 21
    shown = [v for v in ious if v is not None]
    assert shown == sorted(shown) and ious[len(shown):] == [None] * (21 - len(shown))  # sorted, undefined last
    for row in parsed.table_rows:                                   # the numbers the browser shows
        exp = expected[row[0]]["iou"]
        assert (cell(row[2]) is None) == (exp is None)
        if exp is not None:
            assert cell(row[2]) == pytest.approx(exp, abs=1e-5)
    assert re.search(r'<th data-key="iou" class="asc">', dom)
    assert attrs.get("data-filter") == "15"                        # the class filter picked "person"
    cards = re.findall(r'<figure class="card"[^>]*>', dom)
    assert cards
    for card in cards:
        has_person = "15" in re.search(r'data-classes="([^"]*)"', card).group(1).split()
        assert ("hidden" not in card) == has_person


def test_the_page_is_painted(browser_ok, report, tmp_path):
    path, _ = report
    shot = tmp_path / "shot.png"
    proc = _chromium(tmp_path, "--window-size=1300,2600", f"--screenshot={shot}", path.as_uri())
    assert shot.is_file(), proc.stderr[-500:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2600, 1300)
    assert pixels.std() > 25                                  # not a blank page
    colours = {tuple(c) for c in pixels.reshape(-1, 3)[::7]}
    assert len(colours) > 100
    header = pixels[5:40, 5:600].reshape(-1, 3).mean(axis=0)
    assert header[2] > header[0]                              # the dark blue title bar is there
    dark_blue = (pixels[..., 2] > 90) & (pixels[..., 0] < 40) & (pixels[..., 1] < 80)
    assert dark_blue.sum() > 200                              # the confusion matrix's diagonal was painted
