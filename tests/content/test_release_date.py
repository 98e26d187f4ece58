"""Release dates: checked forms, UTC periods, the moment a song counts as released, and the
dates files carry in their tags (ID3 TDRL/TDRC, Vorbis and FLAC DATE, MP4 ©day)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date

import mutagen
import numpy as np
import pytest
import soundfile as sf
from mutagen.id3 import ID3, TDRC, TDRL, TIT2

from songlens.content.metadata import parse_metadata, read_file_metadata
from songlens.content.release_date import parse_release_date, release_period, released_at
from songlens.errors import InvalidMetadata

TODAY = date(2026, 11, 30)
DAY = 86_400.0
JAN_2024 = 1_704_067_200.0  # 2024-01-01T00:00:00Z


@pytest.mark.parametrize("given, stored", [
    ("2024", "2024"), ("2024-05", "2024-05"), ("2024-5", "2024-05"), ("2024-05-17", "2024-05-17"),
    (" 2024-05-17 ", "2024-05-17"), ("2024-05-17T12:30:00Z", "2024-05-17"),
    ("2024-05-17 12:30:00", "2024-05-17"), ("2028-02-29", "2028-02-29"),
])
def test_accepted_forms(given, stored):
    assert parse_release_date(given, today=TODAY) == stored


@pytest.mark.parametrize("given, match", [
    ("yesterday", "not a date"), ("17/05/2024", "not a date"), ("2024-13", "calendar"),
    ("2023-02-29", "calendar"), ("0999", "between 1000"), ("2029-01-01", "between 1000 and 2028"),
    ("2024-05T12:00", "not a date"), ("", "not a date"),
])
def test_refused_forms_say_why(given, match):
    with pytest.raises(ValueError, match=match):
        parse_release_date(given, today=TODAY)


def test_a_bad_date_in_metadata_is_invalid_metadata_naming_the_field():
    with pytest.raises(InvalidMetadata, match=r"release_date: .*'2024-02-30'") as exc:
        parse_metadata({"title": "x", "release_date": "2024-02-30"})
    assert exc.value.details["fields"] == ["release_date"]
    with pytest.raises(InvalidMetadata, match="on_existing"):
        parse_metadata({"title": "x", "on_existing": "merge"})
    meta = parse_metadata({"title": "x", "release_date": "2024-02-29T00:00:00",
                           "on_existing": "keep"})
    assert (meta.release_date, meta.on_existing) == ("2024-02-29", "keep")
    assert parse_metadata({"title": "x"}).on_existing == "update"


def test_periods_are_utc_and_end_exclusive():
    assert release_period("2024") == (JAN_2024, JAN_2024 + 366 * DAY)  # a leap year
    assert release_period("2024-02") == (JAN_2024 + 31 * DAY, JAN_2024 + 60 * DAY)
    assert release_period("2024-12") == (JAN_2024 + 335 * DAY, JAN_2024 + 366 * DAY)
    assert release_period("2024-01-02") == (JAN_2024 + DAY, JAN_2024 + 2 * DAY)


def test_released_at_reads_the_date_against_ingestion():
    ingested = JAN_2024 + 100.5 * DAY  # 2024-04-10 12:00
    assert released_at(None, ingested) == ingested          # unknown: when it arrived
    assert released_at(None, None) is None
    assert released_at("2024", ingested) == ingested        # within the period: ingestion
    assert released_at("2024-04-10", ingested) == ingested
    assert released_at("1998-03", ingested) == release_period("1998-03")[1] - 1  # back catalogue
    assert released_at("2024-06-01", ingested) == release_period("2024-06-01")[0]  # pre-release
    assert released_at("2024-06-01", None) == release_period("2024-06-01")[0]


@pytest.fixture
def tone(tmp_path):
    y = 0.1 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)

    def write(name: str, fmt: str) -> str:
        p = tmp_path / name
        sf.write(p, y, 16000, format=fmt)
        return str(p)

    return write


def test_dates_from_vorbis_and_flac_tags(tone):
    for name, fmt in (("a.ogg", "OGG"), ("a.flac", "FLAC")):
        path = tone(name, fmt)
        f = mutagen.File(path)
        f["TITLE"], f["DATE"] = "Song", "2019-07-04"
        f.save()
        assert read_file_metadata(path)["release_date"] == "2019-07-04"
        f["DATE"] = "sometime in 2019"  # not a date: dropped, the file still ingests
        f.save()
        meta = read_file_metadata(path)
        assert "release_date" not in meta and meta["title"] == "Song"


def test_id3_release_time_wins_over_recording_time(tone):
    path = tone("a.wav", "WAV")
    f = mutagen.File(path)
    f.add_tags()
    f.tags.add(TIT2(encoding=3, text="Song"))
    f.tags.add(TDRC(encoding=3, text="2001-02-03T10:00"))
    f.save()
    assert read_file_metadata(path)["release_date"] == "2001-02-03"
    f = mutagen.File(path)
    f.tags.add(TDRL(encoding=3, text="2002"))
    f.save()
    assert isinstance(mutagen.File(path).tags, ID3)
    assert read_file_metadata(path)["release_date"] == "2002"


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg makes the MP4 file")
def test_mp4_day_atom(tone, tmp_path):
    src = tone("a.wav", "WAV")
    dst = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", src, "-c:a", "aac", str(dst)],
                   check=True, timeout=60)
    f = mutagen.File(dst)
    f["\xa9nam"], f["\xa9day"] = ["Song"], ["2011-11-11T08:00:00Z"]
    f.save()
    assert read_file_metadata(dst)["release_date"] == "2011-11-11"
