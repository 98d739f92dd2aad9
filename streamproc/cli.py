"""Command line: ``streamproc render|compare|synth|pitch|batch|live|bench|models|devices``.

User mistakes: one line on stderr, exit 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .audio_io import AUDIO_EXTENSIONS, check_input_path, check_output_path, read_audio, write_audio
from .errors import UserError
from .tasks import OFFLINE_PROFILE, PROFILES, RECONS, resolve

EXIT_USER = 2
BLUEPRINT_HARMONICS, BLUEPRINT_ROLLOFF = 3, 0.5  # mid-range of the synth model's training blueprints
BLUEPRINT_PEAK_DB = -12.0                          # training blueprints peak at -24..-1 dB
SYNTH_TAIL_S = 0.5                                 # room for the last note's release


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        raise UserError(message)


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be a positive number of samples, got {value}")
        return value
    return parse


def _guide_weight_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--guide-weight", type=float, default=None, metavar="W",
                   help="--recon wavenet-guided: each sample is W * input + (1 - W) * the vocoder's (default 0.5)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="streamproc", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("render", help="process an audio file offline through the streaming engine")
    r.add_argument("input", help="audio file (wav, flac, ogg, mp3; any rate 4-192 kHz)")
    r.add_argument("output", help="audio file to write (wav, flac, ogg, mp3)")
    r.add_argument("--task", required=True, help=f"one of: {', '.join(RECONS)}")
    r.add_argument("--recon", default=None, help="reconstruction (default: the task's best)")
    r.add_argument("--model", default=None, help="an exported ONNX model to run instead of the shipped one")
    _guide_weight_arg(r)
    r.add_argument("--block", type=_positive_int("--block"), default=4096,
                   help="block size in input samples (output does not depend on it)")
    r.add_argument("--out-rate", type=_positive_int("--out-rate"), default=None,
                   help="output sample rate (default: max(input rate, 16000))")
    r.add_argument("--profile", default=OFFLINE_PROFILE,
                   help=f"{' | '.join(PROFILES)} (default {OFFLINE_PROFILE}: offline, latency costs nothing)")
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
    lv.add_argument("--samplerate", type=_positive_int("--samplerate"), default=None,
                    help="host rate (default: the device's)")
    lv.add_argument("--channels", type=_positive_int("--channels"), default=1)
    lv.add_argument("--profile", default="default",
                    help="default (within 200 ms) | low-latency (less lookahead: less delay, some quality) | quality")
    lv.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    lv.add_argument("--report", default=None, help="write latency and under/overflow counts as JSON here")

    c = sub.add_parser("compare", help="SI-SDR and log-spectral distance of an estimate against a reference")
    c.add_argument("reference", help="reference audio file (the truth)")
    c.add_argument("estimate", help="estimate audio file: same sample rate, length and channels")
    c.add_argument("--plot", default=None, metavar="PNG",
                   help="draw the separation overlay (cyan match, red missed, white interference) into this PNG")

    sy = sub.add_parser("synth", help="play a MIDI melody with the synth model (violin timbre)")
    sy.add_argument("midi", help="MIDI file (.mid, .midi); non-drum notes, highest note wins where they overlap")
    sy.add_argument("output", help="audio file to write (wav, flac, ogg, mp3), 16 kHz")
    sy.add_argument("--recon", default=None, help=f"reconstruction (one of: {', '.join(RECONS['synth'])})")
    sy.add_argument("--harmonics", type=_positive_int("--harmonics"), default=BLUEPRINT_HARMONICS,
                    help=f"harmonics in the sine blueprint (default {BLUEPRINT_HARMONICS}; the model was trained on 1-6)")
    sy.add_argument("--rolloff", type=float, default=BLUEPRINT_ROLLOFF,
                    help=f"amplitude ratio of successive harmonics, 0-1 (default {BLUEPRINT_ROLLOFF}; "
                         f"trained on 0.2-0.8)")
    sy.add_argument("--blueprint-out", default=None, metavar="FILE",
                    help="also write the blueprint (the model's input) to this audio file")
    sy.add_argument("--model", default=None, help="a synth ONNX model to run instead of the shipped one")
    sy.add_argument("--quiet", action="store_true", help="no progress bar")

    pt = sub.add_parser("pitch", help="f0 track and notes of a solo recording (CSV, MIDI or JSON)")
    pt.add_argument("input", help="audio file (wav, flac, ogg, mp3; several channels are mixed to mono)")
    pt.add_argument("output", help="OUT.csv (time,f0 every 10 ms), OUT.mid (notes) or OUT.json (both)")
    pt.add_argument("--model", default=None, help="a pitch ONNX model to run instead of the shipped one")
    pt.add_argument("--plot", default=None, metavar="PNG", help="also draw the f0 track over the spectrogram")

    dm = sub.add_parser("demo", help="run every task on the bundled examples (audio, CSV, MIDI, pictures)")
    dm.add_argument("outdir", nargs="?", default="streamproc-demo", help="folder to write into (default: streamproc-demo)")
    sub.add_parser("models", help="list tasks, reconstructions and available models")
    b = sub.add_parser("bench", help="real-time factor of the engine on the bundled example")
    b.add_argument("--task", default="resynth", help=f"one of: {', '.join(RECONS)}")
    b.add_argument("--model", default=None, help="an exported ONNX model (tasks that need one)")
    b.add_argument("--rate", type=_positive_int("--rate"), default=48000, help="host sample rate")
    b.add_argument("--profile", default="default", help=" | ".join(PROFILES))
    b.add_argument("--blocks", type=_positive_int("--blocks"), nargs="*", default=[64, 256, 1024, 4096])
    sub.add_parser("devices", help="list audio devices")
    from .batch.cli import add_parser as add_batch_parser

    add_batch_parser(sub)
    return p


def cmd_render(args: argparse.Namespace) -> None:
    spec = resolve(args.task, args.recon, args.profile, args.guide_weight)
    src = check_input_path(args.input)
    from .pitch import PITCH_EXTENSIONS

    dst = check_output_path(args.output, [src], AUDIO_EXTENSIONS + (PITCH_EXTENSIONS if spec.task == "pitch" else ()))
    plot, ref_path = _check_plot_args(args, [src, dst])
    if dst.suffix.lower() in PITCH_EXTENSIONS:  # render --task pitch writes CSV/MIDI/JSON too
        return _pitch_to_file(src, dst, args.model, plot)
    from .tasks import task_model

    model = task_model(spec.task, args.model, spec.cfg)
    x, rate = read_audio(src)
    ref = _read_reference(ref_path, x, rate) if ref_path else None
    from .render import output_rate, render_array

    out_rate = output_rate(rate, args.out_rate)
    from tqdm import tqdm

    long_file = x.shape[1] > 30 * rate
    with tqdm(total=x.shape[0] * x.shape[1], unit="sample", unit_scale=True, desc=f"{spec.task}",
              disable=args.quiet or not long_file, leave=False) as bar:
        y = render_array(x, rate, spec, model, out_rate, args.block,
                         progress=lambda n: bar.update(min(n, bar.total - bar.n)))
    write_audio(dst, y, out_rate)
    if ref is not None:
        _print_scores(ref, _at_rate(y, out_rate, rate, ref.shape[1]), rate)
    if plot:
        from .plots import plot_spectrograms

        panels = [("input", x, rate), (f"output ({spec.task}/{spec.recon})", y, out_rate)]
        plot_spectrograms(panels + ([("reference", ref, rate)] if ref is not None else []), plot)


def _check_plot_args(args: argparse.Namespace, taken: list[Path]) -> tuple[Path | None, Path | None]:
    """Validate --plot and --reference before any long work, so a mistake writes nothing."""
    ref = None
    if args.reference and args.task == "pitch":
        raise UserError("--reference scores audio against audio; for --task pitch it has no meaning")
    plot = _plot_path(args.plot, taken)
    if args.reference:
        ref = check_input_path(args.reference, kind="reference")
    return plot, ref


def _plot_path(text: str | None, taken: list[Path]) -> Path | None:
    """--plot's PNG path, checked before any work; never one of the command's own files."""
    if not text:
        return None
    from .plots import check_plot_path

    plot = check_plot_path(text)
    if any(plot.resolve() == p.resolve() for p in taken):
        raise UserError(f"--plot {plot} names an input or output file; choose another name")
    return plot


def _read_reference(path: Path, x, rate: int):
    ref, ref_rate = read_audio(path)
    if ref_rate != rate or ref.shape != x.shape:
        raise UserError(f"--reference {path} must match the input: {rate} Hz, {x.shape[1]} samples, "
                        f"{x.shape[0]} channel(s); it has {ref_rate} Hz, {ref.shape[1]} samples, "
                        f"{ref.shape[0]} channel(s)")
    return ref


def _at_rate(y, y_rate: int, rate: int, length: int):
    """The output brought back to the reference's rate and length (when --out-rate differs)."""
    if y_rate == rate:
        return y
    import numpy as np
    import soxr

    z = soxr.resample(np.asarray(y, np.float64).T, y_rate, rate, quality="HQ").T
    return np.pad(z, ((0, 0), (0, max(0, length - z.shape[1]))))[:, :length]


def _print_scores(ref, est, rate: int) -> None:
    from .metrics import score

    s = score(ref, est, rate)
    chans = f" (mean of {ref.shape[0]} channels)" if ref.shape[0] > 1 else ""
    print(f"SI-SDR {s['si_sdr']:7.2f} dB{chans}")
    print(f"LSD    {s['lsd']:7.3f}{chans}")


def cmd_compare(args: argparse.Namespace) -> None:
    ref_path = check_input_path(args.reference, kind="reference")
    est_path = check_input_path(args.estimate, kind="estimate")
    plot = _plot_path(args.plot, [ref_path, est_path])
    ref, rate = read_audio(ref_path)
    est, est_rate = read_audio(est_path)
    if est_rate != rate:
        raise UserError(f"{est_path} is at {est_rate} Hz, {ref_path} at {rate} Hz: resample one first")
    if est.shape != ref.shape:
        raise UserError(f"{est_path} has {est.shape[1]} samples x {est.shape[0]} channel(s), {ref_path} has "
                        f"{ref.shape[1]} x {ref.shape[0]}: they must be equal (no trimming or padding is guessed)")
    _print_scores(ref, est, rate)
    if plot:
        from .plots import plot_separation_overlay

        plot_separation_overlay(ref, est, rate, plot, title=f"{est_path.name} against {ref_path.name}")


def cmd_synth(args: argparse.Namespace) -> None:
    import numpy as np

    from .blueprint import MIDI_EXTENSIONS, SAMPLE_RATE, harmonic_blueprint, melody_from_midi
    from .tasks import task_model

    spec = resolve("synth", args.recon, OFFLINE_PROFILE)
    src = check_input_path(args.midi, MIDI_EXTENSIONS, kind="MIDI")
    dst = check_output_path(args.output, [src], AUDIO_EXTENSIONS)
    blue_dst = check_output_path(args.blueprint_out, [src, dst], AUDIO_EXTENSIONS) if args.blueprint_out else None
    if not 0.0 < args.rolloff <= 1.0:
        raise UserError(f"--rolloff must be in (0, 1], got {args.rolloff:g}")
    model = task_model("synth", args.model, spec.cfg)
    notes = melody_from_midi(src)
    n = int(np.ceil((notes[:, 1].max() + SYNTH_TAIL_S) * SAMPLE_RATE))
    blue = harmonic_blueprint(notes, n, args.harmonics, args.rolloff, rng=None).astype(np.float64)
    blue *= 10.0 ** (BLUEPRINT_PEAK_DB / 20.0) / max(float(np.abs(blue).max()), 1e-9)
    from tqdm import tqdm

    from .render import render_array

    with tqdm(total=n, unit="sample", unit_scale=True, desc="synth", disable=args.quiet or n < 30 * SAMPLE_RATE,
              leave=False) as bar:
        y = render_array(blue[None], SAMPLE_RATE, spec, model, SAMPLE_RATE,
                         progress=lambda k: bar.update(min(k, bar.total - bar.n)))
    if blue_dst:
        write_audio(blue_dst, blue[None], SAMPLE_RATE)
    write_audio(dst, y, SAMPLE_RATE)


def _pitch_to_file(src: Path, dst: Path, model: str | None, plot: Path | None = None) -> None:
    from .pitch import track_pitch, write_pitch

    x, rate = read_audio(src)
    mono = x.mean(axis=0)
    track = track_pitch(mono, rate, model)
    write_pitch(track, dst)
    if plot:
        from .plots import plot_pitch

        plot_pitch(mono, rate, track.times, track.f0, plot, title=f"f0 of {src.name} ({track.model})")


def cmd_pitch(args: argparse.Namespace) -> None:
    from .pitch import PITCH_EXTENSIONS

    src = check_input_path(args.input)
    dst = check_output_path(args.output, [src], PITCH_EXTENSIONS)
    _pitch_to_file(src, dst, args.model, _plot_path(args.plot, [src, dst]))


def cmd_bench(args: argparse.Namespace) -> None:
    from .benchmark import HEADER, load_clip, measure, row_line, task_clip

    resolve(args.task, None, args.profile)
    clip = task_clip(args.task)
    x = load_clip(clip, args.rate)
    print(f"{clip.name}, {x.shape[0] / args.rate:.1f} s; RTF = processing time / duration")
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
    for recon, exc in skipped:
        print(f"skipped {args.task}/{recon}: {exc}")


def cmd_models(args: argparse.Namespace) -> None:
    from .onnx_model import list_models
    from .tasks import model_tasks, shipped_model

    for task, recons in RECONS.items():
        shipped = shipped_model(task)
        need = (f"  [model {shipped.name}]" if shipped else
                "  [needs --model: no trained model ships yet]" if task in model_tasks() else "")
        print(f"task {task}: recon {', '.join(recons)} (default {recons[0]}){need}")
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


def cmd_live(args: argparse.Namespace) -> None:
    import json
    import time

    spec = resolve(args.task, args.recon, args.profile, args.guide_weight)
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise UserError(f"live audio unavailable: {exc}") from None
    from .live import LiveLoop
    from .processor import Processor

    dev_in, dev_out = _device(args.input), _device(args.output)
    try:
        rate = args.samplerate or int(sd.query_devices(dev_in, "input")["default_samplerate"])
        fx = Processor(spec.task, spec.recon, model=args.model, profile=spec.profile_name,
                       guide_weight=args.guide_weight)
        loop = LiveLoop(fx, rate, args.blocksize, args.channels, dev_in, dev_out)
        loop.start()
    except (sd.PortAudioError, ValueError) as exc:
        raise UserError(f"cannot open audio device: {' '.join(str(exc).split())}") from None
    print(f"streamproc live: {spec.task}/{spec.recon} ({spec.profile_name}) at {rate} Hz, block {args.blocksize}, "
          f"latency {loop.latency_samples} samples ({loop.report()['latency_ms']:.1f} ms); Ctrl-C stops",
          file=sys.stderr)
    start = time.monotonic()
    try:
        while args.duration is None or time.monotonic() - start < args.duration:
            time.sleep(0.5)
            if sys.stderr.isatty():
                print(f"\r{loop.stats.line()}", end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        device_latency = loop.report()
        stats = loop.stop()
        print(f"\rstreamproc live: {stats.line()}", file=sys.stderr)
        if args.report:
            Path(args.report).write_text(json.dumps({**device_latency, **loop.report()}, indent=2))


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
    try:
        args = build_parser().parse_args(argv)
        status = COMMANDS[args.command](args)
    except UserError as exc:
        print(f"streamproc: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("streamproc: interrupted", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
