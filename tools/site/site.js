// curatekit docs search: the index (search_index.js) is a plain script, so search works from file:// and offline.
(function () {
  const index = (window.CK_INDEX || []).map(e => ({...e, tl: e.t.toLowerCase(), xl: (e.t + " " + e.x).toLowerCase()}));
  const q = document.getElementById("ck-q"), list = document.getElementById("ck-results");
  if (!q || !list) return;
  const esc = s => s.replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));

  function score(e, words, phrase) {
    let s = 0;
    for (const w of words) {
      if (!e.xl.includes(w)) return 0;                       // every word must occur
      if (e.tl === w) s += 100; else if (e.tl.includes(w)) s += 20;
      s += Math.min(10, e.xl.split(w).length - 1);
    }
    if (e.k !== "section" && e.tl === phrase) s += 500;        // a symbol's exact name comes first
    if (e.k !== "section") s += 5;
    return s;
  }
  function snippet(e, w) {
    const i = e.x.toLowerCase().indexOf(w);
    return i < 0 ? e.x.slice(0, 120) : (i > 40 ? "…" : "") + e.x.slice(Math.max(0, i - 40), i + 100);
  }
  function search(text) {
    const phrase = text.trim().toLowerCase(), words = phrase.split(/[^\w.]+/).filter(w => w.length > 0);
    if (!words.length) return [];
    return index.map(e => [score(e, words, phrase), e]).filter(r => r[0] > 0).sort((a, b) => b[0] - a[0]).slice(0, 30)
      .map(([, e]) => ({...e, snip: snippet(e, words[0])}));
  }
  let sel = 0;
  function show() {
    const res = search(q.value);
    sel = 0;
    if (!q.value.trim()) { list.hidden = true; return; }
    list.innerHTML = res.length ? res.map((r, i) =>
      `<li class="${i === 0 ? "ck-sel" : ""}"><a href="${esc(r.u)}"><span class="ck-r-k">${esc(r.k === "section" ? r.p.split(" › ")[0] : r.k)}</span>` +
      `<span class="ck-r-t">${esc(r.t)}</span><span class="ck-r-x">${esc(r.snip)}</span></a></li>`).join("")
      : `<li class="ck-none">No match for “${esc(q.value)}”</li>`;
    list.hidden = false;
  }
  function move(d) {
    const items = list.querySelectorAll("li a");
    if (!items.length) return;
    items[sel].parentElement.classList.remove("ck-sel");
    sel = (sel + d + items.length) % items.length;
    items[sel].parentElement.classList.add("ck-sel");
    items[sel].scrollIntoView({block: "nearest"});
  }
  q.addEventListener("input", show);
  q.addEventListener("keydown", ev => {
    if (ev.key === "ArrowDown") { move(1); ev.preventDefault(); }
    else if (ev.key === "ArrowUp") { move(-1); ev.preventDefault(); }
    else if (ev.key === "Enter") { const a = list.querySelectorAll("li a")[sel]; if (a) location.href = a.href; }
    else if (ev.key === "Escape") { list.hidden = true; q.blur(); }
  });
  document.addEventListener("keydown", ev => {
    if (ev.key === "/" && document.activeElement !== q) { q.focus(); ev.preventDefault(); }
  });
  document.addEventListener("click", ev => { if (!ev.target.closest(".ck-search")) list.hidden = true; });
  window.ckSearch = search;  // for the browser test and the curious
})();
