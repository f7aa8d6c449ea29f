"""trafilatura as a program source: a web page's deletion program straight from the expert, no training.

``proda refine run PAGES --source trafilatura`` refines pages with the main-content expert alone: its
answer on a page's HTML is projected onto the page's visible lines as in distillation
(:func:`~proda.pipelines.refine.content_expert.expert_kept_lines`), the lines it does not keep become
``remove_lines`` ranges, and the program goes through the same windowed, fail-closed output path as a
trained model's. It is the refine model's expert without the classifier beside it: on the dev half of
real pages it keeps fewer of the content snippets than the two together (README, "RefineX on real web
pages"), and it needs no model folder, so it is where a corpus of pages can start.

A text without HTML has no page for the expert to read: it is kept whole and counted
(``no_html_for_expert``). A page on which the expert finds no content is dropped whole
(``expert_found_no_content``), as trafilatura itself would leave nothing of it; the stage still writes
the record with its original text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from proda.pipelines.refine.classifier import decisions_to_program, keep_decisions
from proda.pipelines.refine.content_expert import MainContentExpert, expert_kept_lines
from proda.pipelines.refine.model import ModelProgram, ViewConfig, through_windows
from proda.pipelines.refine.program import DROP, KEEP


class ExpertSource:
    """A :class:`~proda.pipelines.refine.stage.ProgramSource` from trafilatura at operating point ``favour``.

    Raises :class:`~proda.errors.DependencyMissing` without trafilatura and ConfigError for an unknown
    operating point (both from :class:`MainContentExpert`).
    """

    def __init__(self, *, favour: str = "balanced", view: ViewConfig | None = None) -> None:
        self.expert = MainContentExpert(favour=favour)
        self.view = view or ViewConfig()

    @property
    def key(self) -> str:
        """The expert's name and operating point, as every program distilled from it records them."""
        return self.expert.name

    def programs(self, texts: Sequence[str], pages: Sequence[str | None] | None = None) -> list[ModelProgram]:
        """One program per text (``pages``: each text's HTML, or None), through the fail-closed path."""
        if pages is not None and len(pages) != len(texts):
            raise ValueError(f"{len(pages)} pages for {len(texts)} texts")
        out: list[ModelProgram] = []
        for k, text in enumerate(texts):
            html = pages[k] if pages is not None else None
            issues: Counter[str] = Counter()
            if not html or not html.strip():
                program, issues["no_html_for_expert"] = KEEP, 1
            else:
                kept = expert_kept_lines(text, self.expert.extract(html))
                if kept is None:
                    program, issues["expert_found_no_content"] = DROP, 1
                else:
                    # blank lines follow the line above them, as the classifier's decisions do
                    lines = text.split("\n")
                    program = decisions_to_program(keep_decisions(lines, np.asarray(kept, np.float32), 1.0))
            result = through_windows(program, text, self.view)
            result.issues.update(issues)
            out.append(result)
        return out
