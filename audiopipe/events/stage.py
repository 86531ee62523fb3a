"""The events stage on one track: candidates heard by the AudioSet network (``hear``: what
each sounded like, ``audioset_top3``), scored by the classifier, raised by the rhythm of
automatic fire and beside sure gunshots, crack and blast paired, grouped into bursts (``detect``).

Known limits, measured by ``bench/events.py`` (README, "Gunshot classifier v3"): held out on
34 recordings, the clips as recorded are separated well (file AUC 0.98; at the possible cut all
21 shot files found and 2 of 26 look-alikes called), but YAMNet is deaf to the gun under
reverberation and wind, so shots in such mixtures are missed more often than by the acoustic
classifier it replaced (F1 0.889 on the annotated clips, 0.77-0.86 at +10 dB over speech); a
shot no louder than the voices around it (0 dB or less) is often missed."""

from __future__ import annotations

from .. import models
from ..config import EventsConfig
from ..records import Burst, Event, Track
from ..models import audioset
from .cracks import pair_cracks
from .onsets import Candidate, candidates
from .rhythm import apply_rhythm, apply_sporadic, group_bursts
from .scoring import Classifier, category, classifier, logit, thresholds

#: how a candidate is heard when the classifier does not say (a classifier of train/events.py
#: that reads no AudioSet class): the shipped classifier's placement
HEARING = {"onset_at_s": 0.2, "peak": 0.7, "classes": ["Gunshot, gunfire", "Machine gun", "Fusillade",
                                                       "Artillery fire", "Cap gun"],
           "speech_classes": ["Speech", "Child speech, kid speaking", "Conversation", "Narration, monologue",
                              "Shout", "Yell", "Screaming"]}


LOUDER_DB = 10.0  # a later onset this much louder than a candidate ends what the candidate's frame hears ...
SAME_SOUND_S = 0.08  # ... unless it comes this soon (a blast after its crack, one sound)


def _heard_until(cands: list[Candidate], reach_s: float) -> list[float | None]:
    """Per candidate, the time to the first later candidate within ``reach_s`` that is
    ``LOUDER_DB`` louder (None: none): a syllable's frame must not hear the shot that follows it."""
    out: list[float | None] = []
    for i, c in enumerate(cands):
        until = None
        for d in cands[i + 1:]:
            if d.time_s - c.time_s >= reach_s:
                break
            if d.time_s - c.time_s > SAME_SOUND_S and d.features["peak_dbfs"] >= c.features["peak_dbfs"] + LOUDER_DB:
                until = d.time_s - c.time_s
                break
        out.append(until)
    return out


def hear(cands: list[Candidate], track: Track, net: audioset.AudioSet, hearing: dict | None) -> list[str]:
    """Each candidate heard by the AudioSet network on a frame placed on its onset
    (``hearing``: the classifier's ``onset_at_s`` into the frame, the frame scaled to ``peak``),
    up to the next louder candidate (``_heard_until``).
    Adds ``audioset_gun`` (log-odds of the highest of the gun ``classes``) and ``audioset_speech``
    (the highest of the ``speech_classes``: a voice over the frame, under which the network hears
    little else) to each candidate's features; returns each candidate's three highest classes (``audioset_top3``)."""
    hearing = hearing or HEARING
    scores = net.on_onsets(track.audio_16k, [c.time_s for c in cands], hearing["onset_at_s"], hearing.get("peak"),
                             _heard_until(cands, audioset.FRAME_S - hearing["onset_at_s"]))
    gun = net.index(hearing["classes"])
    speech = net.index(hearing.get("speech_classes", HEARING["speech_classes"]))
    for c, row in zip(cands, scores):
        c.features["audioset_gun"] = logit(float(row[gun].max()))
        c.features["audioset_speech"] = float(row[speech].max())
    return [net.top(row) for row in scores]


def _event(c: Candidate, track_index: int, score: float, cut: tuple[float, float], top3: str) -> Event:
    f = c.features
    return Event(
        track=track_index, time_s=c.time_s, peak_dbfs=f["peak_dbfs"],
        rise_time_ms=f["rise_time_ms"], duration_ms=f["duration_ms"], centroid_hz=f["centroid_hz"],
        bandwidth_hz=f["bandwidth_hz"], high_band_ratio=f["high_band_ratio"], broadband=f["broadband"],
        impulsiveness_db=f["impulsiveness_db"], decay_db_per_ms=f["decay_db_per_ms"],
        attack_db=f["attack_db"], flatness=f["flatness"], low_band_ratio=f["low_band_ratio"],
        tail_db=f["tail_db"], level_over_track_db=f["level_over_track_db"], clipped=f["clipped"],
        gunshot_score=score, is_gunshot=score >= cut[1], category=category(score, cut), audioset_top3=top3)



def detect(track: Track, cfg: EventsConfig, model: Classifier | None = None, first_burst_id: int = 0,
           net: audioset.AudioSet | None = None) -> tuple[list[Event], list[Burst]]:
    """All gunshot-like events of one track (``candidates``), each heard by the AudioSet network
    (``net``, else the one ``cfg.audioset`` names), scored by the classifier (``model``, else
    the one ``cfg.classifier`` names), raised by the rhythm of automatic fire and beside sure
    gunshots (sporadic fire), crack and blast paired, grouped into bursts."""
    model = model or classifier(models.resolve(cfg.classifier))
    net = net or audioset.network(models.resolve(cfg.audioset))
    cut = thresholds(cfg, model)
    cands = candidates(track, cfg)
    tops = hear(cands, track, net, model.audioset)
    evs = [_event(c, track.index, model.score(c.features), cut, top) for c, top in zip(cands, tops)]
    evs = pair_cracks(apply_sporadic(apply_rhythm(evs, cfg, cut), cfg, cut), cfg)
    return group_bursts(evs, cfg, track.index, first_burst_id)
