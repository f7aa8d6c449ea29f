"""ProDa Studio in a real browser: Debian's Chromium driven by Playwright, one Studio over the bundled
sample (tests/studio_world.py). Each page has at least one end-to-end test, and the tests take the
screenshots the README shows: into a temporary folder, so that a test run leaves the checkout as it
was, or, with ``PRODA_SCREENSHOTS=docs/studio``, over the README's own (docs/studio/*.png)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from proda.cli.demo import sample_path
from proda.config import Settings
from proda.schema.store import FalkorDBStore, ServerInfo
from tests.studio_world import RunningStudio, SampleWorld, build_sample_world

CHROMIUM = os.environ.get("PRODA_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("PRODA_SCREENSHOTS") or Path(tempfile.gettempdir()) / "proda-studio-screenshots")
TIMEOUT_MS = 20_000

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install 'proda[test]' (playwright)")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
                                reason="Chromium is not installed: apt-get install -y chromium")


@pytest.fixture(scope="module")
def sample(falkordb_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[FalkorDBStore, Path, SampleWorld]]:
    home = tmp_path_factory.mktemp("studio-home")
    store = FalkorDBStore("127.0.0.1", falkordb_server.port, f"studio_{uuid.uuid4().hex[:10]}",
                          password=falkordb_server.password)
    store.ensure_schema()
    world = build_sample_world(store, home)
    yield store, home, world
    store.clear()
    store.close()


@pytest.fixture(scope="module")
def studio(sample: tuple[FalkorDBStore, Path, SampleWorld]) -> Iterator[RunningStudio]:
    store, home, _ = sample
    with RunningStudio(Settings(home=home), store) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                     args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, studio: RunningStudio) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=studio.url)  # type: ignore[attr-defined]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page: object, name: str, *, full: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)  # type: ignore[attr-defined]


def expect(locator: object) -> object:
    return playwright_api.expect(locator)  # type: ignore[arg-type]


def test_overview_shows_counts_histogram_and_runs(page: object) -> None:
    page.goto("/")  # type: ignore[attr-defined]
    table = page.locator("[data-table=counts]")  # type: ignore[attr-defined]
    for discipline in ("business", "college_success", "computer_science", "economics"):
        expect(table.get_by_text(discipline, exact=True)).to_be_visible()
    expect(page.locator("#chain-lengths[data-ready=yes]")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.get_by_role("link", name="v1")).to_be_visible()  # type: ignore[attr-defined]
    shot(page, "overview")


def test_corpus_starts_an_ingest_job_and_watches_it_finish(page: object) -> None:
    page.goto("/corpus")  # type: ignore[attr-defined]
    expect(page.locator("[data-table=documents] tbody tr")).to_have_count(10)  # type: ignore[attr-defined]
    shot(page, "corpus")
    form = page.locator("form[data-job='studio.ingest']")  # type: ignore[attr-defined]
    form.locator("textarea[name=paths]").fill(str(sample_path("corpus.jsonl")))
    form.get_by_role("button").click()
    page.wait_for_url(re.compile(r"/operations/op_"))  # type: ignore[attr-defined]
    # progress and the final state arrive over server-sent events from the operation store
    expect(page.locator("[data-op-state]")).to_have_text("succeeded")  # type: ignore[attr-defined]
    expect(page.locator("[data-result]")).to_contain_text('"unchanged": 8')  # type: ignore[attr-defined]
    expect(page.locator("[data-action=cancel]")).to_be_hidden()  # type: ignore[attr-defined]
    shot(page, "operation")


def test_graph_explorer_search_card_neighbourhood_and_evidence(page: object) -> None:
    page.goto("/graph")  # type: ignore[attr-defined]
    page.get_by_label("search concepts").fill("budget")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Search").click()  # type: ignore[attr-defined]
    page.locator("[data-table=matches] tbody a").first.click()  # type: ignore[attr-defined]
    expect(page.locator("h1")).to_contain_text("budget")  # type: ignore[attr-defined]
    graph = page.locator("[data-graph]")  # type: ignore[attr-defined]
    expect(graph).to_have_attribute("data-nodes", re.compile(r"^([2-9]|\d\d+)$"))
    page.wait_for_timeout(1500)  # type: ignore[attr-defined]  # let the force layout settle for the picture
    shot(page, "graph")
    page.locator("[data-evidence-link]").first.click()  # type: ignore[attr-defined]
    mark = page.locator("mark[data-hit]")  # type: ignore[attr-defined]
    expect(mark).to_be_visible()
    evidence = page.locator("[data-evidence]").inner_text()  # type: ignore[attr-defined]
    assert evidence.split()[0] in mark.inner_text()


def test_benchmark_item_shows_operators_reasons_and_provenance(page: object) -> None:
    page.goto("/bench")  # type: ignore[attr-defined]
    rows = page.locator("[data-table=items] tbody tr")  # type: ignore[attr-defined]
    expect(rows.first).to_be_visible()
    shot(page, "bench")
    rows.first.locator("a").first.click()
    options = page.locator("[data-table=options] tbody tr")  # type: ignore[attr-defined]
    expect(options).to_have_count(4)
    expect(page.locator("[data-option=ANSWER]")).to_contain_text("the asked path leads here")  # type: ignore[attr-defined]
    distractor = page.locator("[data-option]:not([data-option=ANSWER])").first  # type: ignore[attr-defined]
    expect(distractor).to_contain_text(re.compile("early|inverse|does not reach"))
    expect(page.locator("ol[data-chain] li").first).to_be_visible()  # type: ignore[attr-defined]


def test_training_compares_runs_with_intervals(page: object) -> None:
    page.goto("/training")  # type: ignore[attr-defined]
    table = page.locator("[data-table=compare]")  # type: ignore[attr-defined]
    expect(table.locator("thead")).to_contain_text("v0")
    expect(table.locator("thead")).to_contain_text("v1")
    expect(table.locator(".iv").first).to_have_attribute("title", re.compile(r"95 % interval"))
    expect(page.locator("form[data-job='training.train_model'] input[name=max_steps]")).to_be_visible()  # type: ignore[attr-defined]
    shot(page, "training")


def test_debugger_from_failed_item_to_evidence_and_patches(page: object,
                                                           sample: tuple[object, Path, SampleWorld]) -> None:
    world = sample[2]
    page.goto(f"/debug?run={world.v1_run_id}")  # type: ignore[attr-defined]
    expect(page.locator("#heatmap[data-ready=yes]")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("[data-table=patch-sets]")).to_contain_text(world.patch_set)  # type: ignore[attr-defined]
    shot(page, "debugger")
    page.locator("a[data-failed-item]").first.click()  # type: ignore[attr-defined]
    expect(page.locator("[data-diagnosis]").first).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("ol[data-chain] li.weak").first).to_be_visible()  # type: ignore[attr-defined]
    page.locator("[data-patch] summary").first.click()  # type: ignore[attr-defined]
    expect(page.locator("[data-patch] .msg").first).to_be_visible()  # type: ignore[attr-defined]
    page.evaluate("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
    shot(page, "item")
    page.locator("ol[data-chain] [data-evidence-link]").first.click()  # type: ignore[attr-defined]
    expect(page.locator("mark[data-hit]")).to_be_visible()  # type: ignore[attr-defined]
    shot(page, "evidence")


def test_cypher_console_refuses_a_bad_parameter_and_runs_a_good_one(page: object) -> None:
    page.goto("/query")  # type: ignore[attr-defined]
    page.get_by_label("filter queries").fill("concept_id_page")  # type: ignore[attr-defined]
    page.get_by_role("link", name="concept_id_page").click()  # type: ignore[attr-defined]
    page.locator("input[name=skip]").fill("abc")  # type: ignore[attr-defined]
    with page.expect_response(lambda r: "run=1" in r.url) as answer:  # type: ignore[attr-defined]
        page.get_by_role("button", name="Run").click()  # type: ignore[attr-defined]
    assert answer.value.status == 400
    expect(page.locator("[data-error]")).to_contain_text("parameter 'skip' must be int")  # type: ignore[attr-defined]
    expect(page.locator("[data-table=result]")).to_have_count(0)  # type: ignore[attr-defined]
    page.locator("input[name=skip]").fill("2")  # type: ignore[attr-defined]
    page.locator("input[name=limit]").fill("5")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Run").click()  # type: ignore[attr-defined]
    expect(page.locator("[data-table=result] tbody tr")).to_have_count(5)  # type: ignore[attr-defined]
    expect(page.locator("#neo4j-text")).to_contain_text(":param skip => 2;")  # type: ignore[attr-defined]
    shot(page, "cypher")


def test_a_bad_id_is_a_clear_404_page(page: object) -> None:
    response = page.goto("/graph/concept/con_does_not_exist")  # type: ignore[attr-defined]
    assert response.status == 404
    expect(page.locator("[data-error]")).to_contain_text("no concept 'con_does_not_exist'")  # type: ignore[attr-defined]
    assert "Traceback" not in page.content()  # type: ignore[attr-defined]
