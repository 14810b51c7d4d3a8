"""render_report as a pure function: one self-contained document, user text escaped, two runs at most."""
import re

import numpy as np
import pytest
from report_support import parse_report

from wsss_zoo.report import GalleryItem, ImageStats, ReportContext, RunReport, render_report, write_html


def _run(name, matrix, images):
    n = matrix.shape[0]
    result = {"miou": 50.0, "pixel_accuracy": 75.0, "mean_precision": 60.0, "mean_recall": None, "n_images": 1,
              "pred_dir": "/p/<dir>", "kind": "label", "threshold": None, "sweep": None, "warnings": ["<w>"]}
    return RunReport(name, result, matrix, np.zeros(n, np.int64), images)


@pytest.fixture
def page(tmp_path):
    matrix = np.array([[5, 1, 0], [0, 2, 0], [0, 0, 0]])
    stats = ImageStats.from_matrix('<img src=x onerror="alert(1)">', matrix)
    classes = ["background", "<i>cat</i>", "dog"]
    ctx = ReportContext("voc", "val", classes, {"name": "standard", "mean": "nanmean", "pred_out_of_range": "miss",
                                                "size_mismatch": "error", "source": "s"},
                        gt_dir="/gt", command="wsss-zoo eval --pred '</script><script>alert(2)</script>'",
                        versions={"wsss_zoo": "0"})
    gt = np.array([[0, 1], [1, 255]], np.uint8)
    item = GalleryItem(stats.id, ["worst"], np.zeros((2, 2, 3), np.uint8), gt, [gt], [stats])
    html = render_report(ctx, [_run("</script>run", matrix, [stats])], [item], k=1)
    path = write_html(tmp_path / "r.html", html)
    return path, html


def test_one_document_that_fetches_nothing(page):
    path, html = page
    assert html.startswith("<!DOCTYPE html>") and html.count("<html") == 1 and html.rstrip().endswith("</html>")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    for attr, value in re.findall(r'\s(src|href)="([^"]*)"', html):
        assert value.startswith("data:image/"), (attr, value[:40])
    assert "<link" not in html and "@import" not in html and "url(" not in html


def test_user_text_is_escaped(page):
    path, html = page
    assert "<i>cat</i>" not in html and "&lt;i&gt;cat&lt;/i&gt;" in html
    assert 'onerror="alert(1)"' not in html
    assert "<script>alert(2)" not in html and "</script>run" not in html.split("<body>")[1].split("report-data")[0]
    parsed = parse_report(path)
    assert parsed.scripts["report-data"]["runs"][0]["name"] == "</script>run"  # JSON keeps the text intact
    assert parsed.scripts["report-data"]["command"].endswith("alert(2)</script>'")


def test_numbers_shown_and_undefined_values(page):
    path, html = page
    parsed = parse_report(path)
    rows = {r[0]: r[2:] for r in parsed.table_rows}
    # cat: TP 2, GT 2, Pred 3 -> IoU 2/3, precision 2/3, recall 1; dog absent: every ratio undefined
    assert [float(v) for v in rows[1][:3]] == pytest.approx([100 * 2 / 3, 100 * 2 / 3, 100.0], abs=1e-6)
    assert rows[2][:3] == ["", "", ""]
    assert 'data-v="">-</div>' in html  # mean recall None shows "-"
    assert "warning: &lt;w&gt;" in html


def test_at_most_two_runs(page):
    matrix = np.eye(2, dtype=int)
    ctx = ReportContext("voc", "val", ["a", "b"], {"name": "standard"})
    with pytest.raises(ValueError, match="compares two"):
        render_report(ctx, [_run(str(i), matrix, []) for i in range(3)])
