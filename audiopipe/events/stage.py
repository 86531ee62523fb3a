"""The events stage on one track: candidates scored by the classifier, raised by the rhythm
of automatic fire, crack and blast paired, grouped into bursts (``detect``).

Known limits, measured by ``bench/events.py``: the classifier separates shots from speech
well but shots from look-alikes poorly in recordings it has not heard (cross-validated on 30
recordings: at the ``gunshot`` cut, 52 % of the gunshot clips and 27 % of the look-alike
clips; fireworks, glass and some doors score like shots); a shot no louder than the voices
around it (shot-to-speech ratio 0 dB or less) is often missed, either as a candidate (its rise
is masked) or by the level term.
"""

from __future__ import annotations

from .. import models
from ..config import EventsConfig
from ..records import Burst, Event, Track
from .cracks import pair_cracks
from .onsets import Candidate, candidates
from .rhythm import apply_rhythm, group_bursts
from .scoring import Classifier, category, classifier, thresholds


def _event(c: Candidate, track_index: int, score: float, cut: tuple[float, float]) -> Event:
    f = c.features
    return Event(
        track=track_index, time_s=c.time_s, peak_dbfs=f["peak_dbfs"],
        rise_time_ms=f["rise_time_ms"], duration_ms=f["duration_ms"], centroid_hz=f["centroid_hz"],
        bandwidth_hz=f["bandwidth_hz"], high_band_ratio=f["high_band_ratio"], broadband=f["broadband"],
        impulsiveness_db=f["impulsiveness_db"], decay_db_per_ms=f["decay_db_per_ms"],
        attack_db=f["attack_db"], flatness=f["flatness"], low_band_ratio=f["low_band_ratio"],
        tail_db=f["tail_db"], level_over_track_db=f["level_over_track_db"], clipped=f["clipped"],
        gunshot_score=score, is_gunshot=score >= cut[1], category=category(score, cut))



def detect(track: Track, cfg: EventsConfig, model: Classifier | None = None, first_burst_id: int = 0
           ) -> tuple[list[Event], list[Burst]]:
    """All gunshot-like events of one track (``candidates``), scored by the classifier
    (``model``, else the one ``cfg.classifier`` names), raised by the rhythm of automatic
    fire, crack and blast paired, grouped into bursts."""
    model = model or classifier(models.resolve(cfg.classifier))
    cut = thresholds(cfg, model)
    evs = [_event(c, track.index, model.score(c.features), cut) for c in candidates(track, cfg)]
    evs = pair_cracks(apply_rhythm(evs, cfg, cut), cfg)
    return group_bursts(evs, cfg, track.index, first_burst_id)
