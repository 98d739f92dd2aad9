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


def vocoder_facts(path: Path) -> tuple[str, dict]:
    """The GAN-WN vocoder (.npz written by export.wavenet): facts from its JSON meta."""
    from streamproc.wavenet import load_vocoder

    voc = load_vocoder(path)
    m, tr = voc.meta, voc.meta["training"]
    rows = [
        ("task", "vocoder (`--recon wavenet`, `wavenet-guided`): normalised log-mel frames → 16 kHz audio, "
                 "sample by sample"),
        ("network", f"WaveNet, {m['n_layers']} layers of kernel-2 dilated convolutions (dilations "
                    f"{min(m['dilations'])}..{max(m['dilations'])}, receptive field {voc.receptive_field} samples), "
                    f"{m['residual']} residual / {m['skip']} skip / {m['hidden']} hidden channels, "
                    f"mel conditioning through {m['cond_channels']} channels; {tr['params'] / 1e3:.0f} k parameters"),
        ("output", f"{m['n_classes']}-class mu-law softmax (mu {m['mu']}), sampled with a seeded xorshift RNG"),
        ("loss", "cross-entropy with teacher forcing (the true previous sample)"),
        ("file", f"{path.stat().st_size / 1e6:.2f} MB float32 .npz (no pickle; Numba runtime streamproc.wavenet)"),
        ("data", f"{tr['data_minutes']:.0f} min ({tr['data_examples']} clips) of train-split renderings, "
                 f"{tr['n_works']} works, soundfonts {', '.join(tr['soundfonts'])}, data seed {tr['data_seed']}"),
        ("steps", f"{tr['steps']} × segments of {tr['segment']} scored samples (Adam {tr['lr']}, halved every "
                  f"{tr['lr_half_life']:.0f} steps, seed {tr['seed']}, {tr['device']}); last training CE {tr['last_loss']}"),
        ("wall time", f"{tr['wall_seconds'] / 60:.0f} min of training loop on {tr['device'].upper()}"),
    ]
    table = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    return table, {"metadata": {"task": "vocoder"}, "training": tr, "title": "GAN-WN vocoder"}


def facts(path: Path) -> tuple[str, dict]:
    if path.suffix == ".npz":
        return vocoder_facts(path)
    from streamproc.onnx_model import read_metadata

    md = read_metadata(path)
    net, tr = json.loads(md["network"]), json.loads(md["training"])
    kind = "residual U-Net on linear bins" if net["kind"] == "restore" else "U-Net generator"
    loss = ("L1 only (CNN baseline, no discriminator)" if tr["loss"] == "l1"
            else f"L1 × {tr.get('lambda_l1', 100):g} + PatchGAN adversarial (pix2pix)")
    if net.get("output") == "mask":
        loss = ("bounded ratio mask on the input (sigmoid, floor −100 dB), loss on the masked mixture: "
                + loss)
    if net.get("output") == "residual":
        loss = "residual output (the input plus a clipped correction), loss on the sum: " + loss
    if tr.get("focus_last"):
        loss += (f"; weighted towards the window's right edge (last {tr['focus_last']} columns 1, "
                 f"the others {tr['focus_rest']:g}; `--focus-last`)")
    init = tr.get("init")
    purpose = PURPOSE.get(md["task"], "")
    if md.get("input_kind") == "logfreq":
        purpose = purpose.replace("log-mel image", "log-frequency image (rows on the pitch map's own pitches)")
    if md.get("input_kind") == "mel-asym":
        purpose = purpose.replace("log-mel image", "log-mel image under the `live` profile's asymmetric window "
                                                   "(4 ms fall; `mel-asym`)", 1) + " (under that window too); runs only with `--profile live`"
    if tr.get("pitch_sigma"):
        purpose = purpose.replace("+1 at the sounding pitch", f"a Gaussian of {tr['pitch_sigma']:g} rows "
                                                              "around the sounding pitch: soft targets")
    if md["task"] == "pitch" and tr["loss"] == "l1":
        loss = f"class-balanced L1 only (pixels > 0 weighted {tr.get('pos_weight', 32):g}), no discriminator"
    if md.get("voicing_threshold"):
        loss += f"; voicing threshold {float(md['voicing_threshold']):g} (map units, `models.pitch_threshold`)"
    rows = [
        ("task", f"`{md['task']}`: {purpose}"),
        ("network", f"{kind}, ngf {net['ngf']}, depth {net['depth']}, channel cap ×{net['max_mult']}; "
                    f"{tr['generator_params'] / 1e3:.0f} k parameters"
                    + (f" (discriminator {tr['discriminator_params'] / 1e3:.0f} k, training only)"
                       if tr.get("discriminator_params") else "")),
        ("loss", loss),
        ("window", f"{md['n_inputs']} rows × {net['context_frames'] + net['new_frames'] + net['lookahead_frames']} frames "
                   f"({net['context_frames']} context + {net['new_frames']} new + {net['lookahead_frames']} lookahead), "
                   f"{md['sample_rate']} Hz, n_fft {md['n_fft']}, hop {md['hop']}"),
        ("file", f"{path.stat().st_size / 1e6:.2f} MB float32 ONNX (opset 18)"),
        ("data", f"{tr['data_minutes']:.0f} min ({tr['data_examples']} examples) of train-split renderings"
                 + (f" (data version {tr['data_version']})" if tr.get("data_version") else "") + ", "
                 f"{tr['n_works']} works, soundfonts {', '.join(tr['soundfonts'])}, data seed {tr['data_seed']}"),
        ("steps", f"{tr['steps']} × batch {tr['batch']} (Adam {tr['lr']}, seed {tr['seed']}, {tr['device']})"
                  + (f", fine-tuned from `{init['run']}` (its {init['steps']} steps, "
                     f"`--init`)" if init else "")),
        ("wall time", f"{tr['wall_seconds'] / 60:.0f} min of training loop on {tr['device'].upper()} "
                      f"(2 shared cores, several runs side by side)"),
    ]
    shift = int(md.get("target_shift_frames", 0))
    if shift:
        rows.insert(4, ("alignment", f"target shift {shift} frames: column j describes sample j·hop + hop − n_fft/2 + "
                                     f"{shift}·hop (the pitch {shift} hops after the frame's centre)"))
    if tr.get("init"):
        init = tr["init"]
        start = (" (L1 only: the CNN, turned cGAN with a fresh discriminator)"
                 if init.get("loss") == "l1" and tr["loss"] != "l1" else "")
        rows.append(("initialised from", f"run `{init['run']}`{start} ({init['steps']} steps); steps and wall time "
                                         f"above are the fine-tuning's"
                     + (f", loss focus on the last {tr['focus_last']} columns (others × {tr['focus_rest']})"
                        if tr.get("focus_last") else "")))
    table = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    return table, {"metadata": md, "network": net, "training": tr}


HEADERS = {"si_sdr": "SI-SDR dB", "lsd": "LSD", "lsd80": "LSD80", "lsd_low": "LSD 0-2k", "lsd_high": "LSD 2-8k",
           "lsd80_low": "LSD80 0-2k", "lsd80_high": "LSD80 2-8k", "logmel_l1_db": "log-mel L1 dB",
           "melody_rpa": "melody RPA", "rpa": "RPA", "rca": "RCA", "oa": "OA", "c20": "<= 20 cents",
           "cents_med": "median abs cents", "cents_mean": "mean abs cents", "rtf": "RTF"}


def quality_table(report: dict, task: str, profile: str = "quality") -> str:
    """The ``bench.quality`` summary of one task as a markdown table (means; medians in brackets);
    a task scored on several clip sets (``pitch/SOUNDFONT``) gets one table per set."""
    tasks = report["profiles"][profile]["tasks"]
    sets = [k for k in tasks if k.split("/")[0] == task and k != task]
    if sets:
        return "\n\n".join(f"**{k}** ({tasks[k].get('clips_from', '')})\n\n" + quality_table(report, k, profile)
                           for k in sets)
    if task not in tasks:
        return ""
    summ = tasks[task]["summary"]
    metrics = [k for k in HEADERS if any(f"{k}_mean" in v or (k == "rtf" and "rtf" in v) for v in summ.values())]
    head = "| method | " + " | ".join(HEADERS[m] for m in metrics) + " | clips |"
    rows = [head, "|" + "---|" * (len(metrics) + 2)]
    for method, v in summ.items():
        cells = []
        for m in metrics:
            if m == "rtf":
                cells.append(f"{v['rtf']:.3f}" if "rtf" in v else "-")
            elif f"{m}_mean" in v:
                cells.append(f"{v[f'{m}_mean']:.3f} ({v[f'{m}_median']:.3f})")
            else:
                cells.append("-")
        rows.append(f"| {method} | " + " | ".join(cells) + f" | {v.get('n', '-')} |")
    targets = [t for t in report["profiles"][profile]["targets"] if t["target"].split(" ")[0] == task]
    lines = "\n".join(rows)
    if targets:
        lines += "\n\nTargets: " + "; ".join(
            f"{t['target']}: {', '.join(str(f) for f in t['figures'])} "
            f"**{ {True: 'PASS', False: 'MISS', None: 'n/a'}[t['pass']] }**" for t in targets)
    return lines


def card(path: Path, command: str, figures: str = "") -> str:
    table, info = facts(path)
    task = info["metadata"]["task"]
    kind = info.get("title") or (("U-Net, L1 only" if info["metadata"].get("task") == "pitch" else "CNN baseline")
                                 if info["training"]["loss"] == "l1" else "pix2pix cGAN")
    parts = [f"# `{path.name}`: {task} ({kind})",
             "", table, "", "## Reproduce", "", "```", command.strip(), "```", ""]
    if figures:
        parts += ["## Quality on the test split", "", figures.strip(), ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.card", description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--command", required=True, help="the commands that rendered the data, trained and exported it")
    ap.add_argument("--figures", type=Path, help="markdown with the test-split figures")
    ap.add_argument("--quality", type=Path, help="bench.quality JSON: append these tasks' tables")
    ap.add_argument("--tasks", default=None, help="comma-separated tasks whose tables to append (default: the model's)")
    ap.add_argument("--out", type=Path, help="write here (default: print)")
    a = ap.parse_args(argv)
    figures = a.figures.read_text() if a.figures else ""
    if a.quality:
        report = json.loads(a.quality.read_text())
        tasks = a.tasks.split(",") if a.tasks else [facts(a.model)[1]["metadata"]["task"]]
        cmd = report.get("command", "python -m bench.quality")
        tables = [f"`{cmd}` ({report['clips']} test-split clips of {report['seconds']:.0f} s per task, "
                  f"{report['soundfont']}; run {report['machine']['when']} on {report['machine']['cores']} cores):"]
        tables += [f"**{t}**\n\n{quality_table(report, t)}" for t in tasks]
        figures = "\n\n".join(tables) + ("\n\n" + figures if figures else "")
    text = card(a.model, a.command, figures)
    if a.out:
        a.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
