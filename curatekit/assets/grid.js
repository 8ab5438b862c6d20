// curatekit's data grid (an anywidget): a sticky header, click-to-sort, resizable columns, a wide text column, and virtual
// scrolling. The browser never holds the frame: it asks the kernel for the rows it is about to show ({type: "rows", start,
// stop, version}) and keeps a few hundred of them. Sorting, filtering and the choice of columns are synced traits that the
// kernel answers by bumping `version`.
const CAP = 8_000_000;   // px: browsers stop drawing tall elements near 33M px, so taller grids map their scroll range onto this
const BLOCK = 64;        // rows per request
const KEEP = 1500;       // rows kept in the browser

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render({ model, el }) {
  el.classList.add("ck", "ck-live", "ck-grid");
  const bar = h("div", "ck-grid-bar");
  const status = h("span", "ck-grid-status");
  const where = h("input", "ck-box ck-grid-where");
  where.placeholder = "filter: SQL, e.g. ppl > 500 AND source = 'web'";
  where.setAttribute("data-lm-suppress-shortcuts", "true");
  const pick = h("details", "ck-grid-pick");
  const pickSummary = h("summary", "ck-btn", "columns");
  const pickList = h("div", "ck-grid-picklist");
  pick.append(pickSummary, pickList);
  const err = h("span", "ck-bad ck-grid-error");
  bar.append(status, where, pick, err);

  const viewport = h("div", "ck-grid-viewport");
  viewport.tabIndex = 0;
  const head = h("div", "ck-grid-row ck-grid-head");
  const spacer = h("div", "ck-grid-spacer");
  const layer = h("div", "ck-grid-layer");
  spacer.append(layer);
  viewport.append(head, spacer);
  const detail = h("div", "ck-grid-detail");
  el.append(bar, viewport, detail);

  let cache = new Map(), pending = new Set(), widths = {}, pool = [], timer = null;

  const cols = () => model.get("columns");
  // Narrow columns shrink to 70% of their width before the text column gives up its 40% of the row; a resized column is fixed.
  function template() {
    const flex = cols().some((c) => !c.width);
    return cols().map((c, i) => {
      if (widths[c.name]) return `${widths[c.name]}px`;
      if (!c.width || (!flex && i === cols().length - 1)) return "minmax(40%, 1fr)";
      return `minmax(${Math.round(0.7 * c.width)}px, ${c.width}px)`;
    }).join(" ");
  }

  function drawHead() {
    head.replaceChildren();
    const [sortCol, desc] = model.get("sort") || [];
    for (const c of cols()) {
      const cell = h("div", `ck-grid-cell ck-grid-th ck-kind-${c.kind}`);
      const label = h("span", "ck-grid-label");
      label.innerHTML = c.label;  // render.header_html: escaped by the kernel
      cell.title = c.sortable ? `${c.name}: click to sort` : c.name;
      if (c.name === sortCol) label.append(desc ? " ▼" : " ▲");
      cell.append(label);
      if (c.sortable) label.addEventListener("click", () => {
        const [s, d] = model.get("sort") || [];
        model.set("sort", s !== c.name ? [c.name, false] : d ? [] : [c.name, true]);
        model.save_changes();
      });
      const grip = h("span", "ck-grid-grip");
      grip.title = "drag to resize";
      grip.addEventListener("pointerdown", (ev) => {
        ev.preventDefault(); ev.stopPropagation();
        const start = ev.clientX, w0 = cell.getBoundingClientRect().width;
        grip.setPointerCapture(ev.pointerId);
        const move = (e) => { widths[c.name] = Math.max(36, Math.round(w0 + e.clientX - start)); layout(); };
        const up = () => { grip.removeEventListener("pointermove", move); grip.removeEventListener("pointerup", up); };
        grip.addEventListener("pointermove", move); grip.addEventListener("pointerup", up);
      });
      cell.append(grip);
      head.append(cell);
    }
  }

  function drawPicker() {
    pickList.replaceChildren();
    const shown = new Set(cols().map((c) => c.name));
    for (const c of model.get("all_columns")) {
      const lab = h("label", "ck-grid-pickitem");
      const box = h("input");
      box.type = "checkbox"; box.checked = shown.has(c.name);
      box.addEventListener("change", () => {
        const names = model.get("all_columns").map((x) => x.name)
          .filter((n) => (n === c.name ? box.checked : shown.has(n)));
        model.set("visible", names); model.save_changes();
      });
      lab.append(box, ` ${c.name} `, h("small", "ck-note", c.dtype));
      pickList.append(lab);
    }
  }

  function layout() {
    el.style.setProperty("--ck-cols", template());
    el.style.setProperty("--ck-row", `${model.get("row_height")}px`);
    viewport.style.height = `${model.get("height")}px`;
    const n = model.get("n_rows"), rh = model.get("row_height");
    spacer.style.height = `${Math.max(1, Math.min(n * rh, CAP))}px`;
    draw();
  }

  // The first row shown and where the layer of rows sits, for the current scroll position. Up to CAP px the mapping is one
  // to one; beyond, the scroll range is stretched over all rows.
  function frame() {
    const n = model.get("n_rows"), rh = model.get("row_height");
    const vh = Math.max(rh, viewport.clientHeight - head.offsetHeight);
    const total = n * rh, H = Math.min(total, CAP), st = viewport.scrollTop;
    const virt = total <= CAP ? st : (st / Math.max(1, H - vh)) * Math.max(0, total - vh);
    const first = Math.max(0, Math.min(n - 1, Math.floor(virt / rh)));
    return { n, rh, first, count: Math.min(n - first, Math.ceil(vh / rh) + 1), top: st - (virt - first * rh) };
  }

  function draw() {
    const f = frame();
    layer.style.transform = `translateY(${Math.max(0, f.top)}px)`;
    while (pool.length < f.count) { const r = h("div", "ck-grid-row ck-grid-tr"); layer.append(r); pool.push(r); }
    pool.forEach((r, j) => { r.style.display = j < f.count ? "" : "none"; });
    const kinds = cols().map((c) => c.kind);
    for (let j = 0; j < f.count; j++) {
      const i = f.first + j, r = pool[j], cells = cache.get(i);
      if (r._i === i && r._v === model.get("version") && r._has === !!cells) continue;
      r._i = i; r._v = model.get("version"); r._has = !!cells;
      r.dataset.row = i;
      r.classList.toggle("ck-selected", model.get("selected") === i);
      r.replaceChildren(...kinds.map((k, c) => {
        const d = h("div", `ck-grid-cell ck-kind-${k}`);
        if (cells) d.innerHTML = cells[c]; else d.textContent = c === 0 ? "…" : "";
        return d;
      }));
    }
    fetch(f.first, f.first + f.count);
  }

  function fetch(a, b) {
    const v = model.get("version"), n = model.get("n_rows");
    const lo = Math.max(0, Math.floor((a - BLOCK) / BLOCK) * BLOCK), hi = Math.min(n, b + BLOCK);
    for (let s = lo; s < hi; s += BLOCK) {
      let missing = false;
      for (let i = s; i < Math.min(n, s + BLOCK); i++) if (!cache.has(i)) { missing = true; break; }
      const key = `${v}:${s}`;
      if (missing && !pending.has(key)) { pending.add(key); model.send({ type: "rows", start: s, stop: Math.min(n, s + BLOCK), version: v }); }
    }
  }

  model.on("msg:custom", (msg) => {
    if (msg.type !== "rows") return;
    pending.delete(`${msg.version}:${msg.start}`);
    if (msg.version !== model.get("version")) return;
    msg.rows.forEach((cells, k) => cache.set(msg.start + k, cells));
    if (cache.size > KEEP) {  // forget the rows farthest from the view
      const f = frame().first;
      [...cache.keys()].sort((x, y) => Math.abs(y - f) - Math.abs(x - f)).slice(0, cache.size - KEEP).forEach((k) => cache.delete(k));
    }
    draw();
  });

  layer.addEventListener("click", (ev) => {
    const r = ev.target.closest(".ck-grid-tr");
    if (!r || ev.target.closest("a, summary, button")) return;
    const i = Number(r.dataset.row);
    model.set("selected", model.get("selected") === i ? -1 : i); model.save_changes();
  });
  where.addEventListener("keydown", (ev) => {
    ev.stopPropagation();
    if (ev.key === "Enter") { model.set("where", where.value); model.save_changes(); }
  });
  where.addEventListener("change", () => { model.set("where", where.value); model.save_changes(); });
  viewport.addEventListener("scroll", () => { if (!timer) timer = requestAnimationFrame(() => { timer = null; draw(); }); });

  function reset() { cache = new Map(); pending = new Set(); pool.forEach((r) => { r._i = -1; }); drawHead(); drawPicker(); layout(); }
  model.on("change:version", () => { viewport.scrollTop = 0; reset(); });
  model.on("change:columns", reset);
  model.on("change:n_rows", layout);
  model.on("change:status", () => { status.textContent = model.get("status"); });
  model.on("change:error", () => { err.textContent = model.get("error"); where.classList.toggle("ck-invalid", !!model.get("error")); });
  model.on("change:selected", () => { pool.forEach((r) => r.classList.toggle("ck-selected", model.get("selected") === r._i)); });
  model.on("change:detail", () => { detail.innerHTML = model.get("detail"); });
  status.textContent = model.get("status");
  where.value = model.get("where") || "";
  detail.innerHTML = model.get("detail");
  reset();
  const ro = new ResizeObserver(() => draw());
  ro.observe(viewport);
  return () => ro.disconnect();
}

export default { render };
