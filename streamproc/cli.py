"""Command line: ``streamproc render|models|devices``. User mistakes: one line on stderr, exit 2."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .audio_io import AUDIO_EXTENSIONS, check_input_path, check_output_path, read_audio, write_audio
from .errors import UserError
from .tasks import RECONS, resolve

EXIT_USER = 2


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


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="streamproc", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("render", help="process an audio file offline through the streaming engine")
    r.add_argument("input", help="audio file (wav, flac, ogg, mp3; any rate 4-192 kHz)")
    r.add_argument("output", help="audio file to write (wav, flac, ogg, mp3)")
    r.add_argument("--task", required=True, help=f"one of: {', '.join(RECONS)}")
    r.add_argument("--recon", default=None, help="reconstruction (default: the task's best)")
    r.add_argument("--model", default=None, help="an exported ONNX model to run instead of the shipped one")
    r.add_argument("--block", type=_positive_int("--block"), default=4096,
                   help="block size in input samples (output does not depend on it)")
    r.add_argument("--out-rate", type=_positive_int("--out-rate"), default=None,
                   help="output sample rate (default: max(input rate, 16000))")
    r.add_argument("--profile", default="default", help="default | low-latency")
    r.add_argument("--quiet", action="store_true", help="no progress bar")

    lv = sub.add_parser("live", help="process a live audio input (sounddevice) to an output")
    lv.add_argument("--task", required=True, help=f"one of: {', '.join(RECONS)}")
    lv.add_argument("--recon", default=None)
    lv.add_argument("--model", default=None, help="an exported ONNX model")
    lv.add_argument("--input", default=None, help="input device (index or name; default: system default)")
    lv.add_argument("--output", default=None, help="output device (index or name)")
    lv.add_argument("--blocksize", type=_positive_int("--blocksize"), default=256)
    lv.add_argument("--samplerate", type=_positive_int("--samplerate"), default=None,
                    help="host rate (default: the device's)")
    lv.add_argument("--channels", type=_positive_int("--channels"), default=1)
    lv.add_argument("--profile", default="default",
                    help="default | low-latency (less lookahead, faster resampling: less delay, some quality)")
    lv.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    lv.add_argument("--report", default=None, help="write latency and under/overflow counts as JSON here")

    sub.add_parser("models", help="list tasks, reconstructions and available models")
    b = sub.add_parser("bench", help="real-time factor of the engine on the bundled example")
    b.add_argument("--task", default="resynth", help=f"one of: {', '.join(RECONS)}")
    b.add_argument("--model", default=None, help="an exported ONNX model (tasks that need one)")
    b.add_argument("--rate", type=_positive_int("--rate"), default=48000, help="host sample rate")
    b.add_argument("--profile", default="default", help="default | low-latency")
    b.add_argument("--blocks", type=_positive_int("--blocks"), nargs="*", default=[64, 256, 1024, 4096])
    sub.add_parser("devices", help="list audio devices")
    return p


def cmd_render(args: argparse.Namespace) -> None:
    spec = resolve(args.task, args.recon, args.profile)
    src = check_input_path(args.input)
    dst = check_output_path(args.output, [src], AUDIO_EXTENSIONS)
    from .tasks import shipped_model

    model = None
    model_path = args.model or shipped_model(spec.task)
    if model_path:
        from .onnx_model import load_model

        model = load_model(model_path, task=spec.task, sample_rate=spec.cfg.sample_rate, cfg=spec.cfg)
    x, rate = read_audio(src)
    from .render import output_rate, render_array

    out_rate = output_rate(rate, args.out_rate)
    from tqdm import tqdm

    long_file = x.shape[1] > 30 * rate
    with tqdm(total=x.shape[0] * x.shape[1], unit="sample", unit_scale=True, desc=f"{spec.task}",
              disable=args.quiet or not long_file, leave=False) as bar:
        y = render_array(x, rate, spec, model, out_rate, args.block,
                         progress=lambda n: bar.update(min(n, bar.total - bar.n)))
    write_audio(dst, y, out_rate)


def cmd_bench(args: argparse.Namespace) -> None:
    import soxr

    from .benchmark import EXAMPLE, HEADER, measure, row_line

    resolve(args.task, None, args.profile)
    x, rate = read_audio(EXAMPLE)
    x = soxr.resample(x[0], rate, args.rate) if rate != args.rate else x[0]
    print(f"{EXAMPLE.name}, {x.shape[0] / args.rate:.1f} s; RTF = processing time / duration")
    print(HEADER)
    for recon in RECONS[args.task]:
        for block in args.blocks:
            print(row_line(measure(args.task, recon, args.rate, block, x, model=args.model,
                                   profile=args.profile)), flush=True)


def cmd_models(args: argparse.Namespace) -> None:
    from .tasks import MODEL_TASKS, shipped_model

    for task, recons in RECONS.items():
        shipped = shipped_model(task)
        need = (f"  [model {shipped.name}]" if shipped else
                "  [needs --model: no trained model ships yet]" if task in MODEL_TASKS else "")
        print(f"task {task}: recon {', '.join(recons)} (default {recons[0]}){need}")
    try:
        from .onnx_model import list_models
    except ImportError:
        return
    for info in list_models():
        print(" ".join(f"{k}={v}" for k, v in info.items()))


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

    spec = resolve(args.task, args.recon, args.profile)
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise UserError(f"live audio unavailable: {exc}") from None
    from .live import LiveLoop
    from .processor import Processor

    dev_in, dev_out = _device(args.input), _device(args.output)
    try:
        rate = args.samplerate or int(sd.query_devices(dev_in, "input")["default_samplerate"])
        fx = Processor(spec.task, spec.recon, model=args.model, profile=spec.profile_name)
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


COMMANDS = {"render": cmd_render, "live": cmd_live, "models": cmd_models, "devices": cmd_devices,
            "bench": cmd_bench}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        COMMANDS[args.command](args)
    except UserError as exc:
        print(f"streamproc: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("streamproc: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
