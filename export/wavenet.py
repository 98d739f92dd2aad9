"""WaveNet vocoder checkpoint -> .npz for the Numba runtime (no pickle, no ONNX graph).

    python -m export.wavenet CHECKPOINT OUT.npz

The runtime generates sample by sample with its own kernels, so it needs weights, not a
graph: float32 arrays in the layout of ``streamproc.wavenet.Vocoder`` plus a JSON ``meta``
string (layer config, dilations, mu-law, sample rate, hop, n_fft, n_mels, conditioning
offset, training summary). The file loads with ``np.load(..., allow_pickle=False)``. After
writing, teacher-forced logits of the runtime are compared with PyTorch on random inputs
(max abs difference must be <= 1e-4).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

PARITY_TOL = 1e-4


class ExportError(Exception):
    """A user mistake (wrong file): one line, exit 2."""


def load_wavenet(checkpoint: str | Path):
    """(model in eval mode, training summary dict) from a models.wavenet_train checkpoint."""
    from models.train import TrainError
    from models.wavenet import WaveNet, WaveNetConfig
    from models.wavenet_train import load_checkpoint

    try:
        ck = load_checkpoint(Path(checkpoint))
    except TrainError as e:
        raise ExportError(str(e)) from None
    model = WaveNet(WaveNetConfig.from_json(ck["net"]))
    model.load_state_dict(ck["model"])
    model.eval()
    return model, json.loads(ck["summary"])


def export_model(model, out: str | Path, summary: dict | None = None) -> dict:
    """Write OUT.npz atomically; returns the metadata written."""
    from streamproc.wavenet import Vocoder, save_vocoder

    meta = model.export_meta(training=summary or {})
    voc = Vocoder(meta, model.export_arrays())
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp.npz")
    save_vocoder(tmp, voc)
    os.replace(tmp, out)
    return meta


def parity(model, path: str | Path, n_samples: int = 600, seed: int = 0) -> float:
    """Max |logits(torch) - logits(runtime)| for random mel frames and random audio."""
    import torch

    from models.wavenet import frame_index, mulaw_compress
    from streamproc.wavenet import load_vocoder, teacher_forced_logits

    cfg = model.cfg
    rng = np.random.default_rng(seed)
    n_frames = (n_samples + cfg.cond_offset) // cfg.hop + 1
    mel = rng.uniform(-1, 1, (n_frames, cfg.n_mels)).astype(np.float32)
    audio = (0.3 * rng.standard_normal(n_samples)).clip(-1, 1)
    x_in = np.concatenate([[0.0], mulaw_compress(audio, cfg.mu)[:-1]]).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x_in)[None], torch.from_numpy(mel)[None],
                    frame_index(cfg, 0, n_samples))[0].T.numpy()
    got = teacher_forced_logits(load_vocoder(path), mel, audio)
    return float(np.abs(ref - got).max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.wavenet", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("out", help="OUT.npz")
    a = ap.parse_args(argv)
    try:
        if not a.out.endswith(".npz"):
            raise ExportError("OUT must end in .npz")
        if not Path(a.out).resolve().parent.is_dir():
            raise ExportError(f"folder of {a.out} does not exist")
        model, summary = load_wavenet(a.checkpoint)
        export_model(model, a.out, summary)
        err = parity(model, a.out)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if err > PARITY_TOL:
        print(f"error: runtime logits differ from PyTorch by {err:.2e} (> {PARITY_TOL})", file=sys.stderr)
        return 1
    print(f"wrote {a.out} ({model.cfg.n_layers} layers, receptive field {model.cfg.receptive_field}); "
          f"parity max |diff| {err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
