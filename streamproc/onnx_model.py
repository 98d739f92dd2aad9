"""Trained models at run time: ONNX files run with onnxruntime, no torch, no pickle.

An exported model (``python -m export.onnx``) carries everything in its ``metadata_props``:
task, spectral settings, chunk sizes and output kind (the schema: ``streamproc.model_meta``). :func:`load_model` checks them against
what the caller needs and returns an :class:`OnnxFrameModel`, which implements the
engine's ``FrameModel`` protocol. Sessions are cached by (path, mtime, size, providers,
threads, output columns), so several processors or channels using one file share one session;
a consumer that keeps only some output columns of each run gets a session whose graph
computes only those (``run_columns``).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .config import SAMPLE_RATE, SpectralConfig
from .errors import UserError
from .model_meta import ModelMetadata
from .pitchmap import PitchLayout

MODELS_DIR = Path(__file__).parent / "models_data"

_SESSIONS: dict[tuple, object] = {}
_LOCK = threading.Lock()


def default_providers() -> list[str]:
    """CUDA first when this onnxruntime build has it, CPU always."""
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have]


def read_metadata(path: str | Path) -> dict[str, str]:
    """``metadata_props`` of an ONNX file, as onnxruntime reads them (through the CPU session
    that :func:`load_model` would reuse). UserError for missing, truncated or non-ONNX files."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"model file not found: {p}")
    return dict(_session(p, ("CPUExecutionProvider",), 1).get_modelmeta().custom_metadata_map)


def _session(path: Path, providers: tuple[str, ...], threads: int, columns: tuple[int, int] | None = None):
    """The cached session for ``path``; with ``columns`` (start, stop), one of its graph cut to
    compute only those output columns (``streamproc.column_crop``), or None where it cannot be cut."""
    import onnxruntime as ort

    st = path.stat()
    resolved = str(path.resolve())
    key = (resolved, st.st_mtime_ns, st.st_size, providers, threads, columns)
    with _LOCK:
        if key in _SESSIONS:
            return _SESSIONS[key]
        for old in [k for k in _SESSIONS if k[0] == resolved and k[1:3] != key[1:3]]:
            del _SESSIONS[old]  # the file changed on disk: drop its stale sessions
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads   # small CPUs: the audio thread needs a core too
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        source: str | bytes = str(path)
        if columns is not None:
            cropped = _cropped_graph(path, *columns)
            if cropped is None:
                _SESSIONS[key] = None
                return None
            source = cropped
        try:
            sess = ort.InferenceSession(source, so, providers=list(providers))
        except Exception as e:  # noqa: BLE001  (onnxruntime raises its own unexported types)
            if columns is not None:   # a cut graph this provider refuses: the whole one runs instead
                _SESSIONS[key] = None
                return None
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"{path} is not an ONNX model onnxruntime can load ({msg[:120]})") from None
        _SESSIONS[key] = sess
        return sess


def _cropped_graph(path: Path, start: int, stop: int) -> bytes | None:
    """The serialised graph of ``path`` computing only output columns [start, stop), or None."""
    import onnx

    from .column_crop import crop_columns

    try:
        cropped = crop_columns(onnx.load(str(path)), start, stop)
    except Exception:  # noqa: BLE001  (whatever stops the cut, the whole graph still runs)
        return None
    return None if cropped is None else cropped.SerializeToString()


class OnnxFrameModel:
    """An exported spectrogram-translation model behind the engine's FrameModel protocol.

    ``run`` takes exactly one chunker window, float32 (n_inputs, window) with window =
    context + new + lookahead frames, and returns float32 (n_outputs, window)."""

    def __init__(self, path: str | Path, providers: Sequence[str] | None = None, threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"model file not found: {self.path}")
        md = read_metadata(self.path)
        meta = ModelMetadata.from_props(md, str(self.path))
        provs = tuple(providers) if providers else tuple(default_providers())
        n_threads = threads if threads else max(1, min(2, os.cpu_count() or 1))
        self._providers, self._threads = provs, n_threads
        self._sess = _session(self.path, provs, n_threads)
        self._cropped: dict[tuple[int, int], tuple[object | None, object | None]] = {}
        self.meta = meta
        self.metadata: dict[str, str] = md
        self.task: str = meta.task
        self.output_kind: str = meta.output_kind
        self.input_kind: str = meta.input_kind  # the image it reads (streamproc.features)
        self.sample_rate = meta.spectral.sample_rate
        self.n_inputs = meta.n_inputs
        self.n_outputs = meta.n_outputs
        self.context_frames = meta.context_frames
        self.new_frames = meta.new_frames
        self.lookahead_frames = meta.lookahead_frames
        self.network: dict = meta.network
        self.training: dict = meta.training
        inp, out = self._sess.get_inputs()[0], self._sess.get_outputs()[0]
        self._in_name, self._out_name = inp.name, out.name
        self.window_frames = self.context_frames + self.new_frames + self.lookahead_frames
        if list(inp.shape) != [self.n_inputs, self.window_frames]:
            raise UserError(f"{self.path}: graph input {inp.shape} disagrees with its metadata "
                            f"({self.n_inputs} x {self.window_frames})")
        self.providers: list[str] = list(self._sess.get_providers())
        self._binding = None
        if self.providers and self.providers[0] == "CUDAExecutionProvider":
            self._binding = self._sess.io_binding()
        self._lock = threading.Lock()

    @property
    def spectral(self) -> SpectralConfig:
        """The spectral settings the model was trained with."""
        return self.meta.spectral

    @property
    def pitch_layout(self) -> PitchLayout | None:
        """For output_kind 'pitchmap': which pitch each output row stands for."""
        return self.meta.pitch

    @property
    def voicing_threshold(self) -> float | None:
        """A pitch model's own voicing threshold (map units), if its metadata carries one."""
        return self.meta.voicing_threshold

    @property
    def target_shift_frames(self) -> int:
        """Output column j describes input frame j + this many frames (0: frame j itself);
        ``streamproc.model_meta.ModelMetadata``."""
        return self.meta.target_shift_frames

    def run(self, window: np.ndarray) -> np.ndarray:
        return self._run(self._sess, self._binding, window)

    def prepare_columns(self, start: int, stop: int) -> None:
        """Builds (once) the session that computes only output columns [start, stop), so that
        :meth:`run_columns` never builds one in the audio path."""
        if not 0 <= start < stop <= self.window_frames:
            raise ValueError(f"columns [{start}, {stop}) outside the window's {self.window_frames}")
        with self._lock:
            if (start, stop) in self._cropped:
                return
        sess = None if (start, stop) == (0, self.window_frames) else \
            _session(self.path, self._providers, self._threads, (start, stop))
        binding = sess.io_binding() if sess is not None and self._binding is not None else None
        with self._lock:
            self._cropped[(start, stop)] = (sess, binding)

    def run_columns(self, window: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Output columns [start, stop) of :meth:`run`: the decoder computes only the columns that
        lead to them (``streamproc.column_crop``), which saves a fifth to a half of a U-Net's run;
        a graph that cannot be cut runs whole and is sliced."""
        got = self._cropped.get((start, stop))
        if got is None:
            self.prepare_columns(start, stop)
            got = self._cropped[(start, stop)]
        sess, binding = got
        if sess is None:
            return self._run(self._sess, self._binding, window)[:, start:stop]
        return self._run(sess, binding, window)

    def _run(self, sess, binding, window: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(window, dtype=np.float32)
        if x.shape != (self.n_inputs, self.window_frames):
            raise ValueError(f"model window must be ({self.n_inputs}, {self.window_frames}), got {x.shape}")
        with self._lock:  # one session, several engines: keep each run's binding private
            if binding is not None:
                binding.bind_cpu_input(self._in_name, x)
                binding.bind_output(self._out_name, "cpu")
                sess.run_with_iobinding(binding)
                y = binding.copy_outputs_to_cpu()[0]
            else:
                y = sess.run([self._out_name], {self._in_name: x})[0]
        return np.asarray(y, dtype=np.float32)

    def summary(self) -> dict:
        """One line's worth of facts for ``streamproc models``."""
        return _summary(self.path, self.meta)

    def __repr__(self) -> str:
        return (f"OnnxFrameModel({str(self.path)!r}, task={self.task!r}, window={self.context_frames}+"
                f"{self.new_frames}+{self.lookahead_frames}, providers={self.providers})")


def _summary(path: Path, meta: ModelMetadata) -> dict:
    t = meta.training
    return {"path": str(path), "name": path.stem, "task": meta.task, "output_kind": meta.output_kind,
            "sample_rate": meta.spectral.sample_rate,
            "window": [meta.context_frames, meta.new_frames, meta.lookahead_frames],
            "bytes": path.stat().st_size, "steps": t.get("steps"), "data_minutes": t.get("data_minutes"),
            "soundfonts": t.get("soundfonts"), "loss": t.get("loss")}


def load_model(path: str | Path, task: str | None = None, sample_rate: int = SAMPLE_RATE,
               cfg: SpectralConfig | None = None, providers: Sequence[str] | None = None,
               threads: int | None = None) -> OnnxFrameModel:
    """Open a model for the engine, refusing (UserError, one line) any file it cannot use:
    missing, not ONNX or truncated, no streamproc metadata, another task or sample rate, or
    (when ``cfg`` is given) other spectral settings than the engine's."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"model path is a folder, not an .onnx file: {p}")
    m = OnnxFrameModel(p, providers=providers, threads=threads)
    if m.sample_rate != int(sample_rate):
        raise UserError(f"model {p.name} is for {m.sample_rate} Hz audio, the engine runs at {int(sample_rate)} Hz")
    if task is not None and m.task != task:
        raise UserError(f"model {p.name} is a {m.task!r} model, not {task!r}")
    differs = m.meta.mismatch(cfg) if cfg is not None else None
    if differs is not None:
        k = differs.split("=")[0]
        raise UserError(f"model {p.name} was trained with {differs}, the engine uses {getattr(cfg, k)}")
    return m


def list_models(dirs: Iterable[str | Path] | None = None) -> list[dict]:
    """Every .onnx file in the package's model folder and in ``dirs`` (recursively), with its
    metadata summary; a file that cannot be used is listed with an ``error`` instead."""
    roots = [MODELS_DIR] + [Path(d) for d in (dirs or [])]
    seen, out = set(), []
    for root in roots:
        if root.is_file() and root.suffix == ".onnx":
            files = [root]
        elif root.is_dir():
            files = sorted(root.rglob("*.onnx"))
        else:
            continue
        for f in files:
            key = str(f.resolve())
            if key in seen:
                continue
            seen.add(key)
            try:
                out.append(_summary(f, ModelMetadata.from_props(read_metadata(f), str(f))))
            except UserError as e:
                out.append({"path": str(f), "name": f.stem, "error": str(e)})
    return out
