"""Ingest: walking, hashing, probing and decoding real recordings in real containers."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from audiopipe import events, ingest
from audiopipe.config import EventsConfig, IngestConfig
from audiopipe.errors import CorruptMedia, EmptyFile, FileTooLarge, NoAudioStream, OutputError
from audiopipe.ingest import files
from audiopipe.records import MediaFile
from conftest import SPEECH, encode, read_audio

CFG = IngestConfig()


def _media(path) -> MediaFile:
    return MediaFile(path=path.name, abs_path=str(path), size_bytes=path.stat().st_size)


def _load(path):
    probed, tracks, flags = ingest.load(_media(path), CFG)
    return probed, tracks, flags


@pytest.fixture(scope="module")
def jfk():
    return read_audio(SPEECH / "jfk_en.flac")


@pytest.fixture(scope="module")
def de():
    return read_audio(SPEECH / "de_01.wav")


def test_flac_decodes_at_native_rate_with_every_channel_and_at_16k_mono(jfk):
    audio, rate = jfk
    probed, tracks, flags = _load(SPEECH / "jfk_en.flac")
    assert flags == []
    (t,) = tracks
    assert t.native_rate_hz == rate == 44100
    assert t.audio_native.shape == audio.shape  # both channels kept
    np.testing.assert_allclose(t.audio_native, audio, atol=1e-6)  # lossless: bit-exact up to float rounding
    assert abs(t.audio_16k.size / 16000 - audio.shape[1] / rate) < 0.010
    assert t.audio_16k.ndim == 1 and t.audio_16k.dtype == np.float32


@pytest.mark.parametrize("name,codec,rate,video", [
    ("clip.mp4", "aac", 44100, True),
    ("clip.mkv", "libopus", 48000, False),
    ("clip.3gp", "libopencore_amrnb", 8000, False),
    ("clip.m4a", "aac", 44100, False),
])
def test_containers_decode_to_source_duration_within_10_ms(tmp_path, jfk, name, codec, rate, video):
    audio, _ = jfk
    audio = audio[:1] if codec == "libopencore_amrnb" else audio
    frame = {"aac": 1024, "libopus": 960, "libopencore_amrnb": 160}[codec]
    audio = audio[:, : audio.shape[1] // frame * frame]
    path = encode(tmp_path / name, [(audio, rate)], codec, video=video)
    probed, (t,), _ = _load(path)
    assert t.native_rate_hz == rate
    expected_s = audio.shape[1] / rate
    assert abs(t.duration_s - expected_s) < 0.010, (t.duration_s, expected_s)
    assert abs(t.audio_16k.size / 16000 - expected_s) < 0.010
    assert t.channels == audio.shape[0]
    if video:
        assert any(s.kind == "video" for s in probed.streams)


def test_mov_with_two_audio_tracks_gives_two_tracks(tmp_path, jfk, de):
    jfk = (jfk[0][:, : jfk[0].shape[1] // 1024 * 1024], jfk[1])
    de = (de[0][:, : de[0].shape[1] // 1024 * 1024], de[1])
    path = encode(tmp_path / "two.mov", [jfk, de], "aac", video=True)
    probed, tracks, _ = _load(path)
    assert len(probed.audio_streams) == 2
    assert [t.index for t in tracks] == [0, 1]
    assert tracks[0].native_rate_hz == 44100 and tracks[1].native_rate_hz == 16000
    assert abs(tracks[0].duration_s - jfk[0].shape[1] / 44100) < 0.010
    assert abs(tracks[1].duration_s - de[0].shape[1] / 16000) < 0.010
    # the tracks hold different recordings, not one decoded twice
    assert tracks[0].audio_16k.size != tracks[1].audio_16k.size


@pytest.mark.parametrize("channels", [6, 8])
def test_surround_audio_keeps_every_channel_apart(tmp_path, jfk, de, channels):
    """5.1 and 7.1 streams (films, multi-channel recorders): every channel decodes at the
    native rate and holds its own signal. A planar frame of 8 channels once made PyAV read
    a ninth plane, which ended the whole batch (segmentation fault)."""
    n = min(jfk[0].shape[1] * 16000 // jfk[1], de[0].shape[1]) // 1024 * 1024
    audio = np.zeros((channels, n), np.float32)
    audio[0], audio[-1] = de[0][0, :n], -de[0][0, :n] / 2  # the same speech, at two levels
    path = encode(tmp_path / f"surround{channels}.mkv", [(audio, 16000)], "pcm_s16le")
    _, (t,), flags = _load(path)
    assert flags == [] and t.channels == channels and t.audio_native.shape == (channels, n)
    np.testing.assert_allclose(t.audio_native[0], audio[0], atol=1e-4)  # 16-bit PCM
    np.testing.assert_allclose(t.audio_native[-1], audio[-1], atol=1e-4)
    assert np.abs(t.audio_native[1:-1]).max() == 0
    assert t.audio_16k.size == n and np.abs(t.audio_16k).max() > 0.05


def test_video_without_audio_is_a_clear_error(tmp_path):
    path = encode(tmp_path / "silent_film.mp4", [], "aac", video=True)
    with pytest.raises(NoAudioStream, match="no audio stream in silent_film.mp4"):
        _load(path)


def test_zero_length_file_is_a_clear_error(tmp_path):
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    with pytest.raises(EmptyFile, match="zero-length"):
        _load(p)


def test_random_bytes_are_corrupt_media(tmp_path):
    p = tmp_path / "garbage.mp3"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(CorruptMedia):
        _load(p)


def test_truncated_file_keeps_what_decodes_or_fails_clearly(tmp_path, jfk):
    full = encode(tmp_path / "full.mkv", [(jfk[0], 48000)], "libopus")
    cut = tmp_path / "cut.mkv"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    _, (t,), flags = _load(cut)
    assert 0 < t.duration_s < jfk[0].shape[1] / 48000
    # cut at a packet boundary: no decoding error, but the container declares twice the length
    assert flags == ["shorter_than_declared_track_0"]
    _, _, flags = _load(full)
    assert flags == []


def test_long_track_goes_to_unlinked_scratch_space_with_the_same_samples(tmp_path, jfk):
    """Past ``spill_native_bytes`` the native-rate track is decoded into a scratch file and
    memory-mapped: the samples are the same as in memory, the 16-kHz audio too, and the
    scratch folder shows no file even while the track is in use (nothing left after a crash).
    A truncated stream keeps what decoded the same way."""
    src = SPEECH / "jfk_en.flac"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    small = IngestConfig(spill_native_bytes=200_000, scratch_dir=str(scratch))
    _, (in_memory,), _ = ingest.load(_media(src), CFG)
    _, (spilled,), _ = ingest.load(_media(src), small)
    assert isinstance(spilled.audio_native, np.memmap) and not isinstance(in_memory.audio_native, np.memmap)
    assert spilled.audio_native.shape == in_memory.audio_native.shape == jfk[0].shape
    assert np.array_equal(spilled.audio_native, in_memory.audio_native)
    assert np.array_equal(spilled.audio_16k, in_memory.audio_16k)
    assert list(scratch.iterdir()) == []
    assert events.detect(spilled, EventsConfig()) == events.detect(in_memory, EventsConfig())

    full = encode(tmp_path / "full.mkv", [(jfk[0], 48000)], "libopus")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    try:
        _, (t,), flags = ingest.load(_media(cut), small)
    except CorruptMedia:
        return
    assert isinstance(t.audio_native, np.memmap) and 0 < t.duration_s < jfk[0].shape[1] / 48000


def test_scratch_space_that_cannot_be_written_is_a_clear_error(tmp_path):
    cfg = IngestConfig(spill_native_bytes=200_000, scratch_dir=str(tmp_path / "missing"))
    with pytest.raises(OutputError, match="scratch.*missing.*ingest.scratch_dir"):
        ingest.load(_media(SPEECH / "jfk_en.flac"), cfg)


def test_file_over_the_size_limit_is_skipped_with_the_reason(tmp_path):
    p = tmp_path / "big.wav"
    p.write_bytes(b"x" * 2048)
    with pytest.raises(FileTooLarge, match="max_file_bytes"):
        ingest.check_size(_media(p), IngestConfig(max_file_bytes=1024))


def test_sha256_is_streamed_and_matches_hashlib(tmp_path):
    p = tmp_path / "blob.bin"
    p.write_bytes(os.urandom(3 * files.HASH_CHUNK_BYTES + 17))
    assert ingest.sha256_file(str(p)) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_walk_finds_media_recursively_and_lists_the_rest(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "clip.WAV").write_bytes(b"RIFF")
    (tmp_path / "notes.txt").write_text("not media")
    outside = tmp_path.parent / f"{tmp_path.name}_outside.wav"
    outside.write_bytes(b"RIFF")
    (tmp_path / "link.wav").symlink_to(outside)
    (tmp_path / "linkdir").symlink_to(tmp_path.parent)
    found, skipped = ingest.walk(tmp_path, CFG)
    assert [m.path for m in found] == ["a/b/clip.WAV"]
    reasons = {s.path: s.reason for s in skipped}
    assert reasons["notes.txt"] == "not a media file extension"
    assert "outside the evidence folder" in reasons["link.wav"]
    assert "not followed" in reasons["linkdir"]


def test_non_utf8_and_very_long_names_are_found_and_printable(tmp_path):
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9_" + b"x" * 200 + b".wav"
    with open(raw, "wb") as f:
        f.write(b"RIFF")
    found, _ = ingest.walk(tmp_path, CFG)
    (m,) = found
    assert "\\xe9" in m.path
    m.path.encode("utf-8")  # printable: always writable to JSON/CSV
    assert os.path.exists(m.abs_path)


# What a file is, said before anything is decided about it (ingest.container): the content's
# format against its name, a WAV's declared length against what it holds, bytes after the end.

def _wav_of(tmp_path, audio_rate, name="speech.wav", seconds=None):
    import soundfile as sf

    audio, rate = audio_rate
    if seconds is not None:
        audio = audio[:, : int(seconds * rate)]
    path = tmp_path / name
    sf.write(str(path), audio.T, rate, subtype="PCM_16", format="WAV")
    return path


def test_a_wav_cut_short_is_flagged_shorter_than_declared(tmp_path, de):
    """The real German recording as a 5.3-s WAV, cut to 1.9 s of bytes: the header still
    declares 5.3 s. FFmpeg decodes the 1.9 s without a word; the Files sheet says so."""
    full = _wav_of(tmp_path, de, seconds=5.3)
    _, _, flags = _load(full)
    assert flags == []
    cut = tmp_path / "cut.wav"
    audio, rate = de
    cut.write_bytes(full.read_bytes()[: 44 + int(1.9 * rate) * 2 * audio.shape[0]])
    _, (t,), flags = _load(cut)
    assert abs(t.duration_s - 1.9) < 0.01
    assert flags == ["shorter_than_declared_track_0"]


def test_a_wav_named_mp4_is_analysed_and_flagged_with_the_format_found(tmp_path, de):
    path = _wav_of(tmp_path, de, name="video.mp4", seconds=5.0)
    _, (t,), flags = _load(path)
    assert abs(t.duration_s - 5.0) < 0.01 and flags == ["content_not_extension_wav"]
    # a name without a known extension says nothing to disagree with
    other = tmp_path / "evidence_0001"
    other.write_bytes(path.read_bytes())
    assert _load(other)[2] == []


@pytest.mark.parametrize("name,codec", [("clip.mp4", "aac"), ("clip.mkv", "libopus"), ("clip.wav", None)])
def test_bytes_after_the_end_of_the_container_are_flagged(tmp_path, jfk, name, codec):
    """The real JFK speech in an MP4, a Matroska file and a WAV, then 5,000 bytes appended
    (another file's start, here random): ``trailing_bytes``; the same files whole: no flag."""
    audio, rate = jfk
    if codec is None:
        path = _wav_of(tmp_path, jfk, name=name)
    else:
        frame = {"aac": 1024, "libopus": 960}[codec]
        path = encode(tmp_path / name, [(audio[:, : audio.shape[1] // frame * frame], 48000 if codec == "libopus" else rate)],
                      codec)
    assert _load(path)[2] == []
    joined = tmp_path / f"joined_{name}"
    joined.write_bytes(path.read_bytes() + np.random.default_rng(0).bytes(5000))
    _, (t,), flags = _load(joined)
    assert "trailing_bytes" in flags and t.duration_s > 10, flags
