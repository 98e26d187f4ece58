"""Hostile uploads: playlists that name server files, small files that declare gigabytes of
audio, cut and corrupt files, and file names built to leak into error messages."""

from __future__ import annotations

import io
import struct
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf

from songlens.content import audio_io
from songlens.content.audio_io import decode_audio, safe_name
from songlens.content.decoding import CONTAINERS, FfmpegReader, ReaderError, sniff
from songlens.errors import (
    AudioTooLarge,
    AudioTooLong,
    DecodeTimeout,
    SonglensError,
    UnsupportedAudio,
)


@pytest.fixture(scope="module")
def clip(music_clips) -> tuple[np.ndarray, int]:
    """A real 10 s recording (22.05 kHz mono)."""
    y, sr = sf.read(io.BytesIO(music_clips["chaos_god"]), dtype="float32")
    return y, sr


def _encode(y: np.ndarray, sr: int, fmt: str, **kw: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def local_wav(tmp_path, clip) -> str:
    path = tmp_path / "secret.wav"
    sf.write(path, clip[0], clip[1])
    return str(path)


@pytest.fixture
def no_decoder(monkeypatch):
    """Fail the test if any decoder is started (libsndfile or a subprocess)."""
    def boom(*a, **k):
        raise AssertionError("a decoder was started")

    monkeypatch.setattr(audio_io, "SoundfileReader", boom)
    monkeypatch.setattr(audio_io, "FfmpegReader", boom)
    monkeypatch.setattr(subprocess, "Popen", boom)


def _playlists(path: str) -> dict[str, bytes]:
    return {
        "hls": (f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{path}\n"
                "#EXT-X-ENDLIST\n").encode(),
        "m3u": f"#EXTM3U\n#EXTINF:10,secret\n{path}\n".encode(),
        "ffconcat": f"ffconcat version 1.0\nfile '{path}'\n".encode(),
        "sdp": b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nm=audio 5004 RTP/AVP 0\n",
        "id3 then playlist": b"ID3\x04\x00\x00\x00\x00\x00\x00" + f"#EXTM3U\n{path}\n".encode(),
        "text": "这不是音频 just some text\n".encode() * 50,
    }


@pytest.mark.parametrize("kind", ["hls", "m3u", "ffconcat", "sdp", "id3 then playlist", "text"])
@pytest.mark.parametrize("filename", ["song.mp3", "list.m3u8", ""])
def test_playlists_and_text_are_refused_before_any_decoder(local_wav, no_decoder, kind,
                                                           filename):
    data = _playlists(local_wav)[kind]
    with pytest.raises(UnsupportedAudio, match=r"is not an audio file \(looks like") as err:
        decode_audio(data, filename=filename)
    assert err.value.code == "unsupported_audio" and err.value.status == 415
    assert "secret" not in err.value.message


@pytest.mark.parametrize("container", sorted(CONTAINERS))
@pytest.mark.parametrize("kind", ["hls", "ffconcat"])
def test_ffmpeg_is_locked_to_the_sniffed_demuxer(local_wav, container, kind):
    """Even if the sniffer were fooled, ffmpeg runs one demuxer on one file: no playlist."""
    data = _playlists(local_wav)[kind]
    try:
        reader = FfmpegReader(data, CONTAINERS[container], deadline=time.monotonic() + 60,
                               max_seconds=60)
    except ReaderError:
        return
    with reader:
        got = sum(b.shape[0] for b in reader.blocks(4096))
    assert got < reader.sr * 0.5  # the secret file is 10 s long


def test_sniffing_names_every_accepted_container(clip, tmp_path):
    y, sr = clip
    cases = {"wav": _encode(y, sr, "WAV"), "rf64": _encode(y, sr, "RF64"),
             "w64": _encode(y, sr, "W64"), "aiff": _encode(y, sr, "AIFF"),
             "au": _encode(y, sr, "AU"), "caf": _encode(y, sr, "CAF"),
             "flac": _encode(y, sr, "FLAC"), "ogg": _encode(y, sr, "OGG", subtype="VORBIS"),
             "mp3": _encode(y, sr, "MP3")}
    src = tmp_path / "in.wav"
    sf.write(src, y, sr)
    for name, suffix in (("mp4", ".m4a"), ("aac", ".aac"), ("matroska", ".webm")):
        dst = tmp_path / f"out{suffix}"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), str(dst)], check=True)
        cases[name] = dst.read_bytes()
    # an ID3v2 tag in front of an mp3
    tag = b"ID3\x03\x00\x00" + bytes([0, 0, 0, 20]) + b"\x00" * 20
    cases["mp3 with id3"] = tag + cases["mp3"]
    for name, data in cases.items():
        c = sniff(data)
        assert c is not None and c.name == name.split()[0], name
        a = decode_audio(data)
        assert a.container == c.name and a.duration_s == pytest.approx(10.0, abs=0.1), name
        assert a.warnings == (), name
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST") is None
    assert sniff(b"\xff\xff\xff\xff") is None


def test_decoding_in_blocks_gives_the_same_samples_as_whole_file_decoding(clip):
    import librosa

    y, sr = clip
    for rate, ch in ((44100, 2), (96000, 6), (22050, 1), (16000, 2), (8000, 8)):
        src = librosa.resample(y, orig_sr=sr, target_sr=rate)
        src = np.stack([src * (0.4 + 0.1 * i) for i in range(ch)], axis=1)
        data = _encode(src, rate, "FLAC")
        whole, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        mono = np.mean(whole.T, axis=0) if ch > 1 else whole[:, 0]
        if rate != 16000:
            mono = librosa.resample(mono, orig_sr=rate, target_sr=16000, res_type="soxr_hq")
        expected = np.clip(mono.astype(np.float32), -1, 1)
        got = decode_audio(data).y
        assert got.shape == expected.shape and np.array_equal(got, expected), (rate, ch)


def _near_silent_flac(path, *, seconds: int, sr: int, ch: int, length_known: bool = True,
                      every: int = 97):
    block = np.zeros((sr, ch), dtype=np.int16)
    block[::every] = 3
    with sf.SoundFile(path, "w", samplerate=sr, channels=ch, format="FLAC") as f:
        for _ in range(seconds):
            f.write(block)
    data = bytearray(path.read_bytes())
    if not length_known:  # STREAMINFO total_samples = 0: "unknown", as streaming encoders write
        data[8 + 13] &= 0xF0
        data[8 + 14:8 + 18] = b"\0\0\0\0"
    return bytes(data)


def test_a_small_file_declaring_too_many_samples_is_refused_from_its_header(tmp_path,
                                                                            monkeypatch):
    data = _near_silent_flac(tmp_path / "bomb.flac", seconds=60, sr=96000, ch=8, every=96000)
    assert len(data) < 400_000  # 46 M samples (184 MB as float32) in under 400 kB
    monkeypatch.setattr(audio_io.SoundfileReader, "blocks",
                        lambda *a: (_ for _ in ()).throw(AssertionError("decoded")))
    with pytest.raises(AudioTooLarge, match=r"46,080,000 samples .*60 s × 8 channels × 96000 Hz"
                                            r"\); the limit is 10,000,000") as err:
        decode_audio(data, max_decoded_samples=10_000_000)
    assert err.value.code == "audio_too_large" and err.value.status == 413
    # the default limit is max_duration_s × stereo 96 kHz
    with pytest.raises(AudioTooLarge):
        decode_audio(data, max_duration_s=60)


def test_limits_hold_while_decoding_a_stream_with_no_declared_length(tmp_path):
    data = _near_silent_flac(tmp_path / "nolen.flac", seconds=30, sr=48000, ch=2,
                             length_known=False)
    with sf.SoundFile(io.BytesIO(data)) as f:
        assert not 0 < f.frames < 1 << 62  # libsndfile does not know the length
    with pytest.raises(AudioTooLarge):
        decode_audio(data, max_decoded_samples=1_000_000, reject_silence=False)
    with pytest.raises(AudioTooLong, match="over 10 s long"):
        decode_audio(data, max_duration_s=10, reject_silence=False)
    a = decode_audio(data, reject_silence=False)
    # libsndfile fails on the last read of a FLAC of unknown length: up to 1/4 s is lost
    assert 29.7 <= a.duration_s <= 30.0 and a.header_duration_s is None


def test_a_decode_past_its_time_budget_is_a_clean_503(clip, tmp_path):
    y, sr = clip
    with pytest.raises(DecodeTimeout, match="took too long") as err:
        decode_audio(_encode(y, sr, "FLAC"), timeout_s=1e-9)
    assert err.value.code == "decode_timeout" and err.value.status == 503
    src = tmp_path / "in.wav"
    sf.write(src, y, sr)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), str(tmp_path / "a.m4a")],
                   check=True)
    with pytest.raises(DecodeTimeout):
        decode_audio((tmp_path / "a.m4a").read_bytes(), timeout_s=1e-9)


@pytest.mark.parametrize("fmt", ["FLAC", "MP3"])
def test_a_cut_file_is_kept_with_a_warning_or_refused_when_mostly_missing(clip, fmt):
    y, sr = clip
    data = _encode(y, sr, fmt)
    a = decode_audio(data[: len(data) * 7 // 10])
    assert a.header_duration_s == pytest.approx(10.0, abs=0.05)
    assert 5.0 < a.duration_s < 7.5
    assert a.warnings and a.warnings[0].startswith("truncated: the header says 10.0 s, ")
    cut = data[: len(data) // 5]
    with pytest.raises(UnsupportedAudio, match=r"truncated or corrupt: its header declares 10.0 s "
                                               r"but only \d\.\d s \(\d+ %\) could be decoded"):
        decode_audio(cut)
    kept = decode_audio(cut, min_decoded_fraction=0)
    assert kept.duration_s < 3 and "truncated" in kept.warnings[0]


def test_a_cut_ogg_file_is_flagged_by_its_missing_end_of_stream_mark(clip):
    y, sr = clip
    data = _encode(y, sr, "OGG", subtype="VORBIS")
    assert decode_audio(data).warnings == ()
    a = decode_audio(data[: len(data) * 6 // 10])
    assert 4 < a.duration_s < 7
    assert a.warnings == (f"truncated: the Ogg stream has no end mark, {a.duration_s:.1f} s "
                          "decoded",)


def test_garbage_in_the_middle_of_a_flac_is_said(clip):
    y, sr = clip
    data = _encode(y, sr, "FLAC")
    junk = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    at = len(data) * 7 // 10
    bad = data[:at] + junk + data[at + len(junk):]
    with pytest.raises(UnsupportedAudio, match="truncated or corrupt: its header declares 10.0 s"):
        decode_audio(bad)  # libFLAC loses sync at the junk: only the first 4-7 s come out
    a = decode_audio(bad, min_decoded_fraction=0)
    assert a.duration_s < 9.5 and a.warnings[0].startswith("truncated: the header says 10.0 s")
    assert any(w.startswith("corrupt: the decoder stopped") for w in a.warnings)


def test_a_wav_whose_header_claims_two_hours_but_holds_one_second(clip):
    y, sr = clip
    data = bytearray(_encode(y[:sr], sr, "WAV", subtype="PCM_16"))
    i = data.find(b"data")
    data[i + 4:i + 8] = struct.pack("<I", 7200 * sr * 2)
    with pytest.raises(UnsupportedAudio, match="declares 7200.0 s but only 1.0 s"):
        decode_audio(bytes(data), min_duration_s=0.5)
    a = decode_audio(bytes(data), min_duration_s=0.5, min_decoded_fraction=0)
    assert a.header_duration_s == pytest.approx(7200.0)
    assert a.warnings == ("truncated: the header says 7200.0 s, 1.0 s decoded",)


HOSTILE_NAME = ("../../etc/" + "a" * 120 + "\x01\x1b[31m<script>alert(1)</script>\\x" + "b" * 150
                + ".mp3")


def _uploads(clip) -> dict[str, bytes]:
    y, sr = clip
    flac = _encode(y, sr, "FLAC")
    return {"text": b"not audio at all " * 40, "header only": flac[:200],
            "wav with garbage": b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 20,
            "mp4 with garbage": b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 400,
            "cut": flac[: len(flac) // 5], "silent": _encode(np.zeros(sr * 3), sr, "WAV")}


@pytest.mark.parametrize("case", ["text", "header only", "wav with garbage", "mp4 with garbage",
                                  "cut", "silent"])
def test_error_messages_leak_no_paths_reprs_or_client_names(clip, case):
    assert len(HOSTILE_NAME) > 300
    with pytest.raises(SonglensError) as err:
        decode_audio(_uploads(clip)[case], filename=HOSTILE_NAME)
    shown = err.value.message + repr(err.value.details)
    for leak in ("<script>", "/tmp", "/etc", "0x", "<_io", "object at", "Traceback", "aaaaaaaa",
                 "\x1b", "\\", "/"):
        assert leak not in shown, (leak, shown)
    assert shown.startswith("'xbbbbbbb") and "b…'" in shown  # the name, cut to 80 characters


def test_safe_name_keeps_a_short_printable_last_component():
    name = safe_name(HOSTILE_NAME)
    assert len(name) <= 80 and name.isprintable()
    assert "/" not in name and "\\" not in name and name.endswith("…")
    assert safe_name("dir/My Song.mp3") == "My Song.mp3"
    assert safe_name("<img src=x onerror=alert(1)>.mp3") == "img src=x onerror=alert(1).mp3"


def test_an_implausible_rate_is_refused_before_a_block_is_allocated(tmp_path):
    """A 2 MB Matroska file can declare 1 GHz; a 4-s block at that rate would be 16 GB."""
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"\x00\x01" * 20_000)
    out = tmp_path / "big.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "s16le", "-ar", "1000000000",
                    "-ac", "2", "-i", str(raw), "-c:a", "pcm_s16le", str(out)], check=True)
    with pytest.raises(UnsupportedAudio, match="declares 1000000000 Hz and 2 channels"):
        decode_audio(out.read_bytes(), filename="big.mkv")
