"""The refine model: line-numbered raw text in, a program out, through transformers (CPU) or a vLLM server.

A document is cut into *windows* of consecutive lines whose line-numbered view fits the model's
budget (long lines show head and tail only, see :func:`~proda.pipelines.refine.program.number_lines`).
The model writes one program per window with the document's own line numbers; the window programs
are merged into one document program, which the parser and executor then apply. Whatever the model
writes can only *fail closed*:

* a window program outside the language keeps that window unchanged (``malformed_program``);
* a statement naming a line outside its window is ignored (``outside_window``);
* ``drop_doc()`` in a window deletes that window's lines (the whole document when every window drops).

Training targets are cut from a distilled document program by the same windows
(:func:`window_targets`), so the model learns exactly what inference asks of it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from proda.config import LLMSettings
from proda.errors import ConfigError, DependencyMissing, LLMError
from proda.pipelines.refine.program import (
    DROP,
    KEEP,
    Op,
    Program,
    ProgramError,
    RemoveLines,
    number_lines,
    parse_program,
)

INSTRUCTION = ("Clean this web page for language-model training. Delete navigation, banners, ads, headers, "
               "footers, page numbers and duplicated lines; keep the text. Answer with a program of keep_doc(), "
               "drop_doc(), remove_lines(start, end) and remove_str(line, \"text\") statements.")
PROMPT_VERSION = "refinex-window-v1"


@dataclass(frozen=True)
class ViewConfig:
    """How documents are shown to the model: the window budget and the per-line cap, in characters."""

    max_window_chars: int = 2000
    max_line_chars: int = 200

    def __post_init__(self) -> None:
        if self.max_line_chars < 20 or self.max_window_chars < self.max_line_chars:
            raise ConfigError("view: need max_line_chars >= 20 and max_window_chars >= max_line_chars")


@dataclass(frozen=True)
class Window:
    """Lines ``first``..``last`` (1-based, inclusive) of a document and their numbered view."""

    first: int
    last: int
    view: str


def windows(text: str, view: ViewConfig) -> list[Window]:
    """The document's windows: consecutive lines whose numbered view stays within ``view.max_window_chars``."""
    lines = text.split("\n")
    out: list[Window] = []
    start = 0
    size = 0
    for i, line in enumerate(lines):
        shown = min(len(line), view.max_line_chars + 24) + len(str(i + 1)) + 4  # the elision marker and "[n] "
        if i > start and size + shown > view.max_window_chars:
            out.append(_window(lines, start, i, view))
            start, size = i, 0
        size += shown
    out.append(_window(lines, start, len(lines), view))
    return out


def _window(lines: list[str], start: int, stop: int, view: ViewConfig) -> Window:
    return Window(start + 1, stop, number_lines("\n".join(lines[start:stop]), first=start + 1,
                                                max_line_chars=view.max_line_chars))


def prompt_messages(window: Window) -> list[dict[str, str]]:
    """The chat messages for one window (the same in training and inference)."""
    return [{"role": "user", "content": f"{INSTRUCTION}\n\n{window.view}"}]


def window_targets(program: Program, doc_windows: Sequence[Window]) -> list[str]:
    """The program text each window should produce, cut from a document program.

    Ranges are clipped to the window; a ``remove_str`` whose text the window's view does not show
    (it lies in the elided middle of a long line) is left out, since the model cannot see it.
    """
    if program.drops:
        return [DROP.render()] * len(doc_windows)
    targets: list[str] = []
    for w in doc_windows:
        ops: list[Op] = []
        for op in program.edits:
            if isinstance(op, RemoveLines):
                lo, hi = max(op.start, w.first), min(op.end, w.last)
                if lo <= hi:
                    ops.append(RemoveLines(lo, hi))
            elif w.first <= op.line <= w.last and op.text in w.view:
                ops.append(op)
        if ops and all(isinstance(op, RemoveLines) for op in ops) and _covers(ops, w):
            targets.append(DROP.render())  # every line of the window goes: that is what drop_doc() means here
        else:
            targets.append(Program(tuple(ops)).render() if ops else KEEP.render())
    return targets


def _covers(ops: Sequence[Op], w: Window) -> bool:
    covered: set[int] = set()
    for op in ops:
        if isinstance(op, RemoveLines):
            covered.update(range(op.start, op.end + 1))
    return covered >= set(range(w.first, w.last + 1))


@dataclass
class ModelProgram:
    """The merged document program of one model run, and what failed closed on the way."""

    program: Program
    raw_outputs: list[str]
    issues: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def through_windows(program: Program, text: str, view: ViewConfig) -> ModelProgram:
    """A document program decided whole (a classifier's, an expert's) cut into ``text``'s windows and parsed
    back through :func:`merge_window_programs`: the same fail-closed path a generated program takes."""
    doc_windows = windows(text, view)
    return merge_window_programs(doc_windows, window_targets(program, doc_windows))


def merge_window_programs(doc_windows: Sequence[Window], outputs: Sequence[str]) -> ModelProgram:
    """Parse each window's output and merge them into one document program (failing closed per window)."""
    ops: list[Op] = []
    issues: Counter[str] = Counter()
    errors: list[str] = []
    dropped = 0
    for w, text in zip(doc_windows, outputs, strict=True):
        try:
            program = parse_program(text)
        except ProgramError as e:
            issues["malformed_program"] += 1
            errors.append(f"lines {w.first}-{w.last}: {e}")
            continue
        if program.drops:
            dropped += 1
            ops.append(RemoveLines(w.first, w.last))
            continue
        for op in program.edits:
            line_lo, line_hi = (op.start, op.end) if isinstance(op, RemoveLines) else (op.line, op.line)
            if line_lo < w.first or line_hi > w.last:
                issues["outside_window"] += 1
                continue
            ops.append(op)
    if doc_windows and dropped == len(doc_windows):
        return ModelProgram(DROP, list(outputs), issues, errors)
    return ModelProgram(Program(tuple(ops)) if ops else KEEP, list(outputs), issues, errors)


class Generator(Protocol):
    """Turns chat prompts into completions (greedy); raises LLMError when the backend fails."""

    name: str
    model: str

    def generate(self, prompts: Sequence[list[dict[str, str]]]) -> list[str]: ...


class TransformersGenerator:
    """Greedy generation with a local transformers model on CPU (or whatever device torch picks)."""

    name = "transformers"

    def __init__(self, model_path: str, *, max_new_tokens: int = 256, batch_size: int = 4,
                 home: Any = None) -> None:
        try:
            import torch  # noqa: F401
        except ImportError as e:
            raise DependencyMissing("torch", extra="train", why="for the transformers refine model") from e
        from pathlib import Path

        from proda.training.base_model import load_model

        self.model = model_path
        loaded, tokenizer = load_model(model_path, Path(home) if home is not None else Path(".proda"))
        # transformers' generation API is not fully typed; the model and tokenizer are used through Any
        self._model: Any = cast(Any, loaded)
        self._tokenizer: Any = cast(Any, tokenizer)
        self._model.eval()
        self._tokenizer.padding_side = "left"  # decoder-only batches pad on the left so generation continues text
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size

    def generate(self, prompts: Sequence[list[dict[str, str]]]) -> list[str]:
        import torch

        out: list[str] = []
        for k in range(0, len(prompts), self.batch_size):
            batch = [self._tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                     for p in prompts[k:k + self.batch_size]]
            enc = self._tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                ids = self._model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                           pad_token_id=self._tokenizer.pad_token_id)
            new = ids[:, enc["input_ids"].shape[1]:]
            out.extend(self._tokenizer.batch_decode(new, skip_special_tokens=True))
        return out


class ServerGenerator:
    """Chat completions from an OpenAI-compatible server, e.g. ``vllm serve <refine-model>``, at temperature 0.

    Plain text, not the structured-JSON path of :mod:`proda.pipelines.llm`: the refine model was
    trained to answer with program text, and forcing JSON around it would change what it writes.
    The SDK retries 429/5xx itself; what still fails raises :class:`~proda.errors.LLMError`, which
    stops the stage (resumable) instead of marking documents done unchanged.
    """

    name = "openai"

    def __init__(self, model: str, base_url: str, *, api_key: str | None = None, max_new_tokens: int = 256,
                 timeout_s: float = 60.0, max_retries: int = 3, settings: LLMSettings | None = None) -> None:
        try:
            import openai
        except ImportError as e:
            raise DependencyMissing("openai", extra="llm", why="for a refine model served by vLLM") from e

        self.model = model
        self.max_new_tokens = max_new_tokens
        # PRODA_OPENAI_API_KEY, else OPENAI_API_KEY; vLLM without --api-key takes any key
        key = api_key or (settings or LLMSettings.from_environment()).openai_key() or "EMPTY"
        self._client = openai.OpenAI(base_url=base_url, api_key=key, timeout=timeout_s, max_retries=max_retries)
        self._errors: tuple[type[Exception], ...] = (openai.OpenAIError,)

    def generate(self, prompts: Sequence[list[dict[str, str]]]) -> list[str]:
        out: list[str] = []
        for messages in prompts:
            try:
                reply = self._client.chat.completions.create(model=self.model, messages=messages,  # type: ignore[arg-type]
                                                             temperature=0.0, max_tokens=self.max_new_tokens)
            except self._errors as e:
                raise LLMError(f"refine model server {self.model}: {e}") from e
            out.append((reply.choices[0].message.content or "") if reply.choices else "")
        return out


class RefineModel:
    """Programs for documents from a :class:`Generator`, windowed and merged; never trusts the output."""

    def __init__(self, generator: Generator, view: ViewConfig | None = None) -> None:
        self.generator = generator
        self.view = view or ViewConfig()

    @property
    def key(self) -> str:
        """What produced a program: part of the stage's run identity."""
        return f"{self.generator.name}:{self.generator.model}/{PROMPT_VERSION}"

    def programs(self, texts: Sequence[str], pages: Sequence[str | None] | None = None) -> list[ModelProgram]:
        """One merged :class:`ModelProgram` per text (one generation call for all their windows); the
        model reads text only, so ``pages`` is not used."""
        per_doc = [windows(t, self.view) for t in texts]
        flat = [prompt_messages(w) for ws in per_doc for w in ws]
        outputs = self.generator.generate(flat) if flat else []
        result: list[ModelProgram] = []
        k = 0
        for ws in per_doc:
            result.append(merge_window_programs(ws, outputs[k:k + len(ws)]))
            k += len(ws)
        return result


def training_records(doc_id: str, raw: str, program: Program, view: ViewConfig) -> list[dict[str, Any]]:
    """Prompt-completion records (TRL conversational format) for one distilled document."""
    doc_windows = windows(raw, view)
    return [{"id": f"{doc_id}#w{k}", "prompt": prompt_messages(w),
             "completion": [{"role": "assistant", "content": target}]}
            for k, (w, target) in enumerate(zip(doc_windows, window_targets(program, doc_windows), strict=True))]


def dump_records(records: Sequence[dict[str, Any]]) -> str:
    """JSONL text of training records."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)

