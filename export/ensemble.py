"""Average several exported models of one task into one ONNX file.

    python -m export.ensemble A.onnx B.onnx [C.onnx ...] OUT.onnx
    python -m export.ensemble --weights A.onnx B.onnx [...] OUT.onnx

Every member reads the same input and the file's output is the mean of their outputs, in one
graph, so the runtime opens it as any other model: nothing in streamproc knows it is an
ensemble. Members must agree on everything the runtime reads from the metadata (task, framing,
spectral settings, window, voicing threshold); the first member's metadata is kept and a
``members`` entry records each member's file name, training summary, network and, for a member
that is itself a weight average, what it was averaged from. The result is checked
against the members run one by one under onnxruntime before it is written.

``--weights`` averages the members' weights instead: one network of the members' own size and
cost. That needs members that are one network fine-tuned along different paths from a common
file (as two stages ``--init`` from the same model), whose weights still lie in one basin; it is
refused for members whose graphs differ. The result is not the mean of the members' outputs,
so its check is only that it runs on the members' input.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# metadata the members may differ in: what each network is and how it was trained
PER_MEMBER_KEYS = ("network", "training", "weights_averaged_from")


class EnsembleError(ValueError):
    """A member set that cannot be averaged; the message names why."""


def _load(path: Path):
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as e:  # onnx raises several kinds for unreadable files
        raise EnsembleError(f"{path}: not an ONNX model ({type(e).__name__})") from None


def _meta(proto) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


def _agreeing(paths: list[Path]) -> tuple[list, list[dict[str, str]]]:
    """The members' protos and metadata, checked to agree on everything the runtime reads."""
    if len(paths) < 2:
        raise EnsembleError("combining needs at least two models")
    protos = [_load(p) for p in paths]
    metas = [_meta(m) for m in protos]
    shared = {k: v for k, v in metas[0].items() if k not in PER_MEMBER_KEYS}
    for path, meta in zip(paths[1:], metas[1:]):
        other = {k: v for k, v in meta.items() if k not in PER_MEMBER_KEYS}
        diff = sorted(k for k in set(shared) | set(other) if shared.get(k) != other.get(k))
        if diff:
            raise EnsembleError(f"{path.name} differs from {paths[0].name} in {', '.join(diff)}")
    return protos, metas


def build(paths: list[Path]):
    """The averaged model (an onnx ModelProto) of ``paths``; EnsembleError if they disagree."""
    import onnx
    from onnx import compose, helper

    protos, metas = _agreeing(paths)
    first = protos[0].graph
    if len(first.input) != 1 or len(first.output) != 1:
        raise EnsembleError(f"{paths[0].name}: expected one input and one output")
    opsets = {tuple((o.domain, o.version) for o in m.opset_import) for m in protos}
    if len(opsets) > 1:
        raise EnsembleError("the members were exported at different opsets: export them again at one")
    in_name, out_name = first.input[0].name, first.output[0].name
    nodes, inits, member_outs = [], [], []
    for i, m in enumerate(protos):
        if [x.name for x in m.graph.input] != [in_name] or [x.name for x in m.graph.output] != [out_name]:
            raise EnsembleError(f"{paths[i].name}: its input/output names differ from {paths[0].name}'s")
        pre = compose.add_prefix(m, f"m{i}/")
        nodes.append(helper.make_node("Identity", [in_name], [f"m{i}/{in_name}"]))
        nodes.extend(pre.graph.node)
        inits.extend(pre.graph.initializer)
        member_outs.append(f"m{i}/{out_name}")
    nodes.append(helper.make_node("Mean", member_outs, [out_name]))
    graph = helper.make_graph(nodes, f"ensemble of {len(paths)}", [first.input[0]], [first.output[0]], inits)
    model = helper.make_model(graph, opset_imports=protos[0].opset_import, producer_name="export.ensemble")
    model.ir_version = protos[0].ir_version
    members = []
    for p, meta in zip(paths, metas):
        member = {"file": p.name, "training": json.loads(meta.get("training", "{}")),
                  "network": json.loads(meta.get("network", "{}"))}
        if "weights_averaged_from" in meta:  # how this member was made, not the ensemble
            member["weights_averaged_from"] = json.loads(meta["weights_averaged_from"])
        members.append(member)
    shared = {k: v for k, v in metas[0].items() if k != "weights_averaged_from"}
    for k, v in {**shared, "members": json.dumps(members, sort_keys=True)}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise EnsembleError(f"the averaged graph is not valid ONNX: {str(e).splitlines()[0]}") from None
    return model


def _graph_signature(proto) -> list[tuple]:
    """What must agree for weights to be averaged: every node, and every weight's name, type and shape."""
    nodes = [(n.op_type, tuple(n.input), tuple(n.output)) for n in proto.graph.node]
    inits = [(t.name, t.data_type, tuple(t.dims)) for t in proto.graph.initializer]
    return nodes + inits


def build_weight_average(paths: list[Path]):
    """One network whose every float weight is the mean of the members' (an onnx ModelProto);
    EnsembleError where the members are not one network or disagree in their metadata."""
    import onnx
    from onnx import numpy_helper

    protos, metas = _agreeing(paths)
    for path, proto in zip(paths[1:], protos[1:]):
        if _graph_signature(proto) != _graph_signature(protos[0]):
            raise EnsembleError(f"{path.name} is not the same network as {paths[0].name}: its weights cannot be averaged")
    model = onnx.ModelProto()
    model.CopyFrom(protos[0])
    weights = [{t.name: numpy_helper.to_array(t) for t in m.graph.initializer} for m in protos]
    for init in model.graph.initializer:
        first = weights[0][init.name]
        if first.dtype.kind == "f":
            mean = np.mean([w[init.name].astype(np.float64) for w in weights], axis=0)
            init.CopyFrom(numpy_helper.from_array(mean.astype(first.dtype), init.name))
    members = [{"file": p.name, "training": json.loads(meta.get("training", "{}"))} for p, meta in zip(paths, metas)]
    del model.metadata_props[:]
    for k, v in {**metas[0], "weights_averaged_from": json.dumps(members, sort_keys=True)}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    model.producer_name = "export.ensemble --weights"
    return model


def runs(model) -> float:
    """Max |output| on a random input under onnxruntime: finite, or the average is broken."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    shape = [d.dim_value if d.dim_value > 0 else 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    return float(np.abs(sess.run(None, {model.graph.input[0].name: x})[0]).max())


def check(model, paths: list[Path], windows: int = 3, seed: int = 0) -> float:
    """Max |ensemble - mean of the members| over random inputs, all under onnxruntime."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    members = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in paths]
    shape = [d.dim_value if d.dim_value > 0 else 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
    name = model.graph.input[0].name
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(windows):
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        want = np.mean([m.run(None, {name: x})[0] for m in members], axis=0)
        worst = max(worst, float(np.abs(sess.run(None, {name: x})[0] - want).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.ensemble", description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="two or more member .onnx files, then the output path")
    ap.add_argument("--weights", action="store_true",
                    help="average the members' weights (one network of their size) instead of their outputs")
    a = ap.parse_args(argv)
    if len(a.models) < 3:
        ap.error("give two or more members, then the output path")
    *paths, out = a.models
    try:
        for p in paths:
            if not p.is_file():
                raise EnsembleError(f"{p}: no such file")
        if out.resolve() in {p.resolve() for p in paths}:
            raise EnsembleError(f"{out}: would overwrite a member")
        if a.weights:
            model = build_weight_average(paths)
            peak = runs(model)
            if not np.isfinite(peak):
                raise EnsembleError("the averaged network's output is not finite")
            summary = f"weights averaged from {len(paths)}, max |output| on a random input {peak:.3g}"
        else:
            model = build(paths)
            err = check(model, paths)
            if err > 1e-4:
                raise EnsembleError(f"the ensemble departs from its members' mean by {err:.2e}")
            summary = f"ensemble of {len(paths)}, max |ensemble - mean of members| = {err:.2e}"
    except EnsembleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(model.SerializeToString())
    tmp.replace(out)
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB, {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
