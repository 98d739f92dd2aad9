"""Peer pitch trackers beside ours in ``bench.quality``: pYIN, torchcrepe tiny and full, PESTO,
FCPE and basic-pitch, each registered here as a loader that returns ``track(x) -> (times s,
f0 Hz)`` for 16 kHz mono audio.

Unvoiced frames carry ``-(the tracker's pitch guess)``, mir_eval's convention, so raw pitch
accuracy never depends on a voicing decision; voicing (and so overall accuracy) uses each
peer's own documented default where it has one (stated per peer). Every peer's weights ship in
its wheel (nothing downloads at run time). None of them is a dependency of streamproc: a peer
that is not installed is reported as missing, with the command that installs it::

    python -m pip install --no-deps -r bench/peers.txt

(``--no-deps`` because torchcrepe, PESTO and FCPE declare torchaudio, which has no CPU build
and would replace the CPU torch with a CUDA one, and basic-pitch declares tensorflow; what they
really import at run time is in bench/peers.txt.) The torchaudio they import for file loading
and resampling only is stood in for (:func:`torchaudio_standin`): the clips are 16 kHz arrays.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

SR = 16000
HOP_S = 0.01
PYIN_RANGE = (60.0, 2640.0)      # the pitch map's range, MIDI 36..100
CREPE_THRESHOLD = 0.21           # torchcrepe's documented example periodicity threshold
FCPE_THRESHOLD = 0.006           # torchfcpe's default ``threshold`` of ``infer``
PESTO_THRESHOLD = 0.5            # PESTO documents no threshold: the middle of its [0, 1] confidence
BASIC_PITCH_THRESHOLD = 0.3      # basic-pitch's default ``frame_threshold``
INSTALL = "python -m pip install --no-deps -r bench/peers.txt"
REQUIREMENTS = Path(__file__).with_name("peers.txt")

Track = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Peer:
    """A tracker: the modules it needs, and a loader (called once) that returns ``track``."""

    name: str
    modules: tuple[str, ...]
    load: Callable[[], Track]
    voicing: str


PEERS: dict[str, Peer] = {}


def register(name: str, modules: tuple[str, ...], voicing: str):
    def deco(fn: Callable[[], Track]) -> Callable[[], Track]:
        PEERS[name] = Peer(name, modules, fn, voicing)
        return fn
    return deco


def torchaudio_standin() -> None:
    """A ``torchaudio`` for packages that import it only to load or resample files: calling
    any of it raises. Installed only where no real torchaudio is importable."""
    if "torchaudio" in sys.modules or importlib.util.find_spec("torchaudio") is not None:
        return

    def unavailable(*_a, **_k):
        raise RuntimeError("torchaudio is stood in for (no CPU build): feed 16 kHz arrays, not files")

    ta = types.ModuleType("torchaudio")
    tr = types.ModuleType("torchaudio.transforms")
    tr.Resample = unavailable
    ta.transforms, ta.load = tr, unavailable
    sys.modules["torchaudio"], sys.modules["torchaudio.transforms"] = ta, tr


def _grid(f0: np.ndarray, voiced: np.ndarray, hop_s: float = HOP_S) -> tuple[np.ndarray, np.ndarray]:
    f0 = np.asarray(f0, np.float64)
    return np.arange(len(f0)) * hop_s, np.where(np.asarray(voiced, bool), f0, -f0)


def pyin_track(x: np.ndarray, fmin: float = PYIN_RANGE[0], fmax: float = PYIN_RANGE[1]) -> tuple[np.ndarray, np.ndarray]:
    """(times, f0) every 10 ms by librosa's pYIN; unvoiced frames carry -(best guess)."""
    import librosa

    f0, voiced, _ = librosa.pyin(np.asarray(x, np.float32), fmin=fmin, fmax=fmax, sr=SR, frame_length=1024,
                                 hop_length=int(SR * HOP_S), fill_na=None)
    return _grid(f0, voiced)


@register("pyin", ("librosa",), "librosa's own voiced flag (HMM)")
def _pyin() -> Track:
    import librosa  # noqa: F401  (import check before timing)

    return pyin_track


def _crepe(model: str) -> Track:
    """torchcrepe with CREPE's own weighted-argmax decoder: its viterbi decoder (torchcrepe 0.0.24
    on librosa 0.11) sticks near fmax with periodicity 0 on these melodies (measured)."""
    torchaudio_standin()
    import torch
    import torchcrepe

    def track(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            f0, per = torchcrepe.predict(torch.tensor(np.asarray(x, np.float32))[None], SR, hop_length=int(SR * HOP_S),
                                         fmin=50.0, fmax=2006.0, model=model, decoder=torchcrepe.decode.weighted_argmax,
                                         return_periodicity=True, batch_size=512, device="cpu", pad=True)
            per = torchcrepe.filter.median(per, 3)
        return _grid(f0[0].numpy(), per[0].numpy() >= CREPE_THRESHOLD)

    return track


for _size in ("tiny", "full"):
    register(f"crepe-{_size}", ("torch", "torchcrepe"),
             f"3-frame median of periodicity >= {CREPE_THRESHOLD} (torchcrepe's example)")(
        lambda size=_size: _crepe(size))


@register("pesto", ("torch", "pesto"), f"confidence >= {PESTO_THRESHOLD} (none documented)")
def _pesto() -> Track:
    torchaudio_standin()
    import pesto
    import torch

    model = pesto.load_model("mir-1k_g7", step_size=HOP_S * 1000.0, sampling_rate=SR)  # the wheel's checkpoint

    def track(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            f0, conf, _vol, _act = model(torch.tensor(np.asarray(x, np.float32)), sr=SR, convert_to_freq=True,
                                         return_activations=True)
        return _grid(f0.numpy(), conf.numpy() >= PESTO_THRESHOLD)

    return track


@register("fcpe", ("torch", "torchfcpe", "einops", "local_attention"),
          f"peak activation > {FCPE_THRESHOLD} (torchfcpe's default)")
def _fcpe() -> Track:
    torchaudio_standin()
    import torch
    import torchfcpe

    infer = torchfcpe.spawn_bundled_infer_model(device="cpu")  # the wheel's own fcpe_c_v001.pt
    net = infer.model
    f0_min = float(infer.args_dict["model"]["f0_min"])

    def track(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            mel = infer.wav2mel(torch.tensor(np.asarray(x, np.float32))[None, :, None], SR)
            latent = net.forward(mel)
            cents = net.latent2cents_local_decoder(latent, mask=False)  # the guess on every frame
            f0 = net.cent_to_f0(cents)[0, :, 0].numpy()
            conf = latent.max(dim=-1).values[0].numpy()
        n = int(round(len(x) / (SR * HOP_S)))
        return _grid(f0[:n], (conf[:n] > FCPE_THRESHOLD) & (f0[:n] >= f0_min))

    return track


@register("basic-pitch", ("basic_pitch", "onnxruntime", "librosa"),
          f"peak contour activation >= {BASIC_PITCH_THRESHOLD} (basic-pitch's frame_threshold)")
def _basic_pitch() -> Track:
    import logging

    import onnxruntime as ort
    import soxr

    logging.disable(logging.WARNING)  # basic_pitch warns on import about every backend it lacks
    try:
        import basic_pitch
        from basic_pitch import constants as C
        from basic_pitch.inference import unwrap_output, window_audio_file
        from basic_pitch.note_creation import model_frames_to_time
    finally:
        logging.disable(logging.NOTSET)
    path = Path(basic_pitch.__file__).parent / "saved_models" / "icassp_2022" / "nmp.onnx"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    overlap = 30 * C.FFT_HOP  # as basic_pitch.inference.run_inference
    # constants.py: the base frequency is that of the first semitone's CENTRAL bin, the second of
    # its three; bin 0 read as 27.5 Hz comes out about 30 cents sharp on every clip
    bins = np.log2(C.ANNOTATIONS_BASE_FREQUENCY) + (np.arange(C.N_FREQ_BINS_CONTOURS) - 1) / (12.0 * C.CONTOURS_BINS_PER_SEMITONE)

    def track(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = soxr.resample(np.asarray(x, np.float64), SR, C.AUDIO_SAMPLE_RATE, quality="HQ").astype(np.float32)
        y = np.concatenate([np.zeros(overlap // 2, np.float32), y])
        wins = [w[None] for w, _ in window_audio_file(y, C.AUDIO_N_SAMPLES - overlap)]
        outs = [sess.run(["StatefulPartitionedCall:0"], {"serving_default_input_2:0": w})[0] for w in wins]
        contour = unwrap_output(np.concatenate(outs), len(y) - overlap // 2, 30)
        # f0: the activation-weighted mean (in log-frequency) of the 5 bins around the peak (+-67 cents)
        k = np.argmax(contour, axis=1)
        idx = np.clip(k[:, None] + np.arange(-2, 3), 0, contour.shape[1] - 1)
        w = np.take_along_axis(contour, idx, axis=1)
        f0 = 2.0 ** (np.sum(w * bins[idx], axis=1) / np.maximum(w.sum(axis=1), 1e-9))
        voiced = contour.max(axis=1) >= BASIC_PITCH_THRESHOLD
        return model_frames_to_time(len(f0)), np.where(voiced, f0, -f0)

    return track


def available(names: list[str] | None = None) -> tuple[dict[str, Track], dict[str, str]]:
    """({name: track}, {name: why missing}) for the peers asked for (default: all), loaded once.
    A peer whose modules are not installed is missing, with the install command; one that
    fails to load is missing with its error (never a crash)."""
    ok, missing = {}, {}
    for name in names or list(PEERS):
        peer = PEERS.get(name)
        if peer is None:
            missing[name] = f"unknown peer (choose from {', '.join(PEERS)})"
            continue
        absent = [m for m in peer.modules if importlib.util.find_spec(m) is None]
        if absent:
            missing[name] = f"not installed ({', '.join(absent)}): {INSTALL}"
            continue
        try:
            ok[name] = peer.load()
        except Exception as e:  # noqa: BLE001  (a broken peer install is reported, not fatal)
            missing[name] = f"failed to load: {type(e).__name__}: {e}"
    return ok, missing
