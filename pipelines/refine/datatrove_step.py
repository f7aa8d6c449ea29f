"""RefineX as a datatrove pipeline step, for datatrove users to drop into their pipelines.

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from proda.pipelines.refine.datatrove_step import RefineXStep

    LocalPipelineExecutor(pipeline=[
        JsonlReader("raw/"),
        RefineXStep(model="models/refine"),          # or base_url="http://vllm:8000/v1", model="refine"
        JsonlWriter("refined/"),
    ], tasks=8).run()

Web pages go through :class:`HtmlToText` first (``JsonlReader(..., text_key="html")``, then
``HtmlToText()``, then ``RefineXStep(model="DIR")`` where DIR is a line classifier folder from
``proda refine train-classifier``; see README "RefineX on real web pages"). ``HtmlToText`` leaves the
page in ``metadata["html"]`` so the classifier (and the expert kept beside it) can read it;
RefineXStep drops it once used, so writers do not carry whole pages.

Like datatrove's own filters, the step yields documents it keeps (text replaced by the refined
text, the program and counts in ``metadata["refinex"]``, the original text in
``metadata["original_text"]`` when it changed) and sends documents whose program drops them to an
optional ``exclusion_writer``, counting everything through datatrove's stats. ``datatrove`` is an
optional dependency (``pip install 'proda[refine]'``): without it, constructing the step raises
:class:`~proda.errors.DependencyMissing` with that command.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from proda.errors import ConfigError, DependencyMissing
from proda.pipelines.refine.interpreter import execute
from proda.pipelines.refine.model import ModelProgram, RefineModel, ViewConfig

if TYPE_CHECKING:
    from proda.pipelines.refine.stage import ProgramSource

try:
    # imported by name: datatrove ships no type information, so its base class is Any to mypy
    PipelineStep: Any = importlib.import_module("datatrove.pipeline.base").PipelineStep
    HAVE_DATATROVE = True
except ImportError:  # the step is optional: the rest of RefineX works without datatrove
    PipelineStep = object
    HAVE_DATATROVE = False


class RefineXStep(PipelineStep):  # type: ignore[misc]  # subclassing Any
    """Refines each document with a RefineX program; see the module docstring."""

    name = "✂️ RefineX"
    type = "✂️ - REFINER"

    def __init__(self, model: str | None = None, *, base_url: str | None = None, source: ProgramSource | None = None,
                 batch_size: int = 8, max_window_chars: int = 2000, max_line_chars: int = 200,
                 max_new_tokens: int = 256, keep_original: bool = True, exclusion_writer: Any = None,
                 home: str = ".proda") -> None:
        if not HAVE_DATATROVE:
            raise DependencyMissing("datatrove", extra="refine", why="for the RefineX datatrove step")
        super().__init__()
        if source is None and model is None:
            raise ConfigError("RefineXStep needs a refine model: model=FOLDER (transformers), model=NAME with "
                              "base_url=URL (vLLM), or source=...")
        self._source = source
        self._spec = (model, base_url, ViewConfig(max_window_chars, max_line_chars), max_new_tokens)
        self.batch_size = batch_size
        self.keep_original = keep_original
        self.exclusion_writer = exclusion_writer
        self.home = home  # where a line classifier caches its encoder's token vectors

    def _program_source(self) -> ProgramSource:
        # built lazily, in the worker: a loaded model must not be pickled to every datatrove task
        if self._source is None:
            from pathlib import Path

            from proda.pipelines.refine.classifier import SPEC_FILE, LineClassifier
            from proda.pipelines.refine.model import ServerGenerator, TransformersGenerator

            model, base_url, view, max_new_tokens = self._spec
            assert model is not None
            if not base_url and (Path(model) / SPEC_FILE).is_file():  # a line classifier folder
                self._source = LineClassifier.load(Path(model), Path(self.home), view=view)
                return self._source
            generator = (ServerGenerator(model, base_url, max_new_tokens=max_new_tokens) if base_url
                         else TransformersGenerator(model, max_new_tokens=max_new_tokens, batch_size=self.batch_size))
            self._source = RefineModel(generator, view)
        return self._source

    def run(self, data: Any, rank: int = 0, world_size: int = 1) -> Iterator[Any]:
        """Yield the refined documents of ``data`` (datatrove ``Document`` objects), batch by batch."""
        import contextlib

        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            batch: list[Any] = []
            for doc in data or ():
                batch.append(doc)
                if len(batch) >= self.batch_size:
                    yield from self._refine(batch, writer, rank)
                    batch = []
            if batch:
                yield from self._refine(batch, writer, rank)

    def _refine(self, batch: list[Any], writer: Any, rank: int) -> Iterator[Any]:
        source = self._program_source()
        live = [d for d in batch if d.text.strip()]
        pages = [d.metadata.get("html") if isinstance(d.metadata.get("html"), str) else None for d in live]
        with self.track_time("batch"):
            programs = iter(source.programs([d.text for d in live], pages))
        for doc in batch:
            self.stat_update("total")
            doc.metadata.pop("html", None)  # read for markup features; a writer must not carry the whole page
            if not doc.text.strip():
                self.stat_update("empty")
                yield doc
                continue
            result: ModelProgram = next(programs)
            run = execute(result.program, doc.text)
            for issue, n in (result.issues + Counter(run.issues)).items():
                self.stat_update(f"issue_{issue}", value=n)
            doc.metadata["refinex"] = {"program": result.program.render(), "lines_removed": run.lines_removed,
                                       "chars_removed": run.chars_removed, "source": source.key}
            if run.chars_removed and self.keep_original:
                doc.metadata["original_text"] = doc.text
            self.stat_update("chars_removed", value=run.chars_removed)
            if run.dropped:
                self.stat_update("dropped")
                if writer:
                    writer.write(doc, rank)
                continue
            doc.text = run.text
            self.stat_update("edited" if run.chars_removed else "unchanged")
            self.update_doc_stats(doc)
            yield doc


class HtmlToText(PipelineStep):  # type: ignore[misc]  # subclassing Any
    """Replaces each document's HTML (``text``) by its visible text, boilerplate kept, for RefineXStep.

    The same conversion as ``proda refine run`` on ``html`` records (Resiliparse, one block per
    line; :mod:`proda.pipelines.ingest.html`). The HTML moves to ``metadata["html"]`` when
    ``keep_html`` (the default: the line classifier reads the page's markup; RefineXStep drops it after).
    A page over the size limit or with no visible text is counted by reason and
    passed on empty (RefineXStep passes an empty document through), so no document disappears.
    """

    name = "🌐 HTML to text"
    type = "🔻 - EXTRACTOR"

    def __init__(self, keep_html: bool = True) -> None:
        if not HAVE_DATATROVE:
            raise DependencyMissing("datatrove", extra="refine", why="for the RefineX datatrove steps")
        super().__init__()
        self.keep_html = keep_html

    def run(self, data: Any, rank: int = 0, world_size: int = 1) -> Iterator[Any]:
        """Yield ``data``'s documents with their visible text."""
        from proda.pipelines.ingest.html import converter_name, html_to_text

        converter = converter_name()
        for doc in data or ():
            self.stat_update("total")
            with self.track_time():
                page = html_to_text(doc.text)
            for issue in page.issues:
                self.stat_update(issue)
            if self.keep_html:
                doc.metadata["html"] = doc.text
            doc.metadata["html_to_text"] = {"converter": converter, "title": page.title, "issues": page.issues}
            doc.text = page.text
            yield doc
