"""Every audio track of a file decoded (``decode``, ``load``): 16 kHz mono for the models, and
the native rate, every channel, for transients; a track cut short of what its container
declares is flagged.

A native-rate track longer than ``spill_native_bytes`` of float32 samples (about 23 min of
48-kHz stereo at the default 512 MiB) is written, as it decodes, to an unlinked scratch file
(``scratch_dir``) and memory-mapped read-only: RAM then holds only the blocks being read, and
the space is given back when the track is let go, or when the process ends, even by a crash.
"""

from __future__ import annotations

import tempfile

import av
import numpy as np

from ..config import IngestConfig
from ..errors import CorruptMedia, NoAudioStream, OutputError, UnsupportedCodec
from ..records import MediaFile, Probe, Track
from .container import inspect
from .files import check_size
from .media import open_media, probe, seconds

MAX_OVERHANG_S = 0.05
SHORT_BY_S, SHORT_BY_FRACTION = 1.0, 0.02  # a track this much shorter than declared is flagged


class _NativeSink:
    """Where the decoded native-rate frames of one stream go: a list of arrays in memory
    until they pass ``spill_bytes``, then an unlinked scratch file, memory-mapped at the end."""

    def __init__(self, label: str, channels: int, spill_bytes: int, scratch_dir: str | None):
        self.label, self.channels, self.spill_bytes, self.scratch_dir = label, channels, spill_bytes, scratch_dir
        self.parts: list[np.ndarray] = []
        self.held_bytes = 0
        self.n_samples = 0
        self.file = None
        self._seen_channels = False

    def add(self, frame: np.ndarray) -> None:
        """frame: shape = (n_channels, n_samples), float32."""
        if not self._seen_channels:
            self.channels, self._seen_channels = frame.shape[0], True
        elif frame.shape[0] != self.channels:
            raise CorruptMedia(f"the channel count of {self.label} changes inside the stream "
                               f"({self.channels} then {frame.shape[0]})")
        self.n_samples += frame.shape[1]
        if self.file is not None:
            self._write(frame)
            return
        self.parts.append(frame)
        self.held_bytes += frame.nbytes
        if 0 < self.spill_bytes < self.held_bytes:
            self._spill()

    def _where(self) -> str:
        return self.scratch_dir or tempfile.gettempdir()

    def _spill(self) -> None:
        try:
            self.file = tempfile.TemporaryFile(prefix="audiopipe-native-", dir=self.scratch_dir)
        except OSError as exc:
            raise OutputError(f"cannot make a scratch file in {self._where()} for the decoded audio of "
                              f"{self.label}: {exc.strerror or exc}; set ingest.scratch_dir to a writable "
                              f"folder") from exc
        for part in self.parts:
            self._write(part)
        self.parts, self.held_bytes = [], 0

    def _write(self, frame: np.ndarray) -> None:
        try:
            self.file.write(np.ascontiguousarray(frame.T, dtype=np.float32).tobytes())
        except OSError as exc:
            raise OutputError(f"cannot write the decoded audio of {self.label} to scratch space in "
                              f"{self._where()}: {exc.strerror or exc}; free some space there or set "
                              f"ingest.scratch_dir") from exc

    def array(self) -> np.ndarray:
        """shape = (n_channels, n_samples) float32: in memory, or a read-only memory map."""
        if self.file is None:
            if not self.parts:
                return np.zeros((self.channels, 0), np.float32)
            return np.concatenate(self.parts, axis=1).astype(np.float32, copy=False)
        self.file.flush()
        mapped = np.memmap(self.file, dtype=np.float32, mode="r", shape=(self.n_samples, self.channels))
        self.file.close()  # the map keeps its own handle; the file has no name to leave behind
        return mapped.T


def _decode_stream(path: str, label: str, stream_index: int, model_rate_hz: int,
                   spill_bytes: int = 0, scratch_dir: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray, int, str]:
    """Decode one audio stream twice over in a single pass.

    Returns (audio_native, audio_16k, native_rate_hz, codec): audio_native has shape
    (n_channels, n_samples) float32 at the stream's own rate; audio_16k has shape
    (n_samples_16k,) float32 mono at ``model_rate_hz``.
    """
    with open_media(path, label) as container:
        stream = container.streams[stream_index]
        cc = stream.codec_context
        if cc is None or not cc.name:
            raise UnsupportedCodec(f"no decoder for audio stream {stream_index} of {label}")
        native_rate = cc.sample_rate
        channels = cc.channels
        if not native_rate or not channels:
            raise CorruptMedia(f"audio stream {stream_index} of {label} has no sample rate or channels")
        # packed float, not planar: PyAV 18 counts one plane too many on a planar frame of 8
        # channels (7.1), and reading it ends the process (segmentation fault)
        native_rs = av.AudioResampler(format="flt", rate=native_rate)
        model_rs = av.AudioResampler(format="flt", layout="mono", rate=model_rate_hz)
        sink = _NativeSink(f"audio stream {stream_index} of {label}", channels, spill_bytes, scratch_dir)
        model_parts: list[np.ndarray] = []
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    frame.pts = None  # resample by sample count, not by possibly broken timestamps
                    for f in native_rs.resample(frame):
                        sink.add(_channels_first(f))
                    for f in model_rs.resample(frame):
                        model_parts.append(f.to_ndarray().reshape(-1))
            for f in native_rs.resample(None):
                sink.add(_channels_first(f))
            for f in model_rs.resample(None):
                model_parts.append(f.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not sink.n_samples:
                raise CorruptMedia(f"audio stream {stream_index} of {label} cannot be decoded: {exc}") from exc
            # a truncated file: keep what decoded, the caller flags it
            raise _Truncated(sink.array(), _join_model(model_parts), native_rate, cc.name, str(exc)) from exc
        native, model = sink.array(), _join_model(model_parts)
        declared_s = seconds(stream.duration, stream.time_base)
        if declared_s:
            # some decoders (AMR) emit a few ms of codec delay past the stream's declared
            # end; keep the stream as the container declares it
            n = int(round(declared_s * native_rate))
            if n < native.shape[1] <= n + int(MAX_OVERHANG_S * native_rate):
                native = native[:, :n]
                model = model[: int(round(declared_s * model_rate_hz))]
        return native, model, native_rate, cc.name


def _channels_first(frame: av.AudioFrame) -> np.ndarray:
    """A packed audio frame's samples, shape = (n_channels, n_samples) (a view)."""
    return frame.to_ndarray().reshape(-1, frame.layout.nb_channels).T


class _Truncated(Exception):
    """What decoded before a stream broke off (native, model: as ``_decode_stream`` returns)."""

    def __init__(self, native, model, rate, codec, why):
        super().__init__(why)
        self.native, self.model, self.rate, self.codec, self.why = native, model, rate, codec, why


def _join_model(model_parts: list[np.ndarray]) -> np.ndarray:
    return (np.concatenate(model_parts) if model_parts else np.zeros(0, np.float32)).astype(
        np.float32, copy=False)


def decode(media: MediaFile, probed: Probe, cfg: IngestConfig) -> tuple[list[Track], list[str]]:
    """Decode every audio stream of a file; returns the tracks and file-level flags."""
    audio = probed.audio_streams
    if not audio:
        kinds = ", ".join(sorted({s.kind for s in probed.streams})) or "none"
        raise NoAudioStream(f"no audio stream in {media.path} (streams: {kinds})")
    tracks: list[Track] = []
    flags: list[str] = []
    for position, info in enumerate(audio):
        truncated = False
        try:
            native, model, rate, codec = _decode_stream(
                media.abs_path, media.path, info.index, cfg.model_rate_hz, cfg.spill_native_bytes,
                cfg.scratch_dir)
        except _Truncated as t:
            native, model, rate, codec = t.native, t.model, t.rate, t.codec
            truncated = True
            flags.append(f"truncated_track_{position}")
        except av.error.FFmpegError as exc:
            raise CorruptMedia(f"audio stream {info.index} of {media.path} cannot be decoded: {exc}") from exc
        if native.shape[1] == 0:
            flags.append(f"empty_track_{position}")
        elif not truncated:
            # a file cut off at a clean packet boundary (a copy or download that stopped) decodes
            # without an error: what the container declares says that the rest is missing
            declared_s = info.duration_s or (probed.duration_s or 0.0) - (info.start_s or 0.0)
            if native.shape[1] / rate < declared_s - max(SHORT_BY_S, SHORT_BY_FRACTION * declared_s):
                flags.append(f"shorter_than_declared_track_{position}")
        tracks.append(Track(
            index=position,
            stream_index=info.index,
            codec=codec,
            native_rate_hz=int(rate),
            channels=int(native.shape[0]),
            duration_s=native.shape[1] / float(rate),
            audio_16k=model,
            audio_native=native,
            start_s=info.start_s or 0.0,
        ))
    if all(t.audio_native.shape[1] == 0 for t in tracks):
        raise CorruptMedia(f"no audio could be decoded from {media.path}")
    return tracks, flags


def load(media: MediaFile, cfg: IngestConfig) -> tuple[Probe, list[Track], list[str]]:
    """Size check, what the file's bytes say it is (``container.inspect``), probe and decode of
    one file (the hash is taken by the caller)."""
    check_size(media, cfg)
    said = inspect(media.abs_path, media.path)
    probed = probe(media.abs_path, media.path)
    tracks, flags = decode(media, probed, cfg)
    return probed, tracks, flags + [f for f in said if f not in flags]
