"""Distillation targets: a shipped model's output blended into the training target.

A small net that must run in real time cannot hold what a larger ensemble learnt, but it can be
shown what that ensemble makes of each training window. ``Teacher`` runs an exported ONNX model
(``onnxruntime``, one thread, no pickles) on the input windows of a batch and mixes its output
into the true target: ``(1 - share) * truth + share * teacher``. Both are images in the model's
own normalised units, so the loss needs no change.

``lead`` K lets the teacher see K frames more future than the student: its window starts K frames
later, so the student's last columns (those ``default`` and ``low-latency`` read, with little or
no lookahead) fall on the teacher's middle columns, read with K frames of lookahead. The student's
first K columns, which the teacher's window no longer covers, keep the true target.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class TeacherError(ValueError):
    """The teacher model does not fit this run (file, task, image size, share, lead)."""


class Teacher:
    """An exported model whose outputs become part of the training target."""

    def __init__(self, path: Path, task: str, rows_in: int, rows_out: int, width: int,
                 share: float, lead: int = 0) -> None:
        import onnxruntime as ort

        if not 0.0 < share <= 1.0:
            raise TeacherError(f"--teacher-share must be within (0, 1], got {share}")
        if not 0 <= lead < width:
            raise TeacherError(f"--teacher-lead must be 0..{width - 1} frames, got {lead}")
        if not path.is_file():
            raise TeacherError(f"no teacher model at {path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001  (onnxruntime raises its own types on foreign files)
            raise TeacherError(f"{path} is not a readable ONNX model ({type(e).__name__})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("task") != task:
            raise TeacherError(f"the teacher {path.name} is a {meta.get('task')!r} model, not {task!r}")
        (inp,), (out,) = self.session.get_inputs(), self.session.get_outputs()
        if list(inp.shape) != [rows_in, width] or list(out.shape) != [rows_out, width]:
            raise TeacherError(f"the teacher {path.name} maps {inp.shape} -> {out.shape}, the student "
                               f"[{rows_in}, {width}] -> [{rows_out}, {width}]")
        self.input_name = inp.name
        self.path, self.share, self.lead, self.width = path, float(share), int(lead), int(width)

    def describe(self) -> dict:
        """What the run's summary records (the file's name: the summary travels into ONNX metadata)."""
        return {"file": self.path.name, "share": self.share, "lead": self.lead}

    def blend(self, x_wide: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The batch's targets with the teacher's output mixed in. ``x_wide`` (n, 1, rows_in,
        width + lead) is the input windows with ``lead`` frames more on the right; ``y`` (n, 1,
        rows_out, width) the true targets of the first ``width`` columns."""
        n, w, k = y.shape[0], self.width, self.lead
        if x_wide.shape[-1] != w + k or y.shape[-1] != w:
            raise ValueError(f"blend needs inputs {w + k} and targets {w} frames wide, "
                             f"got {x_wide.shape[-1]} and {y.shape[-1]}")
        out = y.copy()
        for i in range(n):
            t = self.session.run(None, {self.input_name: np.ascontiguousarray(x_wide[i, 0, :, k:k + w])})[0]
            out[i, 0, :, k:] = (1.0 - self.share) * y[i, 0, :, k:] + self.share * t[:, :w - k]
        return out
