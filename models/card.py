"""Model card facts from an exported model: what it is, what it was trained on, for how long.

    python -m models.card streamproc/models_data/superres.onnx --command "python -m models.train ..." \
                          [--figures figures.md] [--out streamproc/models_data/superres.md]

Everything in the card's first two sections is read from the ONNX file itself (its metadata
carries the network config and the training summary), so a card cannot disagree with the
model it describes; the test-split figures come from ``bench.quality`` and are passed in.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PURPOSE = {
    "separate": "log-mel image of a violin + piano duet → log-mel image of the violin",
    "superres": "log-mel image of audio band-limited at 2 kHz (4 kHz rate) → the full-band log-mel image",
    "synth": "log-mel image of a sine-harmonic blueprint of a melody → the same melody's violin log-mel image",
    "pitch": "log-mel image of a solo melody → pitch map (128 quarter-tone rows from MIDI 36, +1 at the sounding pitch)",
    "restore": "descaled linear magnitudes (513 bins, normalised dB) → true linear magnitudes (GAN-S restoration)",
}


def facts(path: Path) -> tuple[str, dict]:
    from streamproc.onnx_model import read_metadata

    md = read_metadata(path)
    net, tr = json.loads(md["network"]), json.loads(md["training"])
    kind = "residual U-Net on linear bins" if net["kind"] == "restore" else "U-Net generator"
    loss = "L1 only (CNN baseline, no discriminator)" if tr["loss"] == "l1" else "L1 × 100 + PatchGAN adversarial (pix2pix)"
    rows = [
        ("task", f"`{md['task']}`: {PURPOSE.get(md['task'], '')}"),
        ("network", f"{kind}, ngf {net['ngf']}, depth {net['depth']}, channel cap ×{net['max_mult']}; "
                    f"{tr['generator_params'] / 1e3:.0f} k parameters"
                    + (f" (discriminator {tr['discriminator_params'] / 1e3:.0f} k, training only)"
                       if tr.get("discriminator_params") else "")),
        ("loss", loss),
        ("window", f"{md['n_inputs']} rows × {net['context_frames'] + net['new_frames'] + net['lookahead_frames']} frames "
                   f"({net['context_frames']} context + {net['new_frames']} new + {net['lookahead_frames']} lookahead), "
                   f"{md['sample_rate']} Hz, n_fft {md['n_fft']}, hop {md['hop']}"),
        ("file", f"{path.stat().st_size / 1e6:.2f} MB float32 ONNX (opset 18)"),
        ("data", f"{tr['data_minutes']:.0f} min ({tr['data_examples']} examples) of train-split renderings, "
                 f"{tr['n_works']} works, soundfonts {', '.join(tr['soundfonts'])}, data seed {tr['data_seed']}"),
        ("steps", f"{tr['steps']} × batch {tr['batch']} (Adam {tr['lr']}, seed {tr['seed']}, {tr['device']})"),
        ("wall time", f"{tr['wall_seconds'] / 60:.0f} min of training loop on {tr['device'].upper()} "
                      f"(2 shared cores, several runs side by side)"),
    ]
    table = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    return table, {"metadata": md, "network": net, "training": tr}


def card(path: Path, command: str, figures: str = "") -> str:
    table, info = facts(path)
    task = info["metadata"]["task"]
    parts = [f"# `{path.name}`: {task} ({'CNN baseline' if info['training']['loss'] == 'l1' else 'pix2pix cGAN'})",
             "", table, "", "## Reproduce", "", "```", command.strip(), "```", ""]
    if figures:
        parts += ["## Quality on the test split", "", figures.strip(), ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.card", description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--command", required=True, help="the commands that rendered the data, trained and exported it")
    ap.add_argument("--figures", type=Path, help="markdown with the test-split figures")
    ap.add_argument("--out", type=Path, help="write here (default: print)")
    a = ap.parse_args(argv)
    text = card(a.model, a.command, a.figures.read_text() if a.figures else "")
    if a.out:
        a.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
