"""Oracle mel-band ratio masks in the standard and the live (low-delay) framing.

Separates two suspects for the live framing's separation loss: MASK AGE (the mask describes a
Hann frame centred half a window before the asymmetric frame's end) and LEAKAGE (the asymmetric
analysis window falls to zero over one hop).  No model: the mask is the ideal mel ratio
clip(mel(violin)/mel(mixture), 0, 1), expanded to bins exactly by streamproc.stages.RatioMask
(features -> descale -> ratio -> clip -> nearest covered bin).

Run: python -m bench.oracle_masks (8 FluidR3_GM test-split clips of 10 s, seed 2026, as
bench.timbre_eval draws them; about a minute). Writes bench/out/oracle_masks.json.
"""
from __future__ import annotations

import sys
import time
from dataclasses import replace

import numpy as np

from streamproc import dsp
from streamproc.config import SpectralConfig
from streamproc.frames import Frames
from streamproc.lowdelay import ShortOverlapAdd, scaled_windows, host_config
from streamproc.metrics import si_sdr
from streamproc.stages import RatioMask

from models import render as R
from models.data import audio_clip
from models.render import corpus_works

from .common import write_json

CFG = SpectralConfig()          # 16 kHz, n_fft 1024, hop 256
N, GRID = CFG.n_fft, 64          # Hann frames on a 64-sample grid serve every case


def bin_masks(mel_v: np.ndarray, mel_m: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """What RatioMask multiplies the spectrum by, for features = mel(violin), input = mel(mix)."""
    fv = dsp.features_from_mel(mel_v, cfg).astype(np.float32)
    fm = dsp.features_from_mel(mel_m, cfg).astype(np.float32)
    ones = np.ones((len(fv), cfg.n_bins), np.complex128)
    return RatioMask(cfg).process(Frames(stft=ones, features=fv, input_features=fm)).stft.real


def bin_irm(mag_v: np.ndarray, mag_m: np.ndarray) -> np.ndarray:
    """Bin-resolution ideal ratio mask (no mel): separates mel resolution from framing."""
    return np.clip(np.divide(mag_v, mag_m, out=np.zeros_like(mag_v), where=mag_m > 0), 0.0, 1.0)


def standard_oracles(x: np.ndarray, v: np.ndarray) -> dict[str, float]:
    """SI-SDR of the ideal masks in the standard framing (16 kHz, hop 256), for mixture ``x``
    and violin ``v``: the mel-band ratio mask as RatioMask applies it (the ceiling of any model
    behind ``--recon mask``) and the bin-resolution ideal ratio mask (the ceiling of any
    magnitude mask on this STFT)."""
    L = len(x)
    n = dsp.n_frames_for(L, CFG)
    X, V = dsp.stft(x, CFG, n), dsp.stft(v, CFG, n)
    mel = bin_masks(dsp.mel_from_magnitude(np.abs(V), CFG), dsp.mel_from_magnitude(np.abs(X), CFG), CFG)
    return {"oracle_mel": si_sdr(v, dsp.istft(X * mel, CFG, L)),
            "oracle_irm": si_sdr(v, dsp.istft(X * bin_irm(np.abs(V), np.abs(X)), CFG, L))}


def frames_ending(x: np.ndarray, window: np.ndarray, hop: int, n_frames: int) -> np.ndarray:
    """STFT frames whose frame k ends with sample (k+1)*hop - 1 (streamproc's convention)."""
    n = len(window)
    padded = np.zeros(n - hop + n_frames * hop)
    m = min(len(x), n_frames * hop)
    padded[n - hop:n - hop + m] = x[:m]
    return dsp._stft_frames(padded, window, hop, n_frames)


def live_synth(spec: np.ndarray, cfg: SpectralConfig, length: int) -> np.ndarray:
    y = ShortOverlapAdd(cfg).process(Frames(stft=np.ascontiguousarray(spec)))
    return np.concatenate([y, np.zeros(max(0, length - len(y)))])[:length]


def held_index(k: np.ndarray, run_every: int, delay: int) -> np.ndarray:
    """Frame whose prediction StridedChunker applies at frame k (run every run_every, collected delay later)."""
    r = ((k - delay) // run_every) * run_every
    return np.maximum(r, 0)


def clip_results(x: np.ndarray, v: np.ndarray) -> dict[str, float]:
    L = len(x)
    res: dict[str, float] = {"mixture": si_sdr(v, x)}
    hann = dsp.analysis_window(N) * (2.0 / dsp.analysis_window(N).sum())
    max_shift = N // 2  # 32 ms of future for the centred oracle
    n_grid = (L + 2 * N + max_shift) // GRID + 2
    Hv = frames_ending(v, hann, GRID, n_grid)
    Hm = frames_ending(x, hann, GRID, n_grid)
    gcfg = replace(CFG, hop=GRID)
    mv, mm = dsp.mel_from_magnitude(np.abs(Hv), gcfg), dsp.mel_from_magnitude(np.abs(Hm), gcfg)
    Mgrid = bin_masks(mv, mm, gcfg)          # RatioMask mask of the Hann frame ending at grid end j

    def grid_of_end(end_plus1: np.ndarray) -> np.ndarray:   # grid frame ending at sample end_plus1-1
        return end_plus1 // GRID - 1

    # 1. standard framing, aligned (and check: the mask on the grid equals a hop-256 computation)
    n_std = dsp.n_frames_for(L, CFG)
    X = dsp.stft(x, CFG, n_std)
    k = np.arange(n_std)
    M1 = Mgrid[grid_of_end((k + 1) * CFG.hop)]
    res["1_std_aligned"] = si_sdr(v, dsp.istft(X * M1, CFG, L))
    res["1_std_unmasked(PR check)"] = si_sdr(x, dsp.istft(X, CFG, L))
    V = dsp.stft(v, CFG, n_std)
    res["1b_std_binIRM"] = si_sdr(v, dsp.istft(X * bin_irm(np.abs(V), np.abs(X)), CFG, L))
    # standard framing with the mask from the frame before (age = 1 standard hop): scale of age there
    res["1c_std_mask_prev_frame"] = si_sdr(v, dsp.istft(X * M1[np.maximum(k - 1, 0)], CFG, L))

    for hop in (64, 128, 256):
        cfg, _ = host_config(CFG, 16000, 1000.0 * hop / 16000)
        assert cfg.hop == hop and cfg.n_fft == N, cfg
        ana, _ = scaled_windows(N, hop)
        n_live = -(-L // hop) + 1
        A = frames_ending(x, ana, hop, n_live)
        k = np.arange(n_live)
        end1 = (k + 1) * hop
        if hop == 64:
            res["live64_unmasked(PR check)"] = si_sdr(x, live_synth(A, cfg, L))
        # 2. mask of the Hann frame ending with the asymmetric frame (what live does; age half a window)
        res[f"2_live{hop}_hann_end"] = si_sdr(v, live_synth(A * Mgrid[grid_of_end(end1)], cfg, L))
        # 3. mask of the Hann frame centred at the asymmetric frame's end (32 ms of future)
        res[f"3_live{hop}_hann_centred_end"] = si_sdr(v, live_synth(A * Mgrid[grid_of_end(end1 + N // 2)], cfg, L))
        # 3b. centred at the peak of the asym window / centre of the two-hop output (end - hop)
        res[f"3b_live{hop}_hann_centred_outpeak"] = si_sdr(
            v, live_synth(A * Mgrid[grid_of_end(end1 + N // 2 - hop)], cfg, L))
        # age sweep (64 only): Hann frame ending s samples after the asym frame's end
        if hop == 64:
            for s in (64, 128, 192, 256, 320, 384, 448, 576, 640):
                res[f"sweep_live64_shift{s}"] = si_sdr(v, live_synth(A * Mgrid[grid_of_end(end1 + s)], cfg, L))
            # 2b. what the live profile actually holds: run every 2 hops, collected 1 hop later
            res["2b_live64_hann_end_run2_delay1"] = si_sdr(
                v, live_synth(A * Mgrid[grid_of_end((held_index(k, 2, 1) + 1) * hop)], cfg, L))
        # 5. causal, age 0: mel from the asymmetric window's own magnitudes (violin and mixture)
        Av = frames_ending(v, ana, hop, n_live)
        M5 = bin_masks(dsp.mel_from_magnitude(np.abs(Av), cfg), dsp.mel_from_magnitude(np.abs(A), cfg), cfg)
        res[f"5_live{hop}_asym_mel"] = si_sdr(v, live_synth(A * M5, cfg, L))
        # 6. hybrid, no retraining needed: violin mel from the Hann frame ending with the asym frame
        #    (what the model predicts), reference (denominator) from the asym window's mixture mel
        mA = dsp.mel_from_magnitude(np.abs(A), cfg)
        res[f"6_live{hop}_hannV_over_asymMix"] = si_sdr(
            v, live_synth(A * bin_masks(mv[grid_of_end(end1)], mA, cfg), cfg, L))
        # bin-resolution IRM in the asymmetric domain (leakage without mel smoothing)
        res[f"5b_live{hop}_asym_binIRM"] = si_sdr(v, live_synth(A * bin_irm(np.abs(Av), np.abs(A)), cfg, L))
    return res


def main() -> int:
    clips, seconds, seed, sf_name = 8, 10.0, 2026, "FluidR3_GM"
    works = corpus_works("test")
    sf_path = R.soundfont_path(sf_name)
    rows = []
    t0 = time.time()
    for i in range(clips):
        x, v, info = audio_clip("separate", works, sf_path, seed, i, seconds)
        x, v = np.asarray(x, np.float64), np.asarray(v, np.float64)
        r = clip_results(x, v)
        r["role"] = info.get("role")
        rows.append(r)
        print(f"clip {i} role={r['role']} mix={r['mixture']:.2f} std={r['1_std_aligned']:.2f} "
              f"live64 end={r['2_live64_hann_end']:.2f} centred={r['3_live64_hann_centred_end']:.2f} "
              f"asym={r['5_live64_asym_mel']:.2f}  ({time.time() - t0:.0f} s)", flush=True)
    keys = [k for k in rows[0] if k != "role"]
    mix = np.array([r["mixture"] for r in rows])
    summary = {}
    print(f"\n{'case':40s} {'SI-SDR':>7s} {'SI-SDRi':>8s}")
    for k in keys:
        s = np.array([r[k] for r in rows])
        summary[k] = {"si_sdr": round(float(s.mean()), 3), "si_sdri": round(float((s - mix).mean()), 3)}
        print(f"{k:40s} {s.mean():7.2f} {(s - mix).mean():8.2f}")
    write_json("oracle_masks", {"clips": clips, "seconds": seconds, "seed": seed, "soundfont": sf_name,
                                "summary": summary, "per_clip": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
