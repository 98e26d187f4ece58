"""``songlens ingest --engine ray``: a real local Ray job (``num_cpus=2``, two actors) on short
clips stores the songs the plain ``ingest`` stores (payloads and vectors, within float
tolerance, ``ingested_at`` aside); a corrupt file comes back as that file's failure, worded as
the plain path words it; the manifest is the plain path's (a re-run skips unchanged files)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from songlens.cli.main import app as cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AUDIO = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
#: set at each ingestion, so never equal between two runs
MOMENTS = {"ingested_at", "updated_at", "released_at"}


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (2 CPUs, no dashboard, loopback) for the module, shut down after it."""
    import ray

    from songlens.catalog.ray_batch import start_ray

    started = start_ray(num_cpus=2)
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("music")
    for p in sorted(AUDIO.glob("*.ogg")):
        shutil.copy(p, d / f"Muldjord - {p.name}")
    (d / "Muldjord - chaos_god.lrc").write_text("[00:01.00]深夜 图书馆 考研\n", "utf-8")
    (d / "broken.mp3").write_bytes(b"ID3 not really an mp3")
    return d


def _config(folder: Path) -> Path:
    cfg = folder / "songlens.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(folder / "data"), "log_level": "WARNING",
                                   "audio": {"max_duration_s": 60}}))
    return cfg


def _catalog(cfg: Path, models, resources):
    from songlens.catalog.pipeline import Catalog
    from songlens.settings import load_settings
    from songlens.store import open_store

    settings = load_settings(cfg)
    return Catalog(settings=settings, store=open_store(path=settings.qdrant_path),
                   models=models, resources=resources)


def _stored(catalog) -> dict[str, tuple[dict, dict]]:
    hits, _ = catalog.store.scroll(catalog.spec, limit=100, with_vectors=True)
    return {h.key: ({k: v for k, v in h.payload.items() if k not in MOMENTS}, h.vectors or {})
            for h in hits}


def _assert_close(a, b, where: str = "") -> None:
    """Equal, floats and arrays within float tolerance."""
    if hasattr(a, "indices") and hasattr(a, "values"):  # a sparse vector
        assert list(a.indices) == list(b.indices), where
        np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-6, err_msg=where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, np.ndarray | list | tuple) and not isinstance(a, str) \
            and any(isinstance(x, float | np.floating) for x in np.ravel(np.asarray(a,
                                                                                   dtype=object))):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-5,
                                   atol=1e-6, err_msg=where)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6), (where, a, b)
    else:
        assert a == b, (where, a, b)


def test_ray_ingest_stores_what_plain_ingest_stores(local_ray, music, tmp_path_factory, models,
                                                    resources):
    from songlens.catalog.batch import find_audio_files, ingest_files

    files = find_audio_files([music])
    plain_cat = _catalog(_config(tmp_path_factory.mktemp("plain")), models, resources)
    try:
        plain = ingest_files(plain_cat, files, workers=1)
        expected = _stored(plain_cat)
    finally:
        plain_cat.store.close()

    from songlens.catalog.ray_batch import RayOptions, ingest_files_ray

    ray_cfg = _config(tmp_path_factory.mktemp("ray"))
    ray_cat = _catalog(ray_cfg, models, resources)
    try:
        report = ingest_files_ray(ray_cat, files, options=RayOptions(workers=2, write_batch=2))
        # the corrupt file fails alone, for the plain path's reason, word for word
        assert report.failed == plain.failed and len(report.failed) == 1
        assert "unsupported_audio" in report.failed[0][1]
        assert sorted(report.ingested) == sorted(plain.ingested)
        got = _stored(ray_cat)
        assert len(expected) == 3 and set(got) == set(expected)
        for key, (payload, vectors) in expected.items():
            _assert_close(got[key][0], payload, key)
            assert set(got[key][1]) == set(vectors), key
            for name, vec in vectors.items():
                _assert_close(got[key][1][name], vec, f"{key} {name}")
        by_title = {p["title"]: p for p, _ in got.values()}
        assert by_title["chaos_god"]["language"] == "华语"  # the sidecar lyrics were read
        # the manifest is the plain path's: the plain engine skips what Ray stored
        again = ingest_files(ray_cat, [f for f in files if f.suffix == ".ogg"])
        assert len(again.skipped) == 3 and not again.ingested
    finally:
        ray_cat.store.close()
    # the command: Ray skips the unchanged files (no Ray job is needed for them)
    songs = [str(f) for f in files if f.suffix == ".ogg"]
    r = CliRunner().invoke(cli, ["ingest", *songs, "--engine", "ray", "--config", str(ray_cfg)])
    assert r.exit_code == 0, r.output
    assert "ingested 0, skipped 3 unchanged, failed 0" in r.output


def test_a_batch_write_ends_as_writing_one_song_at_a_time(catalog, music_clips):
    """Two files with the same audio in one batch: one song, the later file's, as two writes
    one after the other would leave it; a third song in the batch is written beside it."""
    import copy

    from songlens.content.metadata import SongMetadata

    first = catalog.analyser.prepare(music_clips["feelings"], SongMetadata(title="Feelings"),
                                     filename="a.ogg", source_path="/music/a.ogg")
    again = copy.deepcopy(first)
    again.source_path = "/music/b.ogg"
    other = catalog.analyser.prepare(music_clips["armygeddon"],
                                     SongMetadata(title="Armygeddon", song_id="army-1"),
                                     filename="c.ogg", source_path="/music/c.ogg")
    before = catalog.count()
    results = catalog.store_analysed([first, again, other])
    assert [r.kept for r in results] == [False, False, False]
    assert results[0].record.song_id == results[1].record.song_id != "army-1"
    assert results[2].record.song_id == "army-1"
    assert catalog.count() == before + 2
    stored = catalog.get(results[0].record.song_id)
    assert stored.source_path == "/music/b.ogg"
    assert stored.ingested_at == pytest.approx(results[0].record.ingested_at)


def test_engine_ray_does_not_go_through_a_server(tmp_path):
    cfg = _config(tmp_path)
    r = CliRunner().invoke(cli, ["ingest", str(AUDIO), "--engine", "ray", "--config", str(cfg),
                                 "--server", "http://127.0.0.1:9"])
    assert r.exit_code == 2
    assert "--engine ray writes to the store itself" in r.output
