"""User profiles in an embedded store: the current config wins over the one a profile was saved
with, and collections written before payload version 2 still open and load."""

import numpy as np
import pytest

from songlens.coldstart.events import Event
from songlens.coldstart.profiles import ProfileConfig, UserProfile
from songlens.coldstart.user_store import UserStore
from songlens.store import CollectionSpec, Point, open_store
from songlens.units import DAY

DIMS = {"audio": 8, "text": 6, "fused": 14}
T0 = 1_767_225_600.0


def unit(v):
    return v / np.linalg.norm(v)


def song(sid, style):
    return {"song_id": sid, "artist": "a1", "language": "华语",
            "tags": {"style": [{"tag": style, "en": style, "score": 0.9, "evidence": []}]},
            "audio_features": {"tempo_bpm": 120.0, "energy": 0.6}}


def orthogonal_pair(rng, d):
    a = unit(rng.normal(size=d))
    b = rng.normal(size=d)
    return a, unit(b - (b @ a) * a)


def listener(rng, config, user="u"):
    """Likes songs of two orthogonal tastes: two interest centroids."""
    pairs = {s: orthogonal_pair(rng, d) for s, d in DIMS.items()}
    tastes = [{s: pair[k] for s, pair in pairs.items()} for k in range(2)]
    p = UserProfile(user, config)
    for i in range(12):
        k = i % 2
        vecs = {s: unit(c + 0.03 * rng.normal(size=len(c))) for s, c in tastes[k].items()}
        p.update(Event(user_id=user, song_id=f"s{i}", event="like", ts=T0 + 60 * i),
                 song(f"s{i}", ("电子", "古典")[k]), vecs)
    return p, tastes


@pytest.fixture
def rng():
    return np.random.default_rng(5)


def test_the_current_config_wins_over_the_stored_one(tmp_path, rng):
    saved_with = ProfileConfig(long_half_life_s=30 * DAY, short_half_life_s=1 * DAY)
    current = ProfileConfig(long_half_life_s=10 * DAY, short_half_life_s=0.5 * DAY)
    p, tastes = listener(rng, saved_with)
    with open_store(path=tmp_path / "qdrant") as store:
        UserStore(store, "users", song_dims=DIMS, config=saved_with).save([(p, 7)])
    with open_store(path=tmp_path / "qdrant") as store:
        users = UserStore(store, "users", song_dims=DIMS, config=current)
        [(q, seq)] = users.load_many(["u"]).values()
        assert seq == 7 and q.config == current and users.find("u").config == current
        assert users.get("u")[1]["config"]["long_half_life_s"] == 30 * DAY  # kept, for reading
    # what the profile learns next decays with the current half-life: 10 days halve the past
    before = q.pos_mass
    q.update(Event(user_id="u", song_id="s99", event="like", ts=q.t_ref + 10 * DAY),
             song("s99", "电子"), tastes[0])
    assert q.pos_mass == pytest.approx(0.5 * before + 2.0)


def test_a_collection_written_before_payload_version_2_still_loads(tmp_path, rng):
    config = ProfileConfig()
    p, tastes = listener(rng, config)
    assert len(p.centroids) == 2
    vectors = p.named_vectors()
    # the version-1 layout: each centroid's fused mean both as interest_<i> and centroid<i>_fused
    dense = {f"{t}_{s}": d for t in ("long", "short") for s, d in DIMS.items()}
    for i in range(config.max_centroids):
        dense[f"interest_{i}"] = DIMS["fused"]
        dense |= {f"centroid{i}_{s}": d for s, d in DIMS.items()}
    old = CollectionSpec(name="users", key_field="user_id", dense=dense,
                         indexes={"n_events": "integer", "t_ref": "float"})
    with open_store(path=tmp_path / "qdrant") as store:
        store.ensure_collection(old)
        store.upsert(old, [Point(key="u", payload={**p.to_payload(include_vectors=False),
                                                   "version": 1, "applied_seq": 3},
                                 vectors={**vectors, "centroid0_fused": vectors["interest_0"],
                                          "centroid1_fused": vectors["interest_1"]})])
    with open_store(path=tmp_path / "qdrant") as store:
        users = UserStore(store, "users", song_dims=DIMS, config=config)
        [(q, seq)] = users.load_many(["u"]).values()
        assert seq == 3 and q.n_events == p.n_events
        np.testing.assert_allclose(q.vector("fused"), p.vector("fused"), atol=1e-6)
        for (a, wa), (b, wb) in zip(q.interests(), p.interests(), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)
            assert wa == pytest.approx(wb)
        # new profiles are written into the old collection (without the old copy) and found
        other, _ = listener(rng, config, user="v")
        users.save([(other, 1)])
        assert users.find("v").n_events == 12
        found = {uid for uid, _, _ in users.search(tastes[0]["fused"], "interest_0", 5, None)}
        assert found == {"u", "v"}


def test_a_version_1_payload_loads_its_centroids_from_centroid_vectors(rng):
    p, _ = listener(rng, ProfileConfig())
    vectors = p.named_vectors()
    old = {k: v for k, v in vectors.items() if not k.startswith("interest_")}
    # version 1 named each centroid's fused mean centroid<i>_fused (interest_<i> was a copy)
    old |= {"centroid0_fused": vectors["interest_0"], "centroid1_fused": vectors["interest_1"],
            "interest_0": vectors["interest_1"]}
    q = UserProfile.from_payload({**p.to_payload(include_vectors=False), "version": 1}, old)
    for (a, _), (b, _) in zip(q.interests(), p.interests(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
