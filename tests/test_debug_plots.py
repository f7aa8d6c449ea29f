"""The loop report says why it drew no plot, whatever the reason."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from proda.pipelines.debug.plots import PlotsSkipped, write_plots
from proda.schema.store import FalkorDBStore


def test_no_evaluated_stage_is_named_as_the_reason(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    with pytest.raises(PlotsSkipped, match="no stage was evaluated"):
        write_plots(falkordb_store, {}, tmp_path)
    assert not any(tmp_path.iterdir())


def test_missing_matplotlib_is_named_with_the_install_command(falkordb_store: FalkorDBStore, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if it were not installed
    with pytest.raises(PlotsSkipped, match=r"matplotlib is not installed \(pip install 'proda\[report\]'\)"):
        write_plots(falkordb_store, {"v0": {"run_id": "r", "groups": []}}, tmp_path)
