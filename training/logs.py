"""Run logs on rank 0: a text log ``<name>.log``, JSON lines ``<name>.log.jsonl`` and a tqdm bar."""
from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, Optional

from wsss_zoo.fileio import open_append


class Meter:
    """Running means of named scalars between two log lines."""

    def __init__(self):
        self.sums: Dict[str, float] = defaultdict(float)
        self.count = 0

    def update(self, values: Dict[str, float]) -> None:
        for k, v in values.items():
            self.sums[k] += float(v)
        self.count += 1

    def pop(self) -> Dict[str, float]:
        out = {k: v / max(1, self.count) for k, v in self.sums.items()}
        self.sums.clear()
        self.count = 0
        return out


class RunLogger:
    def __init__(self, out_dir: Path, name: str, enabled: bool):
        self.enabled = enabled
        self.text = Path(out_dir) / f"{name}.log"
        self.jsonl = Path(out_dir) / f"{name}.log.jsonl"
        self.bar = None
        self.start = time.time()

    def info(self, message: str) -> None:
        if not self.enabled:
            return
        line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)
        with open_append(self.text) as f:
            f.write(line + "\n")

    def record(self, values: Dict) -> None:
        if not self.enabled:
            return
        values = dict(values, time=round(time.time() - self.start, 3))
        with open_append(self.jsonl) as f:
            f.write(json.dumps(values) + "\n")
        shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        self.info(shown)

    def progress(self, total: int, initial: int, desc: str):
        from tqdm import tqdm

        tty = sys.stderr.isatty()
        self.bar = tqdm(total=total, initial=initial, desc=desc, disable=not self.enabled, dynamic_ncols=True,
                        mininterval=1.0 if tty else 60.0, unit="step")
        return self.bar

    def close(self) -> Optional[float]:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        return time.time() - self.start
