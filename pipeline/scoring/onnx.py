"""OnnxScorer: the one class that owns the sentiment model at run time (tokenizers + onnxruntime).

Must not import torch or transformers: the stream worker loads this module, and torch is a
~3 GB optional extra that lives only in `models/`.
"""

from __future__ import annotations

import ctypes.util
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.records import LABELS, Score
from pipeline.core.scoring import score_from_probs
from pipeline.scoring.batching import length_sorted_chunks, pad_batch, restore_order
from pipeline.scoring.exceptions import ModelLoadError

log = logging.getLogger(__name__)

# pipeline/scoring/onnx.py -> repo (or site-packages) root -> models/finsent-minilm
DEFAULT_MODEL_DIR: Path = Path(__file__).resolve().parents[2] / "models" / "finsent-minilm"

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ModelLoadError(f"missing model file: {path}") from e
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"unreadable model file {path}: {e}") from e


def cuda_driver_present() -> bool:
    """Cheap pre-check so CPU machines never try a CUDA session (which logs two errors)."""
    return ctypes.util.find_library("cuda") is not None or Path("/dev/nvidiactl").exists()


class OnnxScorer:
    """Scores texts with an exported sentiment model; see `load`."""

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        *,
        path: Path,
        labels: tuple[str, ...],
        version: str,
        max_length: int,
        sha256: str,
    ) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self.path = path
        self.labels = labels
        self.version = version
        self.max_length = max_length
        self.sha256 = sha256
        self.provider: str = session.get_providers()[0]
        self._inputs = {i.name for i in session.get_inputs()}
        self._pad_id = tokenizer.token_to_id("[PAD]") or 0
        # Map model output columns onto LABELS order (negative, neutral, positive).
        self._perm = [labels.index(lab) for lab in LABELS]

    @classmethod
    def load(
        cls,
        path: str | Path = DEFAULT_MODEL_DIR,
        *,
        provider: str = "auto",
        max_length: int = 128,
        intra_op_threads: int | None = None,
        variant: str | None = None,
    ) -> OnnxScorer:
        """Load a model directory (manifest.json picks the file) or a single .onnx file.

        Args:
            provider: "auto" (CUDA only if a session really gets it), "cpu" or "cuda".
            variant: a key of the manifest's `files` ("int8", "fp16", ...) to override the choice.
        """
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = Path(path)
        if provider not in ("auto", "cpu", "cuda"):
            raise ValueError(f"provider must be auto|cpu|cuda, got {provider!r}")
        if not path.exists():
            raise ModelLoadError(f"model path does not exist: {path}")
        model_dir = path if path.is_dir() else path.parent
        manifest: dict[str, Any] = {}
        if (model_dir / "manifest.json").exists() or path.is_dir():
            manifest = _read_json(model_dir / "manifest.json")
        files: dict[str, str] = manifest.get("files", {})

        want_cuda = provider == "cuda" or (
            provider == "auto" and CUDA in ort.get_available_providers() and cuda_driver_present()
        )
        if path.is_dir():
            if variant is not None:
                if variant not in files:
                    raise ModelLoadError(
                        f"variant {variant!r} not in {model_dir / 'manifest.json'}"
                    )
                names = [files[variant]]
            else:
                order = ["fp16", "int8", "fp32"] if want_cuda else ["int8", "fp32", "fp16"]
                names = [files[k] for k in order if k in files]
            if not names:
                raise ModelLoadError(f"no model files listed in {model_dir / 'manifest.json'}")
            model_file = model_dir / names[0]
        else:
            model_file = path
        if not model_file.is_file():
            raise ModelLoadError(f"missing model file: {model_file}")

        sha = _sha256(model_file)
        expected = manifest.get("sha256", {}).get(model_file.name)
        if expected and expected != sha:
            raise ModelLoadError(
                f"corrupt model file {model_file}: sha256 {sha[:12]}… != manifest {expected[:12]}…"
            )

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads:
            opts.intra_op_num_threads = intra_op_threads
        opts.log_severity_level = 3
        # No busy-waiting between runs: on shared cores (2-core hosts, k8s CPU limits) spinning
        # intra-op threads steal CPU from the consumer and tokenizer while the worker is idle.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = None
        if want_cuda:
            try:
                session = ort.InferenceSession(str(model_file), opts, providers=[CUDA, CPU])
            except Exception as e:  # noqa: BLE001 - any CUDA failure means: use the CPU
                if provider == "cuda":
                    raise ModelLoadError(f"cannot load {model_file} on CUDA: {e}") from e
                log.warning("CUDA session for %s failed (%s); using CPU", model_file, e)
            if session is not None and session.get_providers()[0] != CUDA:
                # onnxruntime-gpu lists CUDA without a GPU and silently falls back (README).
                if provider == "cuda":
                    raise ModelLoadError(f"CUDA requested for {model_file} but not available")
                session = None
            if session is None and path.is_dir() and variant is None and "int8" in files:
                model_file = model_dir / files["int8"]
                sha = _sha256(model_file)
        if session is None:
            try:
                session = ort.InferenceSession(str(model_file), opts, providers=[CPU])
            except Exception as e:  # noqa: BLE001 - ORT raises several types on bad protobufs
                raise ModelLoadError(f"cannot load ONNX model {model_file}: {e}") from e

        tok_path = model_dir / "tokenizer.json"
        if not tok_path.is_file():
            raise ModelLoadError(f"missing tokenizer file: {tok_path}")
        try:
            tokenizer = Tokenizer.from_file(str(tok_path))
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(f"corrupt tokenizer file {tok_path}: {e}") from e
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length)

        labels_path = model_dir / "labels.json"
        labels = tuple(_read_json(labels_path)) if labels_path.exists() else LABELS
        if sorted(labels) != sorted(LABELS):
            raise ModelLoadError(f"labels in {labels_path} are {labels}, expected {LABELS}")
        version = manifest.get("version") or f"{model_file.stem}-{sha[:8]}"
        scorer = cls(
            session,
            tokenizer,
            path=model_file,
            labels=labels,
            version=version,
            max_length=max_length,
            sha256=sha,
        )
        log.info("loaded %s (%s) on %s", scorer.version, model_file.name, scorer.provider)
        return scorer

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tokenizer.encode_batch(list(texts))]

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Token count per text after truncation to `max_length` (includes [CLS]/[SEP])."""
        return [len(ids) for ids in self._encode(texts)]

    def probs(self, texts: Sequence[str], *, max_batch: int = 32) -> np.ndarray:
        """Class probabilities in LABELS order, shape (n, 3), input order preserved."""
        if not texts:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        encoded = self._encode(texts)
        chunks = length_sorted_chunks([len(e) for e in encoded], max_batch)
        results: list[list[np.ndarray]] = []
        for chunk in chunks:
            logits = self._run([encoded[i] for i in chunk])
            results.append(list(_softmax(logits)[:, self._perm]))
        return np.stack(restore_order(chunks, results))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits in the model's own label order, one ORT run (used by export parity checks)."""
        return self._run(self._encode(texts))

    def _run(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        ids, mask = pad_batch(seqs, self._pad_id)
        feed = {"input_ids": np.asarray(ids, dtype=np.int64)}
        if "attention_mask" in self._inputs:
            feed["attention_mask"] = np.asarray(mask, dtype=np.int64)
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        out = self._session.run(None, feed)[0]
        return np.asarray(out, dtype=np.float32)

    def score(self, texts: Sequence[str], *, max_batch: int = 32) -> list[Score]:
        """Score texts; output order equals input order (length sorting is internal)."""
        return [score_from_probs(p.tolist()) for p in self.probs(texts, max_batch=max_batch)]

    def describe(self) -> dict[str, Any]:
        """What is loaded and where it runs: for logs, `/info` pages and the `_info` metric."""
        return {
            "version": self.version,
            "provider": self.provider,
            "path": str(self.path),
            "labels": list(self.labels),
            "max_length": self.max_length,
            "sha256": self.sha256,
        }


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
