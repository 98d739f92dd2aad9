"""The CUDA-vs-CPU comparison and the timings that bench/device_check.sh runs (see there)."""


import sys


def main() -> int:
    import json, os, tempfile, time
    from pathlib import Path
    import numpy as np
    import onnxruntime as ort
    from streamproc.audio_io import read_audio
    from streamproc.onnx_model import load_model
    from streamproc.pitch import track_pitch
    from streamproc.tasks import MODEL_TASKS, OFFLINE_PROFILE, build_engine, resolve, shipped_model
    from streamproc.render import output_rate

    EX = Path("streamproc/examples")
    CLIP = {"separate": "duet.flac", "superres": "lofi.flac", "synth": "blueprint.flac", "pitch": "melody.flac"}
    AUDIO_TOL, CENTS_TOL, VOICING_TOL = 1e-3, 10.0, 0.99
    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if not cuda:
        print("device_check: no CUDA execution provider here (no GPU, or onnxruntime without CUDA): "
              "CPU provider only, nothing compared", flush=True)
    print(f"onnxruntime {ort.__version__}, providers {ort.get_available_providers()}")
    provs = {"cpu": ["CPUExecutionProvider"]} | ({"cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]} if cuda else {})
    ok = True
    for task in MODEL_TASKS:
        path = shipped_model(task)
        if path is None:
            continue
        spec = resolve(task, None, OFFLINE_PROFILE)
        x, rate = read_audio(EX / CLIP[task])
        outs = {}
        for name, p in provs.items():
            m = load_model(path, task=task, sample_rate=spec.cfg.sample_rate, cfg=spec.cfg, providers=p)
            restore = None
            if spec.recon == "restore":
                restore = load_model(shipped_model("restore"), task="restore", cfg=spec.cfg, providers=p)
            t = time.perf_counter()
            if task == "pitch":
                tr = track_pitch(x.mean(0), rate, m)
                outs[name] = (tr.f0, tr.voiced)
            else:
                outs[name] = np.stack([build_engine(spec, m, rate, output_rate(rate), restore).render(ch, 4096) for ch in x])
            dt = time.perf_counter() - t
            print(f"{task:9s} {spec.recon:8s} {name:4s} ({m.providers[0]}): RTF {dt / (x.shape[1] / rate):.4f}", flush=True)
        if "cuda" in outs:
            if task == "pitch":
                (fa, va), (fb, vb) = outs["cpu"], outs["cuda"]
                both = va & vb
                cents = np.abs(1200 * np.log2(fa[both] / fb[both])).max() if both.any() else 0.0
                agree = float((va == vb).mean())
                good = cents <= CENTS_TOL and agree >= VOICING_TOL
                print(f"{task:9s} CUDA vs CPU: max {cents:.2f} cents, voicing agrees {agree:.3f}: {'OK' if good else 'DIFFERS'}")
            else:
                err = float(np.abs(outs["cpu"] - outs["cuda"]).max())
                good = err <= AUDIO_TOL
                print(f"{task:9s} CUDA vs CPU: max abs difference {err:.2e} (tolerance {AUDIO_TOL:g}): {'OK' if good else 'DIFFERS'}")
            ok &= good

    from streamproc.batch import run_batch
    from streamproc.batch.work import Settings, default_format
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        import soundfile as sf
        for i in range(24):
            y, r = sf.read(str(sorted(EX.glob("*.flac"))[i % 6]))
            sf.write(str(src / f"f{i:02d}.flac"), np.roll(y, 997 * i), r)
        for task in ("separate", "pitch"):
            for dev in (["cuda"] if cuda else []) + ["cpu"]:
                s = run_batch([str(src)], Path(tmp) / f"{task}-{dev}", Settings(task=task, fmt=default_format(task),
                              device=dev), jobs=2, quiet=True, log=lambda *a, **k: None)
                print(f"batch {task:9s} --device {dev:4s} --jobs 2: {s.done} files, {s.audio_s / s.wall_s:.1f} audio h/h "
                      f"({s.wall_s:.1f} s, failed {len(s.failed)})", flush=True)
                ok &= not s.failed
    print("device_check:", "all outputs within tolerance" if ok and cuda else "CPU only (no GPU)" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
