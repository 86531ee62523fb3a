"""``timeline.png``: waveform and spectrogram (native rate) on one time axis, a lane per
speaker with turns coloured by language, gunshot events and bursts marked, and the sound
events (explosions, aircraft, sirens ...) a row per label.

The picture is drawn from ``timeline.npz`` (a bounded summary of the audio: a min/max
envelope of at most ``MAX_COLUMNS`` columns and a spectrogram of at most ``MAX_COLUMNS``
frames), so that ``audiopipe report`` can redraw it without the original evidence, and an
hour-long file costs the same few hundred kilobytes as a 40-second one.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..provenance import atomic_write_bytes  # noqa: E402

MAX_COLUMNS = 1500
N_FFT = 512
SPEC_FLOOR_DB = -120.0  # the spectrogram is stored as uint8 steps of 0.5 dB above this


#: how the events row draws each category of event
_EVENT_STYLE = {"gunshot": dict(color="tab:red", lw=1.0), "possible_gunshot": dict(color="tab:orange", lw=0.8, ls="--"),
                "other_impulsive": dict(color="0.6", lw=0.6, ls=":")}

def mono(audio_native: np.ndarray, a: int, b: int, lead: int = 0) -> np.ndarray:
    """Samples ``a``..``b`` of a track, mixed to mono (float32), on the file's timeline: the
    track preceded by ``lead`` samples of silence (where its first sample plays)."""
    silent = max(0, min(b, lead) - a)
    seg = audio_native[:, max(a, lead) - lead: max(b, lead) - lead]
    part = seg[0] if seg.shape[0] == 1 else seg.mean(axis=0, dtype=np.float32)
    return np.concatenate([np.zeros(silent, np.float32), part]) if silent else part


def summarise(audio_native: np.ndarray, rate_hz: int, start_s: float = 0.0) -> dict[str, np.ndarray]:
    """audio_native: shape = (n_channels, n_samples), in memory or memory-mapped; start_s:
    where it begins on the file's timeline (silence before). Returns the arrays for
    ``timeline.npz``. Read one picture column at a time: an hour of stereo is never mixed
    down to mono all at once."""
    lead = int(round(start_s * rate_hz))
    n = audio_native.shape[1] + lead if audio_native.size else 0
    cols = max(1, min(MAX_COLUMNS, n // 64))
    edges = np.linspace(0, n, cols + 1).astype(int)
    env_min, env_max = np.zeros(cols), np.zeros(cols)
    starts = np.linspace(0, max(0, n - 1), cols).astype(int)
    frames = np.zeros((cols, N_FFT))
    for col in range(cols if n else 0):
        part = mono(audio_native, edges[col], max(edges[col + 1], edges[col] + 1), lead)
        env_min[col], env_max[col] = part.min(), part.max()
        piece = mono(audio_native, starts[col], starts[col] + N_FFT, lead)
        frames[col, : piece.size] = piece
    frames *= np.hanning(N_FFT)
    spec = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)) + 1e-9)
    steps = np.clip(np.round((spec.T - SPEC_FLOOR_DB) * 2.0), 0, 255).astype(np.uint8)
    return {"env_min": env_min.astype(np.float16), "env_max": env_max.astype(np.float16),
            "spec_steps": steps, "duration_s": np.array(max(n, 1) / float(rate_hz)),
            "rate_hz": np.array(rate_hz)}


def save_summary(path: Path, summaries: list[dict[str, np.ndarray]]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{f"t{i}_{k}": v for i, s in enumerate(summaries) for k, v in s.items()})
    atomic_write_bytes(path, buf.getvalue())


def load_summary(path: Path) -> list[dict[str, np.ndarray]]:
    with np.load(path) as z:
        out: dict[int, dict[str, np.ndarray]] = {}
        for key in z.files:
            idx, name = key[1:].split("_", 1)
            out.setdefault(int(idx), {})[name] = z[key]
    return [out[i] for i in sorted(out)]


LANG_COLOURS = plt.get_cmap("tab10").colors
SOUND_COLOURS = plt.get_cmap("Dark2").colors
ROWS = 5  # per track: wave, spectrogram, speakers, shots, sounds


def draw(path: Path, result: dict[str, Any], summaries: list[dict[str, np.ndarray]]) -> None:
    """Write the picture for every track of one file (stacked)."""
    n_tracks = max(1, len(summaries))
    speakers_by_track = [sorted({t["speaker"] or "speech" for t in result.get("turns", []) if t["track"] == i})
                         for i in range(n_tracks)]
    languages = sorted({s["language"] for s in result.get("segments", [])})
    colour = {lang: LANG_COLOURS[i % len(LANG_COLOURS)] for i, lang in enumerate(languages)}
    sounds_by_track = [sorted({n["label"] for n in result.get("sounds", []) if n["track"] == i})
                       for i in range(n_tracks)]
    heights = []
    for spk, snd in zip(speakers_by_track, sounds_by_track):
        heights += [1.2, 2.0, max(0.6, 0.35 * len(spk)), 0.5, max(0.4, 0.3 * len(snd))]
    fig, axes = plt.subplots(len(heights), 1, figsize=(14, sum(heights) + 1.0), sharex=True,
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    axes = axes[:, 0]
    for ti, summ in enumerate(summaries):
        ax_w, ax_s, ax_t, ax_e, ax_n = axes[ROWS * ti: ROWS * ti + ROWS]
        dur = float(summ["duration_s"])
        rate = int(summ["rate_hz"])
        x = np.linspace(0, dur, summ["env_min"].size)
        ax_w.fill_between(x, summ["env_min"].astype(float), summ["env_max"].astype(float), color="0.3", lw=0)
        ax_w.set_ylabel(f"track {ti}\nwave")
        ax_w.set_ylim(-1, 1)
        spec = summ["spec_steps"].astype(float) / 2.0 + SPEC_FLOOR_DB
        vmax = np.percentile(spec, 99.5) if spec.size else 0
        ax_s.imshow(spec, origin="lower", aspect="auto", extent=[0, dur, 0, rate / 2000.0],
                    vmin=vmax - 80, vmax=vmax, cmap="magma")
        ax_s.set_ylabel("kHz")
        spk = speakers_by_track[ti]
        for t in result.get("turns", []):
            if t["track"] != ti:
                continue
            row = spk.index(t["speaker"] or "speech")
            ax_t.barh(row, t["end_s"] - t["start_s"], left=t["start_s"], height=0.8, color="0.85")
        for s in result.get("segments", []):
            if s["track"] != ti:
                continue
            row = spk.index(s["speaker"] or "speech") if (s["speaker"] or "speech") in spk else 0
            ax_t.barh(row, s["end_s"] - s["start_s"], left=s["start_s"], height=0.8, color=colour[s["language"]],
                      hatch="//" if s["language_uncertain"] else None, edgecolor="k", lw=0.3)
            if dur <= 300:
                ax_t.text(s["start_s"], row, f" {s['language']}", va="center", fontsize=7)
        ax_t.set_yticks(range(len(spk)), spk, fontsize=7)
        ax_t.set_ylim(-0.6, max(1, len(spk)) - 0.4)
        for b in result.get("bursts", []):
            if b["track"] == ti:
                ax_e.axvspan(b["start_s"], max(b["end_s"], b["start_s"] + dur / 800), color="tab:red", alpha=0.25)
        for e in result.get("events", []):
            if e["track"] != ti:
                continue
            style = _EVENT_STYLE.get(e.get("category") if e["is_gunshot"] else "other_impulsive", _EVENT_STYLE["gunshot"])
            ax_e.axvline(e["time_s"], **style)
            if e["is_gunshot"]:
                ax_w.axvline(e["time_s"], color="tab:red", lw=0.5, alpha=0.6)
        ax_e.set_yticks([])
        ax_e.set_ylabel("shots", rotation=0, ha="right", va="center")
        snd = sounds_by_track[ti]
        for n in result.get("sounds", []):
            if n["track"] == ti:
                ax_n.barh(snd.index(n["label"]), max(n["end_s"] - n["start_s"], dur / 800), left=n["start_s"],
                          height=0.7, color=SOUND_COLOURS[snd.index(n["label"]) % len(SOUND_COLOURS)])
        ax_n.set_yticks(range(len(snd)), snd, fontsize=7)
        ax_n.set_ylim(-0.6, max(1, len(snd)) - 0.4)
        ax_n.set_ylabel("sounds", rotation=0, ha="right", va="center", labelpad=40 if snd else 4)
    longest = max(float(s["duration_s"]) for s in summaries) if summaries else 1.0
    axes[-1].set_xlim(0, longest)
    if longest > 300:  # long files: clock time on the axis, as in the Timeline sheet
        axes[-1].xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda x, _: f"{int(x) // 3600}:{int(x) % 3600 // 60:02d}:{int(x) % 60:02d}"))
        axes[-1].set_xlabel("time (H:MM:SS)")
    else:
        axes[-1].set_xlabel("time (s)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[lang]) for lang in languages]
    handles += [plt.Line2D([0], [0], **_EVENT_STYLE[c]) for c in _EVENT_STYLE]
    fig.legend(handles, languages + ["gunshot", "possible gunshot", "other transient"], loc="upper right", ncol=len(handles),
               fontsize=8)
    fig.suptitle(f"{result['paths'][0] if result.get('paths') else result['sha256'][:12]}", x=0.01, ha="left",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
