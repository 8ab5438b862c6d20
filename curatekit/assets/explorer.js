// curatekit's ScoreExplorer view (an anywidget). Bundled with vega-embed by vl-convert, which puts `vegaEmbed` in scope.
// One state: the thresholds `lo` and `hi` (data units; null is open). The range inputs, the boxes, the chart's rules and
// shading, and a brush dragged on the chart all read and write those two traits, and nothing else: moving one handle never
// moves the other. In log mode the range inputs move in log10 units; on integer columns thresholds are whole numbers.
function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render({ model, el }) {
  el.classList.add("ck", "ck-live", "ck-explorer");
  const title = h("div", "ck-title");
  const plot = h("div", "ck-x-plot");
  const band = h("div", "ck-x-band");
  const track = h("div", "ck-x-track");
  const fill = h("div", "ck-x-fill");
  const rLo = h("input", "ck-x-range ck-x-lo"), rHi = h("input", "ck-x-range ck-x-hi");
  for (const [r, name] of [[rLo, "lower"], [rHi, "upper"]]) {
    r.type = "range"; r.setAttribute("aria-label", `${name} threshold`); r.setAttribute("data-lm-suppress-shortcuts", "true");
  }
  track.append(fill, rLo, rHi);
  const row = h("div", "ck-x-boxes");
  const bLo = h("input", "ck-box ck-x-lobox"), bHi = h("input", "ck-box ck-x-hibox");
  for (const b of [bLo, bHi]) { b.inputMode = "decimal"; b.placeholder = "open"; b.setAttribute("data-lm-suppress-shortcuts", "true"); }
  const col = h("code", "ck-x-col");
  const kept = h("span", "ck-x-kept");
  row.append("keep ", bLo, " ≤ ", col, " ≤ ", bHi, kept);
  const counts = h("div", "ck-x-counts");
  const tabs = h("div", "ck-x-tabs");
  const samples = h("div", "ck-x-samples");
  const yamlBox = h("div", "ck-x-yaml");
  const yamlHead = h("div", "ck-x-yamlhead");
  const copy = h("button", "ck-btn ck-x-copy", "copy");
  const pre = h("pre", "ck-yaml");
  yamlHead.append(h("span", "ck-note", "the recipe step: "), copy);
  yamlBox.append(yamlHead, pre);
  el.append(title, plot, track, row, counts, tabs, samples, yamlBox);

  let view = null;
  const S = () => model.get("scale");  // {min, max, step, log, integer}: the range inputs' units
  const toU = (t) => (S().log ? Math.log10(t) : t);
  const toT = (u) => (S().log ? 10 ** u : u);
  const fmt = (t) => (t === null || t === undefined ? "" : S().integer ? String(Math.round(t)) : String(Number(t.toPrecision(4))));

  // A threshold from a slider position: whole numbers on integer columns (lo rounds up, hi down: the same rows either way),
  // else 3 significant digits; if that repeats the current value, step past it in the direction moved.
  function snap(u, which, cur) {
    const t = toT(u), up = which === "lo";
    const dir = cur === null ? 0 : Math.sign(t - cur);
    if (S().integer) {
      let v = up ? Math.ceil(t - 1e-9) : Math.floor(t + 1e-9);
      if (cur !== null && v === cur && dir !== 0) v = cur + dir;
      return v;
    }
    for (const p of [3, 5, 8]) { const v = Number(t.toPrecision(p)); if (cur === null || v !== cur || dir === 0) return v; }
    return t;
  }

  function setBoth(lo, hi) {
    model.set("lo", lo); model.set("hi", hi); model.save_changes();
    sync();
  }

  function onRange(r, which) {
    const s = S(), u = Number(r.value);
    let lo = model.get("lo"), hi = model.get("hi");
    if (which === "lo") {
      lo = u <= s.min + s.step / 2 ? null : snap(u, "lo", lo);
      if (lo !== null && hi !== null && lo > hi) lo = hi;
    } else {
      hi = u >= s.max - s.step / 2 ? null : snap(u, "hi", hi);
      if (hi !== null && lo !== null && hi < lo) hi = lo;
    }
    setBoth(lo, hi);
  }
  rLo.addEventListener("input", () => onRange(rLo, "lo"));
  rHi.addEventListener("input", () => onRange(rHi, "hi"));
  for (const r of [rLo, rHi]) r.addEventListener("keydown", (e) => e.stopPropagation());

  function onBox(b, which) {
    const txt = b.value.trim().replace(/,/g, "");
    let v = txt === "" ? null : Number(txt);
    const lo = model.get("lo"), hi = model.get("hi");
    if (v !== null && S().integer) v = which === "lo" ? Math.ceil(v) : Math.floor(v);
    const bad = (v !== null && !Number.isFinite(v)) || (v !== null && which === "lo" && hi !== null && v > hi)
      || (v !== null && which === "hi" && lo !== null && v < lo) || (v !== null && S().log && v <= 0);
    b.classList.toggle("ck-invalid", bad);
    if (bad) return;
    which === "lo" ? setBoth(v, hi) : setBoth(lo, v);
  }
  for (const [b, w] of [[bLo, "lo"], [bHi, "hi"]]) {
    b.addEventListener("keydown", (e) => { e.stopPropagation(); if (e.key === "Enter") onBox(b, w); });
    b.addEventListener("change", () => onBox(b, w));
  }

  // Everything that shows the thresholds, from the two traits.
  function sync() {
    const s = S(), lo = model.get("lo"), hi = model.get("hi");
    for (const r of [rLo, rHi]) { r.min = s.min; r.max = s.max; r.step = s.step; }
    const uLo = lo === null ? s.min : Math.min(s.max, Math.max(s.min, toU(lo)));
    const uHi = hi === null ? s.max : Math.min(s.max, Math.max(s.min, toU(hi)));
    // a handle stays where it was moved to if it still reads as the threshold (snapping must not make it creep)
    const reads = (r, t, which) => (t === null ? Number(r.value) === (which === "lo" ? s.min : s.max) : snap(Number(r.value), which, null) === t);
    if (!reads(rLo, lo, "lo")) rLo.value = uLo;
    if (!reads(rHi, hi, "hi")) rHi.value = uHi;
    rLo.setAttribute("aria-valuetext", lo === null ? "open" : fmt(lo));
    rHi.setAttribute("aria-valuetext", hi === null ? "open" : fmt(hi));
    rLo.style.zIndex = uLo > (s.min + s.max) / 2 ? 3 : 2;  // the lower handle on top when it sits to the right
    const f = (u) => (u - s.min) / (s.max - s.min || 1);
    fill.style.left = `calc(8px + (100% - 16px) * ${f(uLo)})`; fill.style.width = `calc((100% - 16px) * ${f(uHi) - f(uLo)})`;
    if (document.activeElement !== bLo) bLo.value = fmt(lo);
    if (document.activeElement !== bHi) bHi.value = fmt(hi);
    bLo.classList.remove("ck-invalid"); bHi.classList.remove("ck-invalid");
    if (view) { view.signal("lo", lo).signal("hi", hi).runAsync(); }
  }

  // The range inputs sit under the chart's plot area, so a handle lines up with its rule.
  // (The plot area is where the x axis's domain line is drawn.)
  function plotArea() {
    const doms = [...plot.querySelectorAll(".role-axis-domain")].map((d) => d.getBoundingClientRect());
    return doms.sort((a, b) => b.width - a.width)[0];
  }
  function align() {
    const r = view && plotArea();
    if (!r) return;
    track.style.marginLeft = `${r.left - track.parentElement.getBoundingClientRect().left - 8}px`;
    track.style.width = `${r.width + 16}px`;
  }

  // Drag on the chart to set both thresholds; click a bar to see its rows.
  function plotX(ev) { return ev.clientX - plotArea().left; }
  let drag = null;
  plot.addEventListener("pointerdown", (ev) => {
    if (!view || ev.button !== 0) return;
    const x = plotX(ev);
    if (x < 0 || x > view.width()) return;
    drag = { x0: x, x1: x, target: ev.target };
    plot.setPointerCapture(ev.pointerId);
    ev.preventDefault();
  });
  plot.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    drag.x1 = Math.max(0, Math.min(view.width(), plotX(ev)));
    const r = plotArea(), p = plot.getBoundingClientRect(), off = r.left - p.left;
    const a = Math.min(drag.x0, drag.x1), b = Math.max(drag.x0, drag.x1);
    Object.assign(band.style, { display: "block", left: `${off + a}px`, width: `${b - a}px`, top: `${r.top - p.top - view.height()}px`, height: `${view.height()}px` });
  });
  plot.addEventListener("pointerup", () => {
    if (!drag) return;
    const d = drag; drag = null; band.style.display = "none";
    const x = view.scale("x");
    if (Math.abs(d.x1 - d.x0) < 4) {  // a click: the bar under the pointer
      const item = d.target && d.target.__data__;
      const datum = item && item.datum;
      if (datum && datum.start !== undefined) {
        model.set("bin", [datum.start, datum.end, model.get("by") ? datum[model.get("by")] ?? null : null]);
        model.set("side", "bin"); model.set("page", 0); model.save_changes();
      }
      return;
    }
    const a = x.invert(Math.min(d.x0, d.x1)), b = x.invert(Math.max(d.x0, d.x1));
    const lo = snap(toU(a), "lo", null), hi = snap(toU(b), "hi", null);
    setBoth(lo, Math.max(lo, hi));
  });

  async function draw() {
    if (view) view.finalize();
    plot.replaceChildren(band);
    const spec = model.get("spec");
    const res = await vegaEmbed(plot, spec, { renderer: "svg", actions: false, tooltip: true });
    view = res.view;
    sync(); align();
  }

  // Tabs of samples, and the YAML of the step with a copy button.
  function drawTabs() {
    tabs.replaceChildren();
    const sides = ["near", "kept", "dropped"].concat(model.get("bin") ? ["bin"] : []);
    for (const s of sides) {
      const b = h("button", "ck-btn" + (model.get("side") === s ? " ck-on" : ""), s === "bin" ? "clicked bar" : s);
      b.addEventListener("click", () => { model.set("side", s); model.set("page", 0); model.save_changes(); });
      tabs.append(b);
    }
    const prev = h("button", "ck-btn", "◀"), next = h("button", "ck-btn", "▶");
    prev.disabled = model.get("page") === 0;
    prev.addEventListener("click", () => { model.set("page", Math.max(0, model.get("page") - 1)); model.save_changes(); });
    next.addEventListener("click", () => { model.set("page", model.get("page") + 1); model.save_changes(); });
    tabs.append(prev, next, h("span", "ck-note", ` page ${model.get("page") + 1}`));
  }
  copy.addEventListener("click", async () => {
    const text = model.get("yaml");
    try { await navigator.clipboard.writeText(text); }
    catch (e) {  // no clipboard API (an insecure origin): select the text and copy it the old way
      const range = document.createRange(); range.selectNodeContents(pre);
      const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      document.execCommand("copy");
    }
    copy.textContent = "copied"; setTimeout(() => { copy.textContent = "copy"; }, 1500);
  });

  model.on("change:spec", draw);
  model.on("change:scale", sync);
  model.on("change:lo", sync);
  model.on("change:hi", sync);
  model.on("change:title", () => { title.textContent = model.get("title"); });
  model.on("change:kept_line", () => { kept.innerHTML = model.get("kept_line"); });
  model.on("change:counts_html", () => { counts.innerHTML = model.get("counts_html"); });
  model.on("change:samples_html", () => { samples.innerHTML = model.get("samples_html"); });
  model.on("change:yaml", () => { pre.textContent = model.get("yaml"); });
  model.on("change:side", drawTabs);
  model.on("change:page", drawTabs);
  model.on("change:bin", drawTabs);
  counts.addEventListener("change", (ev) => {  // the second score's menu lives in the counts HTML
    if (ev.target.matches("select.ck-x-second")) { model.set("second", ev.target.value || null); model.save_changes(); }
  });
  title.textContent = model.get("title");
  col.textContent = model.get("column");
  kept.innerHTML = model.get("kept_line");
  counts.innerHTML = model.get("counts_html");
  samples.innerHTML = model.get("samples_html");
  pre.textContent = model.get("yaml");
  drawTabs();
  draw();
  const ro = new ResizeObserver(() => align());
  ro.observe(el);
  return () => { ro.disconnect(); if (view) view.finalize(); };
}

export default { render };
