"""pix2pix networks on spectrogram images: U-Net generator, PatchGAN discriminator, the CNN
baseline (the same generator trained with L1 only) and the GAN-S restoration network.

Images are (batch, 1, rows, frames): rows = mel bands (128), pitch bins (128) or linear
bins (513 for restoration); frames = the chunker's window (64). Everything is described by
a JSON-able :class:`NetConfig` that travels inside checkpoints and ONNX files, so a model is
always rebuilt with the shapes it was trained with.

Sizes are far below pix2pix's (ngf 64, depth 8, 54 M parameters): the models must train on
a couple of CPU cores, run a 64-frame window in a few milliseconds on one thread and stay
under 8 MB as float32 ONNX. ``PRESETS`` names the sizes proposed for the real models.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn


@dataclass
class NetConfig:
    """Shapes and sizes of a generator/discriminator pair (JSON round-trips exactly)."""

    task: str = "separate"
    kind: str = "unet"            # "unet" (mel/pitch images) or "restore" (513-bin linear, residual)
    loss: str = "gan"             # "gan" (L1 + adversarial, pix2pix) or "l1" (the CNN baseline)
    rows_in: int = 128
    rows_out: int = 128
    context_frames: int = 40
    new_frames: int = 8
    lookahead_frames: int = 16
    ngf: int = 16                 # generator width (channels after the first layer)
    depth: int = 6                # down/up-sampling steps of the U-Net
    max_mult: int = 8             # channel cap: ngf * max_mult
    dropout: float = 0.5          # in the three innermost decoder blocks, training only
    ndf: int = 16                 # discriminator width
    d_layers: int = 3             # PatchGAN strided layers (receptive field 70 px at 3)
    output: str = "image"         # "image" (tanh), "mask" (a bounded ratio mask applied to the input)
                                  # or "residual" (the input plus a correction: superres keeps its band)
    extra: dict = field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.context_frames + self.new_frames + self.lookahead_frames

    @property
    def unet_rows(self) -> int:
        return self.rows_in - 1 if self.kind == "restore" else self.rows_in

    def validate(self) -> None:
        step = 2 ** self.depth
        if self.kind not in ("unet", "restore"):
            raise ValueError(f"unknown network kind {self.kind!r}")
        if self.loss not in ("gan", "l1"):
            raise ValueError(f"unknown loss {self.loss!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"unknown output {self.output!r} (choose from {', '.join(OUTPUTS)})")
        if self.output in ("mask", "residual") and (self.kind != "unet" or self.task == "pitch"):
            named = "ratio-mask" if self.output == "mask" else "residual"
            raise ValueError(f"a {named} output needs a U-Net from a mel image to a mel image")
        if self.kind == "unet" and self.rows_in != self.rows_out:
            raise ValueError("a U-Net maps an image to one of the same height (rows_in == rows_out)")
        if self.kind == "restore" and (self.rows_in != self.rows_out or self.rows_in % 2 != 1):
            raise ValueError("restoration works on n_fft/2+1 linear bins in and out")
        if self.unet_rows % step or self.width % step:
            raise ValueError(f"rows ({self.unet_rows}) and window ({self.width}) must be multiples of 2**depth = {step}")
        if min(self.ngf, self.ndf, self.depth, self.new_frames) < 1:
            raise ValueError("ngf, ndf, depth and new_frames must be positive")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown network settings: {', '.join(sorted(unknown))}")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    @classmethod
    def from_json(cls, s: str) -> "NetConfig":
        return cls.from_dict(json.loads(s))


OUTPUTS = ("image", "mask", "residual")
MASK_FLOOR = 1e-5   # the mask's lower bound: -100 dB


def image_units_per_decade() -> float:
    """Image units per decade of amplitude: the features span db_floor..db_ceil over [-1, 1]."""
    from streamproc.config import DEFAULT

    return 2.0 * 20.0 / (DEFAULT.db_ceil - DEFAULT.db_floor)


# the sizes proposed for the real models (see models/README.md for their measured cost)
PRESETS: dict[str, dict] = {
    "tiny": {"ngf": 8, "depth": 5, "max_mult": 8, "ndf": 8},
    "small": {"ngf": 16, "depth": 6, "max_mult": 4, "ndf": 16},
    "medium": {"ngf": 24, "depth": 6, "max_mult": 4, "ndf": 24},
}


def _down(cin: int, cout: int, norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """pix2pix U-Net: conv(4, stride 2) encoder, transposed-conv decoder, skip connections.

    Output through tanh into [-1, 1] (the feature range); with ``residual`` (or
    ``cfg.output == "residual"``), the input plus a correction clipped to [-1, 1] (restoration
    only adds detail to an estimate; super-resolution keeps the band it was given and predicts
    what lies above it); with
    ``cfg.output == "mask"``, a bounded ratio mask m = sigmoid(h) in (0, 1] applied to the
    input's mel amplitudes, i.e. the input image plus 20 log10(m) in image units, clipped to
    [-1, 1]: the output is always the masked mixture, so it can only keep or attenuate what
    the input holds (separation), and the loss and the discriminator see that masked mixture."""

    def __init__(self, cfg: NetConfig, residual: bool = False) -> None:
        super().__init__()
        ch = [min(cfg.ngf * 2 ** i, cfg.ngf * cfg.max_mult) for i in range(cfg.depth)]
        self.residual = residual or cfg.output == "residual"
        self.mask = cfg.output == "mask"
        self.mask_scale = image_units_per_decade()
        self.downs = nn.ModuleList()
        cin = 1
        for i, c in enumerate(ch):
            self.downs.append(_down(cin, c, norm=0 < i < cfg.depth - 1))
            cin = c
        self.ups = nn.ModuleList()
        for i in reversed(range(1, cfg.depth)):
            skip_in = ch[i] if i == cfg.depth - 1 else ch[i] * 2
            drop = cfg.dropout if i >= cfg.depth - 3 else 0.0
            self.ups.append(_up(skip_in, ch[i - 1], drop))
        self.final = nn.ConvTranspose2d(ch[0] * 2, 1, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for d in self.downs:
            h = d(h)
            skips.append(h)
        skips.pop()
        for u in self.ups:
            h = torch.cat([u(h), skips.pop()], dim=1)
        h = self.final(h)
        if self.residual:
            return torch.clamp(x + h, -1.0, 1.0)
        if self.mask:
            m = torch.clamp(torch.sigmoid(h), min=MASK_FLOOR)
            return torch.clamp(x + self.mask_scale * torch.log10(m), -1.0, 1.0)
        return torch.tanh(h)


class RestorationNet(nn.Module):
    """GAN-S restoration: descaled linear magnitudes (normalised log, 513 bins) -> restored.

    A residual U-Net on the lower 512 bins at full resolution; the Nyquist bin passes through.
    Full resolution, because what descaling loses is exactly the fine harmonic structure
    inside each wide upper mel band; a downsized representation could not put it back."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.unet = UNetGenerator(cfg, residual=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        body = self.unet(x[:, :, :-1, :])
        return torch.cat([body, x[:, :, -1:, :]], dim=2)


class PatchDiscriminator(nn.Module):
    """pix2pix PatchGAN: judges (input, output) image pairs patch by patch (logits)."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        nf = cfg.ndf
        layers: list[nn.Module] = [nn.Conv2d(2, nf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, cfg.d_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(nf * prev, nf * mult, 4, 2, 1, bias=False), nn.BatchNorm2d(nf * mult),
                       nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** cfg.d_layers, 8)
        layers += [nn.Conv2d(nf * prev, nf * mult, 4, 1, 1, bias=False), nn.BatchNorm2d(nf * mult),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(nf * mult, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)
        self.crop_rows = cfg.rows_in - 1 if cfg.kind == "restore" else None

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.crop_rows:
            x, y = x[:, :, :self.crop_rows], y[:, :, :self.crop_rows]
        return self.net(torch.cat([x, y], dim=1))


def build_generator(cfg: NetConfig) -> nn.Module:
    cfg.validate()
    return RestorationNet(cfg) if cfg.kind == "restore" else UNetGenerator(cfg)


def build_discriminator(cfg: NetConfig) -> nn.Module:
    return PatchDiscriminator(cfg)


def init_weights(m: nn.Module) -> None:
    """pix2pix initialisation: N(0, 0.02) convs, N(1, 0.02) norm scales."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
