"""GAN-WN vocoder runtime: a mel-conditioned WaveNet generated sample by sample with Numba.

No torch, no pickle: weights come from an ``.npz`` written by ``python -m export.wavenet``
(plain float32 arrays + a JSON ``meta`` string, loaded with ``allow_pickle=False``).

The network (``models/wavenet.py`` trains the same one):
- input at step t: the mu-law companded value of the sample emitted at t-1 (0 at t=0),
  through a 1x1 "start" projection to R residual channels;
- L layers of kernel-2 causal dilated convolutions (dilation d_l), gated
  ``tanh(f) * sigmoid(g)``, a residual 1x1 (R) and a skip 1x1 (S) per layer; every layer's
  input is zero before time 0;
- conditioning: each normalised log-mel frame goes through ``c = tanh(W_c mel + b_c)`` and
  per layer ``W_l c + b_l`` (the layer's conv bias folded in). Sample n uses frame
  ``(n + cond_offset) // hop`` (nearest-frame repeat upsampling; ``cond_offset = n_fft/2 -
  hop/2`` puts the hop of samples at the frame's window centre), so conditioning is
  computed once per frame, never per sample;
- head: relu(sum of skips) -> 1x1 (A) -> relu -> 1x1 (Q = 256 mu-law classes) -> softmax.

Why mu-law softmax rather than a mixture of logistics: a categorical distribution is exact
to sample with one uniform draw (inverse CDF), needs no clamping of scales, is robust in
float32 on CPU, and at 16 kHz the 8-bit mu-law quantisation noise is below the vocoder's own
error. The price (a 256-wide output layer) is a fixed cost we measured in ``bench.wavenet``.

Fast generation follows Paine et al. 2016 ("Fast WaveNet"): layer l keeps a queue of its
last d_l inputs, so each sample costs one step per layer instead of recomputing the
receptive field. The whole generator state (time index, previous sample, queues, and the
xorshift64* RNG state) lives in arrays carried across calls, so generating in any number of
pieces gives exactly the samples of one call. The naive reference generator recomputes every
layer over the receptive field for every sample, with the same arithmetic kernels and the
same RNG, so the two agree bit for bit.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from .config import SpectralConfig
from .frames import Frames

FORMAT = "streamproc-wavenet-1"
ARRAYS = ("cond_w", "cond_b", "layer_cond_w", "layer_cond_b", "start_w", "start_b", "dil_w",
          "res_w", "res_b", "skip_w", "skip_b", "out1_w", "out1_b", "out2_w", "out2_b")


class VocoderError(ValueError):
    """A vocoder file that cannot be used (missing arrays, wrong shapes, wrong format)."""


# ----------------------------------------------------------------------------- weights

@dataclass
class Vocoder:
    """Weights (torch layout: (out, in)) plus metadata; build with :func:`load_vocoder`.

    meta keys: format, n_layers, residual, skip, hidden, cond_channels, dilations, mu,
    n_classes, sample_rate, hop, n_fft, n_mels, cond_offset, plus free-form training info.
    """
    meta: dict
    arrays: dict

    def __post_init__(self) -> None:
        m, a = self.meta, self.arrays
        missing = [k for k in ARRAYS if k not in a]
        if missing:
            raise VocoderError(f"vocoder lacks arrays: {', '.join(missing)}")
        L, R, S, A, C = m["n_layers"], m["residual"], m["skip"], m["hidden"], m["cond_channels"]
        Q, M = m["n_classes"], m["n_mels"]
        shapes = {"cond_w": (C, M), "cond_b": (C,), "layer_cond_w": (L, 2 * R, C),
                  "layer_cond_b": (L, 2 * R), "start_w": (R,), "start_b": (R,),
                  "dil_w": (L, 2 * R, R, 2), "res_w": (L, R, R), "res_b": (L, R),
                  "skip_w": (L, S, R), "skip_b": (L, S), "out1_w": (A, S), "out1_b": (A,),
                  "out2_w": (Q, A), "out2_b": (Q,)}
        for k, shp in shapes.items():
            if tuple(a[k].shape) != shp:
                raise VocoderError(f"array {k} has shape {tuple(a[k].shape)}, expected {shp}")
        if len(m["dilations"]) != L or min(m["dilations"]) < 1:
            raise VocoderError("dilations must list one positive dilation per layer")
        self.arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in a.items()}
        self._kernels()

    def _kernels(self) -> None:
        """Rearranged for the Numba loops: transposed (in, out) so inner loops run over outputs."""
        a = self.arrays
        self.dil = np.asarray(self.meta["dilations"], np.int64)
        self.k_cond_wT = np.ascontiguousarray(a["cond_w"].T)
        self.k_lcond_wT = np.ascontiguousarray(a["layer_cond_w"].transpose(0, 2, 1))      # (L, C, 2R)
        self.k_past_wT = np.ascontiguousarray(a["dil_w"][..., 0].transpose(0, 2, 1))      # (L, R, 2R)
        self.k_now_wT = np.ascontiguousarray(a["dil_w"][..., 1].transpose(0, 2, 1))       # (L, R, 2R)
        rs_w = np.concatenate([a["res_w"], a["skip_w"]], axis=1)                          # (L, R+S, R)
        self.k_rs_wT = np.ascontiguousarray(rs_w.transpose(0, 2, 1))                      # (L, R, R+S)
        self.k_rs_b = np.ascontiguousarray(np.concatenate([a["res_b"], a["skip_b"]], axis=1))
        self.k_out1_wT = np.ascontiguousarray(a["out1_w"].T)
        self.k_out2_wT = np.ascontiguousarray(a["out2_w"].T)

    @property
    def receptive_field(self) -> int:
        """Samples of past input one output depends on (through the dilated stack), plus one."""
        return int(sum(self.meta["dilations"])) + 1

    @property
    def cond_offset(self) -> int:
        return int(self.meta["cond_offset"])

    @property
    def hop(self) -> int:
        return int(self.meta["hop"])

    def frame_of_sample(self, n: np.ndarray) -> np.ndarray:
        """Index of the mel frame that conditions sample n (nearest-frame upsampling)."""
        return (np.asarray(n, np.int64) + self.cond_offset) // self.hop

    def check_config(self, cfg: SpectralConfig) -> None:
        m = self.meta
        for key in ("sample_rate", "hop", "n_fft", "n_mels"):
            if int(m[key]) != int(getattr(cfg, key)):
                raise VocoderError(f"vocoder {key}={m[key]} does not match the engine's {getattr(cfg, key)}")

    def conditioning(self, features: np.ndarray) -> np.ndarray:
        """Mel frames (n, n_mels) -> per-layer conditioning (n, L, 2R): once per frame.

        A per-frame Numba loop (not a batched matmul) so that a frame's result never depends on
        how many frames came with it: streaming equals one-shot bit for bit.
        """
        feats = np.ascontiguousarray(np.atleast_2d(features), dtype=np.float32)
        if feats.shape[1] != self.meta["n_mels"]:
            raise ValueError(f"features have {feats.shape[1]} rows, the vocoder wants {self.meta['n_mels']}")
        out = np.empty((feats.shape[0], self.meta["n_layers"], 2 * self.meta["residual"]), np.float32)
        _conditioning(feats, self.k_cond_wT, self.arrays["cond_b"], self.k_lcond_wT,
                      self.arrays["layer_cond_b"], out)
        return out


def make_meta(n_layers: int, residual: int = 32, skip: int = 64, hidden: int = 128,
              cond_channels: int = 64, dilation_cycle: int = 10, mu: int = 255,
              cfg: SpectralConfig | None = None, **extra) -> dict:
    """Metadata for a network of this size (the export writes the same keys)."""
    cfg = cfg or SpectralConfig()
    return {"format": FORMAT, "n_layers": n_layers, "residual": residual, "skip": skip,
            "hidden": hidden, "cond_channels": cond_channels,
            "dilations": [2 ** (i % dilation_cycle) for i in range(n_layers)],
            "mu": mu, "n_classes": mu + 1, "sample_rate": cfg.sample_rate, "hop": cfg.hop,
            "n_fft": cfg.n_fft, "n_mels": cfg.n_mels, "cond_offset": cfg.n_fft // 2 - cfg.hop // 2,
            **extra}


def random_vocoder(n_layers: int = 20, residual: int = 32, skip: int = 64, hidden: int = 128,
                   cond_channels: int = 64, seed: int = 0, **meta_kw) -> Vocoder:
    """Untrained weights (scaled like a default init) for tests and benchmarks."""
    meta = make_meta(n_layers, residual, skip, hidden, cond_channels, **meta_kw)
    rng = np.random.default_rng(seed)
    L, R, S, A, C, Q, M = (n_layers, residual, skip, hidden, cond_channels, meta["n_classes"], meta["n_mels"])

    def w(*shape, fan_in):
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    arrays = {"cond_w": w(C, M, fan_in=M), "cond_b": w(C, fan_in=4), "layer_cond_w": w(L, 2 * R, C, fan_in=C),
              "layer_cond_b": w(L, 2 * R, fan_in=4), "start_w": w(R, fan_in=1), "start_b": w(R, fan_in=4),
              "dil_w": w(L, 2 * R, R, 2, fan_in=2 * R), "res_w": w(L, R, R, fan_in=R), "res_b": w(L, R, fan_in=16),
              "skip_w": w(L, S, R, fan_in=R), "skip_b": w(L, S, fan_in=16), "out1_w": w(A, S, fan_in=S),
              "out1_b": w(A, fan_in=16), "out2_w": w(Q, A, fan_in=A), "out2_b": w(Q, fan_in=16)}
    return Vocoder(meta, arrays)


def save_vocoder(path: str | Path, voc: Vocoder) -> None:
    """Plain arrays + JSON metadata; readable with ``np.load(path, allow_pickle=False)``."""
    np.savez(path, meta=np.array(json.dumps(voc.meta)), **voc.arrays)


def load_vocoder(path: str | Path) -> Vocoder:
    """Read a vocoder written by ``python -m export.wavenet`` (never unpickles)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in ARRAYS if k in z.files}
    except FileNotFoundError:
        raise VocoderError(f"no vocoder at {path}") from None
    except (ValueError, KeyError, OSError) as e:
        raise VocoderError(f"{path} is not a readable vocoder ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise VocoderError(f"{path} is not a {FORMAT} file")
    try:
        return Vocoder(meta, arrays)
    except (KeyError, TypeError) as e:
        raise VocoderError(f"{path} has incomplete metadata ({e})") from None


# ----------------------------------------------------------------------------- Numba kernels

@numba.njit(cache=True, nogil=True, inline="always")
def _tanh(x):
    """Rational minimax tanh (Eigen's float kernel), |error| < 4e-7: vectorisable, unlike libm."""
    c = np.float32(7.9053111076354980)
    if x > c:
        x = c
    elif x < -c:
        x = -c
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    p = x2 * p + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = x2 * q + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    return x * p / q


@numba.njit(cache=True, nogil=True)
def _conditioning(feats, cond_wT, cond_b, lcond_wT, lcond_b, out):
    n, M = feats.shape
    C = cond_b.shape[0]
    L, _, R2 = lcond_wT.shape
    c = np.empty(C, np.float32)
    for k in range(n):
        c[:] = cond_b
        for i in range(M):
            v = feats[k, i]
            for o in range(C):
                c[o] += cond_wT[i, o] * v
        for o in range(C):
            c[o] = _tanh(c[o])
        for l in range(L):
            acc = out[k, l]
            acc[:] = lcond_b[l]
            for i in range(C):
                v = c[i]
                for o in range(R2):
                    acc[o] += lcond_wT[l, i, o] * v


@numba.njit(cache=True, nogil=True, inline="always")
def _gate(condv, past_wT, now_wT, h_past, h_now, acc, z):
    """acc = cond + W_past h(t-d) + W_now h(t); z = tanh(filter) * sigmoid(gate)."""
    R = h_now.shape[0]
    R2 = acc.shape[0]
    for o in range(R2):
        acc[o] = condv[o]
    for i in range(R):
        a = h_past[i]
        for o in range(R2):
            acc[o] += past_wT[i, o] * a
    for i in range(R):
        b = h_now[i]
        for o in range(R2):
            acc[o] += now_wT[i, o] * b
    half = np.float32(0.5)
    for o in range(R):
        z[o] = _tanh(acc[o]) * (half * _tanh(half * acc[R + o]) + half)


@numba.njit(cache=True, nogil=True, inline="always")
def _res_skip(z, rs_wT, rs_b, out):
    """out = [W_res; W_skip] z + b (residual part first, then skip)."""
    R = z.shape[0]
    for o in range(out.shape[0]):
        out[o] = rs_b[o]
    for i in range(R):
        a = z[i]
        for o in range(out.shape[0]):
            out[o] += rs_wT[i, o] * a


@numba.njit(cache=True, nogil=True, inline="always")
def _head(skip, out1_wT, out1_b, out2_wT, out2_b, hid, logits):
    S = skip.shape[0]
    A = hid.shape[0]
    for o in range(A):
        hid[o] = out1_b[o]
    for i in range(S):
        a = skip[i]
        if a > 0.0:
            for o in range(A):
                hid[o] += out1_wT[i, o] * a
    for o in range(logits.shape[0]):
        logits[o] = out2_b[o]
    for i in range(A):
        a = hid[i]
        if a > 0.0:
            for o in range(logits.shape[0]):
                logits[o] += out2_wT[i, o] * a


@numba.njit(cache=True, nogil=True, inline="always")
def _uniform(rng):
    """xorshift64* (state in rng[0], never 0) -> float64 in [0, 1)."""
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    r = x * np.uint64(0x2545F4914F6CDD1D)
    return np.float64(r >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _sample(logits, inv_temp, rng, probs):
    """Exact categorical draw by inverse CDF (float64 accumulation)."""
    Q = logits.shape[0]
    m = logits[0]
    for k in range(1, Q):
        if logits[k] > m:
            m = logits[k]
    total = 0.0
    for k in range(Q):
        p = np.exp((np.float64(logits[k]) - m) * inv_temp)
        probs[k] = p
        total += p
    u = _uniform(rng) * total
    acc = 0.0
    for k in range(Q):
        acc += probs[k]
        if u < acc:
            return k
    return Q - 1


@numba.njit(cache=True, nogil=True, inline="always")
def _expand(v, mu):
    """mu-law companded value in [-1, 1] -> linear sample."""
    s = 1.0 if v >= 0.0 else -1.0
    return s * ((1.0 + mu) ** abs(v) - 1.0) / mu


@numba.njit(cache=True, nogil=True, inline="always")
def _compress(y, mu):
    s = 1.0 if y >= 0.0 else -1.0
    a = min(abs(y), 1.0)
    return s * np.log1p(mu * a) / np.log1p(mu)


@numba.njit(cache=True, nogil=True, inline="always")
def _emit(k, mu, Q, use_guide, w, g):
    """Class k -> (linear output sample, next network input): the blended sample feeds back."""
    v = 2.0 * k / (Q - 1) - 1.0
    lin = _expand(v, mu)
    if use_guide:
        lin = w * g + (1.0 - w) * lin
        return lin, _compress(lin, mu)
    return lin, v


@numba.njit(cache=True, nogil=True)
def _generate_fast(cond, frame_idx, dil, qoff, queues, state, rng, start_w, start_b, past_wT, now_wT,
                   rs_wT, rs_b, out1_wT, out1_b, out2_wT, out2_b, mu, inv_temp, use_guide, w, guide,
                   out, logits_out):
    """Generate len(frame_idx) samples; state = [t, previous network input] carried across calls."""
    L, R2 = cond.shape[1], cond.shape[2]
    R = R2 // 2
    S = rs_b.shape[1] - R
    Q = out2_b.shape[0]
    h = np.empty(R, np.float32)
    acc = np.empty(R2, np.float32)
    z = np.empty(R, np.float32)
    rs = np.empty(R + S, np.float32)
    skip = np.empty(S, np.float32)
    hid = np.empty(out1_b.shape[0], np.float32)
    logits = np.empty(Q, np.float32)
    probs = np.empty(Q, np.float64)
    t = np.int64(state[0])
    x = np.float32(state[1])
    keep_logits = logits_out.shape[0] > 0
    for n in range(frame_idx.shape[0]):
        for i in range(R):
            h[i] = start_w[i] * x + start_b[i]
        skip[:] = 0.0
        for l in range(L):
            d = dil[l]
            q = queues[qoff[l]: qoff[l] + d * R].reshape((d, R))
            slot = q[t % d]
            _gate(cond[frame_idx[n], l], past_wT[l], now_wT[l], slot, h, acc, z)
            slot[:] = h          # h(t) replaces h(t-d) in the queue
            _res_skip(z, rs_wT[l], rs_b[l], rs)
            for i in range(R):
                h[i] += rs[i]
            for i in range(S):
                skip[i] += rs[R + i]
        _head(skip, out1_wT, out1_b, out2_wT, out2_b, hid, logits)
        if keep_logits:
            logits_out[n] = logits
        k = _sample(logits, inv_temp, rng, probs)
        g = guide[n] if use_guide else 0.0
        lin, nxt = _emit(k, mu, Q, use_guide, w, g)
        out[n] = lin
        x = np.float32(nxt)
        t += 1
    state[0] = t
    state[1] = x


@numba.njit(cache=True, nogil=True)
def _generate_naive(cond, frame_idx, dil, start_w, start_b, past_wT, now_wT, rs_wT, rs_b, out1_wT, out1_b,
                    out2_wT, out2_b, mu, inv_temp, use_guide, w, guide, rng, xin, t0, out):
    """Reference: for every sample, recompute each layer over the part of the receptive field
    the final output needs (layer inputs before time 0 are zero, as in the queues).
    Generates samples t0..N-1 into out[t - t0]; xin[:t0 + 1] holds the known network inputs."""
    L, R2 = cond.shape[1], cond.shape[2]
    R = R2 // 2
    S = rs_b.shape[1] - R
    Q = out2_b.shape[0]
    N = frame_idx.shape[0]
    need = np.zeros(L + 1, np.int64)        # layer l's input is needed at t-need[l]..t
    for l in range(L - 1, -1, -1):
        need[l] = need[l + 1] + dil[l]
    W = need[0] + 1
    cur = np.zeros((W, R), np.float32)      # layer input over the window, row j <-> time t-W+1+j
    nxt = np.zeros((W, R), np.float32)
    zero = np.zeros(R, np.float32)
    acc = np.empty(R2, np.float32)
    z = np.empty(R, np.float32)
    rs = np.empty(R + S, np.float32)
    skip = np.empty(S, np.float32)
    hid = np.empty(out1_b.shape[0], np.float32)
    logits = np.empty(Q, np.float32)
    probs = np.empty(Q, np.float64)
    for t in range(t0, N):
        base = t - W + 1
        for j in range(W):
            tau = base + j
            if tau >= 0:
                for i in range(R):
                    cur[j, i] = start_w[i] * xin[tau] + start_b[i]
            else:
                cur[j] = 0.0
        skip[:] = 0.0
        for l in range(L):
            d = dil[l]
            for j in range(W - 1 - need[l + 1], W):
                tau = base + j
                if tau < 0:
                    nxt[j] = 0.0
                    continue
                past = cur[j - d] if tau - d >= 0 else zero
                _gate(cond[frame_idx[tau], l], past_wT[l], now_wT[l], past, cur[j], acc, z)
                _res_skip(z, rs_wT[l], rs_b[l], rs)
                for i in range(R):
                    nxt[j, i] = cur[j, i] + rs[i]
                if j == W - 1:
                    for i in range(S):
                        skip[i] += rs[R + i]
            cur, nxt = nxt, cur
        _head(skip, out1_wT, out1_b, out2_wT, out2_b, hid, logits)
        k = _sample(logits, inv_temp, rng, probs)
        g = guide[t - t0] if use_guide else 0.0
        lin, nx = _emit(k, mu, Q, use_guide, w, g)
        out[t - t0] = lin
        if t + 1 < N:
            xin[t + 1] = np.float32(nx)


# ----------------------------------------------------------------------------- generators

def _seed_state(seed: int) -> np.ndarray:
    """splitmix64 of the seed: a non-zero xorshift state for any integer seed."""
    z = (int(seed) + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z ^= z >> 31
    return np.array([z or 1], np.uint64)


def _guide_args(guide: np.ndarray | None, guide_weight: float | None, n: int) -> tuple[bool, float, np.ndarray]:
    if guide is None or guide_weight is None:
        return False, 0.0, np.zeros(1)
    g = np.ascontiguousarray(guide, dtype=np.float64)
    if len(g) < n:
        raise ValueError(f"guide has {len(g)} samples, {n} needed")
    if not 0.0 <= guide_weight <= 1.0:
        raise ValueError("guide weight must be within [0, 1]")
    return True, float(guide_weight), g


class FastGenerator:
    """Cached-queue WaveNet generation whose state carries across calls (streaming == one-shot)."""

    def __init__(self, voc: Vocoder, seed: int = 0, temperature: float = 1.0) -> None:
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self.voc, self.seed, self.temperature = voc, seed, temperature
        R = voc.meta["residual"]
        self._qoff = np.concatenate([[0], np.cumsum(voc.dil * R)]).astype(np.int64)
        self.reset()

    def reset(self) -> None:
        self.queues = np.zeros(int(self._qoff[-1]), np.float32)
        self.state = np.zeros(2, np.float64)   # [samples generated, previous network input]
        self.rng = _seed_state(self.seed)

    @property
    def position(self) -> int:
        return int(self.state[0])

    def generate(self, cond: np.ndarray, frame_idx: np.ndarray, guide: np.ndarray | None = None,
                 guide_weight: float | None = None, return_logits: bool = False):
        """Next len(frame_idx) samples; sample i is conditioned by ``cond[frame_idx[i]]``.

        cond: (frames, L, 2R) from :meth:`Vocoder.conditioning`. guide (same length as
        frame_idx) and guide_weight w: output = w * guide + (1 - w) * prediction, and that
        blended sample is what the network hears next (teacher forcing for superres).
        """
        v, a = self.voc, self.voc.arrays
        frame_idx = np.ascontiguousarray(frame_idx, dtype=np.int64)
        n = len(frame_idx)
        cond = np.ascontiguousarray(cond, dtype=np.float32)
        if n and (frame_idx.min() < 0 or frame_idx.max() >= len(cond)):
            raise IndexError("frame index outside the conditioning given")
        use_guide, w, g = _guide_args(guide, guide_weight, n)
        out = np.empty(n, np.float64)
        logits = np.empty((n if return_logits else 0, v.meta["n_classes"]), np.float32)
        _generate_fast(cond, frame_idx, v.dil, self._qoff, self.queues, self.state, self.rng,
                       a["start_w"], a["start_b"], v.k_past_wT, v.k_now_wT, v.k_rs_wT, v.k_rs_b,
                       v.k_out1_wT, a["out1_b"], v.k_out2_wT, a["out2_b"], float(v.meta["mu"]),
                       1.0 / self.temperature, use_guide, w, g, out, logits)
        return (out, logits) if return_logits else out


def frame_indices(voc: Vocoder, n_samples: int, start: int = 0) -> np.ndarray:
    return voc.frame_of_sample(np.arange(start, start + n_samples))


def generate(voc: Vocoder, features: np.ndarray, n_samples: int | None = None, seed: int = 0,
             guide: np.ndarray | None = None, guide_weight: float | None = None,
             temperature: float = 1.0) -> np.ndarray:
    """One-shot fast generation from mel frames (n, n_mels) (all samples they condition)."""
    cond = voc.conditioning(features)
    n = _n_for(voc, len(cond), n_samples)
    return FastGenerator(voc, seed, temperature).generate(cond, frame_indices(voc, n), guide, guide_weight)


def generate_naive(voc: Vocoder, features: np.ndarray, n_samples: int | None = None, seed: int = 0,
                   guide: np.ndarray | None = None, guide_weight: float | None = None,
                   temperature: float = 1.0) -> np.ndarray:
    """The reference generator: recomputes the receptive field for every sample."""
    cond = voc.conditioning(features)
    n = _n_for(voc, len(cond), n_samples)
    use_guide, w, g = _guide_args(guide, guide_weight, n)
    a = voc.arrays
    out = np.empty(n, np.float64)
    _generate_naive(cond, frame_indices(voc, n), voc.dil, a["start_w"], a["start_b"], voc.k_past_wT,
                    voc.k_now_wT, voc.k_rs_wT, voc.k_rs_b, voc.k_out1_wT, a["out1_b"], voc.k_out2_wT,
                    a["out2_b"], float(voc.meta["mu"]), 1.0 / temperature, use_guide, w, g,
                    _seed_state(seed), np.zeros(n, np.float32), 0, out)
    return out


def generate_naive_from(voc: Vocoder, cond: np.ndarray, frame_idx: np.ndarray, inputs: np.ndarray,
                        start: int, seed: int = 0) -> np.ndarray:
    """Naive generation of samples start..len(frame_idx)-1 given the network inputs (companded
    previous samples) of steps 0..start: lets a benchmark time the naive generator with its
    receptive field full without first generating that field naively."""
    n = len(frame_idx)
    xin = np.zeros(n, np.float32)
    xin[: start + 1] = np.asarray(inputs, np.float32)[: start + 1]
    a = voc.arrays
    out = np.empty(n - start, np.float64)
    _generate_naive(np.ascontiguousarray(cond, np.float32), np.ascontiguousarray(frame_idx, np.int64), voc.dil,
                    a["start_w"], a["start_b"], voc.k_past_wT, voc.k_now_wT, voc.k_rs_wT, voc.k_rs_b,
                    voc.k_out1_wT, a["out1_b"], voc.k_out2_wT, a["out2_b"], float(voc.meta["mu"]), 1.0,
                    False, 0.0, np.zeros(1), _seed_state(seed), xin, start, out)
    return out


def _n_for(voc: Vocoder, n_frames: int, n_samples: int | None) -> int:
    most = max(0, n_frames * voc.hop - voc.cond_offset)  # samples whose frame is known
    if n_samples is None:
        return most
    if n_samples > most:
        raise ValueError(f"{n_frames} frames condition only {most} samples, {n_samples} asked")
    return n_samples


def teacher_forced_logits(voc: Vocoder, features: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """Logits (n, Q) for known audio fed back (guide weight 1): what training computes."""
    cond = voc.conditioning(features)
    n = len(audio)
    _, logits = FastGenerator(voc).generate(cond, frame_indices(voc, n), np.asarray(audio, np.float64),
                                            1.0, return_logits=True)
    return logits


# ----------------------------------------------------------------------------- engine stage

class WaveNetSynth:
    """Synthesiser stage: translated mel frames (``frames.features``) -> samples at the model rate.

    Frame k (the k-th frame the framer emits) conditions samples [k*hop - offset, (k+1)*hop -
    offset) with offset = n_fft/2 - hop/2, i.e. the hop around its window centre. Like every
    synthesiser, the stage hands out whole hops from sample 0 (the engine's output resampler
    is fed whole hops and its declared hold-back assumes so), so the samples up to
    ``k*hop - latency`` are generated after frame k, with the latency ``offset`` rounded up
    to whole hops (512 samples at n_fft 1024, hop 256). With ``guide_weight`` (superres
    teacher forcing) the guide is the input itself, rebuilt by overlap-adding ``frames.stft``
    (the untouched analysis of the input), which is complete ``n_fft - hop`` samples after a
    frame: the latency is then ``n_fft - hop`` (768).
    """

    def __init__(self, vocoder: Vocoder, cfg: SpectralConfig, guide_weight: float | None = None,
                 seed: int = 0, temperature: float = 1.0) -> None:
        vocoder.check_config(cfg)
        if vocoder.cond_offset != cfg.n_fft // 2 - cfg.hop // 2:
            raise VocoderError("vocoder conditioning offset does not match the engine's framing")
        if guide_weight is not None and not 0.0 <= guide_weight <= 1.0:
            raise ValueError("guide_weight must be within [0, 1]")
        self.voc, self.cfg, self.guide_weight = vocoder, cfg, guide_weight
        self.gen = FastGenerator(vocoder, seed, temperature)
        self.offset = vocoder.cond_offset
        whole_hops = -(-self.offset // cfg.hop) * cfg.hop
        self.latency_samples = max(cfg.n_fft - cfg.hop, whole_hops) if guide_weight is not None else whole_hops
        self.reads: tuple[str, ...] = ("features", "stft") if guide_weight is not None else ("features",)
        self._ola = None
        if guide_weight is not None:
            from .stages import OverlapAdd

            self._ola = OverlapAdd(cfg)
        self.reset()

    def reset(self) -> None:
        self.gen.reset()
        if self._ola is not None:
            self._ola.reset()
        self._cond = np.zeros((0, self.voc.meta["n_layers"], 2 * self.voc.meta["residual"]), np.float32)
        self._first = 0        # absolute index of self._cond[0]
        self._frames_in = 0
        self._guide = np.zeros(0)
        self._guide_start = 0  # absolute sample index of self._guide[0]

    def process(self, frames: Frames) -> np.ndarray:
        n_new = len(frames)
        if n_new == 0:
            return np.zeros(0)
        cond = self.voc.conditioning(frames.get("features"))
        self._cond = np.concatenate([self._cond, cond]) if len(self._cond) else cond
        self._frames_in += n_new
        hop = self.cfg.hop
        stop = self._frames_in * hop - self.latency_samples  # whole hops, all conditioned (latency >= offset)
        if self._ola is not None:
            g = self._ola.process(frames)
            self._guide = np.concatenate([self._guide, g])
            stop = min(stop, self._guide_start + len(self._guide))
        start = self.gen.position
        if stop <= start:
            return np.zeros(0)
        idx = self.voc.frame_of_sample(np.arange(start, stop)) - self._first
        guide = None
        if self._ola is not None:
            guide = self._guide[start - self._guide_start: stop - self._guide_start]
        y = self.gen.generate(self._cond, idx, guide, self.guide_weight)
        # forget frames and guide samples that no later sample needs
        keep_from = int(self.voc.frame_of_sample(np.asarray(stop))) - self._first
        self._cond = self._cond[keep_from:]
        self._first += keep_from
        if self._ola is not None:
            self._guide = self._guide[stop - self._guide_start:]
            self._guide_start = stop
        return y
