"""Long training jobs that survive a stop: checkpoints every N steps, `--resume`, progress with ETA.

Used by `finsent teacher` and `finsent distill` (an MPNet teacher epoch is 18-64 min on 2 shared
cores). The loop owns the optimizer, the warmup + linear-decay schedule, early stopping and the
resume state; the command supplies the batches of each epoch and the loss of one batch.

Resume is exact: the state file holds model, optimizer, scheduler, RNG states, the step, the epoch
and the position inside it, and the batches of epoch e are a pure function of (seed, e), so a run
stopped at step k and resumed ends with the same weights as one that never stopped (tested).
The state is written to a temporary file and renamed, so a kill during the write leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATE = "resume.pt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every long command shares."""
    add = parser.add_argument
    add("--epochs", type=int, default=3)
    add("--batch-size", type=int, default=16)
    add("--max-length", type=int, default=96)
    add("--warmup", type=float, default=0.1, help="warmup fraction of all steps")
    add("--weight-decay", type=float, default=0.01)
    add("--label-smoothing", type=float, default=0.05)
    add("--class-weights", choices=("none", "sqrt", "balanced"), default="sqrt")
    add("--patience", type=int, default=2, help="epochs without val macro-F1 gain before stopping")
    add("--val-fraction", type=float, default=0.15)
    add("--limit", type=int, default=None, help="use only N random training rows (quick runs)")
    add("--max-steps", type=int, default=None, help="stop after N optimizer steps in all")
    add("--checkpoint-every", type=int, default=200, help="save the resume state every N steps")
    add("--resume", action="store_true", help="continue from OUT/resume.pt (same arguments)")
    add(
        "--stop-after", type=int, default=None, metavar="N",
        help="stop this session after N more steps, resumable (time-boxed shared machines)",
    )  # fmt: skip
    add("--log-every", type=float, default=30.0, help="seconds between progress lines")
    add("--seed", type=int, default=0)
    add("--threads", type=int, default=2)
    add("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: cuda if present")


def device(args: argparse.Namespace) -> Any:
    """torch.device for `--device` (auto = CUDA when torch sees a GPU, else CPU)."""
    import torch

    name = args.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


class Progress:
    """`step 120/900 (13%) loss 0.61 | 2.1 s/step | elapsed 4m12s | ETA 27m18s` every few seconds.

    The rate counts only the steps of this session (so the ETA is right after a resume too), over
    the last `window` steps once there are that many: on shared cores the speed changes with the
    load, and a whole-run average lags behind.
    """

    def __init__(
        self, total: int, start: int = 0, every_s: float = 30.0, desc: str = "", window: int = 50
    ) -> None:
        self.total, self.start, self.every_s, self.desc = total, start, every_s, desc
        self.t0 = self.last = time.monotonic()
        self.recent: deque[tuple[float, int]] = deque(maxlen=window + 1)

    def eta_s(self, step: int) -> float:
        done = step - self.start
        if done <= 0:
            return math.nan
        if len(self.recent) == self.recent.maxlen:
            (t_old, s_old), (t_new, s_new) = self.recent[0], self.recent[-1]
            return (t_new - t_old) / max(s_new - s_old, 1) * (self.total - step)
        return (time.monotonic() - self.t0) / done * (self.total - step)

    def line(self, step: int, **values: float) -> str:
        done = max(step - self.start, 1)
        elapsed = time.monotonic() - self.t0
        extra = " ".join(f"{k} {v:.4g}" for k, v in values.items())
        return (
            f"{self.desc} step {step}/{self.total} ({100 * step / max(self.total, 1):.0f}%) "
            f"{extra} | {elapsed / done:.2f} s/step | elapsed {_hms(elapsed)} "
            f"| ETA {_hms(self.eta_s(step))}"
        )

    def update(self, step: int, **values: float) -> None:
        now = time.monotonic()
        self.recent.append((now, step))
        if now - self.last >= self.every_s or step in (self.start + 1, self.total):
            self.last = now
            log.info("%s", self.line(step, **values))


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return (
        f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"
        if s >= 3600
        else f"{s // 60}m{s % 60:02d}s"
    )


def _rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_state(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temporary file, then an atomic rename."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train_loop(
    model: Any,
    *,
    out: Path,
    args: argparse.Namespace,
    lr: float,
    batches_for_epoch: Callable[[int], list[list[int]]],
    batch_loss: Callable[[list[int]], Any],
    evaluate: Callable[[], dict[str, Any]],
    on_best: Callable[[], None],
    report: dict[str, Any],
    desc: str = "train",
) -> dict[str, Any]:
    """Run (or resume) the epochs; returns the report (also written to OUT/training_report.json).

    Args:
        batches_for_epoch: epoch number (1-based) -> list of index batches; must depend only on
            the epoch (and fixed inputs), so a resumed run sees the same batches.
        batch_loss: index batch -> scalar loss tensor (forward pass included).
        evaluate: validation metrics with a `select` key (higher is better).
        on_best: called when `select` improves (save the HF checkpoint there).
    """
    import torch
    from transformers import get_linear_schedule_with_warmup

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": args.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=lr,
    )
    steps_per_epoch = len(batches_for_epoch(1))
    total = steps_per_epoch * args.epochs
    if args.max_steps is not None:
        total = min(total, args.max_steps)
    sched = get_linear_schedule_with_warmup(opt, int(args.warmup * total), total)
    state_path = out / STATE
    step, epoch0, pos0, best, bad, early = 0, 1, 0, -1.0, 0, False
    report.setdefault("epochs", [])
    report.setdefault("sessions", [])
    if args.resume and state_path.exists():
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        _set_rng_state(st["rng"])
        step, epoch0, pos0, best, bad = st["step"], st["epoch"], st["pos"], st["best"], st["bad"]
        early = bool(st.get("early", False))
        report = st["report"]
        log.info("resumed from %s at step %d (epoch %d, batch %d)", state_path, step, epoch0, pos0)
    elif args.resume:
        log.warning("--resume: no %s yet, starting from scratch", state_path)
    session = {"start_step": step, "started_at": time.time()}
    report["sessions"].append(session)
    budget = None if args.stop_after is None else step + args.stop_after
    progress = Progress(total, step, args.log_every, desc)
    losses: list[float] = report.pop("_epoch_losses", [])

    def checkpoint(epoch: int, pos: int) -> None:
        report["_epoch_losses"] = losses
        save_state(
            state_path,
            {"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "rng": _rng_state(), "step": step, "epoch": epoch,
             "pos": pos, "best": best, "bad": bad, "early": early, "report": report},
        )  # fmt: skip
        report.pop("_epoch_losses")
        session["end_step"] = step

    stopped = False
    for epoch in range(epoch0, args.epochs + 1):
        if step >= total or stopped or early:  # a resumed run that had finished: no-op
            break
        model.train()
        te = time.time()
        batches = batches_for_epoch(epoch)
        for pos in range(pos0 if epoch == epoch0 else 0, len(batches)):
            loss = batch_loss(batches[pos])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(float(loss.item()))
            step += 1
            window = losses[-50:]
            progress.update(step, loss=sum(window) / len(window), lr=sched.get_last_lr()[0])
            if step >= total:
                break
            if budget is not None and step >= budget:
                checkpoint(epoch, pos + 1)
                log.info("stopped after %d steps this session; resume with --resume", step)
                stopped = True
                break
            if args.checkpoint_every and step % args.checkpoint_every == 0:
                checkpoint(epoch, pos + 1)
        if stopped:
            break
        m = evaluate()
        row = {"epoch": epoch, "step": step, "train_loss": sum(losses) / max(len(losses), 1),
               "first_losses": losses[:5], "last_losses": losses[-5:],
               "seconds": time.time() - te, "val": m, "select": m["select"]}  # fmt: skip
        report["epochs"].append(row)
        log.info("epoch %d loss %.4f val select %.4f", epoch, row["train_loss"], m["select"])
        losses = []
        if m["select"] > best:
            best, bad = m["select"], 0
            report["best_epoch"], report["best_select"] = epoch, best
            on_best()
        else:
            bad += 1
        early = bad >= args.patience
        checkpoint(epoch + 1, 0)
        (out / "training_report.json").write_text(json.dumps(report, indent=1, default=str))
        if early:
            break
    report["steps"] = step
    report["finished"] = not stopped
    report["stopped_early"] = early
    session["end_step"] = step
    (out / "training_report.json").write_text(json.dumps(report, indent=1, default=str))
    return report
