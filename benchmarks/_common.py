"""Pieces shared by the ``bench_*.py`` scripts: stand-in networks from the registry and a median timer.

Times are wall seconds and process CPU seconds (summed over threads) per call, median over the runs.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, Tuple

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import wsss_zoo  # noqa: E402
from wsss_zoo.pipelines.base import pipeline_class  # noqa: E402
from wsss_zoo.models import build_model  # noqa: E402
from wsss_zoo.registry import model_entry, pipeline_entry  # noqa: E402

#: row name -> (build the subject once, run it on the benchmark image)
Rows = Dict[str, Tuple[Callable[[], object], Callable[[object], object]]]


def standin_network(name: str) -> torch.nn.Module:
    """The registry's network ``name`` with its default (random / from-scratch) initialisation, eval mode."""
    entry = model_entry(name)
    model = build_model(entry).eval()
    model.wsss_zoo_entry = entry
    return model


def standin_pipeline(name: str):
    """Pipeline ``name`` over stand-in networks for each of its roles."""
    entry = pipeline_entry(name)
    return pipeline_class(entry.recipe)(entry, {role: standin_network(n) for role, n in entry.roles.items()})


def timed(fn: Callable[[], object], runs: int, warmup: bool = True) -> Tuple[float, float]:
    """Median (wall, cpu) seconds of ``fn()`` over ``runs`` calls, after one untimed call unless ``warmup=False``."""
    if warmup:
        fn()  # allocator, oneDNN primitives
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def print_rows(rows: Rows, names: Iterable[str], runs: int, warmup: bool = True, width: int = 20) -> None:
    """Build, warm up and time each named row; print one line per row (a row whose build or warm-up raises a
    ``WsssZooError`` is reported as skipped)."""
    print(f"{'row':<{width}} {'wall s/img':>10} {'cpu s/img':>10}")
    for name in names:
        build, run = rows[name]
        try:
            subject = build()
            if warmup:
                run(subject)
        except wsss_zoo.WsssZooError as exc:
            print(f"{name:<{width}} skipped: {exc}")
            continue
        wall, cpu = timed(lambda: run(subject), runs, warmup=False)
        print(f"{name:<{width}} {wall:>10.2f} {cpu:>10.2f}", flush=True)
        del subject
