"""A model graph cut to the output columns the engine keeps computes exactly those columns, and
the engine's output does not change when it runs the cut graphs."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from streamproc import Processor, onnx_model
from streamproc.column_crop import crop_columns
from streamproc.frame_model import IdentityModel, run_columns
from streamproc.onnx_model import MODELS_DIR, load_model

# a plain U-Net, one with a restoration net's row slicing, and a three-net average (Mean)
SHIPPED = ["separate.onnx", "restore.onnx", "pitch-ensemble.onnx"]


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("name", SHIPPED)
def test_cut_graph_equals_the_whole_graphs_columns(name):
    model = onnx.load(str(MODELS_DIR / name))
    rows, width = (d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim)
    x = np.random.default_rng(0).uniform(-1.0, 0.2, (rows, width)).astype(np.float32)
    whole = _run(model, x)
    for start, stop in [(width - 1, width), (width - 7, width), (40, 48), (0, 3), (31, 33)]:
        cut = crop_columns(model, start, stop)
        assert cut is not None
        y = _run(cut, x)
        assert y.shape == (whole.shape[0], stop - start)
        np.testing.assert_allclose(y, whole[:, start:stop], atol=2e-5, rtol=0)


def test_cut_graph_does_less_work():
    """The decoder's layers shrink: the cut graph's convolutions produce fewer values."""
    model = onnx.load(str(MODELS_DIR / "separate.onnx"))
    cut = crop_columns(model, 63, 64)

    def conv_output_width(m):
        inferred = onnx.shape_inference.infer_shapes(m)
        shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim] for vi in inferred.graph.value_info}
        return sum(shapes[n.output[0]][-1] for n in m.graph.node
                   if n.op_type in ("Conv", "ConvTranspose") and n.output[0] in shapes)

    assert conv_output_width(cut) < 0.5 * conv_output_width(model)


def _graph(nodes, out_width, extra_inits=()):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, out_width])
    g = helper.make_graph(nodes, "g", [x], [y], initializer=list(extra_inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def test_a_graph_that_mixes_columns_is_left_whole():
    # a transpose swaps the width axis away: no column-by-column account of it exists here
    m = _graph([helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
                helper.make_node("Transpose", ["t"], ["y"], perm=[1, 0])], 8)
    assert crop_columns(m, 2, 4) is None
    # a constant that varies along the width cannot be cut without cutting it too
    ramp = onnx.numpy_helper.from_array(np.arange(8, dtype=np.float32)[None, :], "ramp")
    m = _graph([helper.make_node("Add", ["x", "ramp"], ["y"])], 8, [ramp])
    assert crop_columns(m, 2, 4) is None


def test_columnwise_graph_is_cut_exactly():
    scale = onnx.numpy_helper.from_array(np.array([[2.0], [3.0], [4.0], [5.0]], np.float32), "scale")
    m = _graph([helper.make_node("Mul", ["x", "scale"], ["s"]), helper.make_node("Tanh", ["s"], ["y"])], 8, [scale])
    cut = crop_columns(m, 5, 8)
    x = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(cut, x), _run(m, x)[:, 5:8], atol=1e-7)
    with pytest.raises(ValueError):
        crop_columns(m, 6, 9)


def test_run_columns_on_models_without_it_slices_their_run():
    model = IdentityModel(4, context_frames=3, new_frames=2, lookahead_frames=1)
    w = np.arange(24, dtype=np.float32).reshape(4, 6)
    np.testing.assert_array_equal(run_columns(model, w, 3, 5), w[:, 3:5])


def test_onnx_model_run_columns_matches_run():
    m = load_model(MODELS_DIR / "superres.onnx", task="superres")
    w = np.random.default_rng(2).uniform(-1.0, 0.0, (m.n_inputs, m.window_frames)).astype(np.float32)
    np.testing.assert_allclose(m.run_columns(w, 10, 17), m.run(w)[:, 10:17], atol=2e-5, rtol=0)
    with pytest.raises(ValueError):
        m.prepare_columns(0, m.window_frames + 1)


@pytest.mark.parametrize("task,profile", [("separate", "default"), ("pitch", "default"), ("separate", "live")])
def test_engine_output_unchanged_by_cut_graphs(task, profile, monkeypatch):
    """The processor's output with the cut graphs equals its output with the whole ones."""
    rng = np.random.default_rng(3)
    t = np.arange(16000 * 3) / 16000
    x = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 660 * t * (1 + 0.01 * np.sin(5 * t)))
         + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    cut = Processor(task, profile=profile)(x, 16000)
    monkeypatch.setattr(onnx_model.OnnxFrameModel, "run_columns", None)
    whole = Processor(task, profile=profile)(x, 16000)
    assert cut.shape == whole.shape
    np.testing.assert_allclose(cut, whole, atol=1e-4, rtol=0)
