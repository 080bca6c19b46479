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

# defined once, in pipeline.config (Settings.model_dir's default); importable from here too
from pipeline.config import DEFAULT_MODEL_DIR
from pipeline.core.records import LABELS, Score
from pipeline.core.scoring import score_from_probs
from pipeline.scoring.batching import length_sorted_chunks, pad_batch, restore_order
from pipeline.scoring.exceptions import ModelLoadError

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MB blocks: what a bundle's manifest pins per model file
    (`models/` writes it with this too, so writer and loader hash alike)."""
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

        Every problem with the files is a `ModelLoadError` naming the path, so an operator can
        fix the deployment; the steps below run in this order, so the first problem found is the
        one reported.

        Args:
            provider: "auto" (CUDA only if a session really gets it), "cpu" or "cuda".
            variant: a key of the manifest's `files` ("int8", "fp16", ...) to override the choice.
        """
        path = Path(path)
        if provider not in ("auto", "cpu", "cuda"):
            raise ValueError(f"provider must be auto|cpu|cuda, got {provider!r}")
        if not path.exists():
            raise ModelLoadError(f"model path does not exist: {path}")
        model_dir = path if path.is_dir() else path.parent
        manifest = _read_manifest(path, model_dir)
        files: dict[str, str] = manifest.get("files", {})
        want_cuda = _wants_cuda(provider)
        model_file = _model_file(path, model_dir, files, variant, want_cuda=want_cuda)
        sha = _checked_sha256(model_file, manifest)
        session, model_file, sha = _open_session(
            model_file,
            sha,
            _session_options(intra_op_threads),
            provider=provider,
            want_cuda=want_cuda,
            cpu_file=_cpu_file_after_cuda(path, model_dir, files, variant),
            manifest=manifest,
        )
        tokenizer = _read_tokenizer(model_dir, max_length)
        labels = _read_labels(model_dir)
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


# -- the steps of `OnnxScorer.load`, in the order it runs them ---------------------------------


def _read_manifest(path: Path, model_dir: Path) -> dict[str, Any]:
    """The bundle's manifest.json: required for a directory (it lists the model files), optional
    next to a single .onnx file (it may still pin the file's sha256 and the version)."""
    if (model_dir / "manifest.json").exists() or path.is_dir():
        manifest: dict[str, Any] = _read_json(model_dir / "manifest.json")
        return manifest
    return {}


def _wants_cuda(provider: str) -> bool:
    """Whether to try a CUDA session first: always when asked for, with "auto" only where
    onnxruntime has the CUDA provider and a driver is present (a CPU machine never tries)."""
    if provider != "auto":
        return provider == "cuda"
    import onnxruntime as ort

    return CUDA in ort.get_available_providers() and cuda_driver_present()


def _model_file(
    path: Path, model_dir: Path, files: dict[str, str], variant: str | None, *, want_cuda: bool
) -> Path:
    """The .onnx file to load: `path` itself, or the one the directory's manifest lists."""
    model_file = (
        _listed_file(model_dir, files, variant, want_cuda=want_cuda) if path.is_dir() else path
    )
    if not model_file.is_file():
        raise ModelLoadError(f"missing model file: {model_file}")
    return model_file


def _listed_file(
    model_dir: Path, files: dict[str, str], variant: str | None, *, want_cuda: bool
) -> Path:
    """The manifest's `variant`, else its best file for the device: fp16 is made for a GPU, int8
    for the CPU, fp32 is the reference."""
    if variant is not None:
        if variant not in files:
            raise ModelLoadError(f"variant {variant!r} not in {model_dir / 'manifest.json'}")
        return model_dir / files[variant]
    order = ["fp16", "int8", "fp32"] if want_cuda else ["int8", "fp32", "fp16"]
    names = [files[k] for k in order if k in files]
    if not names:
        raise ModelLoadError(f"no model files listed in {model_dir / 'manifest.json'}")
    return model_dir / names[0]


def _checked_sha256(model_file: Path, manifest: dict[str, Any]) -> str:
    """The file's sha256, refused when the manifest pins another: a truncated copy or a file
    from another export fails at load, not later as odd scores."""
    sha = file_sha256(model_file)
    expected = manifest.get("sha256", {}).get(model_file.name)
    if expected and expected != sha:
        raise ModelLoadError(
            f"corrupt model file {model_file}: sha256 {sha[:12]}… != manifest {expected[:12]}…"
        )
    return sha


def _session_options(intra_op_threads: int | None) -> Any:
    """ORT session options: all graph optimizations, ORT's own warnings muted, the thread count
    when set, and no busy-waiting."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_threads:
        opts.intra_op_num_threads = intra_op_threads
    opts.log_severity_level = 3
    # No busy-waiting between runs: on shared cores (2-core hosts, k8s CPU limits) spinning
    # intra-op threads steal CPU from the consumer and tokenizer while the worker is idle.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def _cpu_file_after_cuda(
    path: Path, model_dir: Path, files: dict[str, str], variant: str | None
) -> Path | None:
    """The file to run on the CPU when CUDA is out: the manifest's int8 (the fp16 file picked
    for the GPU is slow on a CPU), or None to keep the file chosen when the caller named it (a
    single .onnx file or a `variant`)."""
    if path.is_dir() and variant is None and "int8" in files:
        return model_dir / files["int8"]
    return None


def _open_session(
    model_file: Path,
    sha: str,
    options: Any,
    *,
    provider: str,
    want_cuda: bool,
    cpu_file: Path | None,
    manifest: dict[str, Any] | None = None,
) -> tuple[Any, Path, str]:
    """The ORT session and the file (and sha256) it runs: CUDA first when wanted, else the CPU.

    When CUDA is out and `cpu_file` is given, the CPU session runs that file instead of
    `model_file`, so the returned file and sha256 are the ones the scorer reports.
    """
    if want_cuda:
        session = _cuda_session(model_file, options, provider)
        if session is not None:
            return session, model_file, sha
        if cpu_file is not None:
            # checked against the manifest like the first choice: a corrupt int8 file must
            # not load just because CUDA was not there
            model_file, sha = cpu_file, _checked_sha256(cpu_file, manifest or {})
    return _cpu_session(model_file, options), model_file, sha


def _cuda_session(model_file: Path, options: Any, provider: str) -> Any | None:
    """A session that really runs on CUDA, or None to use the CPU instead ("auto"); with
    provider="cuda" either failure is a `ModelLoadError`, since the caller asked for a GPU."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model_file), options, providers=[CUDA, CPU])
    except Exception as e:  # noqa: BLE001 - any CUDA failure means: use the CPU
        if provider == "cuda":
            raise ModelLoadError(f"cannot load {model_file} on CUDA: {e}") from e
        log.warning("CUDA session for %s failed (%s); using CPU", model_file, e)
        return None
    if session.get_providers()[0] != CUDA:
        # onnxruntime-gpu lists CUDA without a GPU and silently falls back (README).
        if provider == "cuda":
            raise ModelLoadError(f"CUDA requested for {model_file} but not available")
        return None
    return session


def _cpu_session(model_file: Path, options: Any) -> Any:
    """A CPU session; ORT raises several exception types on a bad file, each becomes a
    `ModelLoadError` naming it."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(model_file), options, providers=[CPU])
    except Exception as e:  # noqa: BLE001 - ORT raises several types on bad protobufs
        raise ModelLoadError(f"cannot load ONNX model {model_file}: {e}") from e


def _read_tokenizer(model_dir: Path, max_length: int) -> Any:
    """The bundle's tokenizer.json, truncating at `max_length` and not padding: `OnnxScorer`
    pads each batch to its own longest text."""
    from tokenizers import Tokenizer

    tok_path = model_dir / "tokenizer.json"
    if not tok_path.is_file():
        raise ModelLoadError(f"missing tokenizer file: {tok_path}")
    try:
        tokenizer = Tokenizer.from_file(str(tok_path))
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"corrupt tokenizer file {tok_path}: {e}") from e
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return tokenizer


def _read_labels(model_dir: Path) -> tuple[str, ...]:
    """The model's output order (labels.json, else LABELS): the scorer maps its columns onto
    LABELS, so any other set of labels is refused."""
    labels_path = model_dir / "labels.json"
    labels = tuple(_read_json(labels_path)) if labels_path.exists() else LABELS
    if sorted(labels) != sorted(LABELS):
        raise ModelLoadError(f"labels in {labels_path} are {labels}, expected {LABELS}")
    return labels


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
