"use strict";
// audiopipe group page: the files that hear the same moments on one clock. Every value is written
// with textContent; no network: the page reads its data block and the files' listening copies.
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const $ = (id) => document.getElementById(id);
  const audio = $("audio");
  const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
  const langs = [...new Set(D.files.flatMap((f) => f.speech.map((s) => s.language)))].sort();
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = String(text); return e; };
  const hms = (s) => { const ms = Math.round(s * 1000), m = Math.floor(ms / 60000), sec = (ms % 60000) / 1000; return String(m).padStart(2, "0") + ":" + sec.toFixed(3).padStart(6, "0"); };
  const toGroup = (f, t) => f.offset_s + f.rate * t;
  const toFile = (f, g) => (g - f.offset_s) / f.rate;
  $("title").textContent = "Group " + D.group + ": " + D.files.length + " recordings of the same moments";
  const back = el("a", null, "case"); back.href = D.case_index;
  $("meta").append(back, " \u00b7 one lane per file on the group's clock; click a lane or a line to play that file from that moment");

  let current = null;
  function play(fi, groupTime) {
    const f = D.files[fi];
    if (!f.audio) { $("playing").textContent = f.file + ": no listening copy in the case"; return; }
    const t = Math.max(0, toFile(f, groupTime));
    const start = () => { audio.currentTime = t; const p = audio.play(); if (p && p.catch) p.catch(() => {}); };
    if (current !== fi) { audio.src = f.audio; current = fi; audio.addEventListener("loadedmetadata", start, { once: true }); } else { start(); }
    $("playing").textContent = "playing " + f.file + " from " + hms(t) + " (group " + hms(groupTime) + ")";
    audio.dataset.file = String(fi);
  }

  // lines of every file, in the order they happened
  const lines = [];
  D.files.forEach((f, fi) => {
    f.speech.forEach((s) => lines.push({ fi, t: s.start_s, what: (s.speaker ? s.speaker + ", " : "") + s.language + ": " + s.text, cls: "speech" }));
    f.shots.forEach((e) => lines.push({ fi, t: e.time_s, what: e.category.replace("_", " "), cls: "shot" }));
  });
  lines.forEach((l) => { l.g = toGroup(D.files[l.fi], l.t); });
  lines.sort((a, b) => a.g - b.g);
  const body = $("lines");
  lines.forEach((l) => {
    const tr = el("tr", l.cls);
    tr.dataset.file = String(l.fi); tr.dataset.group = String(l.g);
    tr.append(el("td", "time", hms(l.g)), el("td", null, D.files[l.fi].file), el("td", "time", hms(l.t)), el("td", "what", l.what));
    tr.addEventListener("click", () => play(l.fi, l.g));
    body.append(tr);
  });

  // the lanes
  const canvas = $("lanes"), LANE = 22, GUTTER = 150, AXIS = 14;
  const end = Math.max(1, ...D.files.map((f) => toGroup(f, f.duration_s)));
  function draw() {
    const w = canvas.clientWidth || 800, h = LANE * D.files.length + AXIS, r = window.devicePixelRatio || 1;
    canvas.width = w * r; canvas.height = h * r; canvas.style.height = h + "px";
    const g = canvas.getContext("2d"); g.setTransform(r, 0, 0, r, 0, 0);
    const X = (t) => GUTTER + (t / end) * (w - GUTTER);
    g.font = "11px sans-serif";
    D.files.forEach((f, i) => {
      const y = i * LANE;
      g.fillStyle = "#f3f3f3"; g.fillRect(X(f.offset_s), y + 2, X(toGroup(f, f.duration_s)) - X(f.offset_s), LANE - 4);
      f.speech.forEach((s) => { g.fillStyle = COLOURS[langs.indexOf(s.language) % COLOURS.length]; g.fillRect(X(toGroup(f, s.start_s)), y + 5, Math.max(1, X(toGroup(f, s.end_s)) - X(toGroup(f, s.start_s))), LANE - 10); });
      g.fillStyle = "#d62728"; f.shots.forEach((e) => g.fillRect(X(toGroup(f, e.time_s)), y + 2, 1.5, LANE - 4));
      g.fillStyle = "#000"; g.fillText(f.file.length > 22 ? f.file.slice(0, 21) + "\u2026" : f.file, 2, y + LANE - 7);
    });
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => end / s <= 12) || 1800;
    g.fillStyle = "#000";
    for (let t = 0; t <= end; t += step) { g.fillRect(X(t), h - AXIS, 1, 4); g.fillText(hms(t).replace(/\.000$/, ""), X(t) + 2, h - 2); }
  }
  canvas.addEventListener("click", (e) => {
    const rect = canvas.getBoundingClientRect();
    const x = e.clientX - rect.left - GUTTER, fi = Math.floor((e.clientY - rect.top) / LANE);
    if (x >= 0 && fi >= 0 && fi < D.files.length) play(fi, (x / (rect.width - GUTTER)) * end);
  });
  window.addEventListener("resize", draw);
  draw();
})();
