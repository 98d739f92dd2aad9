"""The model-metadata schema: what an exported model says about itself, in one place.

``export.onnx`` writes :meth:`ModelMetadata.to_props` into an ONNX file's ``metadata_props``
(strings only, as ONNX requires); ``streamproc.onnx_model`` reads them back with
:meth:`ModelMetadata.from_props`, which refuses (one-line UserError) a file without the
schema, with a key missing or with a malformed value. Keys unknown to this version are kept
in ``extra`` so that a round trip loses nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

from .config import SpectralConfig
from .errors import UserError
from .features import check_input_kind
from .pitchmap import PITCH_PROPS, PitchLayout

METADATA_FORMAT = "streamproc-onnx-1"
SPECTRAL_KEYS = tuple(f.name for f in fields(SpectralConfig))  # sample_rate, n_fft, hop, ...
_CHUNK_KEYS = ("n_inputs", "n_outputs", "context_frames", "new_frames", "lookahead_frames")
REQUIRED_KEYS = ("task", "output_kind", *SPECTRAL_KEYS, *_CHUNK_KEYS)
_SPECTRAL_TYPES = {k: type(getattr(SpectralConfig(), k)) for k in SPECTRAL_KEYS}
_KNOWN = {"format", *REQUIRED_KEYS, "network", "training", "voicing_threshold", "target_shift_frames",
          "input_kind", *PITCH_PROPS}
MAX_TARGET_SHIFT = 64  # frames; a larger shift is a malformed file, not a model


@dataclass(frozen=True)
class ModelMetadata:
    """Everything the runtime needs to run a frame model, and what it was trained on.

    ``output_kind``: ``"mel"``, ``"pitchmap"`` (then ``pitch`` holds its layout) or ``"linear"``
    (the restoration net). The model runs one chunker window of ``context_frames + new_frames
    + lookahead_frames`` frames, ``n_inputs`` rows in, ``n_outputs`` rows out.

    ``target_shift_frames`` S: output column j was trained on the label of input frame j + S
    (``models.train --target-shift``). Labels describe a frame's centre, so with S > 0 column j
    describes sample ``j*hop + hop - n_fft/2 + S*hop`` (S = 2 at n_fft = 4 hops: the frame's
    last sample). 0 (absent from the file) for every model trained without the option.

    ``input_kind``: the image the model reads (``streamproc.features``): ``"mel"`` (absent from
    the file) or ``"logfreq"`` (pitch models whose input rows are their output rows' pitches)."""
    task: str
    output_kind: str
    spectral: SpectralConfig
    n_inputs: int
    n_outputs: int
    context_frames: int
    new_frames: int
    lookahead_frames: int
    network: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    pitch: PitchLayout | None = None
    voicing_threshold: float | None = None   # a pitch model's own, in map units
    target_shift_frames: int = 0
    input_kind: str = "mel"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def window_frames(self) -> int:
        return self.context_frames + self.new_frames + self.lookahead_frames

    def to_props(self) -> dict[str, str]:
        """The ONNX ``metadata_props`` (every value a string)."""
        props = {"format": METADATA_FORMAT, "task": self.task, "output_kind": self.output_kind,
                 **{k: str(getattr(self.spectral, k)) for k in SPECTRAL_KEYS},
                 **{k: str(getattr(self, k)) for k in _CHUNK_KEYS}}
        if self.network:
            props["network"] = json.dumps(self.network, sort_keys=True)
        if self.training:
            props["training"] = json.dumps(self.training, sort_keys=True)
        if self.pitch is not None:
            props.update(self.pitch.to_props())
        if self.voicing_threshold is not None:
            props["voicing_threshold"] = str(self.voicing_threshold)
        if self.target_shift_frames:
            props["target_shift_frames"] = str(self.target_shift_frames)
        if self.input_kind != "mel":
            props["input_kind"] = self.input_kind
        props.update(self.extra)
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: str = "model") -> "ModelMetadata":
        """Parses ``metadata_props``; ``source`` (usually the file) starts every error message."""
        if props.get("format") != METADATA_FORMAT:
            raise UserError(f"{source} is an ONNX file without streamproc model metadata")
        missing = [k for k in REQUIRED_KEYS if k not in props]
        if missing:
            raise UserError(f"{source} lacks streamproc metadata: {', '.join(missing)}")
        spectral = SpectralConfig(**{k: _parse(props, k, _SPECTRAL_TYPES[k], source) for k in SPECTRAL_KEYS})
        chunks = {k: _parse(props, k, int, source) for k in _CHUNK_KEYS}
        network = _parse(props, "network", json.loads, source, "{}")
        training = _parse(props, "training", json.loads, source, "{}")
        threshold = _parse(props, "voicing_threshold", float, source, None)
        shift = _parse(props, "target_shift_frames", _shift, source, "0")
        input_kind = check_input_kind(props.get("input_kind", "mel"), source)
        pitch = None
        if props["output_kind"] == "pitchmap":
            try:
                pitch = PitchLayout.from_props(props)
            except KeyError as e:
                raise UserError(f"{source} lacks streamproc metadata: {e.args[0]}") from None
            except ValueError as e:
                raise UserError(f"{source} has a malformed pitch layout ({e})") from None
        return cls(task=props["task"], output_kind=props["output_kind"], spectral=spectral, **chunks,
                   network=network, training=training, pitch=pitch, voicing_threshold=threshold,
                   target_shift_frames=shift, input_kind=input_kind,
                   extra={k: v for k, v in props.items() if k not in _KNOWN})

    def mismatch(self, cfg: SpectralConfig) -> str | None:
        """The first spectral setting (other than the rate) in which the model differs from
        ``cfg``, as ``"key=model value"``; None when they agree."""
        for k in SPECTRAL_KEYS:
            if k != "sample_rate" and float(getattr(cfg, k)) != float(getattr(self.spectral, k)):
                return f"{k}={getattr(self.spectral, k)}"
        return None


def _shift(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= MAX_TARGET_SHIFT:
        raise ValueError(f"must be 0..{MAX_TARGET_SHIFT} frames")
    return value


def _parse(props: Mapping[str, str], key: str, parse: Callable[[str], Any], source: str,
           default: str | None = "") -> Any:
    """One value; a malformed one is a UserError that names its key. ``default`` None: absent
    stays None; "": required (checked before)."""
    raw = props.get(key, default)
    if raw is None:
        return None
    try:
        return parse(raw)
    except (ValueError, TypeError) as e:
        raise UserError(f"{source} has a malformed {key} in its streamproc metadata ({raw!r}: {e})"[:240]) from None
