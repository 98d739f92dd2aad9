"""Figures as in the paper: spectrograms side by side, the separation overlay, f0 over a spectrogram.

Everything is drawn on the model's own view of sound: 128-band Slaney log-mel spectrograms of
16 kHz audio (n_fft 1024, hop 256; other rates are resampled first, several channels are
averaged), so a figure shows what the network saw and produced. The frequency axis is the mel
axis, labelled in Hz.

matplotlib is optional (``pip install 'streamproc[plot]'``) and imported only when a figure is
drawn. We build ``matplotlib.figure.Figure`` objects directly on the Agg canvas instead of going
through pyplot, so drawing changes no global backend or state of the caller's process. Files are
PNG only and written atomically (never a partial image).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .audio_io import atomic_write, check_output_path
from .config import DEFAULT
from .errors import UserError

PLOT_EXTENSIONS = (".png",)
DB_RANGE = 80.0          # colour scale: the loudest bin of all panels down to 80 dB below it
OVERLAY_THRESHOLD_DB = -40.0
# overlay classes and their colours (RGB in [0, 1])
NONE, MATCH, MISSED, INTERFERENCE = 0, 1, 2, 3
OVERLAY_COLOURS = np.array([[0.0, 0.0, 0.0],   # neither has energy: black
                            [0.0, 1.0, 1.0],   # both: cyan (the estimate matches)
                            [1.0, 0.0, 0.0],   # reference only: red (missed)
                            [1.0, 1.0, 1.0]])  # estimate only: white (interference)
_HZ_TICKS = (0, 250, 500, 1000, 2000, 4000, 8000)


def check_plot_path(path: str | Path) -> Path:
    """UserError unless ``path`` is a .png in an existing folder (call before long work)."""
    return check_output_path(path, [], PLOT_EXTENSIONS)


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("plots need matplotlib: pip install 'streamproc[plot]'") from None
    return Figure


def _save(fig, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def _mono16k(audio: np.ndarray, rate: int) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 2:  # (channels, samples), streamproc's file layout
        x = x.mean(axis=0)
    if x.ndim != 1:
        raise ValueError(f"audio must be 1-D or (channels, samples), got shape {np.shape(audio)}")
    if int(rate) != DEFAULT.sample_rate:
        import soxr

        x = soxr.resample(x, int(rate), DEFAULT.sample_rate, quality="HQ")
    return x


def mel_db(audio: np.ndarray, rate: int) -> np.ndarray:
    """Log-mel spectrogram in dB re full scale, shape (n_mels, frames), at 16 kHz framing."""
    from . import dsp

    x = _mono16k(audio, rate)
    mel = dsp.mel_from_magnitude(np.abs(dsp.stft(x, DEFAULT)), DEFAULT).T
    return 20.0 * np.log10(np.maximum(mel, 1e-10))


def _extent(n_frames: int, pool: int = 1) -> tuple[float, float, float, float]:
    """imshow extent: frame k is centred at sample k*hop + hop - n_fft/2 (streamproc.dsp framing);
    a column of a long file's picture averages ``pool`` frames."""
    from .dsp import hz_to_mel

    c, hop = DEFAULT, DEFAULT.hop * pool
    t0 = (DEFAULT.hop - c.n_fft / 2 - DEFAULT.hop / 2) / c.sample_rate
    return (t0, t0 + n_frames * hop / c.sample_rate, float(hz_to_mel(c.fmin)), float(hz_to_mel(c.fmax)))


def _mel_axis(ax, ylabel: bool = True) -> None:
    from .dsp import hz_to_mel

    ticks = [f for f in _HZ_TICKS if DEFAULT.fmin <= f <= DEFAULT.fmax]
    ax.set_yticks([float(hz_to_mel(f)) for f in ticks])
    ax.set_yticklabels([f"{f / 1000:g}k" if f >= 1000 else str(f) for f in ticks])
    ax.set_xlabel("time (s)")
    if ylabel:
        ax.set_ylabel("frequency (Hz, mel scale)")


def plot_spectrograms(panels: list[tuple[str, np.ndarray, int]], path: str | Path) -> None:
    """(title, audio, rate) panels side by side (e.g. input | output | reference), one colour scale."""
    if not panels:
        raise ValueError("plot_spectrograms needs at least one panel")
    plot_mel_panels([(title, mel_db(audio, rate)) for title, audio, rate in panels], path)


def plot_mel_panels(panels: list[tuple[str, np.ndarray]], path: str | Path, pool: int = 1) -> None:
    """(title, log-mel dB image) panels side by side, one colour scale; ``pool``: frames per
    column (the pictures of long files, :class:`streamproc.analysis.MelPicture`)."""
    if not panels:
        raise ValueError("plot_mel_panels needs at least one panel")
    path = check_plot_path(path)
    Figure = _figure_class()
    specs = panels
    vmax = max(float(s.max()) if s.size else -200.0 for _, s in specs)
    fig = Figure(figsize=(4.2 * len(specs) + 1.0, 4.2), layout="constrained")
    axes = fig.subplots(1, len(specs), sharey=True, squeeze=False)[0]
    im = None
    for i, (ax, (title, s)) in enumerate(zip(axes, specs)):
        im = ax.imshow(s, origin="lower", aspect="auto", extent=_extent(s.shape[1], pool), cmap="magma",
                       vmin=vmax - DB_RANGE, vmax=vmax, interpolation="nearest")
        ax.set_title(title)
        _mel_axis(ax, ylabel=i == 0)
    fig.colorbar(im, ax=list(axes), label="dB re full scale")
    _save(fig, path)


def classify_overlay(ref_db: np.ndarray, est_db: np.ndarray,
                     threshold_db: float = OVERLAY_THRESHOLD_DB) -> np.ndarray:
    """Per bin: NONE, MATCH, MISSED or INTERFERENCE (see :data:`OVERLAY_COLOURS`).

    A bin "has energy" in a signal when it lies above ``threshold_db`` relative to that
    signal's own loudest bin. Each signal is measured against its own maximum, so, like
    SI-SDR, the picture does not change when the estimate's overall gain does.
    """
    ref_on = ref_db > ref_db.max() + threshold_db
    est_on = est_db > est_db.max() + threshold_db
    out = np.full(ref_db.shape, NONE, dtype=np.int8)
    out[ref_on & est_on] = MATCH
    out[ref_on & ~est_on] = MISSED
    out[~ref_on & est_on] = INTERFERENCE
    return out


def plot_separation_overlay(ref: np.ndarray, est: np.ndarray, rate: int, path: str | Path,
                            threshold_db: float = OVERLAY_THRESHOLD_DB, title: str = "") -> None:
    """The paper's separation overlay: cyan = estimate matches the reference, red = reference
    energy the estimate misses, white = estimate energy the reference lacks, black = neither
    (energy: within ``-threshold_db`` dB of the signal's own maximum, mel bins)."""
    plot_overlay_mels(mel_db(ref, rate), mel_db(est, rate), path, threshold_db=threshold_db, title=title)


def plot_overlay_mels(r: np.ndarray, e: np.ndarray, path: str | Path, pool: int = 1,
                      threshold_db: float = OVERLAY_THRESHOLD_DB, title: str = "") -> None:
    """:func:`plot_separation_overlay` of two log-mel dB images (``pool`` frames per column)."""
    path = check_plot_path(path)
    Figure = _figure_class()
    n = min(r.shape[1], e.shape[1])
    classes = classify_overlay(r[:, :n], e[:, :n], threshold_db)
    fig = Figure(figsize=(10.0, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.imshow(OVERLAY_COLOURS[classes], origin="lower", aspect="auto", extent=_extent(n, pool),
              interpolation="nearest")
    ax.set_title(title or f"separation overlay (energy: above {threshold_db:g} dB re each signal's max)")
    _mel_axis(ax)
    from matplotlib.patches import Patch

    names = ("neither", "match", "missed (reference only)", "interference (estimate only)")
    ax.legend(handles=[Patch(facecolor=OVERLAY_COLOURS[k], edgecolor="grey", label=names[k]) for k in
                       (MATCH, MISSED, INTERFERENCE, NONE)], loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small")
    _save(fig, path)


def plot_pitch(audio: np.ndarray, rate: int, times: np.ndarray, f0: np.ndarray, path: Path,
               title: str = "") -> None:
    """f0 track (Hz at ``times`` s; 0 = unvoiced, not drawn) over the input's log-mel spectrogram."""
    check_plot_path(path)
    plot_pitch_track(mel_db(audio, rate), 1, times, f0, path, title)


def plot_pitch_track(s: np.ndarray, pool: int, times: np.ndarray, f0: np.ndarray, path: Path,
                     title: str = "") -> None:
    """:func:`plot_pitch` over a log-mel dB image (``pool`` frames per column)."""
    from .dsp import hz_to_mel

    path = check_plot_path(path)
    times, f0 = np.asarray(times, dtype=np.float64), np.asarray(f0, dtype=np.float64)
    if times.shape != f0.shape or times.ndim != 1:
        raise ValueError(f"times and f0 must be 1-D of one length, got {times.shape} and {f0.shape}")
    Figure = _figure_class()
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.subplots()
    vmax = float(s.max()) if s.size else -200.0
    ext = _extent(s.shape[1], pool)
    im = ax.imshow(s, origin="lower", aspect="auto", extent=ext, cmap="magma",
                   vmin=vmax - DB_RANGE, vmax=vmax, interpolation="nearest")
    voiced = (f0 > 0) & np.isfinite(f0)
    y = np.where(voiced, hz_to_mel(np.where(voiced, f0, 1.0)), np.nan)  # NaN breaks the line
    ax.plot(times, y, color="cyan", linewidth=1.5, label="f0")
    ax.set_ylim(*ext[2:])
    ax.set_title(title or "f0")
    ax.legend(loc="upper right", fontsize="small")
    _mel_axis(ax)
    fig.colorbar(im, ax=ax, label="dB re full scale")
    _save(fig, path)
