"""`finsent pretrain`: domain-adaptive masked-LM pre-training before fine-tuning (DAPT/TAPT).

Why: the base (all-MiniLM-L6-v2) was tuned for general sentence similarity, not finance; a short
masked-LM pass over unlabelled financial text (StockNet tweets, the training sentences themselves)
moves its vocabulary statistics towards the domain before `finsent train` sees any label
(Gururangan et al. 2020, "Don't Stop Pretraining").

Labelled files (rows with a `label`) are split exactly as `finsent train` splits them and only the
training part is used, so no validation sentence is seen, labelled or not. The output is a plain
Hugging Face encoder directory (with the base's pooler) to pass as `finsent train --base DIR`.

Usage:
    finsent pretrain --data ../shared/data/stocknet/tweets/*.jsonl \
        --data ../shared/data/financial_phrasebank/train.jsonl --out /tmp/finsent-dapt --epochs 1
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from models import DEFAULT_BASE, TRAIN_HINT
from models.data import read_examples, stratified_split

log = logging.getLogger(__name__)

_URL = re.compile(r"https?://\S+|\bRT @\w+:?\s*")


def clean(text: str) -> str:
    """Drop URLs and retweet prefixes: they are most of a tweet's tokens and carry no sentiment."""
    return " ".join(_URL.sub(" ", text).split())


def read_texts(
    specs: Iterable[str], *, val_fraction: float, seed: int, min_words: int = 4
) -> list[str]:
    """Unique cleaned texts from JSONL files; labelled files lose the rows `train` holds out."""
    seen: set[str] = set()
    out: list[str] = []
    for spec in specs:
        path = Path(spec)
        with path.open(encoding="utf-8") as f:
            first: dict[str, Any] = next((json.loads(x) for x in f if x.strip()), {})
        if "label" in first:
            texts = [e.text for e in stratified_split(read_examples(spec), val_fraction, seed)[0]]
        else:
            with path.open(encoding="utf-8") as f:
                texts = [str(json.loads(x)["text"]) for x in f if x.strip()]
        for t in map(clean, texts):
            if len(t.split()) >= min_words and t.lower() not in seen:
                seen.add(t.lower())
                out.append(t)
    return out


def mlm_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Masked-LM loss with the vocabulary head applied to masked positions only.

    Why: a 30k-word head over every position is more than half the step's compute on a 6-layer
    model; the loss ignores unmasked positions anyway, so skipping them changes nothing else.
    """
    import torch.nn.functional as F

    head = getattr(model, "cls", None)  # BERT-family; other architectures take the plain path
    if head is None:
        return model(**batch).loss
    hidden = model.base_model(
        input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")
    ).last_hidden_state
    masked = batch["labels"] != -100
    return F.cross_entropy(head(hidden[masked]), batch["labels"][masked])


def configure(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--data", action="extend", nargs="+", required=True, help="JSONL file(s) with `text`")
    add("--base", default=DEFAULT_BASE, help="local HF model dir or package (default %(default)s)")
    add("--out", required=True, help="encoder directory to write (use as `train --base`)")
    add("--epochs", type=float, default=1.0)
    add("--lr", type=float, default=5e-5)
    add("--batch-size", type=int, default=32)
    add("--max-length", type=int, default=64)
    add("--mlm-probability", type=float, default=0.15)
    add("--warmup", type=float, default=0.06)
    add("--val-fraction", type=float, default=0.15, help="must equal `finsent train`'s")
    add("--max-steps", type=int, default=None, help="stop after N optimizer steps (tests)")
    add("--seed", type=int, default=0, help="must equal `finsent train`'s (same held-out rows)")
    add("--threads", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    try:
        import torch
        from tqdm.auto import tqdm
        from transformers import (
            AutoModel,
            AutoModelForMaskedLM,
            AutoTokenizer,
            DataCollatorForLanguageModeling,
            get_linear_schedule_with_warmup,
        )
    except ImportError as e:
        print(TRAIN_HINT, file=sys.stderr)
        raise SystemExit(2) from e
    from models.finetune import start_run

    base, out = start_run(args)
    texts = read_texts(args.data, val_fraction=args.val_fraction, seed=args.seed)
    tok = AutoTokenizer.from_pretrained(str(base))
    enc = tok(texts, truncation=True, max_length=args.max_length)["input_ids"]
    collate = DataCollatorForLanguageModeling(tok, mlm_probability=args.mlm_probability)
    model: Any = AutoModelForMaskedLM.from_pretrained(str(base))  # MLM head: new if absent
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))  # length buckets: little padding
    batches = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    total = int(len(batches) * args.epochs)
    if args.max_steps:
        total = min(total, args.max_steps)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, int(args.warmup * total), total)
    log.info("%d texts, %d steps of %d", len(texts), total, args.batch_size)
    rng, t0 = random.Random(args.seed), time.time()
    losses: list[float] = []
    model.train()
    bar = tqdm(total=total, desc="pretrain", mininterval=5)
    while len(losses) < total:
        rng.shuffle(batches)
        for b in batches[: total - len(losses)]:
            loss = mlm_loss(model, collate([{"input_ids": enc[i]} for i in b]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(loss.item())
            bar.update()
            bar.set_postfix(loss=f"{sum(losses[-100:]) / len(losses[-100:]):.3f}")
    bar.close()

    # Keep the base's pooler (the masked-LM model has none), take the adapted encoder.
    encoder: Any = AutoModel.from_pretrained(str(base))
    missing = encoder.load_state_dict(model.base_model.state_dict(), strict=False).missing_keys
    assert all(k.startswith("pooler.") for k in missing), missing
    encoder.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    report = {
        "command": "finsent pretrain " + " ".join(sys.argv[2:]), "base": str(args.base),
        "data": args.data, "texts": len(texts), "steps": len(losses), "args": vars(args),
        "first_losses": losses[:5], "last_loss_mean": sum(losses[-100:]) / len(losses[-100:]),
        "seconds": time.time() - t0,
    }  # fmt: skip
    (out / "pretrain_report.json").write_text(json.dumps(report, indent=1))
    log.info("masked-LM loss %.3f -> %.3f; wrote %s", losses[0], report["last_loss_mean"], out)
    return 0
