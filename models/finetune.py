"""`finsent train`: fine-tune a BERT-style encoder for 3-class financial sentiment (full or LoRA).

Imports torch/transformers/peft lazily ([train] extra). Writes a Hugging Face checkpoint (LoRA is
merged into the base weights first), `val.jsonl` (the held-out split) and `training_report.json`.

Usage:
    finsent train --data ../shared/data/financial_phrasebank/train.jsonl \
                  --data ../shared/data/twitter_financial_news/train.jsonl --out /tmp/finsent-ckpt
    finsent export --checkpoint /tmp/finsent-ckpt --out models/finsent-minilm --int8 --fp16
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import shlex
import sys
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models import DEFAULT_BASE, TRAIN_HINT, resolve_base
from models.data import Example, read_examples, stratified_split, write_jsonl
from models.evaluate import classification_metrics
from pipeline.core.records import LABELS

log = logging.getLogger(__name__)


def class_weights(labels: Sequence[str], mode: str) -> list[float]:
    """Per-class loss weights in LABELS order: none, balanced (n/(k*count)) or its square root.

    sqrt is the default: the full inverse-frequency weights over-predict the rare class.
    """
    counts = Counter(labels)
    n, k = len(labels), len(LABELS)
    if mode == "none":
        return [1.0] * k
    w = [n / (k * max(counts[lab], 1)) for lab in LABELS]
    return [math.sqrt(x) for x in w] if mode == "sqrt" else w


def length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """Shuffle, sort by length inside windows of 50 batches, then shuffle the batches.

    Why: short texts padded to the longest in a random batch waste most of the compute; this keeps
    batches random across epochs while padding little.
    """
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    window = batch_size * 50
    batches = []
    for s in range(0, len(idx), window):
        chunk = sorted(idx[s : s + window], key=lambda i: lengths[i])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def set_seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def start_run(args: argparse.Namespace) -> tuple[Path, Path]:
    """What every training command does first: logging, threads, seeds; (base dir, out dir)."""
    import torch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    base = resolve_base(args.base)  # a bad --base fails before anything is written
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return base, out


def predict(
    model: Any, enc: list[list[int]], batch_size: int = 64, pad_id: int = 0
) -> tuple[list[str], float, Any]:
    """Labels and mean loss-free logits for pre-tokenized ids, length-sorted for speed."""
    import torch

    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
    logits = torch.zeros(len(enc), len(LABELS))
    dev = next(model.parameters()).device  # cpu, or cuda for teacher/distill on a GPU
    model.eval()
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            b = order[s : s + batch_size]
            ids, mask = _pad([enc[i] for i in b], pad_id)
            out = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
            logits[b] = out.float().cpu()
    return [LABELS[i] for i in logits.argmax(1).tolist()], 0.0, logits


def _pad(seqs: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[Any, Any]:
    """Right-pad to the longest; `pad_id` is the tokenizer's (BERT [PAD] 0, MPNet <pad> 1)."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s)
        mask[r, : len(s)] = 1
    return ids, mask


def evaluate_split(
    model: Any, val: list[Example], enc: list[list[int]], pad_id: int = 0
) -> dict[str, Any]:
    """Overall and per-dataset metrics; `select` = mean per-dataset macro-F1 (early stopping)."""
    preds, _, _ = predict(model, enc, pad_id=pad_id)
    out: dict[str, Any] = {"overall": classification_metrics([e.label for e in val], preds)}
    for src in sorted({e.source for e in val}):
        idx = [i for i, e in enumerate(val) if e.source == src]
        m = classification_metrics([val[i].label for i in idx], [preds[i] for i in idx])
        agree = [i for i in idx if val[i].agreement == 1.0]
        if agree:
            m["all_agree_accuracy"] = sum(preds[i] == val[i].label for i in agree) / len(agree)
        out[src] = m
    per = [out[s]["macro_f1"] for s in out if s != "overall"]
    out["select"] = sum(per) / len(per)
    return out


def split_data(
    specs: Sequence[str], val_fraction: float, seed: int, limit: int | None = None
) -> tuple[list[Example], list[Example]]:
    """(train, val): each file split on its own, so each dataset keeps its label mix.

    Every command that trains on labelled data (train, teacher, distill) holds out the same rows.
    """
    train: list[Example] = []
    val: list[Example] = []
    for spec in specs:
        tr, va = stratified_split(read_examples(spec), val_fraction, seed)
        train += tr
        val += va
    if limit:
        train = random.Random(seed).sample(train, min(limit, len(train)))
    return train, val


def build_model(base: Path, method: str, args: argparse.Namespace) -> Any:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={lab: i for i, lab in enumerate(LABELS)}, attn_implementation="eager",
        ignore_mismatched_sizes=True,
    )  # fmt: skip
    if method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        cfg = LoraConfig(
            task_type=TaskType.SEQ_CLS, r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=0.1,
            target_modules=args.lora_targets.split(","),
        )  # fmt: skip
        with warnings.catch_warnings():  # peft probes a deprecated transformers 5 attribute
            warnings.simplefilter("ignore", FutureWarning)
            model = get_peft_model(model, cfg)
    return model


def save_checkpoint(model: Any, tokenizer: Any, out: Path, method: str) -> None:
    """Save a plain HF checkpoint; LoRA adapters are merged into a copy of the base first."""
    import copy

    if method == "lora":
        model = copy.deepcopy(model).merge_and_unload()  # export and runtime need no peft
    with warnings.catch_warnings():  # transformers 5 deprecation chatter inside save_pretrained
        warnings.simplefilter("ignore", FutureWarning)
        model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


def configure(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--data", action="extend", nargs="+", required=True, help="JSONL/CSV file(s) or hf:NAME")
    add("--base", default=DEFAULT_BASE, help="local HF model dir or package (default %(default)s)")
    add("--method", choices=("full", "lora"), default="full")
    add("--out", required=True, help="checkpoint directory to write")
    add("--epochs", type=int, default=6)
    add("--lr", type=float, default=None, help="default 8e-5 (full) / 5e-4 (lora)")
    add("--batch-size", type=int, default=32)
    add("--max-length", type=int, default=96)
    add("--warmup", type=float, default=0.1, help="warmup fraction of all steps")
    add("--weight-decay", type=float, default=0.01)
    add("--label-smoothing", type=float, default=0.05)
    add("--class-weights", choices=("none", "sqrt", "balanced"), default="sqrt")
    add("--patience", type=int, default=2, help="epochs without val macro-F1 gain before stopping")
    add("--val-fraction", type=float, default=0.15)
    add("--limit", type=int, default=None, help="use only N random training rows (quick runs)")
    add("--max-steps", type=int, default=None, help="stop after N optimizer steps (tests)")
    add("--seed", type=int, default=0)
    add("--threads", type=int, default=2)
    add("--lora-r", type=int, default=16)
    add("--lora-alpha", type=int, default=32)
    add("--lora-targets", default="query,value,dense")


@dataclass(frozen=True)
class _Encoded:
    """The split, tokenized once: token ids per text, the training labels as a tensor."""

    train: list[Example]
    val: list[Example]
    train_ids: list[list[int]]
    val_ids: list[list[int]]
    y: Any
    tokenizer: Any


@dataclass(frozen=True)
class _Optimization:
    """What one training step needs: the weighted loss, AdamW over the trainable parameters,
    the warmup-then-linear schedule and the step budget (`--max-steps` or all epochs)."""

    loss_fn: Any
    optimizer: Any
    scheduler: Any
    params: list[Any]
    total_steps: int
    class_weights: list[float]


def run(args: argparse.Namespace) -> int:
    """`finsent train`: fine-tune, keep the best epoch on disk, write `training_report.json`.

    The checkpoint is saved whenever the mean per-dataset validation macro-F1 improves and the
    report after every epoch, so OUT is usable (and `finsent export` can run) while training.
    """
    _require_train_extra()
    base, out = start_run(args)
    lr = args.lr or (5e-4 if args.method == "lora" else 8e-5)
    data = _encode_split(args, base, out)
    model = build_model(base, args.method, args)
    optim = _optimization(model, data.train, args, lr)
    report = _new_report(args, base, lr, data, optim.class_weights)
    t0 = time.time()
    best, best_epoch = _fit(model, data, optim, args, out, report)
    report |= {"best_epoch": best_epoch, "best_select": best, "seconds": time.time() - t0}
    _write_report(report, out)
    log.info("best epoch %d (mean per-dataset macro-F1 %.4f); wrote %s", best_epoch, best, out)
    return 0


def _require_train_extra() -> None:
    """Exit 2 with the install hint, before anything is written, without the [train] extra."""
    try:
        import torch  # noqa: F401
        from tqdm.auto import tqdm  # noqa: F401
        from transformers import AutoTokenizer, get_linear_schedule_with_warmup  # noqa: F401
    except ImportError as e:
        print(TRAIN_HINT, file=sys.stderr)
        raise SystemExit(2) from e


def _encode_split(args: argparse.Namespace, base: Path, out: Path) -> _Encoded:
    """Split and tokenize once; `val.jsonl` is written first, so the held-out rows are on disk
    for `finsent export` (its validation metrics) whatever happens to the run."""
    import torch
    from transformers import AutoTokenizer

    train, val = split_data(args.data, args.val_fraction, args.seed, args.limit)
    write_jsonl(val, out / "val.jsonl")
    tok = AutoTokenizer.from_pretrained(str(base))
    enc_tr = tok([e.text for e in train], truncation=True, max_length=args.max_length)["input_ids"]
    enc_va = tok([e.text for e in val], truncation=True, max_length=args.max_length)["input_ids"]
    y = torch.tensor([LABELS.index(e.label) for e in train])
    log.info(
        "train %d, val %d rows; label mix %s",
        len(train),
        len(val),
        dict(Counter(e.label for e in train)),
    )
    return _Encoded(train, val, enc_tr, enc_va, y, tok)


def _optimization(
    model: Any, train: list[Example], args: argparse.Namespace, lr: float
) -> _Optimization:
    """Loss, optimizer and schedule from the flags; no weight decay on biases and LayerNorm
    weights (the 1-d parameters), as BERT fine-tuning recipes do."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    weights = class_weights([e.label for e in train], args.class_weights)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=torch.tensor(weights), label_smoothing=args.label_smoothing
    )
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
    )
    total = _total_steps(len(train), args)
    sched = get_linear_schedule_with_warmup(opt, int(args.warmup * total), total)
    return _Optimization(loss_fn, opt, sched, params, total, weights)


def _total_steps(n_train: int, args: argparse.Namespace) -> int:
    """Optimizer steps of the whole run: every epoch's batches, capped by `--max-steps`; the
    schedule decays to zero at this step."""
    steps_per_epoch = math.ceil(n_train / args.batch_size)
    if args.max_steps is None:
        return steps_per_epoch * args.epochs
    return min(args.max_steps, steps_per_epoch * args.epochs)


def _command_line() -> str:
    """The command as typed (for the report and the model card), or a marker when called as
    a function (tests, other commands)."""
    argv = sys.argv[2:] if sys.argv[1:2] == ["train"] else None
    return "finsent train " + " ".join(map(shlex.quote, argv)) if argv else "finsent train (API)"


def _new_report(
    args: argparse.Namespace, base: Path, lr: float, data: _Encoded, weights: list[float]
) -> dict[str, Any]:
    """`training_report.json` before the first epoch: how the run was made (the model card and
    the manifest copy it) and an empty list that each epoch appends to."""
    return {
        "command": _command_line(),
        "base": str(args.base), "base_dir": str(base), "data": [str(d) for d in args.data],
        "method": args.method,
        "args": {k: v for k, v in vars(args).items() if k not in ("func",)} | {"lr": lr},
        "n_train": len(data.train), "n_val": len(data.val), "epochs": [],
        "class_weights": dict(zip(LABELS, weights, strict=True)),
    }  # fmt: skip


def _fit(
    model: Any,
    data: _Encoded,
    optim: _Optimization,
    args: argparse.Namespace,
    out: Path,
    report: dict[str, Any],
) -> tuple[float, int]:
    """Train epoch by epoch until the step budget is spent or `--patience` epochs bring no gain
    on validation; the best epoch's checkpoint is saved at once. Returns (best score, epoch)."""
    rng = random.Random(args.seed)
    lengths = [len(e) for e in data.train_ids]
    best, best_epoch, bad, step = -1.0, 0, 0, 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        te = time.time()
        batches = length_bucketed_batches(lengths, args.batch_size, rng)
        losses, step = _train_epoch(model, data, optim, batches, epoch, step)
        m = evaluate_split(model, data.val, data.val_ids)
        row = _report_epoch(epoch, losses, time.time() - te, m)
        report["epochs"].append(row)
        if m["select"] > best:
            best, best_epoch, bad = m["select"], epoch, 0
            save_checkpoint(model, data.tokenizer, out, args.method)  # usable while training
        else:
            bad += 1
        _write_report(report, out)
        if bad >= args.patience or step >= optim.total_steps:
            break
    return best, best_epoch


def _train_epoch(
    model: Any,
    data: _Encoded,
    optim: _Optimization,
    batches: list[list[int]],
    epoch: int,
    step: int,
) -> tuple[list[float], int]:
    """One pass over `batches` with a progress bar (running loss of the last 50 steps); stops
    early at the step budget. Returns the losses and the step count so far."""
    import torch
    from tqdm.auto import tqdm

    losses: list[float] = []
    bar = tqdm(batches, desc=f"epoch {epoch}", mininterval=5)
    for b in bar:
        ids, mask = _pad([data.train_ids[i] for i in b])
        loss = optim.loss_fn(model(input_ids=ids, attention_mask=mask).logits, data.y[b])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(optim.params, 1.0)
        optim.optimizer.step()
        optim.scheduler.step()
        optim.optimizer.zero_grad()
        losses.append(loss.item())
        step += 1
        bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.4f}")
        if step >= optim.total_steps:
            break
    return losses, step


def _report_epoch(
    epoch: int, losses: list[float], seconds: float, m: dict[str, Any]
) -> dict[str, Any]:
    """The report's entry for one epoch; also logged, as one line with macro-F1 per dataset."""
    row = {"epoch": epoch, "train_loss": sum(losses) / len(losses), "first_losses": losses[:5],
           "last_losses": losses[-5:], "seconds": seconds, "val": m,
           "select": m["select"]}  # fmt: skip
    summary = {k: round(v["macro_f1"], 4) for k, v in m.items() if isinstance(v, dict)}
    log.info(
        "epoch %d loss %.4f val macro-F1 %s (%.0f s)",
        epoch,
        row["train_loss"],
        summary,
        row["seconds"],
    )
    return row


def _write_report(report: dict[str, Any], out: Path) -> None:
    """Rewrite `training_report.json` whole (after every epoch, so a stopped run keeps one)."""
    (out / "training_report.json").write_text(json.dumps(report, indent=1))
