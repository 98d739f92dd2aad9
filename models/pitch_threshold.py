"""Voicing threshold sweep for a pitch model, on TRAIN-split examples only (data/pitch).

    python -m models.pitch_threshold streamproc/models_data/pitch.onnx [--examples 40] [--data data/pitch]

Per threshold (pitch-map units): voicing accuracy, voiced recall, unvoiced true-negative rate,
balanced voicing accuracy, raw pitch accuracy (reference-voiced frames estimated voiced and
within 50 cents / reference-voiced frames) and overall accuracy. About 98.5 % of training
frames are voiced, so plain voicing accuracy always prefers "voice everything"; the pick is
the best mean of overall accuracy and balanced voicing accuracy. The test split is never read.
The model runs at its own chunking; a target-shifted model (``target_shift_frames`` S) is
compared with the label of frame k + S at its column k.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from streamproc.frames import Frames
from streamproc.onnx_model import load_model
from streamproc.pitchmap import decode_pitchmap
from streamproc.stages import Chunker

ap = argparse.ArgumentParser(prog="python -m models.pitch_threshold")
ap.add_argument("model")
ap.add_argument("--examples", type=int, default=40)
ap.add_argument("--data", default="data/pitch")
args = ap.parse_args()
model_path, n_ex = args.model, args.examples
m = load_model(model_path, task="pitch")
lay = m.pitch_layout
man = json.load(open(Path(args.data) / "manifest.json"))
if man["split"] != "train" or man["task"] != "pitch":
    raise SystemExit("error: the sweep reads train-split pitch data only")
files = sorted(Path(args.data).glob("ex_*.npz"))[:n_ex]
thr = np.round(np.concatenate([[-0.999, -0.99, -0.95], np.arange(-0.9, 0.91, 0.1)]), 3)
S = {t: np.zeros(6) for t in thr}
for f in files:
    z = np.load(f, allow_pickle=False)
    x, y = z["x"], z["y"]
    ch = Chunker(m)
    feat = np.concatenate([x.T, np.full((ch.latency_frames + 1, x.shape[0]), -1.0, np.float32)])
    out = ch.process(Frames(stft=np.zeros((len(feat), 1), complex), features=feat)).features
    assert out is not None  # a Chunker's output frames carry features
    pm = out[: x.shape[1]]
    shift = m.target_shift_frames  # column k describes frame k + shift: compare with that frame's label
    pm = pm[: pm.shape[0] - shift]
    assert lay is not None  # a pitch model (load_model checked the task) has a pitch layout
    ref_midi, ref_v = decode_pitchmap(y[:, shift:].T, lay, 0.0)
    est_midi, _ = decode_pitchmap(pm, lay, 0.0)
    peak = pm.max(axis=1)
    good = np.abs(est_midi - ref_midi) < 0.5
    for t in thr:
        v = peak > t
        S[t] += [(v == ref_v).sum(), len(v), (v & ref_v & good).sum(), ref_v.sum(), (~v & ~ref_v).sum(), (~ref_v).sum()]
print(f"model {model_path} steps {m.training.get('steps')}; {len(files)} train examples; "
      f"{S[thr[0]][3] / S[thr[0]][1]:.3f} of frames voiced")
print("thr   voic_acc recall  true_neg balanced raw_pitch overall")
res = {}
for t in thr:
    c, n, pok, rv, tn, ru = S[t]
    # voiced recall: estimated voiced among reference voiced = (c - tn) / rv
    fr = {"voicing": c / n, "recall": (c - tn) / rv, "tn": tn / max(ru, 1), "rpa": pok / rv, "oa": (pok + tn) / n}
    fr["balanced"] = 0.5 * (fr["recall"] + fr["tn"])
    res[t] = fr
    print(f"{t:+.3f}  {fr['voicing']:.4f}  {fr['recall']:.4f}  {fr['tn']:.4f}  {fr['balanced']:.4f}  {fr['rpa']:.4f}  {fr['oa']:.4f}")
for t in thr:
    res[t]["mean_oa_bal"] = 0.5 * (res[t]["oa"] + res[t]["balanced"])
    print(f"{t:+.3f} mean(oa, balanced) {res[t]['mean_oa_bal']:.4f}")
for k in ("voicing", "balanced", "oa", "mean_oa_bal"):
    b = max(thr, key=lambda t: res[t][k])
    print(f"best by {k}: {b:+.1f} ({res[b][k]:.4f})")
