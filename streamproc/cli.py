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
    r.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("models", help="list tasks, reconstructions and available models")
    sub.add_parser("devices", help="list audio devices")
    return p


def cmd_render(args: argparse.Namespace) -> None:
    spec = resolve(args.task, args.recon)
    src = check_input_path(args.input)
    dst = check_output_path(args.output, [src], AUDIO_EXTENSIONS)
    model = None
    if args.model:
        from .onnx_model import load_model

        model = load_model(args.model, task=spec.task, sample_rate=spec.cfg.sample_rate)
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


def cmd_models(args: argparse.Namespace) -> None:
    for task, recons in RECONS.items():
        print(f"task {task}: recon {', '.join(recons)} (default {recons[0]})")
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


COMMANDS = {"render": cmd_render, "models": cmd_models, "devices": cmd_devices}


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
