"""A shipped ONNX model's generator back as torch weights, to fine-tune (``models.train --init
FILE.onnx``) on a machine that has the package but not the training run.

Checkpoints are not shipped, so a fresh clone could otherwise only retrain from scratch. The
ONNX file holds every generator weight. Most keep their names. The exporter folded each
BatchNorm that follows a bias-free convolution into that convolution (weight and a new bias),
under a generated name. Those are matched to the network's conv + BatchNorm pairs in the order
the graph runs them, shape-checked, and the BatchNorm is set so that in eval mode it adds the
folded bias exactly. ``calibrate`` batches then set its running statistics, scale and shift
from the convolution's own output statistics. Eval mode stays exact, and training-mode batch
statistics start close to identity, as they did for the original network.

Only tensors are read (``onnx.numpy_helper``); nothing is unpickled. The result is checked
against onnxruntime before it is returned.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from models.networks import NetConfig, build_generator

PARITY_TOLERANCE = 1e-3  # max |torch - onnxruntime| on a random window (image units, [-1, 1])


class OnnxInitError(ValueError):
    """The file is not a generator this package can rebuild."""


def _folded_pairs(G: nn.Module, named: set[str]) -> list[tuple[nn.Conv2d | nn.ConvTranspose2d, nn.BatchNorm2d, str]]:
    """(conv, batchnorm, conv's name) for each bias-free conv followed by a BatchNorm whose
    parameters are missing from the file, in the order the modules are registered."""
    pairs: list[tuple[nn.Conv2d | nn.ConvTranspose2d, nn.BatchNorm2d, str]] = []
    for name, mod in G.named_modules():
        if not isinstance(mod, nn.Sequential):
            continue
        layers = list(mod.named_children())
        for (cn, conv), (bn_name, bn) in zip(layers, layers[1:]):
            if (isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and conv.bias is None
                    and isinstance(bn, nn.BatchNorm2d) and f"g.{name}.{bn_name}.weight" not in named):
                pairs.append((conv, bn, f"{name}.{cn}"))
    return pairs


def _graph_folded_convs(graph, named: set[str], arrays: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight, bias) of every Conv / ConvTranspose node whose weight has a generated name."""
    out = []
    for node in graph.node:
        if node.op_type in ("Conv", "ConvTranspose") and node.input[1] not in named:
            if len(node.input) < 3 or node.input[2] not in arrays:
                raise OnnxInitError(f"conv node {node.name} has no bias to hold its folded BatchNorm")
            out.append((arrays[node.input[1]], arrays[node.input[2]]))
    return out


def _calibrate(G: nn.Module, pairs, batches: Iterable[torch.Tensor]) -> None:
    """Running statistics from each folded conv's own output; scale and shift so that eval
    mode still adds exactly the folded bias."""
    sums: dict[int, list] = {i: [0.0, 0.0, 0] for i in range(len(pairs))}

    def hook(i):
        def record(_m, _inp, y):
            y = y.detach().double()
            s = sums[i]
            s[0] = s[0] + y.sum(dim=(0, 2, 3))
            s[1] = s[1] + (y * y).sum(dim=(0, 2, 3))
            s[2] += y.numel() // y.shape[1]
        return record

    handles = [conv.register_forward_hook(hook(i)) for i, (conv, _, _) in enumerate(pairs)]
    G.eval()
    try:
        with torch.no_grad():
            for x in batches:
                G(x)
    finally:
        for h in handles:
            h.remove()
    for i, (_, bn, _) in enumerate(pairs):
        s1, s2, n = sums[i]
        if n == 0:   # no batches: the BatchNorm stays an exact bias with unit statistics
            continue
        mean = s1 / n
        var = torch.clamp(s2 / n - mean * mean, min=0.0)
        with torch.no_grad():
            bias = bn.bias.double().clone()   # the folded bias, set by from_onnx
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(bias + mean)


Calibration = Callable[[NetConfig], Iterable[torch.Tensor]]


def generator_from_onnx(path: str | Path, calibrate: Calibration | None = None
                        ) -> tuple[nn.Module, NetConfig, dict]:
    """(generator in eval mode, its NetConfig, its training summary) from an exported model.
    ``calibrate(cfg)``: input batches (batch, 1, rows, width) for the folded BatchNorms' statistics."""
    import onnx
    from onnx import numpy_helper

    from streamproc.model_meta import ModelMetadata

    path = Path(path)
    try:
        proto = onnx.load(str(path))
    except Exception as e:  # noqa: BLE001  (onnx raises several types on foreign files)
        raise OnnxInitError(f"{path} is not a readable ONNX file ({type(e).__name__})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    try:
        meta = ModelMetadata.from_props(props, str(path))
        cfg = NetConfig.from_dict(meta.network)
    except (ValueError, TypeError, KeyError) as e:
        raise OnnxInitError(f"{path} does not describe its network: {e}") from None
    G = build_generator(cfg)
    arrays = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    named = {k for k in arrays if k.startswith("g.")}
    state = G.state_dict()
    missing = []
    for key, value in state.items():
        src = arrays.get(f"g.{key}")
        if src is None:
            missing.append(key)
        elif tuple(src.shape) != tuple(value.shape):
            raise OnnxInitError(f"{path}: {key} has shape {src.shape}, the network wants {tuple(value.shape)}")
        else:
            value.copy_(torch.from_numpy(np.array(src)))
    pairs = _folded_pairs(G, named)
    folded = _graph_folded_convs(proto.graph, named, arrays)
    if len(pairs) != len(folded):
        raise OnnxInitError(f"{path}: {len(folded)} folded convolutions in the graph, {len(pairs)} in the network")
    covered = set()
    for (conv, bn, name), (w, b) in zip(pairs, folded):
        if tuple(w.shape) != tuple(conv.weight.shape):
            raise OnnxInitError(f"{path}: folded conv of shape {w.shape} does not fit {name} {tuple(conv.weight.shape)}")
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.array(w)))
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(np.array(b)))
            assert bn.running_mean is not None and bn.running_var is not None  # a BatchNorm2d tracking statistics
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
        prefix = name.rsplit(".", 1)[0]
        covered |= {k for k in missing if k.startswith(prefix + ".")}
    left = [k for k in missing if k not in covered and not k.endswith("num_batches_tracked")]
    if left:
        raise OnnxInitError(f"{path}: no weights for {', '.join(left[:3])}")
    if calibrate is not None:
        _calibrate(G, pairs, calibrate(cfg))
    G.eval()
    _check_parity(G, cfg, path)
    return G, cfg, meta.training


def _check_parity(G: nn.Module, cfg: NetConfig, path: Path) -> None:
    import onnxruntime as ort

    x = np.random.default_rng(0).uniform(-1, 1, (cfg.rows_in, cfg.width)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        got = G(torch.from_numpy(x)[None, None])[0, 0].numpy()
    err = float(np.max(np.abs(got - want)))
    if not err < PARITY_TOLERANCE:
        raise OnnxInitError(f"{path}: the rebuilt generator differs from the file by {err:.2e}")


def init_checkpoint(path: str | Path, calibrate: Calibration | None = None) -> dict:
    """What ``models.train --init`` reads from a checkpoint, from an ONNX file: the generator
    (no discriminator: a cGAN gets a fresh one), its network and its training summary."""
    G, cfg, summary = generator_from_onnx(path, calibrate)
    return {"net": cfg.to_json(), "G": G.state_dict(), "D": None, "step": int(summary.get("steps", 0)),
            "summary": json.dumps(summary)}
