"""A model graph that computes only the output columns its consumer reads.

The chunker keeps a few columns of each run (the new frames and the ones it blends with the
next run; the live framing keeps one). A U-Net's encoder needs the whole window, but its
decoder's wide layers, the costliest on a CPU, need only the columns that lead to the kept
ones. :func:`crop_columns` rewrites an ONNX graph so that every tensor after the bottleneck
is computed on just that span: it follows the wanted columns backwards through the graph
(each convolution widens them by its kernel), then rebuilds it forwards, slicing each layer's
input to its span and giving each convolution the zero padding it had at the image's true
edges only. The kept columns equal the full graph's (up to float rounding).

The width axis is every tensor's last. Graphs with an operator whose column dependence is not
known here are left alone (``None``): the caller runs them whole.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

Span = tuple[int, int]   # [first, past-the-end) columns, in the tensor's own full width

# operators that map each column to the same column (per-element or per-channel work)
COLUMNWISE = frozenset({"Relu", "LeakyRelu", "Tanh", "Sigmoid", "Log", "Exp", "Abs", "Neg", "Sqrt", "Identity",
                        "BatchNormalization", "Clip", "Cast", "Squeeze", "Unsqueeze", "Slice", "Softplus", "Elu",
                        "HardSigmoid", "Erf", "Reciprocal", "Floor", "Ceil", "Round"})
# operators that combine several tensors column by column
ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div", "Mean", "Max", "Min", "Sum", "Pow", "Concat", "Where"})


class Uncroppable(Exception):
    """The graph holds something whose column dependence this module does not know."""


@dataclass
class _Conv:
    kernel: int
    stride: int
    dilation: int
    pad_begin: int
    transposed: bool

    @property
    def reach(self) -> int:
        """Columns one kernel spans, less one."""
        return (self.kernel - 1) * self.dilation

    def input_span(self, a: int, b: int) -> Span:
        """The input columns output columns [a, b) draw on, before clipping to the image (a
        convolution's reach beyond the edges is its zero padding; a transposed one's adds nothing)."""
        if not self.transposed:
            return a * self.stride - self.pad_begin, (b - 1) * self.stride - self.pad_begin + self.reach + 1
        return math.ceil((a + self.pad_begin - self.reach) / self.stride), (b - 1 + self.pad_begin) // self.stride + 1


def crop_columns(model: Any, start: int, stop: int) -> Any | None:
    """A copy of ``model`` (an ``onnx.ModelProto`` with one input and one output, width on the
    last axis) whose output is columns ``[start, stop)`` of the original's; None where the graph
    cannot be cropped (an unknown operator, shapes onnx cannot infer)."""
    import onnx

    try:
        return _Cropper(model, start, stop).build()
    except Uncroppable:
        return None
    except onnx.shape_inference.InferenceError:
        return None


class _Cropper:
    def __init__(self, model: Any, start: int, stop: int) -> None:
        import onnx
        from onnx import numpy_helper, shape_inference

        self.onnx, self.numpy_helper = onnx, numpy_helper
        if len(model.graph.input) != 1 or len(model.graph.output) != 1:
            raise Uncroppable("one input and one output")
        self.model = model
        inferred = shape_inference.infer_shapes(model, strict_mode=True)
        g = inferred.graph
        self.shapes: dict[str, list[int]] = {}
        for vi in list(g.value_info) + list(g.input) + list(g.output):
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]
            self.shapes[vi.name] = dims
        self.static: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.input = model.graph.input[0].name
        self.output = model.graph.output[0].name
        width = self._width(self.output)
        if not 0 <= start < stop <= width:
            raise ValueError(f"columns [{start}, {stop}) outside the output's {width}")
        self.start, self.stop = start, stop
        self.nodes = list(model.graph.node)
        self.dynamic = self._dynamic()
        self.added: list[Any] = []
        self.counter = 0
        self._held_spans: dict[str, Span] = {}

    # -- facts about tensors --------------------------------------------------------------
    def _width(self, name: str) -> int:
        dims = self.shapes.get(name)
        if not dims or dims[-1] < 1:
            raise Uncroppable(f"no static width for {name}")
        return dims[-1]

    def _dynamic(self) -> set[str]:
        """Tensors that depend on the graph's input (the rest are constants)."""
        dyn = {self.input}
        for n in self.nodes:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.static[n.output[0]] = self.numpy_helper.to_array(a.t)
                continue
            if any(i in dyn for i in n.input if i):
                dyn.update(n.output)
        return dyn

    def _attrs(self, node: Any) -> dict[str, Any]:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def _conv(self, node: Any) -> _Conv:
        at = self._attrs(node)
        if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or "output_shape" in at:
            raise Uncroppable("auto_pad / output_shape")
        if any(int(p) for p in at.get("output_padding", [])):
            raise Uncroppable("output_padding")
        w = self.static.get(node.input[1])
        if w is None:
            raise Uncroppable("weights not constant")
        n_sp = w.ndim - 2
        pads = list(at.get("pads", [0] * (2 * n_sp)))
        return _Conv(kernel=int(w.shape[-1]), stride=int(list(at.get("strides", [1] * n_sp))[-1]),
                     dilation=int(list(at.get("dilations", [1] * n_sp))[-1]), pad_begin=int(pads[n_sp - 1]),
                     transposed=node.op_type == "ConvTranspose")

    def _last_axis_untouched(self, node: Any) -> None:
        """Column-wise operators that take axes: none of them may be the width axis."""
        rank_in = len(self.shapes.get(node.input[0], []))
        rank_out = len(self.shapes.get(node.output[0], []))
        if node.op_type in ("Squeeze", "Unsqueeze", "Slice"):
            pos = {"Squeeze": 1, "Unsqueeze": 1, "Slice": 3}[node.op_type]
            if len(node.input) <= pos or node.input[pos] not in self.static:
                raise Uncroppable(f"{node.op_type} without constant axes")
            rank = rank_out if node.op_type == "Unsqueeze" else rank_in
            axes = [int(a) % rank for a in np.atleast_1d(self.static[node.input[pos]])]
            if rank - 1 in axes:
                raise Uncroppable(f"{node.op_type} on the width axis")
        if self._width(node.input[0]) != self._width(node.output[0]):
            raise Uncroppable(f"{node.op_type} changes the width")

    # -- backwards: the columns each tensor must hold ---------------------------------------
    def _needs(self) -> dict[str, Span]:
        need: dict[str, Span] = {self.output: (self.start, self.stop)}
        for node in reversed(self.nodes):
            outs = [need[o] for o in node.output if o in need]
            if not outs or node.output[0] not in self.dynamic:
                continue
            a, b = min(s for s, _ in outs), max(e for _, e in outs)
            for name, span in self._input_spans(node, a, b):
                old = need.get(name)
                need[name] = span if old is None else (min(old[0], span[0]), max(old[1], span[1]))
        return need

    def _input_spans(self, node: Any, a: int, b: int) -> list[tuple[str, Span]]:
        dyn = [i for i in node.input if i and i in self.dynamic]
        op = node.op_type
        if op in COLUMNWISE:
            if len(dyn) != 1 or node.input[0] != dyn[0]:
                raise Uncroppable(f"{op} on more than its data input")
            self._last_axis_untouched(node)
            return [(dyn[0], (a, b))]
        if op in ELEMENTWISE:
            if op == "Concat" and int(self._attrs(node).get("axis", 0)) % len(self.shapes[node.output[0]]) \
                    == len(self.shapes[node.output[0]]) - 1:
                raise Uncroppable("Concat on the width axis")
            for i in node.input:
                if i and i not in self.dynamic and self.static.get(i, np.zeros(1)).shape[-1:] not in ((), (1,)):
                    raise Uncroppable(f"{op} with a constant that varies along the width")
                if i in self.dynamic and self._width(i) != self._width(node.output[0]):
                    raise Uncroppable(f"{op} broadcasting along the width")
            return [(i, (a, b)) for i in dyn]
        if op in ("Conv", "ConvTranspose"):
            if dyn != [node.input[0]]:
                raise Uncroppable(f"{op} with computed weights")
            lo, hi = self._conv(node).input_span(a, b)
            return [(node.input[0], (max(0, lo), min(self._width(node.input[0]), hi)))]
        raise Uncroppable(f"operator {op}")

    # -- forwards: the cropped graph ---------------------------------------------------------
    def _const(self, values: list[int]) -> str:
        self.counter += 1
        name = f"column_crop_const_{self.counter}"
        self.added.append(self.numpy_helper.from_array(np.array(values, np.int64), name))
        return name

    def _slice(self, name: str, have: Span, want: Span, out: list[Any], sliced: str | None = None) -> str:
        """``name`` (holding columns ``have``) cut to columns ``want``, as ``sliced`` (default: a new name)."""
        if have == want and sliced is None:
            return name
        if not (have[0] <= want[0] and want[1] <= have[1]):
            raise AssertionError(f"{name}: holds {have}, asked for {want}")
        self.counter += 1
        sliced = sliced or f"{name}_columns_{want[0]}_{want[1]}_{self.counter}"
        out.append(self.onnx.helper.make_node(
            "Slice", [name, self._const([want[0] - have[0]]), self._const([want[1] - have[0]]), self._const([-1])],
            [sliced], name=sliced))
        return sliced

    def build(self) -> Any:
        onnx = self.onnx
        need = self._needs()
        full = {n: (0, self._width(n)) for n in need}
        held = self._held_spans = {self.input: (0, self._width(self.input))}   # columns each tensor holds
        out_nodes: list[Any] = []
        for node in self.nodes:
            if node.output[0] in self.dynamic and not any(o in need for o in node.output):
                continue   # feeds nothing the output needs
            if node.output[0] not in self.dynamic or all(need.get(o) == full.get(o) for o in node.output):
                for i in node.input:
                    if i in self.dynamic and held.get(i) != (0, self._width(i)):
                        raise AssertionError(f"{node.name}: a whole-width node fed a cropped {i}")
                out_nodes.append(node)
                for o in node.output:
                    if o in self.dynamic:
                        held[o] = (0, self._width(o))
                continue
            emit: Callable[[Any, Span, list[Any]], Span] = {
                "Conv": self._emit_conv, "ConvTranspose": self._emit_conv}.get(node.op_type, self._emit_columnwise)
            held[node.output[0]] = emit(node, need[node.output[0]], out_nodes)
        # the graph's output, cut to exactly the asked columns
        last = held[self.output]
        if last != (self.start, self.stop):
            inner = self.output + "_before_column_crop"
            for n in out_nodes:
                for k, o in enumerate(n.output):
                    if o == self.output:
                        n.output[k] = inner
                for k, i in enumerate(n.input):
                    if i == self.output:
                        n.input[k] = inner
            out_nodes.append(onnx.helper.make_node(
                "Slice", [inner, self._const([self.start - last[0]]), self._const([self.stop - last[0]]),
                          self._const([-1])], [self.output], name="column_crop_output"))
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        g = m.graph
        del g.node[:]
        g.node.extend(out_nodes)
        g.initializer.extend(self.added)
        del g.value_info[:]
        g.output[0].type.tensor_type.shape.dim[-1].dim_value = self.stop - self.start
        onnx.checker.check_model(m)
        return m

    def _emit_columnwise(self, node: Any, want: Span, out: list[Any]) -> Span:
        dyn = [i for i in node.input if i and i in self.dynamic]
        spans = {self._held(i) for i in dyn}
        if node.op_type in COLUMNWISE and len(spans) == 1:
            out.append(node)      # works on whatever its input holds
            return spans.pop()
        new = self.onnx.NodeProto()
        new.CopyFrom(node)
        for k, i in enumerate(node.input):
            if i in self.dynamic:
                new.input[k] = self._slice(i, self._held(i), want, out)
        out.append(new)
        return want

    def _emit_conv(self, node: Any, want: Span, out: list[Any]) -> Span:
        c = self._conv(node)
        x = node.input[0]
        w_in = self._width(x)
        new = self.onnx.NodeProto()
        new.CopyFrom(node)
        attrs = {a.name: a for a in new.attribute}
        pads = list(self.onnx.helper.get_attribute_value(attrs["pads"])) if "pads" in attrs else None
        n_sp = self.static[node.input[1]].ndim - 2
        if pads is None:
            pads = [0] * (2 * n_sp)
        lo, hi = c.input_span(*want)
        take = (max(0, lo), min(w_in, hi))
        new.input[0] = self._slice(x, self._held(x), take, out)
        if not c.transposed:
            pads[n_sp - 1], pads[2 * n_sp - 1] = take[0] - lo, hi - take[1]   # zeros only beyond the true edges
            got = want
        else:
            pads[n_sp - 1], pads[2 * n_sp - 1] = 0, 0
            first = take[0] * c.stride - c.pad_begin                 # the full column of its first output
            got = (first, first + (take[1] - take[0] - 1) * c.stride + c.reach + 1)
        if "pads" in attrs:
            new.attribute.remove(attrs["pads"])
        new.attribute.append(self.onnx.helper.make_attribute("pads", pads))
        if not c.transposed:
            out.append(new)
            return got
        inner = node.output[0] + "_uncut"
        new.output[0] = inner
        out.append(new)
        self._slice(inner, got, want, out, sliced=node.output[0])
        return want

    def _held(self, name: str) -> Span:
        return self._held_spans[name]
