"""`finsent bench`: throughput and batch latency, torch eager vs ONNX fp32 vs the shipped model.

torch/transformers are imported lazily (rows skipped with a note without them). All rows score the
same deterministic, realistic 9-60-word texts in calls of `--batch` texts, in one run, so the
machine load is the same for all; the load average is printed because other processes on a
2-core machine cut throughput by a third or more (README, Benchmarks).

Usage:
    finsent bench                      # quick table
    finsent bench --n 1024 --json      # one JSON object
    finsent bench --checkpoint /tmp/finsent-ckpt   # eager and fp32 rows from the trained weights
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Settings, tool_env
from pipeline.dev.bench_texts import chunks, make_texts, read_texts, sorted_batches


@dataclass
class Backend:
    """One row of the table: a scoring function, its batches, and untimed-but-counted setup."""

    name: str
    fn: Callable[[Sequence[str]], Any]
    batches: list[list[str]]
    extra_s: float = 0.0  # e.g. the length sort's extra tokenization, counted in throughput
    provider: str = ""
    lat: list[float] = field(default_factory=list)


def measure(backends: list[Backend], rounds: int = 4, warmup: int = 2) -> list[dict[str, Any]]:
    """Time every backend on its batches, interleaved in `rounds`: texts/s, p50/p99 latency.

    Why interleave: on a shared 2-core machine the load changes within a minute; running the
    backends in turns, a slice at a time, exposes them all to the same load, so ratios hold.
    """
    from tqdm.auto import tqdm

    for b in backends:
        for batch in b.batches[:warmup]:
            b.fn(batch)
    with tqdm(total=sum(len(b.batches) for b in backends), desc="bench", leave=False) as bar:
        for r in range(rounds):
            for b in backends:
                k = len(b.batches)
                for batch in b.batches[r * k // rounds : (r + 1) * k // rounds]:
                    t = time.perf_counter()
                    b.fn(batch)
                    b.lat.append(time.perf_counter() - t)
                    bar.update()
    rows = []
    for b in backends:
        n, total = sum(len(x) for x in b.batches), sum(b.lat) + b.extra_s
        q = statistics.quantiles(b.lat, n=100) if len(b.lat) > 1 else [b.lat[0]] * 99
        rows.append({"name": b.name, "texts": n, "seconds": total, "texts_per_s": n / total,
                     "p50_batch_ms": 1e3 * statistics.median(b.lat), "p99_batch_ms": 1e3 * q[98],
                     "provider": b.provider})  # fmt: skip
    return rows


def torch_backends(
    args: argparse.Namespace, texts: list[str], notes: list[str], tmp: Path
) -> tuple[list[Backend], Path | None]:
    """(a) eager PyTorch and the fp32 ONNX export of the same weights; skipped without torch."""
    try:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError:
        notes.append(
            "torch/transformers not installed: eager and fp32 rows skipped "
            "(pip install 'finsent[train]')"
        )
        return [], None
    from models import resolve_base
    from models.export import export_fp32

    torch.set_num_threads(os.cpu_count() or 1)
    src = args.checkpoint or tool_env("FINSENT_CHECKPOINT")
    if src and Path(src).is_dir():
        path = Path(src)
    else:
        path = resolve_base()
        notes.append(
            f"no checkpoint: eager/fp32 rows use the base {path.name} with a random head "
            "(same architecture and cost)"
        )
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(path), num_labels=3, attn_implementation="eager"
    ).eval()
    tok = AutoTokenizer.from_pretrained(str(path))

    def eager(batch: Sequence[str]) -> Any:
        enc = tok(list(batch), padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.inference_mode():
            return model(**enc).logits

    # (a) The naive approach as most code writes it: a transformers pipeline, default settings
    # (it scores one text per forward pass). The ratios are against this row.
    from transformers import pipeline

    pipe = pipeline("text-classification", model=model, tokenizer=tok, device=-1)

    def naive(batch: Sequence[str]) -> Any:
        return pipe(list(batch), truncation=True, max_length=128)

    rows = [
        Backend(
            "transformers pipeline (default)", naive, chunks(texts, args.batch), provider="torch"
        ),
        Backend("torch eager fp32 (batched)", eager, chunks(texts, args.batch), provider="torch"),
    ]
    fp32 = export_fp32(model, tok, tmp / "model.fp32.onnx")
    tok.backend_tokenizer.save(str(tmp / "tokenizer.json"))
    (tmp / "labels.json").write_text('["negative", "neutral", "positive"]')
    rows.append(onnx_backend("ONNX fp32 (unsorted)", fp32, texts, args, sort=False))
    if "cuda" in args.providers and torch.cuda.is_available():
        model.cuda()

        def eager_cuda(batch: Sequence[str]) -> Any:
            """Eager CUDA, synchronized so the time includes the GPU's work, not only the launch."""
            enc = tok(
                list(batch), padding=True, truncation=True, max_length=128, return_tensors="pt"
            ).to("cuda")
            with torch.inference_mode():
                out = model(**enc).logits
            torch.cuda.synchronize()
            return out

        rows.append(
            Backend("torch eager fp32 CUDA (unsorted)", eager_cuda, chunks(texts, args.batch))
        )
    return rows, fp32


def onnx_backend(name: str, path: Path, texts: list[str], args: argparse.Namespace, *, sort: bool,
                 provider: str = "cpu") -> Backend:  # fmt: skip
    """A row scoring with the ONNX model at `path` (a model dir or an .onnx file): batches in the
    given order, or with `sort` length-sorted as the worker does (that extra tokenization is
    counted in the row's time)."""
    from pipeline.scoring.onnx import OnnxScorer

    scorer = OnnxScorer.load(path, provider=provider)

    def fn(b: Sequence[str]) -> Any:
        """One model run per batch (max_batch = its length, so the scorer does not split it)."""
        return scorer.score(b, max_batch=len(b))

    if not sort:
        return Backend(name, fn, chunks(texts, args.batch), provider=scorer.provider)
    t = time.perf_counter()  # sorting costs one extra tokenization per text: count it
    batches = sorted_batches(scorer, texts, args.batch, args.pool)
    return Backend(name, fn, batches, time.perf_counter() - t, scorer.provider)


def configure(parser: argparse.ArgumentParser) -> None:
    """`finsent bench`'s options, and `--stream`'s (`bench_stream.configure`): one command runs
    both benchmarks."""
    parser.add_argument("--n", type=int, default=512, help="number of texts (default %(default)s)")
    parser.add_argument(
        "--texts",
        default=None,
        help="JSONL (text field) or one-per-line file instead of generated texts",
    )
    parser.add_argument(
        "--batch", type=int, default=16, help="texts per model call (the worker's model_batch)"
    )
    parser.add_argument(
        "--pool", type=int, default=256, help="micro-batch pool sorted by length (max_batch)"
    )
    parser.add_argument(
        "--model", default=None, help="shipped model dir (default: models/finsent-minilm)"
    )
    parser.add_argument(
        "--checkpoint", default=None, help="torch checkpoint for the eager/fp32 rows"
    )
    parser.add_argument(
        "--compare", action="append", default=[], metavar="MODEL",
        help="another model dir or .onnx file: adds its length-sorted row (e.g. an older int8)",
    )  # fmt: skip
    parser.add_argument(
        "--providers", default="cpu,cuda", help="cpu,cuda: CUDA rows only run on a GPU"
    )
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (load fairness)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--stream", action="store_true",
        help="end to end through a real broker and one worker (pipeline/dev/bench_stream.py)",
    )  # fmt: skip
    from pipeline.dev import bench_recovery, bench_stream

    bench_stream.configure(parser)
    bench_recovery.configure(parser)


def fingerprint_cost(texts: Sequence[str], rounds: int = 3) -> dict[str, float]:
    """µs per text of the core's pure-Python fingerprint and the scoring stage's NumPy one (the
    same values): the work the scoring stage adds per item besides the model."""
    from pipeline.core import novelty
    from pipeline.scoring import fingerprints

    out = {}
    for name, fn in (("pure Python", novelty.fingerprint), ("NumPy", fingerprints.fingerprint)):
        best = min(_timed(fn, texts) for _ in range(rounds))
        out[name] = best / max(1, len(texts)) * 1e6
    return out


def _timed(fn: Callable[[str], tuple[int, int]], texts: Sequence[str]) -> float:
    """Seconds to run `fn` once over `texts`."""
    t = time.perf_counter()
    for text in texts:
        fn(text)
    return time.perf_counter() - t


def run(args: argparse.Namespace) -> int:
    """The model-only table (or, with `--stream`, the end-to-end benchmark): every row built,
    measured interleaved (`measure`), then printed as a table or one JSON object; 0."""
    if args.stream:
        from pipeline.dev import bench_stream

        return bench_stream.run(args)
    if args.recovery:
        from pipeline.dev import bench_recovery

        return bench_recovery.run(args)
    import onnxruntime as ort

    from pipeline.scoring.onnx import CUDA, cuda_driver_present

    texts = read_texts(args.texts, args.n) if args.texts else make_texts(args.n)
    model_dir = Path(args.model or Settings().model_dir)
    notes: list[str] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="finsent-bench-") as tmp:
        backends, _ = torch_backends(args, texts, notes, Path(tmp))
        for name, sort in (
            ("shipped int8 (unsorted)", False),
            ("shipped int8 (length-sorted)", True),
        ):
            backends.append(onnx_backend(name, model_dir, texts, args, sort=sort))
        for other in args.compare:
            name = f"{Path(other).name} (length-sorted)"
            backends.append(onnx_backend(name, Path(other), texts, args, sort=True))
        gpu = CUDA in ort.get_available_providers() and cuda_driver_present()
        if "cuda" in args.providers and gpu:
            try:
                name = "shipped CUDA (length-sorted)"
                backends.append(
                    onnx_backend(name, model_dir, texts, args, sort=True, provider="cuda")
                )
            except Exception as e:  # noqa: BLE001 - no usable GPU: note it, keep the CPU rows
                notes.append(f"CUDA rows skipped: {str(e).splitlines()[0][:120]}")
        elif "cuda" in args.providers:
            notes.append("no CUDA device: GPU rows skipped")
        rows = measure(backends, rounds=args.rounds)
    fingerprint_us = fingerprint_cost(texts)
    base = next((r for r in rows if r["name"].startswith("transformers pipeline")), None)
    for r in rows:
        r["vs_naive"] = r["texts_per_s"] / base["texts_per_s"] if base else None
    result = {
        "rows": rows, "notes": notes, "n": args.n, "batch": args.batch, "pool": args.pool,
        "cpu_count": os.cpu_count(), "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "mean_words": sum(len(t.split()) for t in texts) / len(texts),
        "texts_source": args.texts or "generated",
        "fingerprint_us_per_text": fingerprint_us,
    }  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return 0
    after = result["loadavg_after"][0]
    print(
        f"{len(texts)} texts ({result['texts_source']}), {result['mean_words']:.1f} words on "
        f"average, batch {args.batch}, "
        f"{os.cpu_count()} cores, load average before {load_before[0]:.2f} / after {after:.2f}"
    )
    print(f"{'backend':<34} {'texts/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs naive':>9}")
    for r in rows:
        ratio = f"{r['vs_naive']:.2f}x" if r["vs_naive"] else "–"
        p50, p99 = r["p50_batch_ms"], r["p99_batch_ms"]
        print(f"{r['name']:<34} {r['texts_per_s']:9.1f} {p50:8.1f} {p99:8.1f} {ratio:>9}")
    print(
        "novelty fingerprints per text (scoring stage, off the event loop): "
        + ", ".join(f"{k} {v:.0f} µs" for k, v in fingerprint_us.items())
    )
    for note in notes:
        print(f"note: {note}")
    return 0
