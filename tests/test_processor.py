import numpy as np
import pedalboard
import pytest

import streamproc


def test_reset_true_returns_same_length_time_aligned(tone):
    x = tone(16000, 1.0).astype(np.float32)
    fx = streamproc.Processor("resynth", "mask")
    y = fx(x, 16000)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.max(np.abs(y - x)) < 1e-5


def test_reset_false_never_returns_more_than_given_and_matches_offline(tone):
    x = tone(44100, 1.0).astype(np.float32)
    fx = streamproc.Processor("resynth", "gla")
    offline = fx(x, 44100)
    total_in, outs = 0, []
    for i in range(0, len(x), 1000):
        chunk = x[i:i + 1000]
        out = fx.process(chunk, 44100, reset=False)
        total_in += len(chunk)
        outs.append(out)
        assert sum(len(o) for o in outs) <= total_in
    streamed = np.concatenate(outs)
    assert len(streamed) == len(x) - fx.latency_samples
    assert np.max(np.abs(streamed - offline[: len(streamed)])) <= 1e-6


def test_multichannel_layouts_and_channel_independence(tone):
    a, b = tone(16000, 0.5, seed=1), 0.5 * tone(16000, 0.5, seed=2)[::-1].copy()
    fx = streamproc.Processor("resynth")
    first = fx(np.stack([a, b]), 16000)           # (channels, samples)
    last = fx(np.stack([a, b], axis=1), 16000)    # (samples, channels)
    assert first.shape == (2, len(a)) and last.shape == (len(a), 2)
    np.testing.assert_array_equal(first, last.T)
    np.testing.assert_array_equal(first[1], fx(b, 16000))


def test_nonfinite_samples_are_zeroed_and_counted(tone):
    x = tone(16000, 0.5)
    x[100], x[200] = np.nan, np.inf
    fx = streamproc.Processor("resynth")
    y = fx(x, 16000)
    assert np.all(np.isfinite(y)) and fx.nonfinite_samples == 2


def test_bad_arguments_raise_user_errors():
    with pytest.raises(streamproc.UserError):
        streamproc.Processor("nope")
    with pytest.raises(streamproc.UserError):
        streamproc.Processor("resynth", recon="hybrid")
    with pytest.raises(streamproc.UserError):
        streamproc.Processor("resynth")(np.zeros(100), 16000, buffer_size=0)


def test_chain_with_pedalboard_plugins_equals_applying_them_by_hand(tone):
    x = tone(44100, 1.0).astype(np.float32)
    hp, rv = pedalboard.HighpassFilter(200), pedalboard.Reverb(room_size=0.3)
    fx = streamproc.Processor("resynth")
    chain = streamproc.Chain([hp, fx, rv])
    got = chain(x, 44100)
    want = rv(fx(hp(x, 44100), 44100), 44100)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert chain.latency_for(44100) == fx.latency_for(44100)


def test_streaming_short_blocks_keep_the_stream_channel_count(tone):
    x = np.stack([tone(16000, 0.3, 1), tone(16000, 0.3, 2)])
    fx = streamproc.Processor("resynth")
    whole = fx(x, 16000)
    parts = [fx.process(x[:, :4000], 16000, reset=False), fx.process(x[:, 4000:4001], 16000, reset=False),
             fx.process(x[:, 4001:], 16000, reset=False)]
    assert all(p.shape[0] == 2 for p in parts)
    streamed = np.concatenate(parts, axis=1)
    np.testing.assert_allclose(streamed, whole[:, : streamed.shape[1]], atol=1e-6)
