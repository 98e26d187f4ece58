"""What decoding needs below :mod:`songlens.content.audio_io`: the container sniffer and the two
block readers (libsndfile in-process, ffmpeg locked to one demuxer and one file)."""

from songlens.content.decoding.readers import (
    BlockReader,
    FfmpegReader,
    ReaderError,
    SoundfileReader,
)
from songlens.content.decoding.sniff import (
    CONTAINERS,
    SUPPORTED,
    Container,
    declared_frames,
    describe,
    mp3_declares_length,
    ogg_is_complete,
    sniff,
)

__all__ = ["BlockReader", "FfmpegReader", "ReaderError", "SoundfileReader", "CONTAINERS",
           "SUPPORTED", "Container", "declared_frames", "describe", "mp3_declares_length",
           "ogg_is_complete", "sniff"]
