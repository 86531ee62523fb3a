"""Loud sounds that are not speech, turned down in the copy of the audio that diarization hears.

pyannote's segmentation normalises each 10-s window it reads, so a blast, a jet or a burst of
fire far louder than the talk beside it shrinks that talk towards the noise: a real distant
explosion 14 dB over JFK's speech hid the four seconds of talk before it. The events and scene
stages run first; the stretches they mark (gunshot-like events, and sound events of the labels
that ``diarization.turn_down_sounds`` names, widened by ``SOUND_PAD_S``: the scene's frames end
before a blast's tail) are brought down here, each 20-ms frame in them that is louder than the
speech around it to that level: the 95th-percentile level of the frames within ``AROUND_S``
outside every marked stretch. A stretch with too little around it is left as it is. Only what
pyannote and the re-segmentation hear is changed: the transcription and every other stage read
the track's own samples.

Measured (``bench/diarization.py``, last part: 11 real explosions, aircraft and bursts 14 dB
over 3 real speech recordings): of the talk diarization finds in the clean recording, the share
found beside the sound went from 89.5 % to 99.6 %, under it from 57.1 % to 69.6 %, with as
much sound taken for speech (6.1 %, 6.7 %). The price is some talk under a steady or long
sound in a loud clear voice (a lecture under a helicopter: 97 % found as it is, 20 % turned
down): turned down to the level of the talk beside it, it is as loud as that talk and the
voice under it 14 dB quieter than the rest of the window.
"""

from __future__ import annotations

import numpy as np

from .campplus import SAMPLE_RATE_HZ

FRAME = SAMPLE_RATE_HZ // 50  # 20 ms
AROUND_S = 5.0  # the speech around a stretch: this far on either side of it
LEVEL_PERCENTILE = 95.0  # the speech's level there: the loud end of its frames, not its pauses
MIN_AROUND_S = 0.5  # less than this much outside the marked stretches: nothing to protect
SHOT_S = (-0.01, 0.5)  # a gunshot-like event's stretch around its onset (its blast and echoes)
SOUND_PAD_S = (0.5, 2.0)  # a sound event's stretch widened: the scene's frames end before a blast's tail
# (a frame under these pads at the speech's level is not changed: only what is louder is)


def spans_s(shots_s: list[float], sounds_s: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The stretches to turn down: around the onsets of gunshot-like events (``shots_s``) and
    the sound events' (start, end) widened."""
    return ([(t + SHOT_S[0], t + SHOT_S[1]) for t in shots_s]
            + [(a - SOUND_PAD_S[0], b + SOUND_PAD_S[1]) for a, b in sounds_s])


def turn_down(audio_16k: np.ndarray, spans_s: list[tuple[float, float]]) -> np.ndarray:
    """A copy of the 16-kHz samples with every frame of ``spans_s`` that is louder than the
    speech around it brought down to that level (the samples themselves when nothing is)."""
    n = audio_16k.size // FRAME
    if not spans_s or n == 0:
        return audio_16k
    level_db = 10 * np.log10((audio_16k[: n * FRAME].astype(np.float64).reshape(n, FRAME) ** 2).mean(axis=1) + 1e-12)
    inside = np.zeros(n, bool)
    bounds = [(max(0, int(a * 50)), min(n, int(np.ceil(b * 50)))) for a, b in sorted(spans_s)]
    for lo, hi in bounds:
        inside[lo:hi] = True
    around = int(AROUND_S * 50)
    gain_db = np.zeros(n)
    for lo, hi in bounds:
        if hi <= lo:
            continue
        near = slice(max(0, lo - around), hi + around)
        context = level_db[near][~inside[near]]
        if context.size < MIN_AROUND_S * 50:
            continue
        ref_db = np.percentile(context, LEVEL_PERCENTILE)
        gain_db[lo:hi] = np.minimum(gain_db[lo:hi], np.minimum(0.0, ref_db - level_db[lo:hi]))
    if not gain_db.any():
        return audio_16k
    # no step from one frame to the next: the gain eases over 20 ms either side of each frame
    # (a gain following the level over 0.5 s instead, to keep a voice's rise and fall under a
    # steady sound, did worse: bench/diarization.py, beside 97.9 % and under 64.9 %)
    edged = np.r_[gain_db[:1], gain_db, gain_db[-1:]]  # the first and last frames repeated, not wrapped
    least = np.minimum.reduce([edged[:-2], edged[1:-1], edged[2:]])
    gain_db = np.convolve(np.r_[least[:1], least, least[-1:]], np.ones(3) / 3, mode="valid")
    gain = np.repeat(10 ** (gain_db / 20), FRAME)
    out = audio_16k.astype(np.float32, copy=True)
    out[: n * FRAME] *= gain.astype(np.float32)
    return out
