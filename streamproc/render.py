"""Offline rendering of whole files through the streaming engine (what ``streamproc render`` does)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .config import DEFAULT
from .frame_model import FrameModel
from .tasks import TaskSpec, build_engine


def output_rate(in_rate: int, requested: int | None = None) -> int:
    """The input's rate or the model rate, whichever is higher, unless overridden."""
    return int(requested) if requested else max(int(in_rate), DEFAULT.sample_rate)


def render_array(x: np.ndarray, in_rate: int, spec: TaskSpec, model: FrameModel | None = None,
                 out_rate: int | None = None, block: int | None = None,
                 progress: Callable[[int], None] | None = None) -> np.ndarray:
    """(channels, samples) at in_rate -> (channels, samples') at out_rate, time-aligned."""
    out_rate = output_rate(in_rate, out_rate)
    outs = []
    for ch in x:
        engine = build_engine(spec, model, in_rate, out_rate)
        outs.append(engine.render(ch, block=block, progress=progress))
    return np.stack(outs)
