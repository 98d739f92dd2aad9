"""bench.memory on a few seconds of audio: every command runs in its own child and its peak
resident memory is that child's (no thresholds: the figures live in bench/out/memory.json)."""
import json

import soundfile as sf

from bench import common, memory


def test_memory_bench_measures_each_command_in_a_fresh_child(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(common, "OUT", tmp_path / "out")
    monkeypatch.setattr(memory, "OUT", tmp_path / "out")
    assert memory.main(["--minutes", "0.1", "--only", "pitch CSV", "compare", "--work", str(tmp_path / "w")]) == 0
    doc = json.loads((tmp_path / "out" / "memory.json").read_text())
    rows = {r["command"]: r for r in doc["rows"]}
    assert sorted(rows) == ["compare", "pitch CSV", "render separate"]  # compare needs the separated file
    for r in rows.values():
        assert r["rc"] == 0 and r["minutes"] == 0.1 and r["audio_s"] == 6.0 and r["wall_s"] > 0
        assert 30 < r["peak_rss_mb"] < 4000 and r["argv"][0] == "streamproc"
    assert rows["compare"]["peak_rss_mb"] < rows["render separate"]["peak_rss_mb"]  # no model in compare
    assert "SI-SDR" in rows["compare"]["stdout"]
    info = sf.info(str(tmp_path / "w" / "0.1min" / "separate-in.flac"))
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, 6 * 44100)
    assert "render separate" in capsys.readouterr().out
