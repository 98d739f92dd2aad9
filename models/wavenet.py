"""The GAN-WN vocoder in PyTorch: a WaveNet conditioned on 128-band normalised log-mel frames.

Exactly the network ``streamproc/wavenet.py`` generates with (see its docstring for the
layout and why mu-law softmax). Training is teacher forced: the input at step t is the
mu-law companded, quantised sample t-1; the target is the class of sample t.

Conditioning is computed per frame (``tanh(W_c mel + b_c)``, then one projection per
layer) and upsampled by repeating: sample n takes frame ``(n + cond_offset) // hop`` with
``cond_offset = n_fft/2 - hop/2``. The runtime indexes frames the same way, so the
upsampling is reproduced exactly.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from streamproc.config import DEFAULT, SpectralConfig


@dataclass
class WaveNetConfig:
    n_layers: int = 20
    residual: int = 32
    skip: int = 64
    hidden: int = 128
    cond_channels: int = 64
    dilation_cycle: int = 10          # dilations 1, 2, ..., 2**(cycle-1), repeated
    mu: int = 255
    sample_rate: int = DEFAULT.sample_rate
    hop: int = DEFAULT.hop
    n_fft: int = DEFAULT.n_fft
    n_mels: int = DEFAULT.n_mels
    dilations: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if min(self.n_layers, self.residual, self.skip, self.hidden, self.cond_channels, self.dilation_cycle) < 1:
            raise ValueError("sizes must be positive")
        if not self.dilations:
            self.dilations = [2 ** (i % self.dilation_cycle) for i in range(self.n_layers)]
        if len(self.dilations) != self.n_layers:
            raise ValueError("one dilation per layer")

    @property
    def n_classes(self) -> int:
        return self.mu + 1

    @property
    def cond_offset(self) -> int:
        return self.n_fft // 2 - self.hop // 2

    @property
    def receptive_field(self) -> int:
        return sum(self.dilations) + 1

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(s: str) -> "WaveNetConfig":
        return WaveNetConfig(**json.loads(s))

    def spectral(self) -> SpectralConfig:
        return SpectralConfig(sample_rate=self.sample_rate, n_fft=self.n_fft, hop=self.hop, n_mels=self.n_mels)


# ----------------------------------------------------------------------------- mu-law

def mulaw_compress(x: np.ndarray | torch.Tensor, mu: int = 255):
    lib = torch if isinstance(x, torch.Tensor) else np
    x = lib.clip(x, -1.0, 1.0)
    return lib.sign(x) * lib.log1p(mu * lib.abs(x)) / np.log1p(mu)


def mulaw_encode(x: np.ndarray, mu: int = 255) -> np.ndarray:
    """Linear samples -> classes 0..mu (nearest level of the companded value)."""
    return np.clip(np.floor((mulaw_compress(np.asarray(x, np.float64), mu) + 1.0) / 2.0 * mu + 0.5), 0, mu).astype(np.int64)


def mulaw_level(k: np.ndarray, mu: int = 255) -> np.ndarray:
    """Class -> companded value in [-1, 1] (what the network hears as input)."""
    return 2.0 * np.asarray(k, np.float64) / mu - 1.0


def frame_index(cfg: WaveNetConfig, start: int, n: int) -> torch.Tensor:
    """Frame conditioning each of samples start..start+n-1 (the runtime's upsampling)."""
    return (torch.arange(start, start + n) + cfg.cond_offset) // cfg.hop


# ----------------------------------------------------------------------------- network

class WaveNet(nn.Module):
    def __init__(self, cfg: WaveNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        L, R, S, A, C = cfg.n_layers, cfg.residual, cfg.skip, cfg.hidden, cfg.cond_channels
        self.cond_in = nn.Linear(cfg.n_mels, C)
        self.layer_cond = nn.Linear(C, L * 2 * R)      # per-layer projection, conv bias folded in
        self.start = nn.Conv1d(1, R, 1)
        self.dil = nn.ModuleList([nn.Conv1d(R, 2 * R, 2, dilation=d, bias=False) for d in cfg.dilations])
        self.res = nn.ModuleList([nn.Conv1d(R, R, 1) for _ in range(L)])
        self.skip = nn.ModuleList([nn.Conv1d(R, S, 1) for _ in range(L)])
        self.out1 = nn.Conv1d(S, A, 1)
        self.out2 = nn.Conv1d(A, cfg.n_classes, 1)

    def conditioning(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, frames, n_mels) -> (B, frames, L, 2R): once per frame."""
        c = torch.tanh(self.cond_in(mel))
        B, T, _ = mel.shape
        return self.layer_cond(c).view(B, T, self.cfg.n_layers, 2 * self.cfg.residual)

    def forward(self, x_in: torch.Tensor, mel: torch.Tensor, frame_idx: torch.Tensor) -> torch.Tensor:
        """x_in (B, T): companded input at each step (sample t-1); mel (B, F, n_mels);
        frame_idx (T,): frame of each step. Returns logits (B, Q, T)."""
        R = self.cfg.residual
        cond = self.conditioning(mel)[:, frame_idx]                 # (B, T, L, 2R)
        cond = cond.permute(0, 2, 3, 1)                            # (B, L, 2R, T)
        h = self.start(x_in.unsqueeze(1))
        skip: torch.Tensor | int = 0   # a Tensor from the first layer on
        for l, d in enumerate(self.cfg.dilations):
            a = self.dil[l](F.pad(h, (d, 0))) + cond[:, l]
            z = torch.tanh(a[:, :R]) * torch.sigmoid(a[:, R:])
            h = h + self.res[l](z)
            skip = skip + self.skip[l](z)
        return self.out2(F.relu(self.out1(F.relu(cast(torch.Tensor, skip)))))

    def export_arrays(self) -> dict[str, np.ndarray]:
        """Weights in the runtime's layout (see streamproc.wavenet.Vocoder): float32, (out, in)."""
        cfg = self.cfg
        L, R, C = cfg.n_layers, cfg.residual, cfg.cond_channels

        def np32(t: torch.Tensor | None) -> np.ndarray:
            assert t is not None  # every bias exported here exists (the dilated convs have none and export none)
            return t.detach().cpu().to(torch.float32).numpy().copy()

        # the ModuleLists hold Conv1d layers (typed as plain Modules)
        dil = cast("Iterable[nn.Conv1d]", self.dil)
        res = cast("Iterable[nn.Conv1d]", self.res)
        skip = cast("Iterable[nn.Conv1d]", self.skip)
        lw = self.layer_cond.weight.view(L, 2 * R, C)
        lb = self.layer_cond.bias.view(L, 2 * R)
        return {
            "cond_w": np32(self.cond_in.weight), "cond_b": np32(self.cond_in.bias),
            "layer_cond_w": np32(lw), "layer_cond_b": np32(lb),
            "start_w": np32(self.start.weight[:, 0, 0]), "start_b": np32(self.start.bias),
            "dil_w": np.stack([np32(m.weight) for m in dil]),
            "res_w": np.stack([np32(m.weight[:, :, 0]) for m in res]),
            "res_b": np.stack([np32(m.bias) for m in res]),
            "skip_w": np.stack([np32(m.weight[:, :, 0]) for m in skip]),
            "skip_b": np.stack([np32(m.bias) for m in skip]),
            "out1_w": np32(self.out1.weight[:, :, 0]), "out1_b": np32(self.out1.bias),
            "out2_w": np32(self.out2.weight[:, :, 0]), "out2_b": np32(self.out2.bias),
        }

    def export_meta(self, **extra) -> dict:
        from streamproc.wavenet import make_meta

        c = self.cfg
        meta = make_meta(c.n_layers, c.residual, c.skip, c.hidden, c.cond_channels, mu=c.mu,
                         cfg=c.spectral(), **extra)
        meta["dilations"] = list(c.dilations)
        return meta


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
