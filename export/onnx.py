"""Training checkpoint -> self-describing ONNX frame model.

    python -m export.onnx CHECKPOINT OUT.onnx [--data DIR] [--net JSON] [--opset 18]

The ONNX graph maps one chunker window, float32 (n_inputs, window), to float32
(n_outputs, window): exactly ``streamproc.frame_model.FrameModel.run``. Everything the
runtime needs (task, spectral settings, chunk sizes, output kind, pitch-map layout, network
config, training summary) is written into ``metadata_props``, so the .onnx file is the whole
model. After writing, the export is checked (``onnx.checker``) and compared with PyTorch on
random windows and, with ``--data``, on real ones: max abs difference must be <= 1e-4.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from streamproc.config import DEFAULT
from streamproc.model_meta import ModelMetadata

PARITY_TOL = 1e-4
# A ratio-mask head is linear in its unbounded logit wherever the mask is small (log10 of a
# sigmoid), while tanh saturates: float32 rounding in the convolutions then shows through
# ~10x more. 1e-3 image units is 0.05 dB of level.
PARITY_TOL_MASK = 1e-3
# Where a mask cuts a bin by more than this, its level error is relative to a component this far
# under the mixture (rounding there reached 1.02e-3 on a random window: 0.06 dB at -98 dB).
MASK_PARITY_DEPTH_DB = 60.0


class ExportError(Exception):
    """A user mistake (wrong file, mismatching config): one line, exit 2."""


def load_generator(checkpoint: str | Path, net_json: str | None = None):
    """(generator in eval mode, NetConfig, training summary dict) from a checkpoint.

    ``net_json`` (a full or partial config) asserts which network the checkpoint must hold;
    a checkpoint trained with another configuration is refused instead of half-loaded."""
    import torch  # noqa: F401

    from models.networks import NetConfig, build_generator
    from models.train import TrainError, load_checkpoint

    try:
        ck = load_checkpoint(Path(checkpoint))
    except TrainError as e:
        raise ExportError(str(e)) from None
    cfg = NetConfig.from_json(ck["net"])
    if net_json:
        try:
            want = {**json.loads(ck["net"]), **json.loads(net_json)}
            cfg = NetConfig.from_dict(want)
        except (ValueError, TypeError) as e:
            raise ExportError(f"bad --net: {e}") from None
    G = build_generator(cfg)
    try:
        G.load_state_dict(ck["G"], strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise ExportError(f"checkpoint {checkpoint} was trained with another network configuration "
                          f"({detail[:160]})") from None
    G.eval()
    return G, cfg, json.loads(ck["summary"])


class _Window:
    """(rows, frames) <-> (1, 1, rows, frames) around the generator, for export and parity."""

    @staticmethod
    def wrap(G):
        import torch

        class WindowModel(torch.nn.Module):
            def __init__(self, g):
                super().__init__()
                self.g = g

            def forward(self, features):
                return self.g(features.unsqueeze(0).unsqueeze(0)).squeeze(0).squeeze(0)

        return WindowModel(G).eval()


def model_metadata(cfg, summary: dict, voicing_threshold: float | None = None) -> ModelMetadata:
    """What an exported model says about itself (``streamproc.model_meta``, the runtime's schema).
    ``voicing_threshold`` (pitch models, map units): the model's own, chosen on training data
    (``models.pitch_threshold``); without it the runtime's default applies."""
    from models.data import LAYOUT, output_kind

    kind = output_kind(cfg.task)
    if voicing_threshold is not None:
        if kind != "pitchmap":
            raise ExportError(f"--voicing-threshold is for pitch models; this is a {cfg.task} model")
        if not LAYOUT.off < voicing_threshold < LAYOUT.on:
            raise ExportError(f"--voicing-threshold must lie between the map's off and on levels "
                              f"({LAYOUT.off:g} .. {LAYOUT.on:g}), not {voicing_threshold:g}")
    return ModelMetadata(task=cfg.task, output_kind=kind, spectral=DEFAULT, n_inputs=cfg.rows_in,
                         n_outputs=cfg.rows_out, context_frames=cfg.context_frames, new_frames=cfg.new_frames,
                         lookahead_frames=cfg.lookahead_frames, network=json.loads(cfg.to_json()),
                         training=summary, pitch=LAYOUT if kind == "pitchmap" else None,
                         target_shift_frames=int(summary.get("target_shift", 0)),
                         input_kind=str(cfg.extra.get("input_kind", "mel")),
                         voicing_threshold=voicing_threshold)


def metadata(cfg, summary: dict, voicing_threshold: float | None = None) -> dict[str, str]:
    """The metadata_props of an exported model (all values strings, as ONNX requires)."""
    return model_metadata(cfg, summary, voicing_threshold).to_props()


def export(checkpoint: str | Path, out: str | Path, net_json: str | None = None, opset: int = 18,
           data: str | Path | None = None, voicing_threshold: float | None = None) -> dict:
    """Write OUT.onnx and check it; returns a report (sizes, parity figures)."""
    import onnx
    import torch

    if opset < 17:
        raise ExportError("opset must be >= 17")
    G, cfg, summary = load_generator(checkpoint, net_json)
    props = metadata(cfg, summary, voicing_threshold)  # refuses a bad threshold before any work
    model = _Window.wrap(G)
    dummy = torch.zeros(cfg.rows_in, cfg.width)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), str(tmp), input_names=["features"], output_names=["output"],
                          opset_version=opset, dynamo=False, do_constant_folding=True)
    proto = onnx.load(str(tmp))
    del proto.metadata_props[:]
    for k, v in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.doc_string = f"streamproc {cfg.task} model ({cfg.kind}, ngf {cfg.ngf}, depth {cfg.depth})"
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(tmp))

    windows = [np.random.default_rng(s).uniform(-1, 1, (cfg.rows_in, cfg.width)).astype(np.float32) for s in range(3)]
    if data is not None:
        from models.data import PairedFrames

        ds = PairedFrames(data, allow_test=True)
        xb, _ = ds.batch(np.random.default_rng(0), 3, cfg.width)
        if xb.shape[2] != cfg.rows_in:
            raise ExportError(f"{data} holds {xb.shape[2]}-row inputs; the model takes {cfg.rows_in}")
        windows += [w[0] for w in xb]
    try:
        from models.networks import image_units_per_decade

        is_mask = getattr(cfg, "output", "image") == "mask"
        depth = MASK_PARITY_DEPTH_DB / 20.0 * image_units_per_decade() if is_mask else None
        diff = parity(model, tmp, windows, depth)  # checked before it takes the output's name
        tol = PARITY_TOL_MASK if is_mask else PARITY_TOL
        if diff > tol:
            raise RuntimeError(f"ONNX output differs from PyTorch by {diff:.3g} > {tol}")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    report = {"onnx": str(out), "bytes": out.stat().st_size, "task": cfg.task, "max_abs_diff": diff,
              "windows_checked": len(windows), "opset": opset}
    return report


def parity(model, onnx_path: str | Path, windows: list[np.ndarray], mask_depth: float | None = None) -> float:
    """Max abs difference between the PyTorch window model and onnxruntime on ``windows``.
    ``mask_depth`` (image units): levels more than this under the input's compare as that depth,
    so a mask's deepest cuts, linear in its logit, do not decide the figure."""
    import onnxruntime as ort
    import torch

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    worst = 0.0
    with torch.no_grad():
        for w in windows:
            ref = model(torch.from_numpy(w)).numpy()
            got = sess.run(None, {"features": w})[0]
            if mask_depth is not None:
                ref, got = np.maximum(ref, w - mask_depth), np.maximum(got, w - mask_depth)
            worst = max(worst, float(np.max(np.abs(ref - got))))
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.onnx", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="RUNDIR/ckpt_last.pt written by python -m models.train")
    ap.add_argument("out", help="the .onnx file to write")
    ap.add_argument("--net", help="JSON network config the checkpoint must match (refused otherwise)")
    ap.add_argument("--data", help="a rendered data folder: also check parity on real windows")
    ap.add_argument("--opset", type=int, default=18)
    ap.add_argument("--voicing-threshold", type=float, metavar="T",
                    help="pitch models: the voicing threshold in map units, as models.pitch_threshold chose it on "
                         "training data (default: the runtime's)")
    a = ap.parse_args(argv)
    if not a.out.endswith(".onnx"):
        print("error: the output file must end in .onnx", file=sys.stderr)
        return 2
    try:
        r = export(a.checkpoint, a.out, a.net, a.opset, a.data, a.voicing_threshold)
    except (ExportError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{r['onnx']}: {r['task']}, {r['bytes'] / 1e6:.2f} MB, opset {r['opset']}, "
          f"parity max |torch - onnx| = {r['max_abs_diff']:.2e} on {r['windows_checked']} windows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
