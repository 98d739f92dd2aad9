"""``streamproc synth``: MIDI -> monophonic melody -> harmonic blueprint -> synth model -> audio."""
from __future__ import annotations

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from streamproc.blueprint import harmonic_blueprint, melody_from_midi, skyline
from streamproc.cli import SYNTH_TAIL_S, main
from streamproc.errors import UserError

SR = 16000


def _midi(path, notes, drums=(), program=40):
    """notes: (start, end, pitch[, velocity]); drums likewise, on a drum track."""
    pm = pretty_midi.PrettyMIDI()
    for seq, is_drum in ((notes, False), (drums, True)):
        if is_drum and not seq:
            continue
        inst = pretty_midi.Instrument(program=0 if is_drum else program, is_drum=is_drum)
        for n in seq:
            inst.notes.append(pretty_midi.Note(velocity=int(n[3]) if len(n) > 3 else 100, pitch=int(n[2]),
                                               start=float(n[0]), end=float(n[1])))
        pm.instruments.append(inst)
    pm.write(str(path))
    return path


@pytest.fixture(scope="module")
def identity_synth(tmp_path_factory):
    """A synth-task ONNX model that returns its input: the output is the blueprint resynthesised."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from streamproc.config import DEFAULT
    from streamproc.model_meta import ModelMetadata

    ctx, new, ahead = 8, 8, 8
    w = ctx + new + ahead
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [DEFAULT.n_mels, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [DEFAULT.n_mels, w])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    meta = ModelMetadata(task="synth", output_kind="mel", spectral=DEFAULT, n_inputs=DEFAULT.n_mels,
                         n_outputs=DEFAULT.n_mels, context_frames=ctx, new_frames=new, lookahead_frames=ahead)
    helper.set_model_props(model, meta.to_props())
    path = tmp_path_factory.mktemp("model") / "identity-synth.onnx"
    onnx.save(model, str(path))
    return path


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spec)])


def test_synth_writes_the_melody(tmp_path, identity_synth):
    # C4 under A4 (the top note wins), then E5
    mid = _midi(tmp_path / "m.mid", [(0.1, 0.6, 60), (0.1, 0.6, 69), (0.7, 1.0, 76)])
    out, blue = tmp_path / "out.wav", tmp_path / "blue.flac"
    assert main(["synth", str(mid), str(out), "--model", str(identity_synth), "--recon", "gla",
                 "--blueprint-out", str(blue), "--quiet"]) == 0
    n = int(np.ceil((1.0 + SYNTH_TAIL_S) * SR))
    for path in (out, blue):
        y, rate = sf.read(str(path))
        assert rate == SR and y.shape == (n,)
        assert _peak_hz(y[int(0.2 * SR):int(0.5 * SR)]) == pytest.approx(440.0, abs=8)
        assert _peak_hz(y[int(0.75 * SR):int(0.95 * SR)]) == pytest.approx(659.3, abs=8)
        assert np.abs(y[int(1.2 * SR):]).max() < 0.05 * np.abs(y).max()  # silence after the melody


@pytest.mark.parametrize("case,needle", [("empty", "no pitched notes"), ("drums", "only drums"),
                                         ("text", "cannot read"), ("truncated", "cannot read"),
                                         ("missing", "not found"), ("wav_in", "unsupported MIDI format"),
                                         ("bad_out", "unsupported output format"), ("rolloff", "--rolloff")])
def test_synth_errors_write_nothing(tmp_path, capsys, identity_synth, case, needle):
    good = _midi(tmp_path / "good.mid", [(0.0, 0.5, 69)])
    src, out, extra = good, tmp_path / "out.wav", []
    if case == "empty":
        src = _midi(tmp_path / "empty.mid", [])
    elif case == "drums":
        src = _midi(tmp_path / "drums.mid", [], drums=[(0.0, 0.2, 36), (0.5, 0.7, 38)])
    elif case == "text":
        src = tmp_path / "text.mid"
        src.write_text("not a MIDI file\n")
    elif case == "truncated":
        src = tmp_path / "trunc.mid"
        src.write_bytes(good.read_bytes()[:20])
    elif case == "missing":
        src = tmp_path / "nope.mid"
    elif case == "wav_in":
        src = tmp_path / "in.wav"
        sf.write(str(src), np.zeros(100), SR)
    elif case == "bad_out":
        out = tmp_path / "out.mid"
    elif case == "rolloff":
        extra = ["--rolloff", "1.5"]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["synth", str(src), str(out), "--model", str(identity_synth), "--recon", "gla", "--quiet",
                 *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("streamproc: error:") and "\n" not in err and needle in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_melody_from_midi_skyline(tmp_path):
    mid = _midi(tmp_path / "m.mid", [(0.0, 1.0, 60, 90), (0.25, 0.5, 67, 100), (1.0, 1.5, 62, 80)],
                drums=[(0.0, 1.5, 100)])
    mel = melody_from_midi(mid)
    np.testing.assert_allclose(mel, [[0.0, 0.25, 60, 90], [0.25, 0.5, 67, 100], [0.5, 1.0, 60, 90],
                                     [1.0, 1.5, 62, 80]], atol=1e-3)  # the drum note (pitch 100) is ignored


def test_skyline_drops_staggered_chord_fragments():
    mel = skyline(np.array([[0.0, 1.0, 60, 80], [0.01, 1.0, 64, 80], [0.02, 1.0, 67, 80]]))
    np.testing.assert_allclose(mel, [[0.02, 1.0, 67, 80]])


def test_blueprint_without_rng_has_exact_harmonic_ratios():
    x = harmonic_blueprint(np.array([[0.0, 1.0, 57, 127]]), SR, 3, 0.5, rng=None).astype(np.float64)
    spec = np.abs(np.fft.rfft(x[2000:2000 + 8000] * np.hanning(8000)))  # 2 Hz bins: 220 Hz -> bin 110
    amps = [spec[110 * h - 2:110 * h + 3].max() for h in (1, 2, 3)]
    np.testing.assert_allclose(np.array(amps) / amps[0], [1.0, 0.5, 0.25], rtol=0.02)
    assert np.array_equal(x, harmonic_blueprint(np.array([[0.0, 1.0, 57, 127]]), SR, 3, 0.5).astype(np.float64))


def test_melody_from_midi_is_a_user_error_for_junk(tmp_path):
    (tmp_path / "x.midi").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    with pytest.raises(UserError, match="cannot read"):
        melody_from_midi(tmp_path / "x.midi")
