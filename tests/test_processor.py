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


# -- the input contract (streamproc.adapter, shared by process, process_block and live) --------

@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint8, np.bool_, object, np.complex64])
def test_non_float_audio_is_refused_with_a_type_error_naming_the_dtype(dtype):
    fx = streamproc.Processor("resynth", "mask")
    x = np.zeros(256, dtype)
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        fx(x, 16000)
    fx.prepare(16000, 256, 1)
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        fx.process_block(x)


@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 2), (0, 0), (1, 0)])
@pytest.mark.parametrize("reset", [True, False])
def test_empty_arrays_come_back_with_the_same_shape(shape, reset):
    fx = streamproc.Processor("resynth", "mask")
    y = fx.process(np.zeros(shape, np.float64), 16000, reset=reset)
    assert y.shape == shape and y.dtype == np.float32
    fx.prepare(16000, 256, 2)
    assert fx.process_block(np.zeros((2, 0), np.float32)).shape == (2, 0)


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), -float("inf"), 0, -16000, 3999, 192001, 1e9, 44100.5])
def test_bad_sample_rates_raise_value_errors(rate):
    fx = streamproc.Processor("resynth", "mask")
    with pytest.raises(ValueError, match="sample rate"):
        fx.process(np.zeros(100, np.float32), rate)
    with pytest.raises(ValueError, match="sample rate"):
        fx.prepare(rate, 256, 1)
    with pytest.raises(ValueError, match="sample rate"):
        fx.latency_for(rate)
    assert fx.sample_rate is None  # nothing was built


@pytest.mark.parametrize("rate", [4000, 192000])
def test_sample_rates_at_the_ends_of_the_range_work(rate, tone):
    x = tone(rate, 0.2).astype(np.float32)
    y = streamproc.Processor("resynth", "mask")(x, rate)
    assert y.shape == x.shape and np.all(np.isfinite(y))


def test_nonfinite_samples_are_zeroed_and_counted_per_block_too(tone):
    x = tone(16000, 0.5)
    ref = streamproc.Processor("resynth", "mask")
    ref.prepare(16000, 256, 1)
    clean = x.copy()
    clean[[10, 300, 301]] = 0.0
    want = np.concatenate([ref.process_block(clean[i:i + 256]) for i in range(0, len(x), 256)])
    bad = x.copy()
    bad[10], bad[300], bad[301] = np.nan, np.inf, -np.inf
    fx = streamproc.Processor("resynth", "mask")
    fx.prepare(16000, 256, 1)
    got = np.concatenate([fx.process_block(bad[i:i + 256]) for i in range(0, len(x), 256)])
    assert fx.nonfinite_samples == 3
    np.testing.assert_array_equal(got, want)


def test_one_processor_shared_by_two_threads_gives_the_single_threaded_result(tone):
    import threading

    clips = [tone(16000, 1.0, seed=1).astype(np.float32), (0.5 * tone(16000, 1.0, seed=2)).astype(np.float32)]
    solo = streamproc.Processor("resynth", "gla")
    want = [solo(c, 16000, buffer_size=128) for c in clips]
    fx = streamproc.Processor("resynth", "gla")
    got: dict[int, list] = {0: [], 1: []}
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def run(k: int) -> None:
        try:
            go.wait()
            for _ in range(3):
                got[k].append(fx(clips[k], 16000, buffer_size=128))  # small blocks: many chances to interleave
                fx.reset()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    old = __import__("sys").getswitchinterval()
    __import__("sys").setswitchinterval(1e-5)  # switch threads often
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        __import__("sys").setswitchinterval(old)
    assert not errors
    for k in (0, 1):
        assert len(got[k]) == 3
        for y in got[k]:
            np.testing.assert_array_equal(y, want[k])


# -- lifecycle -------------------------------------------------------------------------------

def test_prepare_builds_engines_up_front_and_process_block_streams_like_process(tone):
    x = np.stack([tone(48000, 0.5, 1), tone(48000, 0.5, 2)]).astype(np.float32)
    fx = streamproc.Processor("resynth", "gla")
    assert fx.sample_rate is None and fx.channels == 0
    fx.prepare(48000, max_block_size=256, channels=2)
    assert fx.sample_rate == 48000 and fx.channels == 2 and fx.latency_samples == fx.latency_for(48000)
    blocks = [fx.process_block(x[:, i:i + 300]) for i in range(0, x.shape[1], 300)]  # longer than 256: cut
    streamed = np.concatenate(blocks, axis=1)
    assert streamed.shape == (2, x.shape[1] - fx.latency_samples)
    whole = streamproc.Processor("resynth", "gla")(x, 48000)
    np.testing.assert_allclose(streamed, whole[:, : streamed.shape[1]], atol=1e-6)
    fx.reset()  # a new stream: the same output again
    again = np.concatenate([fx.process_block(x[:, i:i + 300]) for i in range(0, x.shape[1], 300)], axis=1)
    np.testing.assert_array_equal(again, streamed)


def test_process_block_needs_prepare_and_the_prepared_channel_count():
    fx = streamproc.Processor("resynth", "mask")
    with pytest.raises(RuntimeError, match="prepare"):
        fx.process_block(np.zeros((1, 256), np.float32))
    fx.prepare(16000, 256, 2)
    with pytest.raises(ValueError, match="prepared for 2"):
        fx.process_block(np.zeros((3, 256), np.float32))
    with pytest.raises(streamproc.UserError):
        fx.prepare(16000, 0, 1)
    with pytest.raises(streamproc.UserError):
        fx.prepare(16000, 256, 65)


def test_the_processor_docstring_example_runs():
    import doctest

    import streamproc.processor

    result = doctest.testmod(streamproc.processor, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 6 and result.failed == 0


def test_restore_model_is_the_net_recon_restore_runs(tone):
    """A restoration net handed to the Processor replaces the shipped one (a candidate is
    scored without touching the package), and only ``recon="restore"`` takes one."""
    from streamproc.onnx_model import MODELS_DIR

    x = tone(16000, 1.0, seed=3).astype(np.float32)
    shipped = streamproc.Processor("resynth", "restore")(x, 16000)
    same = streamproc.Processor("resynth", "restore", restore_model=MODELS_DIR / "restore.onnx")(x, 16000)
    other = streamproc.Processor("resynth", "restore", restore_model=MODELS_DIR / "restore-live.onnx")(x, 16000)
    np.testing.assert_array_equal(shipped, same)
    assert np.max(np.abs(other - shipped)) > 1e-3
    with pytest.raises(streamproc.errors.UserError, match="restore_model applies to recon 'restore' only"):
        streamproc.Processor("resynth", "gla", restore_model=MODELS_DIR / "restore.onnx")
