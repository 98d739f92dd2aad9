"""Command line: ``streamproc render|compare|synth|pitch|batch|live|bench|models|devices``.

User mistakes: one line on stderr, exit 2.
"""
from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn
from pathlib import Path

from .audio_io import AUDIO_EXTENSIONS, MAX_RATE, MIN_RATE, check_input_path, check_output_path
from .config import SAMPLE_RATE
from .errors import UserError
from .level import LEVELS, below_training
from .tasks import OFFLINE_PROFILE, PROFILES, RECONS, resolve

EXIT_USER = 2
BLUEPRINT_HARMONICS, BLUEPRINT_ROLLOFF = 3, 0.5  # mid-range of the synth model's training blueprints
BLUEPRINT_PEAK_DB = -12.0                          # training blueprints peak at -24..-1 dB
SYNTH_TAIL_S = 0.5                                 # room for the last note's release


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + message
        raise UserError(message)


def _whole(name: str, text: str) -> int:
    """An integer, also written as 44100.0 or 1e9 (so a range check can say what is wrong with it)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value == int(value)):
        raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}")
    return int(value)


def _positive_int(name: str, unit: str = "samples"):
    def parse(text: str) -> int:
        value = _whole(name, text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be a positive number of {unit}, got {value}")
        return value
    return parse


def _rate(name: str):
    """A sample rate within the range every stage supports (4-192 kHz)."""
    def parse(text: str) -> int:
        value = _whole(name, text)
        if not MIN_RATE <= value <= MAX_RATE:
            raise argparse.ArgumentTypeError(f"{name} must be within {MIN_RATE}-{MAX_RATE} Hz, got {value}")
        return value
    return parse


def _positive_seconds(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number of seconds, got {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{name} must be a positive, finite number of seconds, got {text}")
        return value
    return parse


def _guide_weight_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--guide-weight", type=float, default=None, metavar="W",
                   help="--recon wavenet-guided: each sample is W * input + (1 - W) * the vocoder's (default 0.5)")


def _level_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--level", default="auto", choices=LEVELS,
                   help="auto (default): the models hear each file without its DC offset and as loud as the audio "
                        "they trained on, and the output is brought back to the input's level; off: as it is")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="streamproc", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("render", help="process an audio file offline through the streaming engine")
    r.add_argument("input", help="audio file (wav, flac, ogg, mp3, aiff; any rate 4-192 kHz)")
    r.add_argument("output", help="audio file to write (wav, flac, ogg, mp3, aiff)")
    r.add_argument("--task", required=True, help=f"one of: {', '.join(RECONS)}")
    r.add_argument("--recon", default=None, help="reconstruction (default: the task's best in the profile; streamproc models lists them)")
    r.add_argument("--model", default=None, help="an exported ONNX model to run instead of the shipped one")
    _guide_weight_arg(r)
    r.add_argument("--block", type=_positive_int("--block"), default=4096,
                   help="block size in input samples (output does not depend on it)")
    r.add_argument("--out-rate", type=_rate("--out-rate"), default=None,
                   help=f"output sample rate (default: max(input rate, {SAMPLE_RATE}))")
    r.add_argument("--profile", default=OFFLINE_PROFILE,
                   help=f"{' | '.join(PROFILES)} (default {OFFLINE_PROFILE}: offline, latency costs nothing)")
    _level_arg(r)
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--plot", default=None, metavar="PNG",
                   help="also draw input | output (| reference) log-mel spectrograms into this PNG (needs matplotlib)")
    r.add_argument("--reference", default=None, metavar="REF",
                   help="the true output (audio of the input's rate, length and channels): prints SI-SDR and LSD "
                        "of the output against it, and adds it to --plot")

    lv = sub.add_parser("live", help="process a live audio input (sounddevice) to an output")
    lv.add_argument("--task", required=True, help=f"one of: {', '.join(RECONS)}")
    lv.add_argument("--recon", default=None)
    lv.add_argument("--model", default=None, help="an exported ONNX model")
    _guide_weight_arg(lv)
    lv.add_argument("--input", default=None, help="input device (index or name; default: system default)")
    lv.add_argument("--output", default=None, help="output device (index or name)")
    lv.add_argument("--blocksize", type=_positive_int("--blocksize"), default=256)
    lv.add_argument("--samplerate", type=_rate("--samplerate"), default=None,
                    help="host rate (default: the device's)")
    lv.add_argument("--channels", type=_positive_int("--channels", "channels"), default=1)
    lv.add_argument("--profile", default="default",
                    help="default (within 200 ms) | low-latency (less lookahead: less delay, some quality) | quality")
    lv.add_argument("--level", default=None, choices=LEVELS,
                    help="auto: the models hear the input without its DC offset and as loud as the audio they trained "
                         "on, following its loudness over the last 10 s (the output keeps the input's level); off: as "
                         "it is. Default: auto for pitch, and for superres except in the live profile; off for separate "
                         "(its mask does slightly better on well-levelled input as it is)")
    lv.add_argument("--duration", type=_positive_seconds("--duration"), default=None, help="stop after this many seconds")
    lv.add_argument("--report", default=None,
                    help="write the heard latency (and its parts), under/overflows and host xruns as JSON here")

    c = sub.add_parser("compare", help="SI-SDR and log-spectral distance of an estimate against a reference")
    c.add_argument("reference", help="reference audio file (the truth)")
    c.add_argument("estimate", help="estimate audio file: same sample rate, length and channels")
    c.add_argument("--plot", default=None, metavar="PNG",
                   help="draw the separation overlay (cyan match, red missed, white interference) into this PNG")

    sy = sub.add_parser("synth", help="play a MIDI melody with the synth model (violin timbre)")
    sy.add_argument("midi", help="MIDI file (.mid, .midi); non-drum notes, highest note wins where they overlap")
    sy.add_argument("output", help="audio file to write (wav, flac, ogg, mp3, aiff), 16 kHz")
    sy.add_argument("--recon", default=None, help=f"reconstruction (one of: {', '.join(RECONS['synth'])}; default: the quality profile's)")
    sy.add_argument("--harmonics", type=_positive_int("--harmonics", "harmonics (1 = the fundamental alone)"), default=BLUEPRINT_HARMONICS,
                    help=f"harmonics in the sine blueprint (default {BLUEPRINT_HARMONICS}; the model was trained on 1-6)")
    sy.add_argument("--rolloff", type=float, default=BLUEPRINT_ROLLOFF,
                    help=f"amplitude ratio of successive harmonics, 0-1 (default {BLUEPRINT_ROLLOFF}; "
                         f"trained on 0.2-0.8)")
    sy.add_argument("--blueprint-out", default=None, metavar="FILE",
                    help="also write the blueprint (the model's input) to this audio file")
    sy.add_argument("--model", default=None, help="a synth ONNX model to run instead of the shipped one")
    sy.add_argument("--quiet", action="store_true", help="no progress bar")

    pt = sub.add_parser("pitch", help="f0 track and notes of a solo recording (CSV, MIDI or JSON)")
    pt.add_argument("input", help="audio file (wav, flac, ogg, mp3, aiff; several channels are mixed to mono)")
    pt.add_argument("output", help="OUT.csv (time,f0 every 10 ms), OUT.mid (notes) or OUT.json (both)")
    pt.add_argument("--model", default=None, help="a pitch ONNX model to run instead of the shipped one")
    pt.add_argument("--plot", default=None, metavar="PNG", help="also draw the f0 track over the spectrogram")
    _level_arg(pt)

    dm = sub.add_parser("demo", help="run every task on the bundled examples (audio, CSV, MIDI, pictures)")
    dm.add_argument("outdir", nargs="?", default="streamproc-demo", help="folder to write into (default: streamproc-demo)")
    sub.add_parser("models", help="list tasks, reconstructions and available models")
    b = sub.add_parser("bench", help="real-time factor of the engine on the bundled example")
    b.add_argument("--task", default="resynth", help=f"one of: {', '.join(RECONS)}")
    b.add_argument("--model", default=None, help="an exported ONNX model (tasks that need one)")
    b.add_argument("--rate", type=_rate("--rate"), default=48000, help="host sample rate")
    b.add_argument("--profile", default="default", help=" | ".join(PROFILES))
    b.add_argument("--blocks", type=_positive_int("--blocks"), nargs="*", default=[64, 256, 1024, 4096])
    sub.add_parser("devices", help="list audio devices")
    from .batch.cli import add_parser as add_batch_parser

    add_batch_parser(sub)
    return p


def _progress_bar(total: int, desc: str, quiet: bool, long_after: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="sample", unit_scale=True, desc=desc, disable=quiet or total <= long_after,
                leave=False)


def _report_level(report) -> None:
    """A note where the level mattered most: a file quieter than any the models trained on."""
    gain = report.extra.get("level_gain_db", 0.0)
    if gain > 0.0 and below_training(report.extra["peak_dbfs"]):
        print(f"streamproc: note: the input peaks at {report.extra['peak_dbfs']:.1f} dBFS; the models heard it "
              f"{gain:.1f} dB louder (--level off: as it is)", file=sys.stderr)


def _report_clipping(report) -> None:
    if report.clipped:
        print(f"streamproc: note: {report.clipped} output samples ({100 * report.clipped_fraction:.3g} %) "
              f"exceeded full scale and were clipped to it", file=sys.stderr)


def cmd_render(args: argparse.Namespace) -> None:
    from .audio_io import AudioReader
    from .render import FileRenderer, pitch_extensions

    spec = resolve(args.task, args.recon, args.profile, args.guide_weight)
    src = check_input_path(args.input)
    if args.reference and spec.task == "pitch":
        raise UserError("--reference scores audio against audio; for --task pitch it has no meaning")
    if args.out_rate is not None and Path(args.output).suffix.lower() in pitch_extensions():
        raise UserError("--out-rate sets the rate of audio output; a pitch track (CSV, MIDI, JSON) "
                        "is written on its own 10 ms grid")
    with AudioReader(src) as head:  # the input's header first: a bad file fails before the model loads
        frames, rate = head.frames, head.rate
    renderer = FileRenderer(spec, args.model, args.out_rate, args.block, level=args.level)
    with _progress_bar(frames, spec.task, args.quiet, 30 * rate) as bar:
        report = renderer.render(src, args.output, args.plot, args.reference,
                                 progress=lambda n: bar.update(min(n, bar.total - bar.n)))
    _report_level(report)
    _report_clipping(report)
    if report.scores is not None:
        _print_scores(report.scores, report.channels)


def _plot_path(text: str | None, taken: list[Path]) -> Path | None:
    from .render import check_plot_target

    return check_plot_target(text, taken)


def _print_scores(s: dict, channels: int) -> None:
    chans = f" (mean of {channels} channels)" if channels > 1 else ""
    if s.get("estimate_silent"):
        print("SI-SDR    undefined: the estimate is silent (all samples zero)")
    else:
        print(f"SI-SDR {s['si_sdr']:7.2f} dB{chans}")
    print(f"LSD    {s['lsd']:7.3f}{chans}")


def cmd_compare(args: argparse.Namespace) -> None:
    from .analysis import MelPicture, StreamingScore
    from .audio_io import AudioReader

    ref_path = check_input_path(args.reference, kind="reference")
    est_path = check_input_path(args.estimate, kind="estimate")
    plot = _plot_path(args.plot, [ref_path, est_path])
    with AudioReader(ref_path, kind="reference") as ref, AudioReader(est_path, kind="estimate") as est:
        if est.rate != ref.rate:
            raise UserError(f"{est_path} is at {est.rate} Hz, {ref_path} at {ref.rate} Hz: resample one first")
        if (est.channels, est.frames) != (ref.channels, ref.frames):
            raise UserError(f"{est_path} has {est.frames} samples x {est.channels} channel(s), {ref_path} has "
                            f"{ref.frames} x {ref.channels}: they must be equal (no trimming or padding is guessed)")
        score = StreamingScore(ref.rate, ref.channels)
        pool = MelPicture.pool_for(ref.seconds)
        pics = [MelPicture(ref.rate, ref.channels, pool) for _ in range(2)] if plot else []
        for r, e in zip(ref.blocks(), est.blocks()):
            score.push(r, e)
            for pic, x in zip(pics, (r, e)):
                pic.push(x)
        try:
            scores = score.result()
        except ValueError:
            raise UserError(f"{est_path} and {ref_path} decode to different lengths") from None
    _print_scores(scores, ref.channels)
    if plot:
        from .plots import plot_overlay_mels

        plot_overlay_mels(pics[0].finish(), pics[1].finish(), plot, pool,
                          title=f"{est_path.name} against {ref_path.name}")


SYNTH_BLOCK = 1 << 15


def cmd_synth(args: argparse.Namespace) -> None:
    import numpy as np

    from .audio_io import AudioWriter
    from .blueprint import MIDI_EXTENSIONS, harmonic_blueprint, melody_from_midi
    from .render import FileRenderer, stream_engines

    spec = resolve("synth", args.recon, OFFLINE_PROFILE)
    src = check_input_path(args.midi, MIDI_EXTENSIONS, kind="MIDI")
    dst = check_output_path(args.output, [src], AUDIO_EXTENSIONS)
    blue_dst = check_output_path(args.blueprint_out, [src, dst], AUDIO_EXTENSIONS) if args.blueprint_out else None
    if not 0.0 < args.rolloff <= 1.0:
        raise UserError(f"--rolloff must be in (0, 1], got {args.rolloff:g}")
    notes = melody_from_midi(src, notice=lambda text: print(f"streamproc: note: {text}", file=sys.stderr))
    renderer = FileRenderer(spec, args.model)
    n = int(np.ceil((notes[:, 1].max() + SYNTH_TAIL_S) * SAMPLE_RATE))

    def window(i: int):
        return harmonic_blueprint(notes, n, args.harmonics, args.rolloff, rng=None, start=i,
                                  stop=i + SYNTH_BLOCK).astype(np.float64)

    with AudioWriter(dst, SAMPLE_RATE, 1) as out, \
            (AudioWriter(blue_dst, SAMPLE_RATE, 1) if blue_dst else _nothing()) as blue_out:
        peak = max(float(np.abs(window(i)).max()) for i in range(0, n, SYNTH_BLOCK))  # pass 1: the level
        gain = 10.0 ** (BLUEPRINT_PEAK_DB / 20.0) / max(peak, 1e-9)
        with _progress_bar(n, "synth", args.quiet, 30 * SAMPLE_RATE) as bar:
            def blocks():
                for i in range(0, n, SYNTH_BLOCK):
                    b = window(i)[None] * gain
                    if blue_out is not None:
                        blue_out.write(b)
                    yield b
                    bar.update(b.shape[1])
            stream_engines(renderer.engines(SAMPLE_RATE, SAMPLE_RATE, 1), blocks(), out.write)
        if blue_out is not None:
            blue_out.commit()
        out.commit()
    _report_clipping(_Clipped(out))


class _Clipped:
    def __init__(self, writer) -> None:
        self.clipped, self.clipped_fraction = writer.clipped, writer.clipped / max(1, writer.frames)


def _nothing():
    from contextlib import nullcontext

    return nullcontext(None)


def cmd_pitch(args: argparse.Namespace) -> None:
    from .pitch import PITCH_EXTENSIONS
    from .render import FileRenderer

    src = check_input_path(args.input)
    check_output_path(args.output, [src], PITCH_EXTENSIONS)
    report = FileRenderer(resolve("pitch", None, OFFLINE_PROFILE), args.model, level=args.level).render(
        src, args.output, args.plot)
    _report_level(report)


def cmd_bench(args: argparse.Namespace) -> None:
    from .benchmark import HEADER, load_clip, measure, row_line, task_clip

    resolve(args.task, None, args.profile)
    clip = task_clip(args.task)
    x = load_clip(clip, args.rate)
    print(f"{clip.name}, {x.shape[0] / args.rate:.1f} s; RTF = processing time / duration "
          f"(model: the task model's own share)")
    print(HEADER)
    skipped = []
    for recon in RECONS[args.task]:
        for block in args.blocks:
            try:
                r = measure(args.task, recon, args.rate, block, x, model=args.model, profile=args.profile)
            except UserError as exc:  # a reconstruction whose model does not ship: the others still run
                skipped.append((recon, exc))
                break
            print(row_line(r), flush=True)
    if len(skipped) == len(RECONS[args.task]):
        raise skipped[0][1]
    for recon, why in skipped:
        print(f"skipped {args.task}/{recon}: {why}")


def cmd_models(args: argparse.Namespace) -> None:
    from .onnx_model import list_models
    from .tasks import model_tasks, shipped_model

    for task, recons in RECONS.items():
        shipped = shipped_model(task)
        need = (f"  [model {shipped.name}]" if shipped else
                "  [needs --model: no trained model ships yet]" if task in model_tasks() else "")
        own = {name: r for name, p in PROFILES.items() if (r := p.default_recon(task))}
        by_recon = [f"{r} in profile {', '.join(n for n in own if own[n] == r)}" for r in dict.fromkeys(own.values())]
        print(f"task {task}: recon {', '.join(recons)} (default {'; '.join([recons[0], *by_recon])}){need}")
    for info in list_models():
        print(" ".join(f"{k}={v}" for k, v in info.items()))
    from .tasks import shipped_vocoder

    path = shipped_vocoder()
    if path is not None:
        from .wavenet import load_vocoder

        meta = load_vocoder(path).meta
        tr = meta.get("training", {})
        print(f"path={path} name=vocoder task=vocoder (--recon wavenet) layers={meta['n_layers']} "
              f"residual={meta['residual']} sample_rate={meta['sample_rate']} bytes={path.stat().st_size} "
              f"steps={tr.get('steps')} data_minutes={tr.get('data_minutes')} soundfonts={tr.get('soundfonts')}")
    print(f"profiles: {', '.join(PROFILES)} (render: {OFFLINE_PROFILE}; live, Processor, bench: default)")


def cmd_devices(args: argparse.Namespace) -> None:
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise UserError(f"audio devices unavailable: {exc} (pip install 'streamproc[live]' and "
                        f"install PortAudio)") from None
    print(sd.query_devices())


def _device(text: str | None):
    if text is None:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def _probe_report(path: str) -> Path:
    """--report's folder exists and takes a file (probed by creating one), before any live run."""
    import tempfile

    p = Path(path)
    if p.is_dir():
        raise UserError(f"--report {p} is a folder; name a file in it")
    folder = p.parent
    if not folder.exists():
        raise UserError(f"--report folder does not exist: {folder}")
    if not folder.is_dir():
        raise UserError(f"--report folder is not a folder: {folder}")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".streamproc-probe-"):
            pass
    except OSError as exc:
        raise UserError(f"--report folder is not writable: {folder} ({exc.strerror or exc})") from None
    return p


def _write_report(path: Path, report: dict) -> None:
    """Written whole or not at all (a temporary file renamed), even when a signal stops the run."""
    import json
    import os

    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, path)


def cmd_live(args: argparse.Namespace) -> None:
    import time

    spec = resolve(args.task, args.recon, args.profile, args.guide_weight)
    report_path = _probe_report(args.report) if args.report else None
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise UserError(f"live audio unavailable: {exc}") from None
    from .live import LiveLoop
    from .processor import Processor

    dev_in, dev_out = _device(args.input), _device(args.output)
    try:
        rate = args.samplerate or int(sd.query_devices(dev_in, "input")["default_samplerate"])
    except (sd.PortAudioError, ValueError) as exc:
        raise UserError(f"cannot open audio device: {' '.join(str(exc).split())}") from None
    fx = Processor(spec.task, spec.recon, model=args.model, profile=spec.profile_name,
                   guide_weight=args.guide_weight, level=args.level)
    loop = LiveLoop(fx, rate, args.blocksize, args.channels, dev_in, dev_out)
    try:
        loop.open()  # the device first: its errors come before any thread or warm-up
    except (sd.PortAudioError, ValueError) as exc:
        raise UserError(f"cannot open audio device: {' '.join(str(exc).split())}") from None
    interrupted: KeyboardInterrupt | None = None
    try:
        loop.start()
        print(f"streamproc live: {spec.task}/{spec.recon} ({spec.profile_name}) at {rate} Hz, block "
              f"{args.blocksize}, {loop.latency_line()}; Ctrl-C stops", file=sys.stderr)
        start = time.monotonic()
        while args.duration is None or time.monotonic() - start < args.duration:
            time.sleep(0.5)
            if sys.stderr.isatty():
                print(f"\r{loop.stats.line()}", end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP: stop, report, then exit 128 + signal
        interrupted = exc
    except sd.PortAudioError as exc:  # opened, but the host would not start it
        raise UserError(f"cannot start audio stream: {' '.join(str(exc).split())}") from None
    finally:
        stats = loop.stop()
        print(f"\rstreamproc live: {stats.line()}", file=sys.stderr)
        if report_path is not None:
            _write_report(report_path, loop.report())
    if interrupted is not None:
        raise interrupted


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    run_demo(Path(args.outdir), main)


def cmd_batch(args: argparse.Namespace) -> int:
    from .batch.cli import cmd_batch as run  # streamproc.batch: discovery, manifest, pools

    return run(args)


COMMANDS = {"demo": cmd_demo, "render": cmd_render, "live": cmd_live, "models": cmd_models, "devices": cmd_devices,
            "bench": cmd_bench, "compare": cmd_compare, "synth": cmd_synth,
            "pitch": cmd_pitch, "batch": cmd_batch}


def main(argv: list[str] | None = None) -> int:
    from .audio_io import remove_temporaries
    from .signals import exit_status, interrupts

    try:
        with interrupts():
            args = build_parser().parse_args(argv)
            status = COMMANDS[args.command](args)
    except UserError as exc:
        print(f"streamproc: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt as exc:
        print(f"streamproc: interrupted{f' ({exc})' if str(exc) else ''}", file=sys.stderr)
        return exit_status(exc)
    finally:  # whatever stopped the command, and whenever: no partial output stays behind
        remove_temporaries()
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
