// curatekit's PairwiseAnnotator view (an anywidget): guidelines, the two texts side by side, buttons with their keys, undo,
// progress toward a target. Keys work while the view has focus (click it once); they never reach the notebook's shortcuts.
const KEYS = { a: "A", ArrowLeft: "A", b: "B", ArrowRight: "B", t: "tie", s: "skip", u: "undo", Backspace: "undo" };
const HINTS = { A: ["a", "←"], B: ["b", "→"], tie: ["t"], skip: ["s"], undo: ["u", "⌫"] };

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render({ model, el }) {
  el.classList.add("ck", "ck-live", "ck-pairwise");
  el.tabIndex = 0;
  el.setAttribute("data-lm-suppress-shortcuts", "true");
  const guide = h("div", "ck-pw-guide");
  const pair = h("div", "ck-pw-pair");
  const bar = h("div", "ck-pw-bar");
  const prog = h("div", "ck-pw-progress");
  const progFill = h("div", "ck-pw-fill");
  const progText = h("span", "ck-note");
  prog.append(progFill);
  const hint = h("span", "ck-note ck-pw-hint");
  const buttons = {};
  for (const c of ["A", "B", "tie", "skip", "undo"]) {
    const b = h("button", "ck-btn ck-pw-" + c);
    b.append(c === "A" || c === "B" ? `${c} is better ` : `${c} `, ...HINTS[c].map((k) => h("kbd", "", k)));
    b.addEventListener("click", () => send(c));
    buttons[c] = b;
  }
  const fit = h("button", "ck-btn ck-pw-fit", "rank the judged texts (Bradley-Terry)");
  fit.addEventListener("click", () => model.send({ choice: "fit" }));
  bar.append(...Object.values(buttons), fit);
  const status = h("div", "ck-note ck-pw-status");
  el.append(guide, pair, bar, prog, progText, hint, status);

  function send(c) { if (!buttons[c].disabled) model.send({ choice: c }); }
  el.addEventListener("keydown", (e) => {
    if (e.target.closest("input, textarea, select")) return;
    const c = KEYS[e.key];
    if (!c) return;
    e.preventDefault(); e.stopPropagation();
    send(c);
  });
  el.addEventListener("focus", () => { hint.textContent = "keys are on: a / b / t / s, ← →, u to undo"; });
  el.addEventListener("blur", () => { hint.textContent = "click here to judge with the keys"; });

  function show() {
    guide.textContent = model.get("guidelines");
    pair.innerHTML = model.get("pair_html");
    const [done, target] = model.get("progress");
    progFill.style.width = `${Math.min(100, (100 * done) / Math.max(1, target))}%`;
    progText.textContent = `${done} of ${target} judgments`;
    status.textContent = model.get("status");
    const active = model.get("active");
    for (const c of ["A", "B", "tie", "skip"]) buttons[c].disabled = !active;
    buttons.undo.disabled = !model.get("can_undo");
  }
  for (const t of ["pair_html", "progress", "status", "active", "can_undo", "guidelines"]) model.on(`change:${t}`, show);
  hint.textContent = "click here to judge with the keys";
  show();
}

export default { render };
