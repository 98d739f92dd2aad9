"""Offline rendering of files through the streaming engine, in constant memory.

:class:`FileRenderer` is what ``streamproc render`` (and ``batch``) run: it loads a task's
model once and keeps one engine per channel and rate pair, so many files reuse them. A file
is read in blocks, pushed through the engines and written block by block to a temporary
output that is renamed into place at the end; ``--plot`` pictures and ``--reference`` scores
are accumulated on the way (:mod:`streamproc.analysis`). Peak memory does not depend on the
file's length. Everything that can be checked is checked before the first block is
processed: every mistake is a one-line :class:`UserError` and writes nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from .audio_io import AUDIO_EXTENSIONS, AudioReader, AudioWriter, check_output_path, check_rate, probe_output, same_file
from .config import DEFAULT
from .engine import Engine
from .errors import UserError
from .frame_model import FrameModel
from .level import LEVELS, level_gain_db
from .spec import RESTORE_MODEL, TaskSpec, load_restore_model, task_model
from .tasks import build_engine

Progress = Callable[[int], None]


def output_rate(in_rate: int, requested: int | None = None) -> int:
    """The input's rate or the model rate, whichever is higher, unless overridden."""
    return int(requested) if requested else max(int(in_rate), DEFAULT.sample_rate)


def pitch_extensions() -> tuple[str, ...]:
    from .pitch import PITCH_EXTENSIONS

    return PITCH_EXTENSIONS


@dataclass
class RenderReport:
    """What one file's render did: rates, lengths, clipped samples and, with a reference, scores."""
    src: Path
    dst: Path
    in_rate: int
    out_rate: int
    channels: int
    frames_in: int
    frames_out: int
    clipped: int = 0
    scores: dict[str, float] | None = None
    extra: dict = field(default_factory=dict)

    @property
    def clipped_fraction(self) -> float:
        return self.clipped / max(1, self.frames_out * self.channels)


def check_plot_target(text: str | Path | None, taken: list[Path]) -> Path | None:
    """A --plot PNG path, checked and probed before any work; never one of the command's own files."""
    if not text:
        return None
    from .plots import check_plot_path

    plot = check_plot_path(text)
    if any(same_file(plot, p) for p in taken):
        raise UserError(f"--plot {plot} names an input or output file; choose another name")
    probe_output(plot)
    return plot


def check_reference(text: str | Path, src: Path, dst: Path) -> Path:
    """--reference: an existing audio file that is neither the input nor the output."""
    from .audio_io import check_input_path

    ref = check_input_path(text, kind="reference")
    if same_file(ref, dst):
        raise UserError(f"--reference {ref} is the output file, which this render would overwrite; "
                        f"name another output")
    if same_file(ref, src):
        raise UserError(f"--reference {ref} is the input file: the score would be meaningless")
    return ref


class FileRenderer:
    """One task ready to render many files: the model loaded once, engines kept per rate pair.

    >>> from streamproc.tasks import resolve
    >>> r = FileRenderer(resolve("resynth", None, "quality"))   # doctest: +SKIP
    >>> report = r.render("in.wav", "out.flac")                  # doctest: +SKIP
    """

    def __init__(self, spec: TaskSpec, model: FrameModel | str | Path | None = None,
                 out_rate: int | None = None, block: int = 4096, restore_model: FrameModel | None = None,
                 providers: Sequence[str] | None = None, threads: int | None = None,
                 level: str = "auto") -> None:
        """``model``/``restore_model``: a loaded model, an ONNX file, or None for the shipped one;
        files are opened once, on onnxruntime's ``providers`` with ``threads`` intra-op threads.
        ``level``: ``auto`` brings each file to the loudness the models trained at and the
        output back by as much; ``off`` feeds every file as it is (:mod:`streamproc.level`)."""
        if level not in LEVELS:
            raise UserError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        self.level = level
        self.spec = spec
        self.out_rate = check_rate(out_rate, "--out-rate") if out_rate is not None else None
        if int(block) < 1:
            raise UserError(f"block must be at least 1 sample, got {block}")
        self.block = int(block)
        self.model = task_model(spec.task, model, spec.cfg, providers, threads, spec.profile, spec.recon)
        if restore_model is None and spec.recon == RESTORE_MODEL:  # one session for every engine
            restore_model = load_restore_model(spec.cfg, providers, threads, spec.profile, spec.task)
        self.restore_model = restore_model
        self._engines: dict[tuple[int, int], list[Engine]] = {}

    @property
    def providers(self) -> list[str]:
        """The onnxruntime execution providers the loaded models run on (empty: no ONNX model)."""
        return sorted({p for m in (self.model, self.restore_model) for p in getattr(m, "providers", ())})

    def engines(self, in_rate: int, out_rate: int, channels: int) -> list[Engine]:
        """``channels`` engines for this rate pair, built on first use and kept for later files."""
        have = self._engines.setdefault((in_rate, out_rate), [])
        while len(have) < channels:
            have.append(build_engine(self.spec, self.model, in_rate, out_rate, self.restore_model))
        return have[:channels]

    # -- one file --------------------------------------------------------------------------
    def render(self, src: str | Path, dst: str | Path, plot: str | Path | None = None,
               reference: str | Path | None = None, progress: Progress | None = None) -> RenderReport:
        """``src`` -> ``dst`` (audio, or for the pitch task also CSV/MIDI/JSON). UserError, with
        nothing written, for any mistake found before or during the work."""
        src_p = Path(src)
        exts = AUDIO_EXTENSIONS + (pitch_extensions() if self.spec.task == "pitch" else ())
        with AudioReader(src_p) as reader:
            dst_p = check_output_path(dst, [reader.path], exts)
            to_pitch = dst_p.suffix.lower() in pitch_extensions()
            if to_pitch and reference:
                raise UserError("--reference scores audio against audio; a pitch track has no such score")
            plot_p = check_plot_target(plot, [reader.path, dst_p])
            ref_p = check_reference(reference, reader.path, dst_p) if reference else None
            offset, gain_db = self._conditioning(reader)
            if to_pitch:
                report = self._pitch(reader, dst_p, plot_p, progress, float(offset.mean()), _gain(gain_db))
            else:
                with AudioWriter(dst_p, self.out_rate or output_rate(reader.rate), reader.channels) as writer:
                    if ref_p is None:
                        report = self._audio(reader, writer, None, plot_p, progress, offset, _gain(gain_db))
                    else:
                        with AudioReader(ref_p, kind="reference") as ref:
                            _check_reference_shape(ref, reader)
                            report = self._audio(reader, writer, ref, plot_p, progress, offset, _gain(gain_db))
                    writer.commit()
            report.extra.update(dc_offset=[float(v) for v in offset], level_gain_db=gain_db)
            if self.level != "off":   # measured for the gain; off reads the file once only
                report.extra.update(peak_dbfs=_dbfs(reader.peak), loudness_dbfs=reader.loudness_dbfs)
        return report

    def _conditioning(self, reader: AudioReader) -> tuple[np.ndarray, float]:
        """(each channel's offset to remove, gain in dB) that ``self.level`` gives this file."""
        if self.level == "off":
            return np.zeros(reader.channels), 0.0
        return reader.dc, level_gain_db(reader.peak, reader.loudness_dbfs, self.level)

    def _audio(self, reader: AudioReader, writer: AudioWriter, ref: AudioReader | None,
               plot: Path | None, progress: Progress | None, offset: np.ndarray | None = None,
               gain: float = 1.0) -> RenderReport:
        """The engines see the input less each channel's ``offset``, times ``gain``; what is
        written (and scored, and drawn) is their output divided by ``gain``."""
        from .analysis import MelPicture, StreamingScore, StreamResampler

        shift = None if offset is None or not offset.any() else offset[:, None]

        in_rate, out_rate, ch = reader.rate, writer.rate, reader.channels
        engines = self.engines(in_rate, out_rate, ch)
        pictures = None
        if plot:
            pool = MelPicture.pool_for(reader.seconds)
            pictures = [MelPicture(in_rate, ch, pool), MelPicture(out_rate, ch, pool)]
            if ref is not None:
                pictures.append(MelPicture(in_rate, ch, pool))
        score = back = None
        ref_blocks: Iterator[np.ndarray] | None = None
        est_n = 0
        if ref is not None:
            score = StreamingScore(in_rate, ch)
            back = StreamResampler(out_rate, in_rate, ch)
            ref_blocks = ref.blocks(self.block)

        def to_score(y: np.ndarray, last: bool = False) -> None:
            nonlocal est_n
            assert back is not None and ref is not None and score is not None and ref_blocks is not None
            z = back.push(y, last)
            z = z[:, :max(0, ref.frames - est_n)]
            if last and est_n + z.shape[1] < ref.frames:
                z = np.pad(z, ((0, 0), (0, ref.frames - est_n - z.shape[1])))
            est_n += z.shape[1]
            r = next(ref_blocks, None) if not last else np.concatenate(list(ref_blocks) or [np.zeros((ch, 0))], 1)
            if r is not None:
                if pictures:
                    pictures[2].push(r)
                score.push(r, z)
            else:
                score.push(np.zeros((ch, 0)), z)

        def emit(y: np.ndarray) -> None:
            if gain != 1.0:
                y = y / gain
            writer.write(y)
            if pictures:
                pictures[1].push(y)
            if score is not None:
                to_score(y)

        def inputs() -> Iterator[np.ndarray]:
            for x in reader.blocks(self.block):
                if pictures:
                    pictures[0].push(x)
                if shift is not None:
                    x = x - shift
                yield x * gain if gain != 1.0 else x
                if progress is not None:
                    progress(x.shape[1])

        n_in = stream_engines(engines, inputs(), emit, self.block)
        if score is not None:
            to_score(np.zeros((ch, 0)), last=True)
        report = RenderReport(reader.path, writer.path, in_rate, out_rate, ch, n_in, writer.frames,
                              writer.clipped, score.result() if score is not None else None)
        if plot is not None and pictures is not None:
            from .plots import plot_mel_panels

            names = ["input", f"output ({self.spec.task}/{self.spec.recon})", "reference"]
            plot_mel_panels([(n, p.finish()) for n, p in zip(names, pictures)], plot, pictures[0].pool)
        return report

    def _pitch(self, reader: AudioReader, dst: Path, plot: Path | None, progress: Progress | None,
               offset: float = 0.0, gain: float = 1.0) -> RenderReport:
        from .pitch import track_pitch_blocks, write_pitch

        probe_output(dst)
        picture = None
        if plot:
            from .analysis import MelPicture

            picture = MelPicture(reader.rate, reader.channels, MelPicture.pool_for(reader.seconds))

        def mono() -> Iterator[np.ndarray]:
            for x in reader.blocks(self.block):
                if picture is not None:
                    picture.push(x)
                yield (x.mean(axis=0) - offset) * gain if offset or gain != 1.0 else x.mean(axis=0)
                if progress is not None:
                    progress(x.shape[1])

        track = track_pitch_blocks(mono(), reader.rate, self.model, self.spec.profile_name)
        if gain != 1.0:   # the track's level (MIDI velocities) is the input's, not the models'
            track.level_db = track.level_db - 20.0 * math.log10(gain)
        write_pitch(track, dst)
        if plot is not None and picture is not None:
            from .plots import plot_pitch_track

            plot_pitch_track(picture.finish(), picture.pool, track.times, track.f0, plot,
                             title=f"f0 of {reader.path.name} ({track.model})")
        return RenderReport(reader.path, dst, reader.rate, reader.rate, 1, reader.frames, len(track.times),
                            extra={"voiced": int(track.voiced.sum())})


def _gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def _dbfs(peak: float) -> float:
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def _check_reference_shape(ref: AudioReader, reader: AudioReader) -> None:
    if ref.rate != reader.rate or ref.channels != reader.channels or ref.frames != reader.frames:
        raise UserError(f"--reference {ref.path} must match the input: {reader.rate} Hz, {reader.frames} samples, "
                        f"{reader.channels} channel(s); it has {ref.rate} Hz, {ref.frames} samples, "
                        f"{ref.channels} channel(s)")


def stream_engines(engines: list[Engine], blocks: Iterable[np.ndarray], emit: Callable[[np.ndarray], None],
                   block: int = 4096) -> int:
    """(channels, n) blocks through one engine per channel; ``emit`` gets the output, aligned with
    the input and of its duration at the output rate (as :meth:`Engine.render`), block by block.
    Returns the count of input samples per channel."""
    for e in engines:
        e.reset()
    ch = len(engines)
    n_in = n_out = 0

    def push(x: np.ndarray) -> np.ndarray:
        return np.stack([e.push(c) for e, c in zip(engines, x)]) if ch > 1 else engines[0].push(x[0])[None]

    for x in blocks:
        n_in += x.shape[1]
        y = push(x)
        n_out += y.shape[1]
        emit(y)
    e0 = engines[0]
    total = int(round(n_in * e0.out_rate / e0.in_rate))
    pad = math.ceil((e0.latency_samples + 2) * e0.in_rate / e0.out_rate) + 1
    zeros = np.zeros((ch, min(block, pad)))
    while pad > 0 and n_out < total:
        y = push(zeros[:, :min(block, pad)])
        pad -= min(block, pad)
        y = y[:, :total - n_out]
        n_out += y.shape[1]
        emit(y)
    for e in engines:
        e.reset()
    return n_in


def render_file(src: str | Path, dst: str | Path, spec: TaskSpec, model: FrameModel | str | Path | None = None,
                out_rate: int | None = None, block: int = 4096, plot: str | Path | None = None,
                reference: str | Path | None = None, progress: Progress | None = None) -> RenderReport:
    """One file through one task in constant memory (see :class:`FileRenderer` to render many)."""
    return FileRenderer(spec, model, out_rate, block).render(src, dst, plot, reference, progress)


def render_array(x: np.ndarray, in_rate: int, spec: TaskSpec, model: FrameModel | None = None,
                 out_rate: int | None = None, block: int | None = None,
                 progress: Progress | None = None) -> np.ndarray:
    """(channels, samples) at in_rate -> (channels, samples') at out_rate, time-aligned (in memory)."""
    out_rate = output_rate(in_rate, out_rate)
    outs = []
    for ch in x:
        engine = build_engine(spec, model, in_rate, out_rate)
        outs.append(engine.render(ch, block=block, progress=progress))
    return np.stack(outs)
