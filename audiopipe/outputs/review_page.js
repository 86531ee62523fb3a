"use strict";
// audiopipe review page. Every value from the data is written with textContent: transcripts are
// untrusted (a "<script>" said in a video stays text). No network: the page reads only its data
// block and the listening copy of the audio beside it.
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const $ = (id) => document.getElementById(id);
  const audio = $("audio");
  const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const langColour = {};
  D.languages.forEach((l, i) => { langColour[l] = COLOURS[i % COLOURS.length]; });
  const CATEGORY_WORDS = { gunshot: "gunshot", possible_gunshot: "possible gunshot", other_impulsive: "other transient" };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function hms(s) {
    if (s === null || s === undefined) return "";
    const ms = Math.round(s * 1000);
    const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, sec = Math.floor(ms / 1000) % 60;
    const pad = (n, w) => String(n).padStart(w, "0");
    return (h ? h + ":" : "") + pad(m, 2) + ":" + pad(sec, 2) + "." + pad(ms % 1000, 3);
  }
  const given = (v) => v !== null && v !== undefined && v !== "";

  // speaker names given on the Speakers sheet, per track
  const renamed = {};
  D.speakers.forEach((p) => { if (given(p.reviewed_speaker)) renamed[p.track + "/" + p.speaker] = p.reviewed_speaker; });

  // the lines: effective values are the reviewer's where given, else the machine's
  D.lines.forEach((l, i) => {
    l.i = i;
    if (l.kind === "speech") {
      l.t0 = l.start_s; l.t1 = l.end_s;
      const byName = renamed[l.track + "/" + (l.speaker === null ? "(none)" : l.speaker)];
      l.eff_speaker = given(l.reviewed_speaker) ? l.reviewed_speaker : (byName || l.speaker || "");
      l.eff_language = given(l.reviewed_language) ? l.reviewed_language : l.language;
      l.flag_list = l.flags.slice();
      if (l.language_uncertain) l.flag_list.push("language uncertain");
    } else if (l.kind === "sound") {
      l.t0 = l.start_s; l.t1 = l.end_s;
      l.eff_label = given(l.reviewed_label) ? l.reviewed_label : l.label;
      l.flag_list = [];
    } else {
      l.t0 = l.time_s; l.t1 = l.time_s + 0.3;
      l.eff_category = l.reviewed_is_gunshot === true ? "gunshot"
        : l.reviewed_is_gunshot === false ? "other_impulsive" : l.category;
      // near gunfire: counted beside a sure shot, not on its own score (listen to it)
      l.flag_list = [l.clipped ? "clipped" : null, l.near_gunfire ? "near gunfire" : null].filter((f) => f);
    }
    l.reviewed = ["reviewed_text", "reviewed_language", "reviewed_speaker", "reviewed_is_gunshot", "reviewed_label", "reviewer_note"]
      .some((k) => given(l[k]));
  });

  $("title").textContent = D.file;
  document.title = "review: " + D.file;
  $("meta").textContent = "SHA-256 " + D.sha256 + " \u00b7 " + D.lines.filter((l) => l.kind === "speech").length +
    " segments, " + D.lines.filter((l) => l.kind === "event" && l.category !== "other_impulsive").length +
    " gunshot-like events, " + D.lines.filter((l) => l.kind === "sound").length +
    " sounds \u00b7 machine values from result.json, reviewed values from review/corrections.jsonl";
  if (D.case_index) {
    const back = el("a", null, "case");
    back.href = D.case_index;
    $("meta").prepend(back, " \u00b7 ");
  }

  // filters
  const trackSel = $("f-track");
  D.tracks.forEach((t) => { const o = el("option", null, "track " + t.track); o.value = t.track; trackSel.append(o); });
  if (D.tracks.length < 2) $("track-box").style.display = "none";
  let track = D.tracks.length ? D.tracks[0].track : 0;
  const fill = (sel, values) => [...new Set(values)].sort().forEach((v) => {
    const o = el("option", null, v); o.value = v; sel.append(o);
  });
  const speech = D.lines.filter((l) => l.kind === "speech");
  fill($("f-speaker"), speech.map((l) => l.eff_speaker));
  fill($("f-language"), speech.map((l) => l.eff_language));
  fill($("f-flag"), D.lines.flatMap((l) => l.flag_list));
  // a filter per sound label (the machine's and the reviewers')
  const sounds = D.lines.filter((l) => l.kind === "sound");
  const soundLabels = [...new Set(sounds.flatMap((l) => [l.label, l.eff_label]))].filter((x) => x !== "none").sort();
  soundLabels.forEach((name) => {
    const box = el("label");
    const input = el("input");
    input.type = "checkbox"; input.checked = true; input.id = "f-sound-" + name;
    box.append(input, document.createTextNode(" " + name));
    $("sound-filters").append(box);
  });
  if (!soundLabels.length) $("sound-filters").style.display = "none";
  const soundOn = (name) => { const b = $("f-sound-" + name); return !!b && b.checked; };

  function visible(l) {
    if (l.track !== track) return false;
    const f = (id) => $(id);
    if (l.kind === "speech") {
      if (!f("f-speech").checked) return false;
      if (f("f-speaker").value && l.eff_speaker !== f("f-speaker").value) return false;
      if (f("f-language").value && l.eff_language !== f("f-language").value) return false;
    } else if (l.kind === "sound") {
      if (!soundOn(l.label) && !soundOn(l.eff_label)) return false;  // under the machine's label and the reviewer's
    } else if (!f("f-" + l.eff_category).checked && !f("f-" + l.category).checked) {
      return false;  // an event shows under what the machine called it and what the reviewer did
    }
    const flag = f("f-flag").value;
    if (flag === "*" && !l.flag_list.length) return false;
    if (flag && flag !== "*" && !l.flag_list.includes(flag)) return false;
    if (f("f-reviewed").checked && !l.reviewed) return false;
    const q = f("f-text").value.trim().toLowerCase();
    if (q && ![l.text, l.text_en, l.reviewed_text, l.reviewer_note].some((t) => given(t) && String(t).toLowerCase().includes(q))) return false;
    return true;
  }

  // the table
  const rows = [];
  function reviewedCell(l) {
    const td = el("td", "reviewed");
    const parts = [];
    if (given(l.reviewed_text)) parts.push(l.reviewed_text);
    if (given(l.reviewed_speaker)) parts.push("speaker: " + l.reviewed_speaker);
    if (given(l.reviewed_language)) parts.push("language: " + l.reviewed_language);
    if (l.reviewed_is_gunshot === true) parts.push("gunshot: yes");
    if (l.reviewed_is_gunshot === false) parts.push("gunshot: no");
    if (given(l.reviewed_label)) parts.push("sound: " + l.reviewed_label);
    if (given(l.reviewer_note)) parts.push("note: " + l.reviewer_note);
    parts.forEach((p, i) => { if (i) td.append(el("br")); td.append(document.createTextNode(p)); });
    if (given(l.reviewed_by)) td.append(el("div", "meta", "\u2014 " + l.reviewed_by));
    return td;
  }
  function buildRow(l) {
    const tr = el("tr", l.kind === "speech" ? "speech" : l.kind === "sound" ? "sound" : "event cat-" + l.eff_category);
    tr.dataset.i = l.i;
    tr.dataset.start = l.t0;
    tr.append(el("td", "time", hms(l.t0) + (l.kind === "event" ? "" : "\u2013" + hms(l.t1))));
    if (l.kind === "speech") {
      const spk = el("td", null, l.eff_speaker || "\u2014");
      if (l.eff_speaker !== (l.speaker || "")) spk.append(el("div", "machine-struck", l.speaker || "\u2014"));
      const lang = el("td", "lang");
      const chip = el("span", "lang-chip");
      chip.style.background = langColour[l.language] || "#ccc";
      lang.append(chip, document.createTextNode(l.language + " " + (l.language_prob === null ? "" : l.language_prob.toFixed(2))));
      const what = el("td", "what");
      what.append(el("div", null, l.text));
      if (given(l.text_en) && l.text_en !== l.text) what.append(el("div", "en", l.text_en));
      tr.append(spk, lang, what);
    } else if (l.kind === "sound") {
      tr.append(el("td"), el("td"));
      const cell = el("td", "what", l.label + ", score " + l.score.toFixed(2));
      if (l.eff_label !== l.label) cell.append(el("div", "reviewed", "reviewed: " + l.eff_label));
      cell.append(el("div", "sounds-like", "AudioSet: " + l.top_classes + (given(l.runner_up) ? " \u00b7 runner-up " + l.runner_up : "")));
      tr.append(cell);
    } else {
      tr.append(el("td"), el("td"));
      const what = (CATEGORY_WORDS[l.category] || l.category) + ", score " + l.gunshot_score.toFixed(2) +
        (l.peak_dbfs === null ? "" : ", " + Math.round(l.peak_dbfs) + " dBFS") +
        (l.burst_id === null ? "" : ", burst " + l.burst_id);
      const cell = el("td", "what", what);
      // what else it sounded like: the AudioSet network's three highest classes on the event's frame
      if (given(l.audioset_top3)) cell.append(el("div", "sounds-like", "sounds like: " + l.audioset_top3));
      tr.append(cell);
    }
    tr.append(reviewedCell(l));
    const flags = el("td");
    l.flag_list.forEach((f) => flags.append(el("span", "flag", f)));
    tr.append(flags);
    tr.addEventListener("click", () => seek(l.t0));
    return tr;
  }
  const tbody = $("lines");
  D.lines.slice().sort((a, b) => a.t0 - b.t0 || (a.kind === "speech") - (b.kind === "speech"))
    .forEach((l) => { const tr = buildRow(l); rows.push([l, tr]); tbody.append(tr); });

  function applyFilters() {
    let shown = 0;
    rows.forEach(([l, tr]) => { const v = visible(l); tr.hidden = !v; shown += v; });
    $("count").textContent = shown + " of " + rows.filter(([l]) => l.track === track).length + " lines";
  }
  $("controls").addEventListener("input", (e) => {
    if (e.target === trackSel) setTrack(Number(trackSel.value));
    else if (e.target.id && e.target.id.startsWith("f-sound-")) draw();
    applyFilters();
  });

  // audio
  function seek(t) {
    audio.currentTime = Math.max(0, t);
    const p = audio.play();
    if (p && p.catch) p.catch(() => {});
    follow(true);
  }
  function setTrack(t) {
    track = t;
    const info = D.tracks.find((x) => x.track === t);
    if (info && info.audio) {
      audio.src = info.audio;
      $("audio-note").textContent = "";
    } else {
      audio.removeAttribute("src");
      $("audio-note").textContent = "No listening copy of this track in the case (made by an older audiopipe, or outputs.audio_copy is none).";
    }
    draw();
  }
  let current = null;
  function follow(force) {
    const t = audio.currentTime;
    let best = null;
    rows.forEach(([l, tr]) => {
      if (!tr.hidden && l.t0 <= t + 1e-3 && t < l.t1 && (!best || l.t0 >= best[0].t0)) best = [l, tr];
    });
    const tr = best ? best[1] : null;
    if (tr !== current) {
      if (current) current.classList.remove("current");
      if (tr) tr.classList.add("current");
      current = tr;
      if (tr && ($("follow").checked || force)) tr.scrollIntoView({ block: "nearest" });
    }
    drawHead();
  }
  audio.addEventListener("timeupdate", () => follow(false));
  audio.addEventListener("seeked", () => follow(false));

  // the lanes: waveform, a lane per speaker (segments coloured by language), shots
  const canvas = $("lanes");
  const WAVE = 56, LANE = 16, SHOTS = 22, AXIS = 14, GUTTER = 84;
  const SOUND_COLOURS = {};
  soundLabels.forEach((name, i) => { SOUND_COLOURS[name] = COLOURS[(i + 3) % COLOURS.length]; });
  function soundLanes() {  // a lane per label heard on this track (the reviewer's label where given)
    return [...new Set(sounds.filter((l) => l.track === track && l.eff_label !== "none").map((l) => l.eff_label))].sort();
  }
  let base = null;
  function trackInfo() { return D.tracks.find((x) => x.track === track) || { duration_s: 1, env_min: [], env_max: [] }; }
  function laneNames() {
    const names = D.speakers.filter((p) => p.track === track).map((p) => p.speaker);
    speech.filter((l) => l.track === track && !names.includes(l.speaker || "(none)")).forEach((l) => names.push(l.speaker || "(none)"));
    return names.length ? names : ["(none)"];
  }
  function fit(g, text) {  // a lane's name cut to the gutter
    let t = String(text);
    while (t.length > 1 && g.measureText(t).width > GUTTER - 6) t = t.slice(0, -2) + "\u2026";
    return t;
  }
  function draw() {
    const info = trackInfo();
    const names = laneNames();
    const cssW = canvas.clientWidth || 800;
    const lanes = soundLanes();
    const cssH = WAVE + LANE * names.length + SHOTS + LANE * lanes.length + AXIS;
    const r = window.devicePixelRatio || 1;
    canvas.width = cssW * r; canvas.height = cssH * r; canvas.style.height = cssH + "px";
    const g = canvas.getContext("2d", { willReadFrequently: true });
    g.setTransform(r, 0, 0, r, 0, 0);
    const X = (t) => GUTTER + (t / info.duration_s) * (cssW - GUTTER);
    g.fillStyle = "#fafafa"; g.fillRect(GUTTER, 0, cssW - GUTTER, cssH - AXIS);
    g.fillStyle = "#555";
    const n = info.env_min.length;
    for (let i = 0; i < n; i++) {
      const x = X((i / n) * info.duration_s), y0 = WAVE / 2 - info.env_max[i] * WAVE / 2, y1 = WAVE / 2 - info.env_min[i] * WAVE / 2;
      g.fillRect(x, y0, Math.max(1, (cssW - GUTTER) / n), Math.max(1, y1 - y0));
    }
    D.bursts.filter((b) => b.track === track).forEach((b) => {
      g.fillStyle = "rgba(214,39,40,0.18)";
      g.fillRect(X(b.start_s), 0, Math.max(2, X(b.end_s) - X(b.start_s)), cssH - AXIS);
    });
    g.font = "10px sans-serif";
    names.forEach((name, k) => {
      const y = WAVE + k * LANE;
      D.turns.filter((t) => t.track === track && (t.speaker || "(none)") === name).forEach((t) => {
        g.fillStyle = "#ddd"; g.fillRect(X(t.start_s), y + 2, X(t.end_s) - X(t.start_s), LANE - 4);
      });
      speech.filter((l) => l.track === track && (l.speaker || "(none)") === name).forEach((l) => {
        g.fillStyle = langColour[l.language] || "#999";
        g.globalAlpha = l.language_uncertain ? 0.45 : 0.9;
        g.fillRect(X(l.start_s), y + 2, Math.max(1, X(l.end_s) - X(l.start_s)), LANE - 4);
        g.globalAlpha = 1;
      });
      g.fillStyle = "#000"; g.fillText(fit(g, renamed[track + "/" + name] || name), 2, y + LANE - 4);
    });
    const ys = WAVE + LANE * names.length;
    const STYLE = { gunshot: ["#d62728", [], 1.5], possible_gunshot: ["#ff7f0e", [4, 2], 1.2], other_impulsive: ["#999", [1, 2], 1] };
    D.lines.filter((l) => l.kind === "event" && l.track === track).forEach((l) => {
      const [c, dash, w] = STYLE[l.eff_category] || STYLE.gunshot;
      g.strokeStyle = c; g.setLineDash(dash); g.lineWidth = w;
      g.beginPath(); g.moveTo(X(l.time_s), ys + 2); g.lineTo(X(l.time_s), ys + SHOTS - 2); g.stroke();
    });
    g.setLineDash([]);
    g.fillStyle = "#000"; g.fillText("shots", 2, ys + SHOTS - 6);
    lanes.forEach((name, k) => {  // the sound events, a lane per label
      const y = ys + SHOTS + k * LANE;
      sounds.filter((l) => l.track === track && l.eff_label === name).forEach((l) => {
        g.fillStyle = SOUND_COLOURS[name] || "#999";
        g.globalAlpha = soundOn(name) ? 0.85 : 0.2;
        g.fillRect(X(l.start_s), y + 2, Math.max(2, X(l.end_s) - X(l.start_s)), LANE - 4);
        g.globalAlpha = 1;
      });
      g.fillStyle = "#000"; g.fillText(fit(g, name), 2, y + LANE - 4);
    });
    g.fillText("wave", 2, WAVE / 2 + 4);
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find((s) => info.duration_s / s <= 12) || 7200;
    for (let t = 0; t <= info.duration_s; t += step) {
      g.fillRect(X(t), cssH - AXIS, 1, 4);
      g.fillText(hms(t).replace(/\.000$/, ""), X(t) + 2, cssH - 2);
    }
    base = g.getImageData(0, 0, canvas.width, canvas.height);
    drawHead();
  }
  function drawHead() {
    if (!base) return;
    const g = canvas.getContext("2d", { willReadFrequently: true });
    g.putImageData(base, 0, 0);
    const w = canvas.width / (window.devicePixelRatio || 1);
    const x = GUTTER + (audio.currentTime / trackInfo().duration_s) * (w - GUTTER);
    g.fillStyle = "#06c"; g.fillRect(x - 1, 0, 2, canvas.height);
  }
  canvas.addEventListener("click", (e) => {
    const rect = canvas.getBoundingClientRect();
    const x = e.clientX - rect.left - GUTTER;
    if (x >= 0) seek((x / (rect.width - GUTTER)) * trackInfo().duration_s);
  });
  window.addEventListener("resize", draw);

  setTrack(track);
  applyFilters();
})();
