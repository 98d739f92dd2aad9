"""Cost of the proposed network sizes: training throughput, ONNX inference time, file size.

    python -m models.measure --data data/separate --restore-data data/restore [--steps 40]
                             [--presets tiny,small,medium] [--out runs/measure.json]

For every preset and both network kinds (128-row U-Net; 513-row restoration net) it trains
``--steps`` real steps with the training CLI's own loop (batch 16, this machine's cores) and
reads examples/s from the metrics log (the first logging interval, which includes warm-up,
is dropped), then exports the result to ONNX and times one chunker window through
``OnnxFrameModel`` with one intra-op thread (median of 200 runs after 20 warm-up runs).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def measure(data: Path, restore_data: Path | None, presets: list[str], steps: int, batch: int) -> list[dict]:
    from export.onnx import export
    from streamproc.config import DEFAULT
    from streamproc.onnx_model import OnnxFrameModel

    from .networks import PRESETS
    from .train import main as train_main

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="streamproc-measure-"))
    sets = [("separate", data)] + ([("restore", restore_data)] if restore_data else [])
    for preset in presets:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}")
        for task, folder in sets:
            run = tmp / f"{task}-{preset}"
            log_every = max(1, steps // 4)
            rc = train_main(["--task", task, "--steps", str(steps), "--data", str(folder), "--out", str(run),
                             "--preset", preset, "--batch", str(batch), "--log-every", str(log_every), "--quiet",
                             "--ckpt-every", str(steps + 1)])
            if rc:
                raise RuntimeError(f"training {task}/{preset} failed")
            logs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
            rate = float(np.mean([r["examples_per_s"] for r in logs[1:]] or [logs[-1]["examples_per_s"]]))
            onnx_path = tmp / f"{task}-{preset}.onnx"
            rep = export(run / "ckpt_last.pt", onnx_path)
            m = OnnxFrameModel(onnx_path, providers=["CPUExecutionProvider"], threads=1)
            w = np.random.default_rng(0).uniform(-1, 1, (m.n_inputs, m.window_frames)).astype(np.float32)
            for _ in range(20):
                m.run(w)
            times = []
            for _ in range(200):
                t = time.perf_counter()
                m.run(w)
                times.append(time.perf_counter() - t)
            chunk_s = m.new_frames * DEFAULT.hop / DEFAULT.sample_rate
            summ = json.loads(m.metadata["training"])
            rows.append({"preset": preset, "task": task, **PRESETS[preset],
                         "generator_params": summ["generator_params"],
                         "discriminator_params": summ["discriminator_params"],
                         "train_examples_per_s": round(rate, 1), "batch": batch,
                         "onnx_bytes": rep["bytes"], "parity": rep["max_abs_diff"],
                         "onnx_ms_per_chunk_1thread": round(1e3 * float(np.median(times)), 2),
                         "onnx_ms_p95": round(1e3 * float(np.percentile(times, 95)), 2),
                         "chunk_ms_of_audio": 1e3 * chunk_s})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.measure", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, type=Path, help="a 'separate' data set (128-row images)")
    ap.add_argument("--restore-data", type=Path, help="a 'restore' data set (513-row images)")
    ap.add_argument("--presets", default="tiny,small,medium")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    try:
        rows = measure(a.data, a.restore_data, a.presets.split(","), a.steps, a.batch)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
