"""`finsent distill`: train the MiniLM student on a teacher's soft labels plus the hard labels.

1. Teacher logits for every training text (labelled training rows and unlabelled in-domain text,
   e.g. the StockNet tweets) are computed once and cached in OUT/teacher_logits.npz, keyed by the
   text's sha1, together with the teacher's identity and max_length. The cache is saved every few
   hundred texts, so a stopped run recomputes at most one chunk; a rerun reuses it.
2. The student (default the shipped base, all-MiniLM-L6-v2) is trained with
   loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
        + (1 - alpha) * cross-entropy(student, label)    (labelled rows only)
   in the resumable loop of `models.longrun` (checkpoints, --resume, ETA). Validation rows are the
   same held-out split as `finsent train`, never seen by teacher or student; unlabelled files
   that carry labels lose their validation rows too (`models.pretrain.read_texts`).
3. The output is a plain HF checkpoint for `finsent export`.

Usage:
    finsent distill --teacher /tmp/finsent-teacher \
        --data ../shared/data/financial_phrasebank/train.jsonl \
        --data ../shared/data/twitter_financial_news/train.jsonl \
        --unlabelled ../shared/data/stocknet/tweets/*.jsonl --out /tmp/finsent-student
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models import DEFAULT_BASE, TRAIN_HINT

log = logging.getLogger(__name__)

CACHE = "teacher_logits.npz"


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def teacher_identity(teacher: Path, max_length: int) -> str:
    """What the cached logits depend on: the teacher's weights (size + mtime) and max_length."""
    weights = sorted(teacher.glob("*.safetensors")) + sorted(teacher.glob("*.bin"))
    stamp = [(w.name, w.stat().st_size, int(w.stat().st_mtime)) for w in weights]
    return json.dumps(
        {"teacher": str(teacher.resolve()), "weights": stamp, "max_length": max_length}
    )


def load_cache(path: Path, identity: str) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as z:
        if str(z["identity"]) != identity:
            log.warning("%s was computed by another teacher or max_length: recomputing", path)
            return {}
        return dict(zip(z["keys"].tolist(), z["logits"], strict=True))


def save_cache(path: Path, identity: str, cache: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    keys = np.array(list(cache), dtype="U40")
    logits = np.stack(list(cache.values())).astype(np.float32) if cache else np.zeros((0, 3))
    np.savez(tmp, keys=keys, logits=logits, identity=np.array(identity))
    os.replace(tmp, path)


def teacher_logits(
    teacher: Path,
    texts: Sequence[str],
    cache_path: Path,
    *,
    max_length: int,
    batch_size: int = 32,
    save_every: int = 512,
    log_every: float = 30.0,
    dev: Any = "cpu",
) -> tuple[np.ndarray, int]:
    """Logits (LABELS order) of `texts`, from the cache where present; (logits, newly computed)."""
    import torch
    from transformers import AutoTokenizer

    from models.export import label_order, load_checkpoint
    from models.finetune import _pad
    from models.longrun import Progress
    from pipeline.core.records import LABELS

    identity = teacher_identity(teacher, max_length)
    cache = load_cache(cache_path, identity)
    todo = sorted({text_key(t): t for t in texts if text_key(t) not in cache}.items())
    if todo:
        model, _ = load_checkpoint(teacher)
        model.to(dev)
        tok = AutoTokenizer.from_pretrained(str(teacher))
        pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else 0)
        perm = [label_order(model).index(lab) for lab in LABELS]
        enc = tok([t for _, t in todo], truncation=True, max_length=max_length)["input_ids"]
        order = sorted(range(len(todo)), key=lambda i: len(enc[i]))
        batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
        progress = Progress(len(batches), 0, log_every, "teacher logits (batches)")
        since = 0
        with torch.inference_mode():
            for n, b in enumerate(batches, 1):
                ids, mask = _pad([enc[i] for i in b], pad_id)
                logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
                out = logits.float().cpu().numpy()[:, perm]
                for i, row in zip(b, out, strict=True):
                    cache[todo[i][0]] = row
                since += len(b)
                progress.update(n)
                if since >= save_every:
                    save_cache(cache_path, identity, cache)
                    since = 0
        save_cache(cache_path, identity, cache)
    elif not cache_path.exists():
        save_cache(cache_path, identity, cache)
    unique = len({text_key(t) for t in texts})
    log.info("teacher logits, %d unique texts: %d computed", unique, len(todo))
    return np.stack([cache[text_key(t)] for t in texts]), len(todo)


def distill_loss(
    student: Any, teacher: Any, labels: Any, *, temperature: float, alpha: float, hard: Any
) -> Any:
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * hard(student, labels >= 0)."""
    import torch.nn.functional as F

    t = temperature
    soft = F.kl_div(
        F.log_softmax(student / t, dim=-1), F.softmax(teacher / t, dim=-1), reduction="batchmean"
    ) * (t * t)
    known = labels >= 0
    if alpha >= 1.0 or not bool(known.any()):
        return alpha * soft
    return alpha * soft + (1.0 - alpha) * hard(student[known], labels[known])


def configure(parser: argparse.ArgumentParser) -> None:
    from models import longrun

    add = parser.add_argument
    add("--teacher", required=True, help="fine-tuned teacher checkpoint (finsent teacher --out)")
    add("--data", action="extend", nargs="+", required=True, help="labelled JSONL/CSV file(s)")
    add("--unlabelled", action="extend", nargs="+", default=[], help="JSONL files with `text`")
    add("--out", required=True, help="student checkpoint directory to write")
    add("--base", default=DEFAULT_BASE, help="student base (default %(default)s)")
    add("--temperature", type=float, default=2.0)
    add("--alpha", type=float, default=0.5, help="weight of the soft (teacher) loss, 0..1")
    add("--unlabelled-limit", type=int, default=None, help="use only N unlabelled texts")
    add("--teacher-batch", type=int, default=32)
    add("--lr", type=float, default=8e-5)
    longrun.add_arguments(parser)
    parser.set_defaults(epochs=6, batch_size=32)


def run(args: argparse.Namespace) -> int:
    try:
        import torch
        from transformers import AutoTokenizer
    except ImportError as e:
        print(TRAIN_HINT, file=sys.stderr)
        raise SystemExit(2) from e
    from models.data import write_jsonl
    from models.finetune import (
        _pad,
        build_model,
        class_weights,
        evaluate_split,
        length_bucketed_batches,
        save_checkpoint,
        split_data,
        start_run,
    )
    from models.longrun import device, train_loop
    from models.pretrain import read_texts
    from pipeline.core.records import LABELS

    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit(f"--alpha must be in [0, 1], got {args.alpha}")
    base, out = start_run(args)
    teacher = Path(args.teacher)
    train, val = split_data(args.data, args.val_fraction, args.seed, args.limit)
    write_jsonl(val, out / "val.jsonl")
    seen = {e.text.lower() for e in val} | {e.text.lower() for e in train}  # never val rows
    unlabelled = [
        t
        for t in read_texts(args.unlabelled, val_fraction=args.val_fraction, seed=args.seed)
        if t.lower() not in seen
    ]
    if args.unlabelled_limit is not None:
        unlabelled = unlabelled[: args.unlabelled_limit]
    texts = [e.text for e in train] + unlabelled
    dev = device(args)
    t0 = time.time()
    logits_np, computed = teacher_logits(
        teacher, texts, out / CACHE, max_length=args.max_length, batch_size=args.teacher_batch,
        log_every=args.log_every, dev=dev,
    )  # fmt: skip
    teacher_s = time.time() - t0
    soft = torch.from_numpy(logits_np)
    y = torch.tensor([LABELS.index(e.label) for e in train] + [-1] * len(unlabelled))
    log.info("student: %d labelled + %d unlabelled texts", len(train), len(unlabelled))

    tok = AutoTokenizer.from_pretrained(str(base))
    pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else 0)
    enc = tok(texts, truncation=True, max_length=args.max_length)["input_ids"]
    enc_va = tok([e.text for e in val], truncation=True, max_length=args.max_length)["input_ids"]
    model = build_model(base, "full", args).to(dev)
    weights = class_weights([e.label for e in train], args.class_weights)
    hard = torch.nn.CrossEntropyLoss(
        weight=torch.tensor(weights, device=dev), label_smoothing=args.label_smoothing
    )
    lengths = [len(e) for e in enc]

    def batches(epoch: int) -> list[list[int]]:
        import random

        rng = random.Random(f"{args.seed}:{epoch}")
        return length_bucketed_batches(lengths, args.batch_size, rng)

    def batch_loss(b: list[int]) -> Any:
        ids, mask = _pad([enc[i] for i in b], pad_id)
        logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
        return distill_loss(
            logits, soft[b].to(dev), y[b].to(dev), temperature=args.temperature,
            alpha=args.alpha, hard=hard,
        )  # fmt: skip

    cmd = shlex.join(sys.argv[2:]) if sys.argv[1:2] == ["distill"] else None
    report: dict[str, Any] = {
        "command": f"finsent distill {cmd}" if cmd else "finsent distill (API)",
        "base": str(args.base), "base_dir": str(base), "teacher": str(teacher),
        "data": [str(d) for d in args.data], "unlabelled": [str(u) for u in args.unlabelled],
        "method": "distill", "device": str(dev), "n_train": len(train),
        "n_unlabelled": len(unlabelled),
        "n_val": len(val), "class_weights": dict(zip(LABELS, weights, strict=True)),
        "args": {k: v for k, v in vars(args).items() if k != "func"},
    }  # fmt: skip
    report = train_loop(
        model, out=out, args=args, lr=args.lr, batches_for_epoch=batches, batch_loss=batch_loss,
        evaluate=lambda: evaluate_split(model, val, enc_va, pad_id),
        on_best=lambda: save_checkpoint(model, tok, out, "full"), report=report, desc="distill",
    )  # fmt: skip
    # this session's cache use (a resumed run keeps the first session's report otherwise)
    unique = len(set(texts))
    report["teacher_logits"] = {"unique_texts": unique, "computed": computed,
                                "cached": unique - computed, "seconds": teacher_s,
                                "file": str(out / CACHE)}  # fmt: skip
    (out / "training_report.json").write_text(json.dumps(report, indent=1, default=str))
    log.info("wrote %s", out)
    return 0
