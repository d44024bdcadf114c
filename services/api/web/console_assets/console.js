// The jan-models console: everything it shows comes from the public Organization Models
// API, with the key the user types (sessionStorage only, sent as the Authorization
// header). Values are rendered as text (textContent), never as markup. Long lists are
// virtualised: only the rows in view exist in the page.
"use strict";

const API = "/v1/organization/models";
const KEY_STORAGE = "jan-models.api-key";
const PAGE = 1000;
// What each component needs, as the API names it (shared/crds.py); shown when it is absent.
const COMPONENTS = [
  ["gpu_operator_ok", "NVIDIA GPU Operator", "clusterpolicies.nvidia.com"],
  ["aibrix_ok", "Aibrix", "podautoscalers.autoscaling.aibrix.ai"],
  ["kuberay_ok", "KubeRay", "rayclusters.ray.io"],
  ["envoy_gateway_ok", "Envoy Gateway", "gatewayclasses.gateway.networking.k8s.io"],
];

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function age(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

// --- the API -----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function apiKey() { return sessionStorage.getItem(KEY_STORAGE); }

async function call(method, path, body, extraHeaders) {
  const headers = { Authorization: `Bearer ${apiKey()}`, ...extraHeaders };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] ??= "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : `HTTP ${response.status}`;
    if (response.status === 401) askForKey(message);
    throw new ApiError(response.status, message);
  }
  return data;
}

// Server-Sent Events read with fetch (EventSource cannot send the Authorization header).
// Calls onOpen once subscribed, onEvent(sequence, cloudEvent) per event; resolves with the
// last sequence seen when the stream ends (an `overflow` event ends it too).
async function readEvents({ query, after, signal, onOpen, onEvent, onId }) {
  const headers = { Authorization: `Bearer ${apiKey()}` };
  if (after !== null && after !== undefined) headers["Last-Event-ID"] = String(after);
  const response = await fetch(`${API}/events/stream${query || ""}`, { headers, signal, cache: "no-store" });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).error || message; } catch { /* not JSON */ }
    if (response.status === 401) askForKey(message);
    throw new ApiError(response.status, message);
  }
  if (onOpen) onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let last = after;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return last;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id = null, name = "message", data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") id = text;
        else if (field === "event") name = text;
        else if (field === "data") data.push(text);
      }
      if (name === "overflow") return last;
      if (id !== null) { last = Number(id); if (onId) onId(last); }
      if (!data.length) continue;
      try { onEvent(last, JSON.parse(data.join("\n"))); } catch (error) { console.warn("bad event", error); }
    }
  }
}

// --- virtualised list --------------------------------------------------------------------

class VirtualList {
  // `render(slot, item)` fills a row slot; `columns(width)` > 1 lays items out as tiles.
  constructor(viewport, { rowHeight, render, columns, label }) {
    this.viewport = viewport;
    this.rowHeight = rowHeight;
    this.render = render;
    this.columns = columns || (() => 1);
    this.label = label;
    this.items = [];
    this.slots = [];
    this.spacer = el("div", "spacer");
    viewport.append(this.spacer);
    this.frame = 0;
    viewport.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(viewport);
  }

  setItems(items) {
    this.items = items;
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  draw() {
    const cols = Math.max(1, this.columns(this.viewport.clientWidth));
    const rows = Math.ceil(this.items.length / cols);
    // As tall as its rows up to 60% of the window: a short list leaves no empty box.
    const tallest = Math.max(this.rowHeight * 3, window.innerHeight * 0.6);
    // Written only when they change: a style write invalidates the whole list's styles.
    const shape = `${cols} ${rows} ${tallest}`;
    if (shape !== this.shape) {
      this.shape = shape;
      this.viewport.style.setProperty("--cols", String(cols));
      this.spacer.style.height = `${rows * this.rowHeight}px`;
      this.viewport.style.height = `${Math.min(tallest, rows * this.rowHeight + 16)}px`;
    }
    // One row of margin above, two below: each row drawn costs layout and paint per frame.
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / this.rowHeight) - 1);
    const visible = Math.ceil(this.viewport.clientHeight / this.rowHeight) + 3;
    const last = Math.min(rows, first + visible);
    let used = 0;
    for (let row = first; row < last; row++) {
      let slot = this.slots[used];
      if (!slot) {
        slot = el("div", "slot");
        this.slots.push(slot);
        this.spacer.append(slot);
      }
      slot.style.transform = `translateY(${row * this.rowHeight}px)`;
      const from = row * cols;
      const items = this.items.slice(from, Math.min(this.items.length, from + cols));
      this.fill(slot, items, from);
      used++;
    }
    for (const slot of this.slots.splice(used)) slot.remove();
    if (this.onDraw) this.onDraw(first * cols, last * cols);
  }

  fill(slot, items, from) {
    while (slot.children.length > items.length) slot.lastChild.remove();
    items.forEach((item, i) => {
      let cell = slot.children[i];
      if (!cell) {
        cell = el("div");
        cell.setAttribute("role", "listitem");
        slot.append(cell);
      }
      cell.setAttribute("aria-posinset", String(from + i + 1));
      cell.setAttribute("aria-setsize", String(this.items.length));
      this.render(cell, item);
    });
  }

  visibleItems(from, to) { return this.items.slice(from, to); }
}

// Row cells: built once per slot, then only their text changes.
function cells(cell, className, count, linkFirst) {
  if (cell.dataset.kind !== className) {
    cell.replaceChildren();
    cell.className = `row ${className}`;
    cell.dataset.kind = className;
    for (let i = 0; i < count; i++) {
      const part = el("span");
      if (i === 0 && linkFirst) part.append(el("a"));
      cell.append(part);
    }
  }
  return Array.from(cell.children);
}

function badge(span, status) {
  let b = span.firstChild;
  if (!b || b.nodeType !== 1) { span.replaceChildren(); b = el("span"); span.append(b); }
  b.className = `badge ${status || ""}`;
  b.textContent = status || "unknown";
}

// --- state -------------------------------------------------------------------------------

const state = {
  models: new Map(),      // public_id -> list entry (+ replicas, created_at, gpus)
  order: [],              // public ids, newest first
  all: [],                // /all entries
  status: null,           // /status body
  details: new Map(),     // public_id -> detail, for the GPU column and the model page
  lastEventId: null,
  streamAbort: null,
  openModel: null,
  view: null,
  total: null,            // models in the organization, once known
  loaded: false,          // every page read since the stream opened
  early: [],              // events that came before that
  dataShown: false,
  loadedShown: false,
  pendingEvent: null,
};

let modelsList, allList, nodesList;
let renderFrame = 0;
function scheduleRender() {
  if (!renderFrame) renderFrame = requestAnimationFrame(() => { renderFrame = 0; render(); });
}

// --- the key -----------------------------------------------------------------------------

function askForKey(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  stopStreams();
  $("key-error").textContent = message ? `The API refused the key: ${message}` : "";
  show("key");
  $("forget-key").hidden = true;
  $("live").textContent = "Not connected";
  $("key-input").focus();
}

async function onKeySubmit(event) {
  event.preventDefault();
  const key = $("key-input").value.trim();
  if (!key) { $("key-error").textContent = "Enter an API key."; return; }
  sessionStorage.setItem(KEY_STORAGE, key);
  $("key-input").value = "";
  try {
    await call("GET", "?limit=0");
  } catch (error) {
    if (error.status !== 401) $("key-error").textContent = error.message;
    return;
  }
  $("key-error").textContent = "";
  start();
}

// --- loading -----------------------------------------------------------------------------

// The newest page is drawn first, read at once (data on screen sooner); every page is read
// again once the event stream is open, so nothing published in between is missed. Events
// that come before that full read are kept and applied after it, in order.
async function loadNewest() {
  const { total } = await call("GET", "?limit=0");
  const offset = Math.max(0, total - PAGE);
  const page = await call("GET", `?limit=${PAGE}&offset=${offset}`);
  if (state.loaded) return;
  state.total = total;
  setModels([page]);
}

async function loadModels() {
  const first = await call("GET", `?limit=${PAGE}&offset=0`);
  const offsets = [];
  for (let offset = PAGE; offset < first.total; offset += PAGE) offsets.push(offset);
  const rest = await Promise.all(offsets.map((offset) => call("GET", `?limit=${PAGE}&offset=${offset}`)));
  setModels([first, ...rest]);
  state.total = state.models.size;
  state.loaded = true;
  for (const event of state.early.splice(0)) applyEvent(event);
}

function setModels(pages) {
  const models = new Map();
  for (const page of pages) {
    for (const m of page.models) models.set(m.public_id, { ...state.models.get(m.public_id), ...m });
  }
  state.models = models;
  state.order = Array.from(models.values()).sort((a, b) => b.id - a.id).map((m) => m.public_id);
  joinAll();
}

async function loadAll() {
  try {
    const body = await call("GET", "/all");
    state.all = body.models;
    $("all-error").textContent = "";
    joinAll();
  } catch (error) {
    $("all-error").textContent = error.message;
  }
}

function joinAll() {
  const own = new Map(state.all.filter((e) => e.is_own).map((e) => [e.name, e]));
  for (const model of state.models.values()) {
    const entry = own.get(model.name);
    if (entry) { model.replicas = entry.replicas; model.created_at = entry.created_at; model.phase = entry.status; }
  }
}

async function loadStatus() {
  try {
    state.status = await call("GET", "/status");
    $("cluster-error").textContent = "";
  } catch (error) {
    $("cluster-error").textContent = error.message;
  }
}

// /status (2,000 nodes on a big cluster) and /all (10,000 entries) are read only while a
// view that shows them is open: on opening it, and again shortly after an event where the
// view is about them (`liveIn`). An event otherwise marks them stale, to be read when a
// view that shows them is next opened.
class Source {
  constructor(load, { shownIn, liveIn }) {
    this.load = load;
    this.shownIn = shownIn;
    this.liveIn = liveIn;
    this.fresh = false;
    this.pending = null;
    this.timer = 0;
  }

  refresh(view, soon) {
    if (this.fresh || !this.shownIn(view) || this.timer || (soon && !this.liveIn(view))) return;
    if (soon) { this.timer = setTimeout(() => { this.timer = 0; this.refresh(state.view, false); }, 1000); return; }
    if (this.pending) return; // an event during a read makes it stale: read again after it
    this.fresh = true;
    this.pending = this.load().finally(() => {
      this.pending = null;
      scheduleRender();
      this.refresh(state.view, true);
    });
  }
}

const sources = {
  status: new Source(loadStatus, { shownIn: (view) => view === "cluster", liveIn: (view) => view === "cluster" }),
  // The models list takes its age (and first replica counts) from /all, drawn without them
  // first; events bring it new counts, so it does not read all of /all again for each.
  all: new Source(loadAll, {
    shownIn: (view) => view === "all" || view === "model" || (view === "models" && state.loaded),
    liveIn: (view) => view === "all" || view === "model",
  }),
};

function refreshSources(soon) {
  for (const source of Object.values(sources)) source.refresh(state.view, soon);
}

function markStale() {
  for (const source of Object.values(sources)) source.fresh = false;
  refreshSources(true);
}

// --- live events -------------------------------------------------------------------------

function stopStreams() {
  if (state.streamAbort) state.streamAbort.abort();
  state.streamAbort = null;
  closeModel();
}

async function follow(onFirstOpen) {
  const abort = new AbortController();
  state.streamAbort = abort;
  let opened = false;
  let delay = 500;
  while (!abort.signal.aborted) {
    try {
      state.lastEventId = await readEvents({
        after: state.lastEventId,
        signal: abort.signal,
        onOpen: () => {
          $("live").textContent = "Live";
          delay = 500;
          if (!opened) { opened = true; onFirstOpen(); }
        },
        onEvent: (sequence, event) => { state.lastEventId = sequence; applyEvent(event); },
        onId: (sequence) => { state.lastEventId = sequence; },
      });
    } catch (error) {
      if (abort.signal.aborted || error.status === 401) return;
    }
    $("live").textContent = "Reconnecting…";
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

function applyEvent(event) {
  if (!state.loaded) { state.early.push(event); return; }
  const data = event.data || {};
  const kind = eventKind(event);
  const id = event.subject || data.public_id;
  const model = state.models.get(id);
  state.pendingEvent = { id: event.id, received: performance.now() };
  if (kind === "deleted") {
    if (model) { state.models.delete(id); state.order = state.order.filter((p) => p !== id); }
  } else if (model) {
    follows(model, kind, data);
  } else if (kind !== "deleting") {
    call("GET", `/${encodeURIComponent(id)}`).then((body) => {
      if (!state.models.has(id)) {
        state.models.set(id, body.model);
        state.order.unshift(id);
        scheduleRender();
      }
    }).catch(() => {});
  }
  markStale();
  scheduleRender();
}

function eventKind(event) { return String(event.type || "").split(".").pop(); }

// How an event moves a model's status, as the api's transitions (services/api/transitions.py)
// decides: forward only, an event of an older generation is stale; `updated` starts a new
// generation (`updating`) that its `running` or `failed` ends; while updating, `degraded`
// (Recreate takes the old pods away first) moves only the replica counts; a model being
// deleted hears nothing but `deleted`.
const DEGRADABLE = new Set(["creating", "deploying", "running"]);
function nextStatus(model, kind, generation) {
  const status = model.status || "creating";
  if (kind === "deleted") return "deleted";
  if (status === "deleting" || status === "deleted") return status;
  if (kind === "deleting") return "deleting";
  if (generation < (model.generation || 0)) return status;
  switch (kind) {
    case "updated": return "updating";
    case "applied": return status === "creating" ? "deploying" : status;
    case "running": return "running";
    case "failed": return "failed";
    case "degraded": return DEGRADABLE.has(status) ? "degraded" : status;
    case "drifted": return status === "running" ? "degraded" : status;
    default: return status;
  }
}

// Applies an event to a model (a list entry or the open model's details) and says whether
// it was current (not stale).
function follows(model, kind, data) {
  const generation = typeof data.generation === "number" ? data.generation : 0;
  const current = generation >= (model.generation || 0);
  model.status = nextStatus(model, kind, generation);
  if (!current || model.status === "deleting") return current;
  model.generation = Math.max(model.generation || 0, generation);
  for (const field of ["replicas", "ready_replicas", "updated_replicas"]) {
    if (typeof data[field] === "number") model[field] = data[field];
  }
  if (kind === "updated" || kind === "running") model.status_reason = "";
  if (data.reason || data.message) model.status_reason = [data.reason, data.message].filter(Boolean).join(": ");
  return current;
}

// --- views -------------------------------------------------------------------------------

const VIEWS = ["key", "cluster", "models", "model", "create", "all"];

function show(name) {
  state.view = name;
  for (const view of VIEWS) $(`view-${view}`).hidden = view !== name;
  const nav = name === "model" || name === "create" ? "models" : name;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function route() {
  if (!apiKey()) { askForKey(""); return; }
  const [, view, id] = (location.hash || "#/cluster").split("/");
  const name = VIEWS.includes(view) ? view : "cluster";
  if (name === "models" && id) openModel(decodeURIComponent(id));
  else { closeModel(); show(name === "key" ? "cluster" : name); }
  if (name === "create") prepareCreate();
  refreshSources(false);
  document.title = `${name === "models" && id ? id : (name[0].toUpperCase() + name.slice(1))} · jan-models console`;
  scheduleRender();
}

function render() {
  if (!$("view-cluster").hidden) renderCluster();
  if (!$("view-models").hidden) renderModels();
  if (!$("view-all").hidden) renderAll();
  if (!$("view-model").hidden) renderModel();
  // For measurements (jan-models bench): when data, and each event, is on screen. The
  // lists draw in the next frame, so these are taken in the frame after it.
  const pending = state.pendingEvent;
  state.pendingEvent = null;
  const firstData = (state.loaded || state.models.size > 0) && !state.dataShown;
  const allData = state.loaded && !state.loadedShown;
  state.dataShown ||= firstData;
  state.loadedShown ||= allData;
  if (pending || firstData || allData) {
    requestAnimationFrame(() => {
      if (firstData) performance.mark("jan-models:data-shown");
      if (allData) performance.mark("jan-models:models-loaded");
      if (pending) window.janModelsLastEvent = { ...pending, shown: performance.now() };
    });
  }
}

// Cluster ----------------------------------------------------------------------------------

function renderCluster() {
  const body = state.status;
  if (!body) { $("cluster-summary").textContent = "Loading…"; return; }
  const cluster = body.cluster_status;
  const nodes = cluster.gpu_nodes || [];
  const free = nodes.reduce((sum, n) => sum + (typeof n.free_gpus === "number" ? n.free_gpus : 0), 0);
  const knowsFree = nodes.some((n) => typeof n.free_gpus === "number");
  $("cluster-summary").textContent =
    `${cluster.total_nodes} nodes, ${nodes.length} with GPUs, ${cluster.total_gpus} GPUs` +
    (knowsFree ? `, ${free} free` : "") + (cluster.has_gpus ? "" : " — no GPU found");

  const missing = Array.isArray(body.missing) ? body.missing : null;
  const list = $("components");
  list.replaceChildren();
  for (const [field, label, crd] of COMPONENTS) {
    const ok = cluster[field] === true;
    const item = el("li");
    const b = el("span", `badge ${ok ? "ok" : "bad"}`, ok ? "ready" : "not ready");
    item.append(b, el("span", "", label));
    if (!ok) item.append(el("span", "hint", `missing: ${missing ? missing.join(", ") : crd}`));
    list.append(item);
  }

  const products = new Map();
  for (const node of nodes) {
    const p = products.get(node.gpu_type) || { nodes: 0, gpus: 0, free: 0 };
    p.nodes += 1; p.gpus += node.gpu_count; p.free += node.free_gpus || 0;
    products.set(node.gpu_type, p);
  }
  const tbody = $("products").tBodies[0];
  tbody.replaceChildren();
  for (const [product, p] of [...products.entries()].sort()) {
    const row = el("tr");
    row.append(el("td", "", product || "unknown"), el("td", "", p.nodes), el("td", "", p.gpus),
      el("td", "", knowsFree ? p.free : "—"));
    tbody.append(row);
  }

  const quota = body.quota;
  $("quota-card").hidden = !(quota && typeof quota === "object");
  if (quota && typeof quota === "object") {
    const dl = $("quota");
    dl.replaceChildren();
    for (const [name, value] of Object.entries(quota)) {
      dl.append(el("dt", "", name.replaceAll("_", " ")), el("dd", "", value === null ? "none" : typeof value === "object" ? JSON.stringify(value) : value));
    }
  }
  $("nodes-title").textContent = `GPU nodes (${nodes.length})`;
  nodesList.setItems(nodes);
}

// `652472Mi` as `637Gi`: node memory comes in MiB, people read GiB.
function gib(quantity) {
  const mebibytes = /^(\d+)Mi$/.exec(quantity || "");
  return mebibytes ? `${Math.round(Number(mebibytes[1]) / 1024)}Gi` : quantity;
}

function renderTile(cell, node) {
  if (cell.dataset.kind !== "tile") {
    cell.replaceChildren();
    cell.className = "tile";
    cell.dataset.kind = "tile";
    const gpus = el("span", "gpus");
    gpus.setAttribute("aria-hidden", "true");
    cell.append(el("span", "name"), el("span", "product"), el("span", "memory"), gpus,
      el("span", "use"), el("span", "why"));
  }
  if (cell.node === node) return;
  cell.node = node;
  const [name, product, memory, gpus, use, why] = cell.children;
  name.textContent = node.node_name;
  product.textContent = node.gpu_type || "unknown GPU";
  memory.textContent = `${node.gpu_count} × GPU · ${gib(node.total_vram)} VRAM · ${gib(node.available_vram)} free`;
  const used = node.allocated_gpus ?? null;
  const reserved = node.reserved_gpus ?? 0;
  const freeCount = node.free_gpus ?? null;
  // One glyph per GPU (used, reserved, free), as one text: spans per GPU cost a layout each.
  // Drawn only when /status tells how many are in use.
  const shown = used === null ? 0 : Math.min(node.gpu_count, 16);
  const usedShown = used === null ? 0 : Math.min(used, shown);
  const reservedShown = used === null ? 0 : Math.min(reserved, shown - usedShown);
  gpus.textContent = "■".repeat(usedShown) + "▣".repeat(reservedShown) + "□".repeat(shown - usedShown - reservedShown);
  use.textContent = used === null ? "" : `${used} used · ${reserved} reserved · ${freeCount ?? node.gpu_count - used - reserved} free`;
  const schedulable = node.schedulable;
  why.textContent = schedulable === false ? `not schedulable: ${node.unschedulable_reason || "no reason given"}` : "";
  cell.setAttribute("aria-label", `${node.node_name}: ${product.textContent}, ${memory.textContent}` +
    (use.textContent ? `, ${use.textContent}` : "") + (why.textContent ? `, ${why.textContent}` : ""));
}

// Models -----------------------------------------------------------------------------------

function filteredModels() {
  const query = $("models-search").value.trim().toLowerCase();
  const status = $("models-status").value;
  const out = [];
  for (const id of state.order) {
    const m = state.models.get(id);
    if (!m) continue;
    if (status && m.status !== status) continue;
    if (query && !`${m.name} ${m.display_name || ""} ${m.public_id}`.toLowerCase().includes(query)) continue;
    out.push(m);
  }
  return out;
}

function renderModels() {
  const items = filteredModels();
  $("models-count").textContent = state.loaded ? `${items.length} of ${state.models.size} models`
    : state.models.size ? `${items.length} of the newest ${state.models.size}; reading all ${state.total}…` : "Loading…";
  modelsList.setItems(items);
}

function renderModelRow(cell, m) {
  const [name, display, status, replicas, gpus, since] = cells(cell, "models-row", 6, true);
  const link = name.firstChild;
  link.textContent = m.name;
  link.href = `#/models/${encodeURIComponent(m.public_id)}`;
  display.textContent = m.display_name || "";
  badge(status, m.status);
  replicas.textContent = m.replicas ?? "";
  const detail = state.details.get(m.public_id);
  gpus.textContent = detail ? gpuCount(detail) : "";
  since.textContent = age(m.created_at || (detail && detail.created_at));
}

function gpuCount(detail) {
  const gpu = detail.requirements && detail.requirements.gpu;
  return gpu ? gpu.min_gpus ?? "" : 0;
}

// The GPU column needs each model's details: fetched for the rows in view, once scrolling stops.
let detailTimer = 0;
function wantDetails(from, to) {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(async () => {
    if (!state.loaded) return; // drawn again once every page is read
    const wanted = modelsList.visibleItems(from, to).filter((m) => !state.details.has(m.public_id));
    await Promise.all(wanted.slice(0, 50).map(async (m) => {
      try { state.details.set(m.public_id, (await call("GET", `/${m.public_id}`)).model); } catch { /* gone */ }
    }));
    if (wanted.length) modelsList.schedule();
  }, 150);
}

// All models --------------------------------------------------------------------------------

function renderAll() {
  const query = $("all-search").value.trim().toLowerCase();
  const kind = $("all-kind").value;
  const items = state.all.filter((e) =>
    (!kind || (kind === "managed") === e.is_managed) &&
    (!query || `${e.name} ${e.namespace}`.toLowerCase().includes(query)));
  $("all-count").textContent = `${items.length} of ${state.all.length} models`;
  allList.setItems(items);
}

function renderAllRow(cell, e) {
  const [name, namespace, managed, status, replicas, since] = cells(cell, "all-row", 6, false);
  name.textContent = e.display_name ? `${e.name} (${e.display_name})` : e.name;
  namespace.textContent = e.namespace;
  managed.textContent = e.is_managed ? (e.is_own ? "managed · yours" : "managed") : "unmanaged";
  badge(status, e.status);
  replicas.textContent = e.replicas;
  since.textContent = age(e.created_at);
}

// One model ---------------------------------------------------------------------------------

async function openModel(id) {
  show("model");
  if (state.openModel && state.openModel.key === id) return;
  closeModel();
  // `history` follows the events from the first: each row shows what its event meant then.
  const open = { key: id, detail: null, history: {}, after: 0, deleted: false, abort: new AbortController() };
  state.openModel = open;
  $("model-title").textContent = id;
  $("model-error").textContent = "";
  $("model-notice").textContent = "";
  $("model-events").replaceChildren();
  for (const form of [$("scale-form"), $("edit-form")]) {
    delete form.dataset.base; delete form.dataset.filled; delete form.dataset.mode;
  }
  try {
    open.detail = (await call("GET", `/${encodeURIComponent(id)}`)).model;
  } catch (error) {
    if (state.openModel === open) $("model-error").textContent = error.message;
    return;
  }
  if (state.openModel !== open) return;
  state.details.set(open.detail.public_id, open.detail);
  followModel(open);
  scheduleRender();
}

function closeModel() {
  if (state.openModel) state.openModel.abort.abort();
  state.openModel = null;
}

// The model's own events, from its first (its history), resumed where a stream broke off.
async function followModel(open) {
  let delay = 500;
  while (state.openModel === open && !open.deleted) {
    try {
      open.after = await readEvents({
        query: `?model=${encodeURIComponent(open.detail.public_id)}`,
        after: open.after,
        signal: open.abort.signal,
        onOpen: () => { delay = 500; },
        onEvent: (sequence, event) => { open.after = sequence; modelEvent(open, event); },
        onId: (sequence) => { open.after = sequence; },
      });
    } catch (error) {
      if (open.abort.signal.aborted || error.status === 401 || error.status === 404) return;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

function modelEvent(open, event) {
  if (state.openModel !== open) return;
  const kind = eventKind(event);
  const data = event.data || {};
  follows(open.history, kind, data);
  follows(open.detail, kind, data);
  if (kind === "deleted") { open.deleted = true; $("model-notice").textContent = "This model has been deleted."; }
  const status = open.history.status;
  const counts = typeof data.replicas === "number" ? `replicas ${data.ready_replicas ?? "?"}/${data.replicas}` : "";
  const changed = Array.isArray(data.changed) ? data.changed.join(", ") : "";
  const item = el("li");
  item.append(
    el("span", "when", new Date(event.time).toLocaleString()),
    el("span", "", typeof data.generation === "number" ? `${kind} · gen ${data.generation}` : kind),
    el("span", `badge ${status}`, status),
    el("span", "", [changed, data.reason, data.message, counts].filter(Boolean).join(" · ")),
  );
  $("model-events").append(item);
  // Conditions and the observed generation come with the details: read them once events settle.
  clearTimeout(open.reread);
  if (!open.deleted) open.reread = setTimeout(() => reread(open), 800);
  scheduleRender();
}

async function reread(open) {
  try {
    const fresh = (await call("GET", `/${encodeURIComponent(open.detail.public_id)}`)).model;
    if (state.openModel === open) adopt(open, fresh);
  } catch { /* the stream tells what happened */ }
  scheduleRender();
}

// What the API answered about the model, taken into the page. The status and replica
// counts of the generation the page already shows come from its events (the stream may be
// ahead of the details); a newer generation is taken whole, an older one not at all.
const LIVE_FIELDS = ["status", "status_reason", "replicas", "ready_replicas", "updated_replicas"];
function adopt(open, fresh) {
  const shown = open.detail;
  if (fresh.generation < shown.generation) return;
  const live = fresh.generation === shown.generation
    ? Object.fromEntries(LIVE_FIELDS.filter((f) => f in shown).map((f) => [f, shown[f]]))
    : {};
  open.detail = { ...fresh, ...live };
  state.details.set(fresh.public_id, open.detail);
  const entry = state.models.get(fresh.public_id);
  if (entry) Object.assign(entry, { display_name: fresh.display_name, status: open.detail.status });
}

function pairs(dl, entries) {
  dl.replaceChildren();
  for (const [name, value] of entries) {
    if (value === undefined) continue;
    const text = value === null || value === "" ? "—" : typeof value === "object" ? JSON.stringify(value) : String(value);
    dl.append(el("dt", "", name), el("dd", "", text));
  }
}

function renderModel() {
  const open = state.openModel;
  if (!open || !open.detail) return;
  const d = open.detail;
  $("model-title").textContent = d.display_name && d.display_name !== d.name ? `${d.display_name} (${d.name})` : d.name;
  const statusBadge = $("model-status");
  statusBadge.className = `badge ${d.status}`;
  statusBadge.textContent = d.status;
  $("model-reason").textContent = d.status_reason || "";
  $("model-ready").textContent = d.ready_replicas ?? "—";
  $("model-desired").textContent = d.replicas ?? "—";
  $("model-generation").textContent = d.observed_generation !== undefined && d.observed_generation !== d.generation
    ? `${d.generation} (observed ${d.observed_generation})` : d.generation ?? "—";
  const gone = open.deleted || d.status === "deleting" || d.status === "deleted";
  for (const id of ["model-delete", "model-restart"]) $(id).disabled = gone;
  for (const button of document.querySelectorAll("#view-model form button")) button.disabled = gone || button.dataset.busy === "1";
  fillForms(d);
  const config = d.deployment_config;
  pairs($("model-details"), [
    ["Public id", d.public_id], ["Id", d.id], ["Model type", d.model_type],
    ["Hugging Face id", d.huggingface_id], ["Description", d.description],
    ["GPUs per replica", typeof config?.gpu_count === "number" ? config.gpu_count : gpuCount(d)],
    ["Minimum VRAM", d.requirements && d.requirements.gpu ? d.requirements.gpu.min_vram : null],
    ["CPU", d.requirements ? d.requirements.cpu : null], ["Memory", d.requirements ? d.requirements.memory : null],
    ...(config ? configPairs(config) : []),
    ["Tags", (d.tags || []).join(", ")], ["Public", d.is_public ? "yes" : "no"],
    ["Created", d.created_at], ["Updated", d.updated_at],
  ]);
  const entry = state.all.find((e) => e.is_own && e.name === d.name);
  pairs($("model-resources"), [
    ["Namespace", d.namespace], ["Deployment", d.deployment_name], ["Service", d.service_name],
    ["Endpoint", d.endpoint_url], ["Phase", entry ? entry.status : "not seen in the cluster"],
    ["Replicas", entry ? entry.replicas : null],
  ]);
  const rows = $("model-conditions").tBodies[0];
  rows.replaceChildren();
  for (const c of d.conditions || []) {
    const row = el("tr");
    row.append(el("td", "", c.type), el("td", "", c.status), el("td", "", c.reason || ""), el("td", "", c.message || ""));
    rows.append(row);
  }
}

// The deployment config as the details carry it (no secret is ever in it, only names).
function configPairs(config) {
  const rollout = config.rollout || {};
  const scaling = config.enable_autoscaling ? autoscaling(config) : null;
  return [
    ["Image", `${config.image} (pull ${config.image_pull_policy})`],
    scaling
      ? ["Replicas", `autoscaled, ${scaling.min_replicas} to ${scaling.max_replicas} on ${scaling.target_metric} ${scaling.target_value}`]
      : ["Replicas", config.replicas],
    ["Rollout", rollout.strategy === "RollingUpdate"
      ? `RollingUpdate (max surge ${rollout.max_surge}, max unavailable ${rollout.max_unavailable})`
      : rollout.strategy],
    ["Volume", config.enable_pvc ? `${config.pvc_size} claim, ${config.storage_class || "default storage class"}` : "none"],
    ["Hugging Face token", config.has_hugging_face_token ? "yes" : "no"],
    ["Secret environment", (config.secret_env_names || []).join(", ") || "none"],
  ];
}

// What the autoscaler runs with: the model's autoscaling_config, or the API's defaults when
// it has none (shared/model_spec.py AutoscalingConfig).
const AUTOSCALING_DEFAULTS = {
  min_replicas: 1, max_replicas: 10, target_metric: "num_requests_running", target_value: "40",
};
function autoscaling(config) { return { ...AUTOSCALING_DEFAULTS, ...config.autoscaling_config }; }

// Day two: a form shows the model's values, written again whenever they change, until the
// user edits it; from then it remembers the generation it was started from and sends it as
// If-Match, so a change made meanwhile by someone else is answered 412 instead of silently
// overwritten. After a change is sent the form keeps what was sent until the model's values
// move (a scale shows its new count once the replicas follow).
function fillForms(d) {
  fillScale(d);
  const described = [d.display_name || "", d.description || "", (d.tags || []).join(", "), Boolean(d.is_public)];
  fill($("edit-form"), described, ([name, description, tags, isPublic]) => {
    $("edit-display-name").value = name;
    $("edit-description").value = description;
    $("edit-tags").value = tags;
    $("edit-public").checked = isPublic;
  });
}

// An autoscaled model is scaled by its bounds (the autoscaler picks the count between them),
// any other by its replicas. When the model moves from one to the other (a change made
// elsewhere, read again after its events), the form shows the other inputs, filled afresh.
function fillScale(d) {
  const form = $("scale-form");
  const config = d.deployment_config || {};
  const mode = config.enable_autoscaling ? "bounds" : "replicas";
  if (form.dataset.mode !== mode) {
    form.dataset.mode = mode;
    delete form.dataset.base;
    delete form.dataset.filled;
    $("scale-fixed").hidden = mode === "bounds";
    $("scale-auto").hidden = mode !== "bounds";
  }
  if (mode === "replicas") {
    fill(form, d.replicas ?? "", (replicas) => { $("scale-replicas").value = replicas; });
    return;
  }
  const { min_replicas: min, max_replicas: max } = autoscaling(config);
  fill(form, [min, max], ([least, most]) => { $("scale-min").value = least; $("scale-max").value = most; });
  $("scale-now").textContent = `Now ${d.replicas ?? "?"} replica${d.replicas === 1 ? "" : "s"} wanted, ` +
    `${d.ready_replicas ?? "?"} ready; the autoscaler chooses between these bounds.`;
}

function fill(form, values, write) {
  const text = JSON.stringify(values);
  if (form.dataset.base || form.dataset.filled === text) return;
  form.dataset.filled = text;
  write(values);
}

function startEditing(event) {
  const open = state.openModel;
  const form = event.currentTarget;
  if (open && open.detail && !form.dataset.base) form.dataset.base = String(open.detail.generation);
}

// The API's own rules for a replica count (deployment_config.replicas 0 to 1000, an
// autoscaler's bounds 1 to 1000), in its words, to spare a round trip.
function checkCount(raw, field, least) {
  const value = Number(raw);
  if (raw === "" || !Number.isInteger(value)) return `${field}: Input should be a valid integer`;
  if (value < least) return `${field}: Input should be greater than or equal to ${least}`;
  if (value > 1000) return `${field}: Input should be less than or equal to 1000`;
  return "";
}

const BOUNDS = "deployment_config.autoscaling_config";

// The first problem with the form's values, and the input it is about.
function scaleProblem(mode) {
  if (mode !== "bounds") {
    const input = $("scale-replicas");
    return [checkCount(input.value.trim(), "deployment_config.replicas", 0), input];
  }
  for (const [id, field] of [["scale-min", "min_replicas"], ["scale-max", "max_replicas"]]) {
    const problem = checkCount($(id).value.trim(), `${BOUNDS}.${field}`, 1);
    if (problem) return [problem, $(id)];
  }
  if (Number($("scale-min").value) > Number($("scale-max").value)) {
    return [`${BOUNDS}: autoscaling_config.min_replicas must be <= autoscaling_config.max_replicas`, $("scale-min")];
  }
  return ["", null];
}

async function onScale(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const [problem, input] = scaleProblem(form.dataset.mode);
  if (problem) {
    $("model-notice").textContent = "";
    $("model-error").textContent = problem;
    input.focus();
    return;
  }
  if (form.dataset.mode === "bounds") {
    const [min, max] = [Number($("scale-min").value), Number($("scale-max").value)];
    await sendChange(form, { deployment_config: { autoscaling_config: { min_replicas: min, max_replicas: max } } },
      `Autoscaling between ${min} and ${max} replicas.`);
    return;
  }
  const replicas = Number($("scale-replicas").value);
  await sendChange(form, { deployment_config: { replicas } },
    `Scaling to ${replicas} replica${replicas === 1 ? "" : "s"}.`);
}

async function onEdit(event) {
  event.preventDefault();
  const open = state.openModel;
  if (!open || !open.detail) return;
  const d = open.detail;
  const wanted = {
    display_name: $("edit-display-name").value.trim(),
    description: $("edit-description").value.trim(),
    tags: $("edit-tags").value.split(",").map((t) => t.trim()).filter(Boolean),
    is_public: $("edit-public").checked,
  };
  const patch = {};
  for (const [field, value] of Object.entries(wanted)) {
    if (JSON.stringify(value) !== JSON.stringify(field === "tags" ? d.tags || [] : d[field] ?? (field === "is_public" ? false : ""))) patch[field] = value;
  }
  if (!Object.keys(patch).length) {
    $("model-error").textContent = "";
    $("model-notice").textContent = "Nothing to change.";
    delete event.currentTarget.dataset.base;
    scheduleRender();
    return;
  }
  await sendChange(event.currentTarget, patch, "Saved.");
}

// A JSON merge patch with If-Match; the API's answer (its error text as it is) on the page.
async function sendChange(form, patch, done) {
  const open = state.openModel;
  if (!open || !open.detail) return;
  const button = form.querySelector("button[type=submit]");
  const base = form.dataset.base || String(open.detail.generation);
  button.dataset.busy = "1";
  button.disabled = true;
  $("model-error").textContent = "";
  $("model-notice").textContent = "";
  try {
    const body = await call("PATCH", `/${encodeURIComponent(open.detail.public_id)}`, patch, {
      "Content-Type": "application/merge-patch+json", "If-Match": `"${base}"`,
    });
    if (state.openModel !== open) return;
    adopt(open, body.model);
    delete form.dataset.base;
    $("model-notice").textContent = done;
  } catch (error) {
    if (state.openModel !== open) return;
    $("model-error").textContent = error.message;
    if (error.status === 412) {
      // Show what it is now; the user's input stays, to be sent again over this generation.
      await reread(open);
      form.dataset.base = String(open.detail.generation);
      $("model-notice").textContent = `The page now shows generation ${open.detail.generation}: check it, then send the change again.`;
    }
  } finally {
    delete button.dataset.busy;
    scheduleRender();
  }
}

let pendingConfirm = null;
function confirmAction(title, text, ok, danger, action) {
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  const button = $("confirm-ok");
  button.textContent = ok;
  button.className = danger ? "danger" : "";
  pendingConfirm = action;
  $("confirm").showModal();
  $("confirm-cancel").focus();
}

function onConfirm() {
  const action = pendingConfirm;
  pendingConfirm = null;
  $("confirm").close();
  if (action) action();
}

function confirmDelete() {
  const open = state.openModel;
  if (!open || !open.detail) return;
  confirmAction("Delete model",
    `Delete ${open.detail.name}? Its Deployment, Service, volume claim and every other resource in the cluster are removed.`,
    "Delete", true, () => doDelete(open));
}

function confirmRestart() {
  const open = state.openModel;
  if (!open || !open.detail) return;
  confirmAction("Restart model",
    `Restart ${open.detail.name}? Its pods are replaced by new ones (a new generation); with the Recreate rollout it serves nothing until they are ready.`,
    "Restart", false, () => doRestart(open));
}

async function doDelete(open) {
  if (state.openModel !== open) return;
  try {
    await call("DELETE", `/${encodeURIComponent(open.detail.public_id)}`);
    if (open.detail.status !== "deleted") open.detail.status = "deleting";
    $("model-error").textContent = "";
    $("model-notice").textContent = "Deletion requested.";
  } catch (error) {
    $("model-error").textContent = error.message;
  }
  scheduleRender();
  $("model-delete").focus();
}

async function doRestart(open) {
  if (state.openModel !== open) return;
  $("model-error").textContent = "";
  $("model-notice").textContent = "";
  try {
    const body = await call("POST", `/${encodeURIComponent(open.detail.public_id)}/restart`);
    adopt(open, body.model);
    $("model-notice").textContent = `Restarting: generation ${body.model.generation} replaces the pods.`;
  } catch (error) {
    $("model-error").textContent = error.message;
  }
  scheduleRender();
  $("model-restart").focus();
}

// Create --------------------------------------------------------------------------------------

// [path in the request body, label, kind, hint]; kinds: text, number, lines, pairs, tags, check, secret.
const FIELDS = [
  ["name", "Name", "text", "lower-case letters, digits and '-', starting with a letter; at most 52"],
  ["display_name", "Display name", "text"],
  ["model_type", "Model type", "text"],
  ["huggingface_id", "Hugging Face id", "text"],
  ["description", "Description", "text", "", "wide"],
  ["requirements.cpu", "CPU", "text", "e.g. 2000m"],
  ["requirements.memory", "Memory", "text", "e.g. 16Gi"],
  ["requirements.gpu.min_gpus", "Minimum GPUs", "number"],
  ["requirements.gpu.max_gpus", "Maximum GPUs", "number"],
  ["requirements.gpu.min_vram", "Minimum VRAM", "text", "e.g. 24Gi"],
  ["requirements.gpu.gpu_type", "GPU product", "text", "e.g. NVIDIA-A100-SXM4-40GB (optional)"],
  ["deployment_config.image", "Image", "text", "", "wide"],
  ["deployment_config.image_pull_policy", "Pull policy", "text", "Always, IfNotPresent or Never"],
  ["deployment_config.gpu_count", "GPUs per replica", "number"],
  ["deployment_config.command", "Command", "lines", "one argument per line", "wide"],
  ["deployment_config.args", "Arguments", "lines", "one argument per line; --served-model-name must equal the name", "wide"],
  ["deployment_config.initial_delay_seconds", "Probe delay (s)", "number"],
  ["deployment_config.enable_pvc", "Cache weights on a volume", "check"],
  ["deployment_config.storage_class", "Storage class", "text", "empty for the default"],
  ["deployment_config.enable_autoscaling", "Autoscale with Aibrix", "check"],
  ["deployment_config.autoscaling_config.min_replicas", "Minimum replicas", "number"],
  ["deployment_config.autoscaling_config.max_replicas", "Maximum replicas", "number"],
  ["deployment_config.autoscaling_config.target_metric", "Target metric", "text"],
  ["deployment_config.autoscaling_config.target_value", "Target value", "text"],
  ["deployment_config.autoscaling_config.scale_down_delay", "Scale-down delay", "text", "e.g. 3m"],
  ["deployment_config.extra_env", "Extra environment", "pairs", "NAME=value, one per line", "wide"],
  ["deployment_config.hugging_face_token", "Hugging Face token", "secret", "optional; never shown again"],
  ["tags", "Tags", "tags", "comma-separated"],
  ["is_public", "Public", "check"],
];
const NAME_RULE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

function fieldId(path) { return `f-${path.replaceAll(".", "-").replaceAll("_", "-")}`; }

function buildForm() {
  const box = $("create-fields");
  for (const [path, label, kind, hint, wide] of FIELDS) {
    const field = el("div", `field${wide ? " wide" : ""}${kind === "check" ? " check" : ""}`);
    const id = fieldId(path);
    const input = kind === "lines" || kind === "pairs" ? el("textarea") : el("input");
    input.id = id;
    input.name = path;
    if (kind === "number") { input.type = "number"; input.min = "0"; }
    else if (kind === "check") input.type = "checkbox";
    else if (kind === "secret") { input.type = "password"; input.autocomplete = "off"; }
    else if (input.tagName === "INPUT") input.type = "text";
    if (path === "name") input.required = true;
    const labelNode = el("label", "", label);
    labelNode.htmlFor = id;
    if (kind === "check") field.append(input, labelNode);
    else field.append(labelNode, input);
    if (hint) {
      const note = el("span", "hint", hint);
      note.id = `${id}-hint`;
      input.setAttribute("aria-describedby", note.id);
      field.append(note);
    }
    box.append(field);
  }
}

function getPath(object, path) {
  return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), object);
}

function setPath(object, path, value) {
  const keys = path.split(".");
  let target = object;
  for (const key of keys.slice(0, -1)) target = target[key] ??= {};
  target[keys[keys.length - 1]] = value;
}

function fillForm(body) {
  for (const [path, , kind] of FIELDS) {
    const input = $(fieldId(path));
    const value = getPath(body, path);
    if (kind === "check") input.checked = Boolean(value);
    else if (kind === "lines") input.value = (value || []).join("\n");
    else if (kind === "pairs") input.value = (value || []).map((e) => `${e.name}=${e.value}`).join("\n");
    else if (kind === "tags") input.value = (value || []).join(", ");
    else input.value = value ?? "";
  }
}

function readForm() {
  const body = {};
  for (const [path, , kind] of FIELDS) {
    const input = $(fieldId(path));
    const raw = input.value;
    if (kind === "check") { setPath(body, path, input.checked); continue; }
    if (raw.trim() === "") continue;
    if (kind === "number") setPath(body, path, Number(raw));
    else if (kind === "lines") setPath(body, path, raw.split("\n").filter((line) => line !== ""));
    else if (kind === "pairs") setPath(body, path, raw.split("\n").filter((l) => l.trim()).map((line) => {
      const at = line.indexOf("=");
      return at < 0 ? { name: line.trim(), value: "" } : { name: line.slice(0, at).trim(), value: line.slice(at + 1) };
    }));
    else if (kind === "tags") setPath(body, path, raw.split(",").map((t) => t.trim()).filter(Boolean));
    else setPath(body, path, raw);
  }
  const config = body.deployment_config || {};
  if (!config.enable_autoscaling) delete config.autoscaling_config;
  return body;
}

// The checks the API makes first, so obvious mistakes are named before a round trip.
function checkForm(body) {
  if (!body.name) return "name: field required";
  if (body.name.length > 52 || !NAME_RULE.test(body.name)) {
    return `name: '${body.name}' must be a DNS-1035 label of at most 52 characters: lower-case letters, digits and '-', starting with a letter`;
  }
  const config = body.deployment_config || {};
  if (!config.image) return "deployment_config.image: field required";
  if (!config.command || !config.command.length) return "deployment_config.command: field required";
  return "";
}

let example = null;
async function prepareCreate() {
  if (example) return;
  try {
    const spec = await (await fetch("/openapi.json", { cache: "no-store" })).json();
    const content = spec.paths[API].post.requestBody.content["application/json"];
    example = content.examples.seed.value;
  } catch { example = null; }
  $("fill-example").hidden = !example;
}

async function onCreate(event) {
  event.preventDefault();
  const body = readForm();
  const problem = checkForm(body);
  const error = $("create-error");
  if (problem) { error.textContent = problem; return; }
  error.textContent = "";
  const button = event.submitter || $("create-form").querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const created = (await call("POST", "", body)).model;
    state.models.set(created.public_id, { ...created });
    if (!state.order.includes(created.public_id)) state.order.unshift(created.public_id);
    location.hash = `#/models/${encodeURIComponent(created.public_id)}`;
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    button.disabled = false;
  }
}

// --- start -------------------------------------------------------------------------------

function start() {
  // Another key may be another organization: nothing of the last one is kept.
  Object.assign(state, {
    models: new Map(), order: [], all: [], status: null, details: new Map(), lastEventId: null,
    total: null, loaded: false, early: [],
  });
  for (const source of Object.values(sources)) source.fresh = false;
  $("forget-key").hidden = false;
  $("live").textContent = "Connecting…";
  // The newest models are drawn as soon as they are read, while the stream opens; then every
  // page is read (subscribe first, then load: nothing published in between is missed), and
  // only then /all, /status and the models' details, each when a view shows them.
  const newest = loadNewest().catch(() => {}).then(scheduleRender);
  follow(() => { newest.then(loadEveryModel); });
  route();
}

async function loadEveryModel() {
  for (let delay = 1000; !state.loaded && apiKey(); delay = Math.min(delay * 2, 10000)) {
    try {
      await loadModels();
      $("models-error").textContent = "";
    } catch (error) {
      $("models-error").textContent = error.message;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
  scheduleRender();
  refreshSources(false);
}

function init() {
  modelsList = new VirtualList($("models-list"), { rowHeight: 40, render: renderModelRow });
  modelsList.onDraw = wantDetails;
  allList = new VirtualList($("all-list"), { rowHeight: 40, render: renderAllRow });
  nodesList = new VirtualList($("nodes"), {
    rowHeight: 152, render: renderTile, columns: (width) => Math.floor((width - 12) / 250),
  });
  buildForm();
  $("key-form").addEventListener("submit", onKeySubmit);
  $("create-form").addEventListener("submit", onCreate);
  $("fill-example").addEventListener("click", () => { if (example) fillForm(example); $("f-name").focus(); });
  $("model-delete").addEventListener("click", confirmDelete);
  $("model-restart").addEventListener("click", confirmRestart);
  $("confirm-cancel").addEventListener("click", () => $("confirm").close());
  $("confirm-ok").addEventListener("click", onConfirm);
  $("confirm").addEventListener("close", () => { pendingConfirm = null; });
  $("scale-form").addEventListener("submit", onScale);
  $("edit-form").addEventListener("submit", onEdit);
  for (const id of ["scale-form", "edit-form"]) $(id).addEventListener("input", startEditing);
  $("forget-key").addEventListener("click", () => askForKey(""));
  for (const id of ["models-search", "models-status", "all-search", "all-kind"]) {
    $(id).addEventListener("input", scheduleRender);
  }
  window.addEventListener("hashchange", route);
  setInterval(() => {
    if (apiKey() && state.view === "cluster") { sources.status.fresh = false; refreshSources(false); }
  }, 10000);
  if (apiKey()) start(); else askForKey("");
}

document.addEventListener("DOMContentLoaded", init);
