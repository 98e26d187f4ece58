"""Kept audio: content-addressed, atomic files under <data_dir>/audio, served with HTTP range
requests by GET /v1/songs/{id}/audio; real uploads through the real API and store."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

from songlens.api.app import create_app
from songlens.catalog.audio_files import AudioFiles, AudioRef
from songlens.catalog.demo import ingest_demo
from songlens.catalog.pipeline import Catalog
from songlens.store import Point, open_store
from tests.conftest import local_client


@pytest.fixture(scope="module")
def client(catalog):
    with local_client(create_app(catalog.settings, catalog=catalog)) as c:
        yield c


def post(client, audio: bytes, song_id: str, filename: str = "x.ogg"):
    meta = json.dumps({"song_id": song_id, "title": song_id, "artist": "a"})
    r = client.post("/v1/songs", files={"audio": (filename, audio, "audio/ogg")},
                    data={"metadata": meta})
    assert r.status_code == 201, r.text
    return r.json()


def kept_files(catalog) -> list:
    root = catalog.settings.data_path / "audio"
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_upload_is_kept_content_addressed_and_served_whole(client, catalog, music_clips):
    data = music_clips["chaos_god"]
    doc = post(client, data, "kept-1")
    assert doc["audio_url"] == "/v1/songs/kept-1/audio"
    assert client.get("/v1/songs/kept-1").json()["audio_url"] == doc["audio_url"]
    sha = hashlib.sha256(data).hexdigest()
    path = catalog.settings.data_path / "audio" / sha[:2] / f"{sha}.ogg"
    assert path.read_bytes() == data
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left
    r = client.get(doc["audio_url"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/ogg"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.content == data


def test_range_requests_return_the_slice(client, catalog, music_clips):
    data = music_clips["chaos_god"]
    post(client, data, "kept-1")
    size = len(data)
    for header, (start, end) in {"bytes=100-199": (100, 200), "bytes=-50": (size - 50, size),
                                 f"bytes={size - 10}-": (size - 10, size),
                                 f"bytes=0-{size + 999}": (0, size)}.items():
        r = client.get("/v1/songs/kept-1/audio", headers={"Range": header})
        assert r.status_code == 206, (header, r.text[:200])
        assert r.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
        assert int(r.headers["content-length"]) == end - start
        assert r.content == data[start:end]


def test_bad_ranges_are_json_errors(client, music_clips):
    size = len(music_clips["chaos_god"])
    post(client, music_clips["chaos_god"], "kept-1")
    r = client.get("/v1/songs/kept-1/audio", headers={"Range": f"bytes={size}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{size}"
    assert r.json()["error"]["code"] == "range_not_satisfiable"
    r = client.get("/v1/songs/kept-1/audio", headers={"Range": "lines=1-2"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_range"


def test_missing_audio_is_404_json(client):
    for url in ("/v1/songs/no-such-song/audio", "/v1/songs/..%2F..%2Fetc%2Fpasswd/audio",
                "/v1/songs/%2E%2E/audio"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert r.json()["error"]["code"] == "not_found"


def test_a_forged_payload_cannot_name_a_file_outside_the_folder(client, catalog, music_clips):
    post(client, music_clips["feelings"], "forged")
    hit = catalog.store.get(catalog.spec, ["forged"], with_vectors=list(catalog.spec.dense))[0]
    for bad in ({"sha256": "../../../../etc/passwd", "ext": "ogg", "size": 1},
                {"sha256": "a" * 64, "ext": "ogg/../../x", "size": 1},
                {"sha256": "A" * 64, "ext": "ogg", "size": 1}, "/etc/passwd"):
        payload = hit.payload | {"audio_file": bad}
        catalog.store.upsert(catalog.spec, [Point(key="forged", vectors=hit.vectors,
                                                  payload=payload)])
        r = client.get("/v1/songs/forged/audio")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", bad
    with pytest.raises(ValueError, match="not a kept-audio reference"):
        AudioFiles(catalog.settings.data_path / "audio").path(AudioRef("../x", "ogg", 1))
    client.delete("/v1/songs/forged")


def test_same_bytes_are_kept_once_and_deleted_with_their_last_song(client, catalog,
                                                                   music_clips):
    data = music_clips["armygeddon"]
    sha = hashlib.sha256(data).hexdigest()
    path = catalog.settings.data_path / "audio" / sha[:2] / f"{sha}.ogg"
    post(client, data, "same-a")
    before = path.stat()
    # the same bytes again (same song id): nothing is rewritten
    post(client, data, "same-a")
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns
    assert AudioFiles(path.parents[1]).put(data, "ogg") == (AudioRef(sha, "ogg", len(data)),
                                                            False)
    # the same audio under another id replaces the first song; the file stays, once
    post(client, data, "same-b")
    assert client.get("/v1/songs/same-a").status_code == 404
    assert kept_files(catalog).count(path.relative_to(path.parents[1])) == 1
    assert client.get("/v1/songs/same-b/audio").content == data
    assert client.delete("/v1/songs/same-b").status_code == 204
    assert not path.exists()


def test_replacing_a_songs_audio_deletes_the_old_file(client, catalog, music_clips):
    old = hashlib.sha256(music_clips["feelings"]).hexdigest()
    post(client, music_clips["feelings"], "swap")
    assert any(p.name.startswith(old) for p in kept_files(catalog))
    post(client, music_clips["armygeddon"], "swap")
    assert not any(p.name.startswith(old) for p in kept_files(catalog))
    client.delete("/v1/songs/swap")


@pytest.fixture(scope="module")
def no_keep_catalog(test_settings_factory, models, resources):
    settings = test_settings_factory(audio={"keep_files": False})
    store = open_store(path=settings.qdrant_path)
    yield Catalog(settings=settings, store=store, models=models, resources=resources)
    store.close()


def test_keep_files_off_keeps_no_audio(no_keep_catalog, music_clips):
    with local_client(create_app(no_keep_catalog.settings, catalog=no_keep_catalog)) as c:
        doc = post(c, music_clips["feelings"], "not-kept")
        assert doc["audio_url"] is None
        r = c.get("/v1/songs/not-kept/audio")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert not (no_keep_catalog.settings.data_path / "audio").exists()


def test_demo_songs_keep_their_mixed_stems(catalog, tmp_path):
    folder = tmp_path / "songs" / "pack" / "tiny_song"
    folder.mkdir(parents=True)
    sr = 44100
    t = np.arange(3 * sr) / sr
    for stem, freq in (("song.ogg", 220.0), ("guitar.ogg", 330.0)):
        y = 0.3 * np.sin(2 * np.pi * freq * t)
        sf.write(folder / stem, np.stack([y, 0.5 * y], axis=1), sr, format="OGG",
                 subtype="VORBIS")
    (folder / "song.ini").write_text("[song]\nname = Tiny Song\nartist = Nobody\n")
    assert [err for _, err in ingest_demo(catalog, [str(tmp_path / "songs")])] == [None]
    record = catalog.get("demo-tiny-song")
    path = catalog.audio_files.path(AudioRef.from_dict(record.audio_file))
    y, got_sr = sf.read(path)
    assert got_sr == sr and y.shape[1] == 2 and abs(len(y) / sr - 3.0) < 0.05
    assert 0.8 < np.max(np.abs(y)) < 0.95  # peak-normalised to -1 dBFS (0.89)
    spectrum = np.abs(np.fft.rfft(y[:, 0]))
    top = sorted(np.argsort(spectrum)[-2:] * sr / len(y))
    assert abs(top[0] - 220) < 2 and abs(top[1] - 330) < 2  # both stems are in the mix
    catalog.delete("demo-tiny-song")
    assert not path.exists()
