"""Which container an upload is, from its first bytes alone (never from the client's file name).

Only plain audio containers are accepted. Anything that can make a decoder open other files or
URLs (m3u/m3u8/HLS playlists, ffconcat scripts, SDP, DASH manifests…) is refused here, before any
decoder sees the bytes: none of them starts with the magic bytes of an accepted container.

=============  ===================================  ==============  ==================
container      magic bytes                          first decoder   ffmpeg demuxer
=============  ===================================  ==============  ==================
wav            ``RIFF`` ....``WAVE``                soundfile       ``wav``
rf64           ``RF64``/``BW64`` ....``WAVE``       soundfile       ``wav``
w64            ``riff`` + Sony Wave64 GUID          soundfile       ``w64``
aiff           ``FORM`` ....``AIFF``/``AIFC``       soundfile       ``aiff``
au             ``.snd``                             soundfile       ``au``
caf            ``caff``                             soundfile       ``caf``
flac           ``fLaC`` (after any ID3v2 tag)       soundfile       ``flac``
ogg            ``OggS`` (vorbis, opus, flac)        soundfile       ``ogg``
mp3            MPEG-1/2/2.5 layer I-III frame sync  soundfile       ``mp3``
               (after any ID3v2 tag and NUL pad)
mp4            ``ftyp`` at byte 4 (m4a, mp4, 3gp)   ffmpeg          ``mov``
aac            ADTS frame sync (layer bits 00)      ffmpeg          ``aac``
matroska       EBML ``1A 45 DF A3`` (webm, mka)     ffmpeg          ``matroska``
=============  ===================================  ==============  ==================
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["Container", "CONTAINERS", "SUPPORTED", "sniff", "describe", "declared_frames",
           "ogg_is_complete", "mp3_declares_length"]

_W64_GUID = bytes.fromhex("726966662e91cf11a5d628db04c10000")


@dataclass(frozen=True)
class Container:
    """An accepted container: its name, the libsndfile major formats it may open as (empty: go
    straight to ffmpeg) and the one ffmpeg demuxer allowed for it."""

    name: str
    soundfile_formats: tuple[str, ...]
    demuxer: str


CONTAINERS = {c.name: c for c in (
    Container("wav", ("WAV", "WAVEX"), "wav"),
    Container("rf64", ("RF64", "WAV", "WAVEX"), "wav"),
    Container("w64", ("W64",), "w64"),
    Container("aiff", ("AIFF",), "aiff"),
    Container("au", ("AU",), "au"),
    Container("caf", ("CAF",), "caf"),
    Container("flac", ("FLAC",), "flac"),
    Container("ogg", ("OGG",), "ogg"),
    Container("mp3", ("MP3",), "mp3"),
    Container("mp4", (), "mov"),
    Container("aac", (), "aac"),
    Container("matroska", (), "matroska"),
)}

#: for error messages
SUPPORTED = "wav, flac, ogg, opus, mp3, m4a, aac, webm, aiff, au, caf"


def _id3v2_size(data: bytes) -> int:
    """Bytes taken by an ID3v2 tag at the start of ``data`` (0 when there is none)."""
    if len(data) < 10 or data[:3] != b"ID3" or data[3] == 0xFF or data[4] == 0xFF:
        return 0
    size_bytes = data[6:10]
    if any(b & 0x80 for b in size_bytes):
        return 0
    size = 0
    for b in size_bytes:
        size = (size << 7) | b
    return 10 + size + (10 if data[5] & 0x10 else 0)


def _mpeg_audio(h: bytes) -> str | None:
    """``"mp3"`` for an MPEG audio frame header, ``"aac"`` for an ADTS header, else None."""
    if len(h) < 4 or h[0] != 0xFF or (h[1] & 0xE0) != 0xE0:
        return None
    version, layer = (h[1] >> 3) & 3, (h[1] >> 1) & 3
    if layer == 0:  # ADTS: 12-bit sync, MPEG-2/4 id bit, layer always 00
        return "aac" if (h[1] & 0xF0) == 0xF0 and ((h[2] >> 2) & 0xF) < 13 else None
    bitrate, rate = h[2] >> 4, (h[2] >> 2) & 3
    if version == 1 or bitrate == 15 or rate == 3:
        return None
    return "mp3"


def sniff(data: bytes) -> Container | None:
    """The accepted container ``data`` is, or None.

    Parameters
    ----------
    data : bytes
        The upload (only the first kilobytes are looked at, plus any ID3v2 tag).
    """
    head = data[:16]
    if len(head) < 4:
        return None
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and data[8:12] == b"WAVE":
        return CONTAINERS["wav" if head[:4] == b"RIFF" else "rf64"]
    if head == _W64_GUID:
        return CONTAINERS["w64"]
    if head[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        return CONTAINERS["aiff"]
    if head[:4] == b".snd":
        return CONTAINERS["au"]
    if head[:4] == b"caff":
        return CONTAINERS["caf"]
    if head[:4] == b"OggS":
        return CONTAINERS["ogg"]
    if data[4:8] == b"ftyp":
        return CONTAINERS["mp4"]
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return CONTAINERS["matroska"]
    offset = 0
    while (n := _id3v2_size(data[offset:])) and offset < 1 << 24:  # ID3 tags may be stacked
        offset += n
    if offset:
        pad = len(data[offset:offset + 4096]) - len(data[offset:offset + 4096].lstrip(b"\0"))
        offset += pad
    body = data[offset:offset + 4]
    if body == b"fLaC":
        return CONTAINERS["flac"]
    kind = _mpeg_audio(body)
    return CONTAINERS[kind] if kind else None


def describe(data: bytes) -> str:
    """A few words on what a refused upload looks like, for the error message."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    low = head[:64].lower()
    if low.startswith(b"#extm3u") or b"#ext-x-" in head.lower():
        return "an m3u/HLS playlist"
    if low.startswith(b"ffconcat"):
        return "an ffconcat script"
    if low.startswith(b"v=0"):
        return "an SDP session description"
    if low.startswith((b"<?xml", b"<mpd", b"<!doctype", b"<html")):
        return "an XML/HTML document"
    if low.startswith((b"[playlist]", b"#extinf", b"file ", b"http:", b"https:", b"/")):
        return "a playlist or a list of file names"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data of an unknown format"
    return "text"


def declared_frames(data: bytes, container: Container) -> tuple[int, int] | None:
    """(frames, sample rate) that a WAV header declares in its ``data`` chunk, even when the file
    holds fewer (libsndfile quietly shortens its own count to the file's length); None when the
    header declares no length (streaming writers put 0 or 0xFFFFFFFF) or for other containers."""
    if container.name != "wav":
        return None
    pos, rate, align = 12, 0, 0
    while pos + 8 <= min(len(data), 1 << 20):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"fmt " and size >= 16 and pos + 24 <= len(data):
            rate = struct.unpack("<I", data[pos + 12:pos + 16])[0]
            align = struct.unpack("<H", data[pos + 20:pos + 22])[0]
        elif cid == b"data":
            if not rate or not align or size in (0, 0xFFFFFFFF):
                return None
            return size // align, rate
        pos += 8 + size + (size & 1)
    return None


def ogg_is_complete(data: bytes) -> bool:
    """Whether the last Ogg page carries the end-of-stream flag: a cut Ogg file gives a shorter
    length in its own last page, so this flag is the only sign it was cut."""
    i = data.rfind(b"OggS", max(0, len(data) - 65536 - 27))
    return i >= 0 and len(data) >= i + 6 and bool(data[i + 5] & 0x04)


def mp3_declares_length(data: bytes) -> bool:
    """Whether an MP3 carries a Xing/Info/VBRI frame count. Without one libsndfile estimates the
    length from the first frame's bitrate, which is no evidence of truncation."""
    offset = 0
    while (n := _id3v2_size(data[offset:])) and offset < 1 << 24:
        offset += n
    head = data[offset:offset + 4096]
    return any(tag in head for tag in (b"Xing", b"Info", b"VBRI"))
