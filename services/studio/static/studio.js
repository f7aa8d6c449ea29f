// ProDa Studio: progressive enhancement of server-rendered pages. Every page works without this file
// except the charts and the live progress; nothing here is fetched from another host.

let echartsModule = null;
async function echarts() {
  if (document.body.dataset.charts !== "on") return null;
  if (!echartsModule) echartsModule = import("/static/echarts/index.js").then((m) => m.echarts);
  return echartsModule;
}

function chartsOff(el) {
  el.innerHTML = '<p class="muted">Charts need the ECharts bundle of the studio extra: pip install "proda[studio]".</p>';
}

async function initCharts() {
  for (const el of document.querySelectorAll("[data-chart]")) {
    const option = JSON.parse(el.querySelector("script[type='application/json']").textContent);
    const lib = await echarts();
    if (!lib) { chartsOff(el); continue; }
    const chart = lib.init(el, null, { renderer: "canvas" });
    chart.setOption(option);
    new ResizeObserver(() => chart.resize()).observe(el);
    el.dataset.ready = "yes";
  }
}

// -- operations: server-sent events from the operation store ---------------------------------------
function setProgress(root, op) {
  const bar = root.querySelector("progress");
  if (bar) {
    bar.max = op.progress.total || 1;
    bar.value = op.progress.total ? op.progress.done : (op.done ? 1 : 0);
  }
  const text = root.querySelector("[data-progress-text]");
  if (text) text.textContent = op.progress.total ? `${op.progress.done} / ${op.progress.total}` : `${op.progress.done}`;
  const msg = root.querySelector("[data-message]");
  if (msg && op.progress.message) msg.textContent = op.progress.message;
  for (const badge of root.querySelectorAll("[data-state], [data-op-state]")) {
    badge.textContent = op.state;
    badge.className = `state ${op.state}`;
  }
}

function watchOperation(root, id, onEvent) {
  const source = new EventSource(`/api/operations/${encodeURIComponent(id)}/events`);
  const handle = (kind) => (e) => {
    const data = JSON.parse(e.data);
    onEvent(kind, data);
    if (kind === "end" || (data.operation && data.operation.done)) source.close();
  };
  for (const kind of ["state", "progress", "log", "end"]) source.addEventListener(kind, handle(kind));
  source.onerror = () => { if (root.dataset.done === "yes") source.close(); };
}

function initOperationPage() {
  const root = document.querySelector("[data-live-op]");
  if (!root) return;
  const logBox = root.querySelector("[data-log]");
  watchOperation(root, root.dataset.liveOp, (kind, data) => {
    if (kind === "log") {
      const p = data.payload;
      logBox.textContent += `${p.level} ${p.source}: ${p.message}\n`;
      logBox.scrollTop = logBox.scrollHeight;
    }
    if (kind === "progress") {
      const p = data.payload;
      setProgress(document.body, { progress: p, state: "running", done: false });
    }
    if (data.operation) {
      const op = data.operation;
      setProgress(document.body, op);
      root.dataset.done = op.done ? "yes" : "no";
      if (op.result) root.querySelector("[data-result]").textContent = JSON.stringify(op.result, null, 2);
      const err = root.querySelector("[data-error-box]");
      if (op.error) { err.hidden = false; err.textContent = `${op.error.code}: ${op.error.message}`; }
      const cancel = root.querySelector("[data-action='cancel']");
      const resume = root.querySelector("[data-action='resume']");
      if (cancel) cancel.hidden = op.done;
      if (resume) resume.hidden = !(op.state === "cancelled" || (op.error && op.error.resumable));
    }
  });
}

function initOperationRows() {
  const rows = [...document.querySelectorAll("tr[data-op][data-done='no']")].slice(0, 12);
  for (const row of rows) {
    watchOperation(row, row.dataset.op, (kind, data) => {
      if (kind === "progress") setProgress(row, { progress: data.payload, state: "running", done: false });
      if (data.operation) { setProgress(row, data.operation); row.dataset.done = data.operation.done ? "yes" : "no"; }
    });
  }
}

// -- graph explorer --------------------------------------------------------------------------------
const COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4b5563"];

async function initGraph() {
  const el = document.querySelector("[data-graph]");
  if (!el) return;
  const lib = await echarts();
  if (!lib) { chartsOff(el); return; }
  const status = document.querySelector("[data-graph-status]");
  const chart = lib.init(el);
  new ResizeObserver(() => chart.resize()).observe(el);
  const nodes = new Map();
  const edges = new Map();
  const disciplines = [];
  const types = () => [...document.querySelectorAll("[data-graph-type]")].filter((c) => c.checked).map((c) => c.value);
  const allTypes = () => document.querySelectorAll("[data-graph-type]").length;

  function draw() {
    const categories = disciplines.map((d) => ({ name: d }));
    chart.setOption({
      color: COLORS,
      tooltip: { formatter: (p) => p.dataType === "edge" ? `${p.data.sourceName} <b>${p.data.type}</b> ${p.data.targetName}<br>${(p.data.evidence || "").slice(0, 160)}` : `${p.data.name}<br><small>${p.data.discipline}</small>` },
      legend: [{ data: disciplines, top: 0 }],
      series: [{
        type: "graph", layout: "force", roam: true, draggable: true, categories,
        force: { repulsion: 220, edgeLength: [60, 140], gravity: 0.08 },
        label: { show: true, position: "right", fontSize: 11 },
        edgeSymbol: ["none", "arrow"], edgeSymbolSize: 7,
        edgeLabel: { show: nodes.size < 40, formatter: (p) => p.data.type, fontSize: 9, color: "#6b7280" },
        lineStyle: { color: "#9ca3af", curveness: 0.15 },
        data: [...nodes.values()].map((n) => ({ id: n.id, name: n.name, discipline: n.discipline, category: disciplines.indexOf(n.discipline),
          symbolSize: n.id === el.dataset.graph ? 26 : 14 + Math.min(10, n.expanded ? 6 : 0), itemStyle: n.id === el.dataset.graph ? { borderColor: "#111", borderWidth: 2 } : undefined })),
        links: [...edges.values()].map((e) => ({ source: e.source, target: e.target, type: e.type, evidence: e.evidence,
          sourceName: nodes.get(e.source)?.name, targetName: nodes.get(e.target)?.name })),
      }],
    }, { replaceMerge: ["series"] });
    status.textContent = `${nodes.size} concepts, ${edges.size} relations`;
    el.dataset.nodes = String(nodes.size);
  }

  async function expand(id, depth) {
    const chosen = types();
    if (chosen.length === 0) { status.textContent = "no relation type selected"; return; }
    const params = new URLSearchParams({ id, depth: String(depth), limit: "60" });
    if (chosen.length < allTypes()) params.set("types", chosen.join(","));
    status.textContent = "loading…";
    const response = await fetch(`/api/graph/neighbours?${params}`, { headers: { Accept: "application/json" } });
    const data = await response.json();
    if (!response.ok) { status.textContent = data.error || "failed"; return; }
    for (const n of data.nodes) {
      if (!disciplines.includes(n.discipline)) disciplines.push(n.discipline);
      if (!nodes.has(n.id)) nodes.set(n.id, n);
    }
    nodes.get(id).expanded = true;
    for (const e of data.edges) edges.set(e.id, e);
    draw();
    if (data.truncated) status.textContent += " (cut at the limit: click a node to expand it)";
  }

  const depth = () => Number(document.querySelector("[data-graph-depth]").value);
  chart.on("click", (p) => { if (p.dataType === "node") expand(p.data.id, 1); });
  chart.on("dblclick", (p) => { if (p.dataType === "node") location.href = `/graph/concept/${encodeURIComponent(p.data.id)}`; });
  const reset = () => { nodes.clear(); edges.clear(); expand(el.dataset.graph, depth()); };
  for (const input of document.querySelectorAll("[data-graph-type], [data-graph-depth]")) input.addEventListener("change", reset);
  reset();
}

// -- small helpers ---------------------------------------------------------------------------------
function initCopy() {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      try { await navigator.clipboard.writeText(text); button.textContent = "copied"; }
      catch { const range = document.createRange(); range.selectNodeContents(document.getElementById(button.dataset.copy));
        getSelection().removeAllRanges(); getSelection().addRange(range); button.textContent = "selected: Ctrl+C"; }
    });
  }
}

function initEstimate() {
  const form = document.querySelector("form.estimate");
  const job = document.querySelector("form[data-job='synthesis.extract_knowledge']");
  if (!form || !job) return;
  form.addEventListener("submit", () => {
    for (const hidden of form.querySelectorAll("[data-copy-from]")) {
      const source = job.elements[hidden.dataset.copyFrom];
      hidden.value = source ? source.value : "";
      if (!hidden.value) hidden.disabled = true;
    }
  });
}

function initFilter() {
  const input = document.querySelector("[data-filter]");
  if (!input) return;
  input.addEventListener("input", () => {
    const needle = input.value.toLowerCase();
    for (const row of document.querySelectorAll("tr[data-q]")) row.hidden = !row.textContent.toLowerCase().includes(needle);
  });
}

initCopy();
initEstimate();
initFilter();
initOperationPage();
initOperationRows();
initCharts();
initGraph();
