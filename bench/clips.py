"""Benchmark clips: violin and piano renderings of test-split corpus works (FluidR3_GM), cached."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from streamproc.config import SAMPLE_RATE

CACHE = Path(__file__).parent / "out" / "clips"
PROGRAMS = {"violin": 40, "piano": 0}


def test_clips(instrument: str, count: int = 3, seconds: float = 10.0, sample_rate: int = SAMPLE_RATE) -> list[tuple[str, np.ndarray]]:
    """(name, audio) for the first test-split works that yield ``seconds`` of music.

    Violin plays each work's top voice, piano its other voices (or the generated accompaniment).
    """
    from models.render import corpus_works, load_work, renderer, soundfont_path

    CACHE.mkdir(parents=True, exist_ok=True)
    clips = []
    for rel in corpus_works("test"):
        if len(clips) == count:
            break
        name = f"{instrument}-{rel.replace('/', '_')}-{int(seconds)}s.wav"
        path = CACHE / name
        if not path.exists():
            work = load_work(rel)
            if work is None:
                continue
            notes = work.melody if instrument == "violin" else work.accomp
            if len(notes) == 0:
                continue
            sec = 60.0 / work.qpm
            n = int(seconds * sample_rate)
            timed = np.column_stack([notes[:, 0] * sec, notes[:, 1] * sec, notes[:, 2],
                                     np.full(len(notes), 90)])
            timed = timed[timed[:, 0] < seconds]
            if not len(timed) or timed[:, 1].max() < seconds * 0.8:
                continue
            audio = renderer(soundfont_path("FluidR3_GM")).render(timed, PROGRAMS[instrument], n)
            peak = np.abs(audio).max()
            if peak <= 0:
                continue
            sf.write(str(path), 0.5 * audio / peak, sample_rate, subtype="FLOAT")
        audio, _ = sf.read(str(path), dtype="float64")
        clips.append((name[:-4], audio))
    return clips
