"""The runnable example of docs/datasets.md runs as written (in a temporary folder)."""
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "datasets.md"


def test_the_datasets_guide_example_runs(tmp_path, monkeypatch, capsys):
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- runnable example[^\n]*\n```python\n(.*?)```", text, re.S)
    assert block, "docs/datasets.md lost its runnable example"
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), str(DOC), "exec"), {"__name__": "docs_example"})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "VOCDataset(root='tiny_voc/VOC2012', split='train', n=4) [8]"
    assert out[1].startswith("pseudo-mask: 4 written, 0 already done, 0 failed, 4 images -> tiny_out (")
    assert "images/s" in out[1]
    assert [line.split()[0] for line in out[2:]] == ["2007_000001", "2007_000002", "2007_000003", "2007_000004"]
    assert sorted(p.name for p in (tmp_path / "tiny_out").glob("*.png")) == [f"2007_00000{i}.png" for i in range(1, 5)]
