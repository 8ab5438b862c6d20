// curatekit's LabelAnnotator view (an anywidget): guidelines, one row (its image and text), a button per label naming its key,
// skip, undo, progress. Keys work while the view has focus (click it once); they never reach the notebook's shortcuts.
function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render({ model, el }) {
  el.classList.add("ck", "ck-live", "ck-pairwise", "ck-labeller");
  el.tabIndex = 0;
  el.setAttribute("data-lm-suppress-shortcuts", "true");
  const guide = h("div", "ck-pw-guide");
  const row = h("div", "ck-la-current");
  const bar = h("div", "ck-pw-bar");
  const tools = h("div", "ck-pw-bar");
  const prog = h("div", "ck-pw-progress");
  const progFill = h("div", "ck-pw-fill");
  const progText = h("span", "ck-note ck-la-progress");
  prog.append(progFill);
  const hint = h("span", "ck-note ck-pw-hint");
  const status = h("div", "ck-note ck-pw-status");
  const keys = {};
  const buttons = {};
  for (const [label, key] of model.get("choices")) {
    const b = h("button", "ck-btn ck-la-label", `${label} `);
    if (key) { b.append(h("kbd", "", key)); keys[key] = { label }; }
    b.addEventListener("click", () => send({ label }, b));
    buttons[label] = b;
    bar.append(b);
  }
  for (const [c, ks] of [["skip", ["s"]], ["undo", ["u", "⌫"]]]) {
    const b = h("button", "ck-btn ck-pw-" + c, `${c} `);
    b.append(...ks.map((k) => h("kbd", "", k)));
    b.addEventListener("click", () => send({ choice: c }, b));
    buttons[c] = b;
    tools.append(b);
  }
  keys.s = { choice: "skip" }; keys.u = { choice: "undo" }; keys.Backspace = { choice: "undo" };
  el.append(guide, row, bar, tools, prog, progText, hint, status);

  function send(msg, b) { if (!b.disabled) model.send(msg); }
  el.addEventListener("keydown", (e) => {
    if (e.target.closest("input, textarea, select")) return;
    const m = keys[e.key];
    if (!m) return;
    e.preventDefault(); e.stopPropagation();
    send(m, buttons[m.label || m.choice]);
  });
  el.addEventListener("focus", () => { hint.textContent = "keys are on: a label's key, s to skip, u to undo"; });
  el.addEventListener("blur", () => { hint.textContent = "click here to label with the keys"; });

  function show() {
    guide.textContent = model.get("guidelines");
    row.innerHTML = model.get("row_html");
    const [done, total] = model.get("progress");
    progFill.style.width = `${Math.min(100, (100 * done) / Math.max(1, total))}%`;
    progText.textContent = `${done} of ${total} labelled`;
    status.textContent = model.get("status");
    const active = model.get("active");
    for (const [label] of model.get("choices")) buttons[label].disabled = !active;
    buttons.skip.disabled = !active;
    buttons.undo.disabled = !model.get("can_undo");
  }
  for (const t of ["row_html", "progress", "status", "active", "can_undo", "guidelines"]) model.on(`change:${t}`, show);
  hint.textContent = "click here to label with the keys";
  show();
}

export default { render };
