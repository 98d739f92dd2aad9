"""What a batch worker does: load the task's models once, then process file after file.

A file's output is written under ``DIR/.batch-partial`` and renamed into the mirrored tree
only when complete, so a worker killed at any instant leaves nothing partial where the
outputs go. Every failure of one file (unreadable, corrupt, a bug) becomes that file's
record and the worker goes on with the next.
"""
from __future__ import annotations

import hashlib
import os
import resource
import socket
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..audio_io import AUDIO_EXTENSIONS
from ..errors import UserError
from ..level import LEVELS

PITCH_FORMATS = ("csv", "mid", "json")
FORMATS = tuple(e[1:] for e in AUDIO_EXTENSIONS) + PITCH_FORMATS
DEVICES = ("auto", "cpu", "cuda")
RENDER_BLOCK = 4096            # streamproc render's default --block (outputs do not depend on it)


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs to know, picklable for process pools and Ray."""
    task: str
    recon: str | None = None
    profile: str = "quality"
    fmt: str = "wav"
    device: str = "auto"       # auto: CUDA where onnxruntime has it, else CPU
    threads: int = 1           # onnxruntime intra-op threads per worker
    level: str = "auto"        # streamproc.level: each file at the models' level ("auto") or as it is ("off")


@dataclass(frozen=True)
class Job:
    """One file: where to read it, where its output goes and where it is written meanwhile."""
    index: int
    src: str
    dst: str
    partial: str


def default_format(task: str) -> str:
    return "csv" if task == "pitch" else "wav"


def check_settings(s: Settings):
    """The TaskSpec for these settings; every mistake a UserError before any work."""
    from ..tasks import resolve

    spec = resolve(s.task, s.recon, s.profile)
    if s.fmt not in FORMATS:
        raise UserError(f"unknown --format {s.fmt!r} (choose from {', '.join(FORMATS)})")
    if s.fmt in PITCH_FORMATS and spec.task != "pitch":
        raise UserError(f"--format {s.fmt} is for --task pitch; task {spec.task} writes audio "
                        f"({', '.join(e[1:] for e in AUDIO_EXTENSIONS)})")
    if s.device not in DEVICES:
        raise UserError(f"unknown --device {s.device!r} (choose from {', '.join(DEVICES)})")
    if s.level not in LEVELS:
        raise UserError(f"unknown --level {s.level!r} (choose from {', '.join(LEVELS)})")
    for _, path in pipeline_files(spec):
        if path is None:
            raise UserError(f"task {spec.task} with --recon {spec.recon} needs a model that does not ship "
                            f"with this version")
    return spec


def pipeline_files(spec) -> list[tuple[str, Path | None]]:
    """(role, file) of every trained model the pipeline reads; None where one is missing."""
    from ..tasks import MODEL_TASKS, shipped_model, shipped_vocoder

    files = []
    if spec.task in MODEL_TASKS:
        files.append((spec.task, shipped_model(spec.task, spec.profile, spec.recon)))
    if spec.recon == "restore":
        files.append(("restore", shipped_model("restore", spec.profile)))
    if spec.recon.startswith("wavenet"):
        files.append(("vocoder", shipped_vocoder()))
    return files


@lru_cache(maxsize=None)
def _sha12(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:12]


def model_identity(spec) -> str:
    """Names and content hashes of the models a pipeline runs ('none' for model-free tasks):
    a re-run after a model changes redoes every file."""
    parts = []
    for role, path in pipeline_files(spec):
        if path is None:  # checked before the batch starts (a missing model is refused there)
            continue
        st = path.stat()
        parts.append(f"{role}={path.name}@{_sha12(str(path), st.st_size, st.st_mtime_ns)}")
    return "+".join(parts) or "none"


def providers(device: str) -> list[str]:
    """onnxruntime execution providers for --device."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" not in have:
        raise UserError("--device cuda: this onnxruntime has no CUDA execution provider "
                        "(pip install 'streamproc[gpu]' on a machine with an NVIDIA GPU)")
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have]


def peak_rss_kb() -> int:
    """This process's own peak resident memory: VmHWM where Linux has it (ru_maxrss carries the
    parent's resident size across fork and exec, so a worker spawned by a large parent would
    report at least that), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class FileWorker:
    """The task's models, loaded once, and :meth:`process` for each file.

    Each file goes through :class:`streamproc.render.FileRenderer`, the very code ``streamproc
    render`` runs (so outputs are byte-identical to it), block by block in constant memory,
    with its engines kept per rate pair across files."""

    def __init__(self, settings: Settings) -> None:
        from ..render import FileRenderer
        from ..tasks import load_shipped_vocoder

        self.settings = settings
        self.spec = spec = check_settings(settings)
        if spec.recon.startswith("wavenet"):
            load_shipped_vocoder()  # cached per process; the engines pick it up from there
        self.renderer = FileRenderer(spec, block=RENDER_BLOCK, providers=providers(settings.device),
                                     threads=settings.threads, level=settings.level)
        self.providers = self.renderer.providers or ["none"]
        self.identity = model_identity(spec)
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def process(self, job: Job) -> dict:
        """Process one file; never raises for a file's own trouble (it goes in the record)."""
        start = time.perf_counter()
        rec: dict[str, Any] = {"status": "done", "error": None, "duration_s": None}
        try:
            rec.update(self._run(job))
        except UserError as exc:          # the one line the CLI prints for this file
            rec.update(status="failed", error=str(exc))
        except Exception as exc:          # noqa: BLE001  (a bug must not stop the other 9 999 files)
            rec.update(status="failed", error=f"internal error: {one_line(exc)}")
        finally:
            if os.path.exists(job.partial):
                os.unlink(job.partial)
        rec.update(seconds=round(time.perf_counter() - start, 4), worker=self.name, providers=self.providers,
                   peak_rss_mb=round(peak_rss_kb() / 1024, 1))
        return rec

    def _run(self, job: Job) -> dict[str, Any]:
        """``src`` -> ``partial`` (renamed to ``dst`` once whole); returns the input's seconds and
        what ``--level`` did to it (``streamproc.level``: its gain in dB and each channel's offset)."""
        src, dst, partial = Path(job.src), Path(job.dst), Path(job.partial)
        if dst.exists() and os.path.samefile(dst, src):
            raise UserError(f"output {dst} is the input file; choose another --out")
        report = self.renderer.render(src, partial)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, dst)
        return {"duration_s": report.frames_in / report.in_rate,
                "level_gain_db": round(report.extra["level_gain_db"], 3),
                "dc_offset": [round(v, 7) for v in report.extra["dc_offset"]]}
