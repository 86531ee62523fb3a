"""What else the gunshot classifier could be, measured with the training script's grouped folds
(a clip scored by a model that never heard its recording). Not part of `make bench` (about
two minutes on 2 cores); the README's gunshot-classifier section quotes its figures.

    .venv/bin/python bench/_events_models.py

It prints the file AUC (a gunshot clip's best annotated shot against a look-alike clip's best
candidate; 0.5 is chance), on the clips as recorded and with their augmentations, of:
- the shipped logistic regression over the eight features (``train/events.py``), trained on
  40 %, 60 %, 80 % and all of each fold's training recordings (five draws each): the learning
  curve, which says how much more recordings of the same kind would give this model;
- a logistic regression over log-mel band statistics around the onset (16 bands x onset, early
  tail, late tail, in dB under the patch's peak), alone and with the eight features;
- a small CNN (three conv layers, 7k weights) on 64-band log-mel patches from 50 ms before to
  450 ms after each onset, trained with time shifts and noise, alone and summed with the
  shipped model's logit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import librosa
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))

import events as training  # noqa: E402  (train/events.py)

from audiopipe.events import scoring  # noqa: E402

RATE_HZ = 16000
HOP = 160  # 10 ms
BEFORE, AFTER = 5, 45  # frames around the onset
SPANS = ((BEFORE, BEFORE + 2), (BEFORE + 2, BEFORE + 10), (BEFORE + 10, BEFORE + AFTER))  # 0-20, 20-100, 100-450 ms
SEED = 0


def patches(v: training.Variant) -> np.ndarray:
    """(candidates, 64, 50) log-mel patches in dB under each patch's peak (floor -80)."""
    y = librosa.resample(v.audio, orig_sr=v.rate_hz, target_sr=RATE_HZ, res_type="soxr_hq")
    mel = librosa.feature.melspectrogram(y=y, sr=RATE_HZ, n_fft=512, hop_length=HOP, n_mels=64, fmax=8000)
    db = 10 * np.log10(mel + 1e-10)
    out = np.full((len(v.times_s), 64, BEFORE + AFTER), -100.0, np.float32)
    for k, t in enumerate(v.times_s):
        a = int(round(t * RATE_HZ / HOP)) - BEFORE
        lo, hi = max(0, a), min(db.shape[1], a + BEFORE + AFTER)
        if hi > lo:
            out[k, :, lo - a: hi - a] = db[:, lo:hi]
    peak = out.max(axis=(1, 2), keepdims=True)
    return np.maximum(out, peak - 80.0) - peak


def band_stats(p: np.ndarray) -> np.ndarray:
    """(candidates, 48): 16 bands x the three spans' mean dB."""
    bands = p.reshape(p.shape[0], 16, 4, -1).mean(axis=2)
    return np.concatenate([bands[:, :, a:b].mean(axis=2) for a, b in SPANS], axis=1)


def labelled(vs: list[training.Variant], rows) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([rows(v)[np.array(v.labels) >= 0] for v in vs if v.times_s])
    y = np.array([lab for v in vs for lab in v.labels if lab >= 0])
    return x, y


def logistic(rows, c: float = 0.03):
    def train_model(vs):
        x, y = labelled(vs, rows)
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit((x - mean) / scale, y)
        return lambda v: lr.decision_function((rows(v) - mean) / scale).tolist() if v.times_s else []
    return train_model


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        nn = torch.nn

        def block(a, b):
            return [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU()]
        self.body = nn.Sequential(*block(1, 8), nn.MaxPool2d(2), *block(8, 16), nn.MaxPool2d(2), *block(16, 24),
                                  nn.AdaptiveAvgPool2d((4, 1)), nn.Flatten(), nn.Dropout(0.3), nn.Linear(96, 1))

    def forward(self, x):
        return self.body(x)[:, 0]


def cnn(patch_of, epochs: int = 25):
    def scaled(p):
        return torch.tensor(p / 20.0 + 2.0)[:, None]

    def train_model(vs):
        x, y = labelled(vs, patch_of)
        torch.manual_seed(SEED)
        rng = np.random.default_rng(SEED)
        net = Net()
        opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-3)
        loss = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - y).sum() / y.sum()))
        xt, yt = scaled(x), torch.tensor(y, dtype=torch.float32)
        for _ in range(epochs):
            net.train()
            for batch in np.array_split(rng.permutation(len(y)), max(1, len(y) // 64)):
                xb = torch.roll(xt[batch], int(rng.integers(-2, 3)), dims=3)
                opt.zero_grad()
                loss(net(xb + 0.1 * torch.randn_like(xb)), yt[batch]).backward()
                opt.step()
        net.eval()

        def score(v):
            if not v.times_s:
                return []
            with torch.no_grad():
                return net(scaled(patch_of(v))).tolist()
        return score
    return train_model


def file_auc(vs, logits, clean_only: bool) -> float:
    """A variant with no candidate (or none on its shot) scores 0, below every candidate."""
    fs = training.file_scores(vs, [[1 / (1 + np.exp(-z)) for z in zs] for zs in logits])
    fs = [(v, p) for v, p in fs if v.name == "clean" or not clean_only]
    return float(roc_auc_score([v.clip.label == "gunshot" for v, _ in fs], [p for _, p in fs]))


def line(name: str, vs, logits) -> None:
    print(f"  {name:48s} as recorded {file_auc(vs, logits, True):.3f}   with augmentations "
          f"{file_auc(vs, logits, False):.3f}")


def learning_curve(vs) -> None:
    rng = np.random.default_rng(SEED)
    print("learning curve of the shipped model (share of each fold's training recordings, 5 draws):")
    for share in (0.4, 0.6, 0.8, 1.0):
        aucs = []
        for _ in range(5 if share < 1 else 1):
            def train_model(train_vs):
                by_label = {lab: sorted({v.clip.group for v in train_vs if v.clip.label == lab})
                            for lab in ("gunshot", "lookalike")}
                kept = {g for groups in by_label.values()
                        for g in rng.choice(groups, max(2, round(share * len(groups))), replace=False)}
                return training._fit_logistic([v for v in train_vs if v.clip.group in kept])
            logits, _ = training.out_of_fold(vs, train_model)
            aucs.append((file_auc(vs, logits, True), file_auc(vs, logits, False)))
        a = np.array(aucs)
        print(f"  {share:4.0%} of the training recordings: file AUC as recorded {a[:, 0].mean():.3f} "
              f"(sd {a[:, 0].std():.3f}), with augmentations {a[:, 1].mean():.3f} (sd {a[:, 1].std():.3f})")


def main() -> None:
    torch.set_num_threads(2)
    vs = training.dataset(keep_audio=True)
    print(f"{len(vs)} variants of {len({v.clip.file for v in vs})} clips, "
          f"{len({v.clip.group for v in vs})} recordings, {sum(len(v.times_s) for v in vs)} candidates")
    learning_curve(vs)
    cache = {id(v): patches(v) for v in vs if v.times_s}

    def patch_of(v):
        return cache[id(v)]

    def features(v):
        return np.array([scoring.vector(f, training.FEATURES) for f in v.features])

    print("grouped cross-validation, file AUC (0.5 = chance):")
    shipped, _ = training.out_of_fold(vs)
    line("shipped: logistic regression, 8 features", vs, shipped)
    line("logistic regression, log-mel band statistics", vs,
         training.out_of_fold(vs, logistic(lambda v: band_stats(patch_of(v))))[0])
    line("logistic regression, both", vs,
         training.out_of_fold(vs, logistic(lambda v: np.hstack([features(v), band_stats(patch_of(v))])))[0])
    net, _ = training.out_of_fold(vs, cnn(patch_of))
    line("CNN on log-mel patches", vs, net)
    line("CNN + shipped (logits summed)", vs, [[a + b for a, b in zip(p, q)] for p, q in zip(shipped, net)])


if __name__ == "__main__":
    main()
