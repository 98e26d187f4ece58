import json

import numpy as np
import pytest

from songlens.coldstart.events import Event
from songlens.coldstart.profiles import ProfileConfig, UserProfile, onboarding_profile
from songlens.errors import InvalidInput, UnknownTag

T0 = 1_767_225_600.0
DAY = 86_400.0
D = 16


def unit(v):
    return v / np.linalg.norm(v)


def cluster(rng, centre, n, spread=0.15):
    return [unit(centre + spread * rng.normal(size=D)) for _ in range(n)]


def song(sid, style="电子", tempo=120.0, energy=0.7, lang="华语", artist="a1"):
    return {"song_id": sid, "artist": artist, "language": lang,
            "tags": {"style": [{"tag": style, "en": style, "score": 0.9, "evidence": []}],
                     "language": [{"tag": lang, "en": lang, "score": 0.95, "evidence": []}]},
            "audio_features": {"tempo_bpm": tempo, "energy": energy}, "ingested_at": T0}


def ev(kind, i, ts=None, play_ms=None):
    return Event(user_id="u", song_id=f"s{i}", event=kind, ts=ts or T0 + i * 60, play_ms=play_ms)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_profile_moves_toward_liked_and_away_from_skipped(rng):
    liked_c, skipped_c = unit(rng.normal(size=D)), unit(rng.normal(size=D))
    p = UserProfile("u")
    for i, v in enumerate(cluster(rng, liked_c, 5)):
        p.update(ev("like", i), song(f"s{i}"), {"fused": v})
    before = float(p.vector("fused") @ skipped_c)
    for i, v in enumerate(cluster(rng, skipped_c, 5), start=10):
        p.update(ev("skip", i, play_ms=3000), song(f"s{i}", style="古典"), {"fused": v})
    after = float(p.vector("fused") @ skipped_c)
    assert after < before
    assert float(p.vector("fused") @ liked_c) > 0.8
    aff = p.tag_affinity["style"]
    assert aff["电子"] > 0 > aff["古典"]
    assert p.top_tags(1) == [("style", "电子", pytest.approx(aff["电子"]))]


def test_short_term_forgets_faster_than_long_term(rng):
    a, b = unit(rng.normal(size=D)), unit(rng.normal(size=D))
    p = UserProfile("u")
    for i in range(10):
        p.update(ev("complete", i, ts=T0 + i), song(f"s{i}"), {"fused": a})
    p.update(ev("complete", 99, ts=T0 + 5 * DAY), song("s99"), {"fused": b})
    assert float(p.vector("fused", "short") @ b) > 0.9  # 5 short half-lives: a is faded
    assert float(p.vector("fused", "long") @ a) > float(p.vector("fused", "long") @ b)


def test_multi_interest_user_gets_several_centroids(rng):
    centres = [unit(rng.normal(size=D)) for _ in range(3)]
    varied, narrow = UserProfile("varied"), UserProfile("narrow")
    i = 0
    for _ in range(10):
        for c in centres:
            v = cluster(rng, c, 1)[0]
            varied.update(ev("complete", i), song(f"s{i}"), {"fused": v})
            i += 1
    for v in cluster(rng, centres[0], 30):
        narrow.update(ev("complete", i), song(f"s{i}"), {"fused": v})
        i += 1
    ints = varied.interests()
    assert len(ints) >= 2
    # every true taste is matched by some centroid
    for c in centres:
        assert max(float(d @ c) for d, _ in ints) > 0.8
    assert len(narrow.interests()) == 1
    assert sum(s for _, s in ints) <= 1.0 + 1e-9


def test_centroids_capped(rng):
    p = UserProfile("u", ProfileConfig(max_centroids=2))
    for i in range(40):
        p.update(ev("like", i), song(f"s{i}"), {"fused": unit(rng.normal(size=D))})
    assert len(p.centroids) <= 2


def test_usual_tempo_and_languages():
    p = UserProfile("u")
    for i, t in enumerate([100, 110, 120]):
        p.update(ev("like", i), song(f"s{i}", tempo=t, lang="粤语"), {"fused": np.eye(D)[0]})
    mean, std = p.usual("tempo_bpm")
    # events a minute apart: decay is negligible over 30-day half-lives
    assert mean == pytest.approx(110, abs=0.01)
    assert std == pytest.approx(np.std([100, 110, 120]), rel=1e-3)
    assert max(p.language_affinity, key=p.language_affinity.get) == "粤语"
    assert p.artist_affinity["a1"] > 0


def test_payload_round_trip_json_and_named_vectors(rng):
    p = UserProfile("u")
    for i in range(12):
        c = [unit(rng.normal(size=D)) for _ in range(2)][i % 2]
        p.update(ev("like" if i % 4 else "skip", i, play_ms=2000), song(f"s{i}"),
                 {"fused": c, "audio": unit(rng.normal(size=8))})
    full = json.loads(json.dumps(p.to_payload()))
    q = UserProfile.from_payload(full)
    for s in ("fused", "audio"):
        np.testing.assert_allclose(q.vector(s), p.vector(s), atol=1e-12)
    assert q.tag_affinity == p.tag_affinity and q.t_ref == p.t_ref
    # the Qdrant shape: scalars in the payload, unit vectors as named vectors (float32)
    slim = json.loads(json.dumps(p.to_payload(include_vectors=False)))
    assert "v" not in json.dumps(slim["long"])
    vecs = p.named_vectors()
    r = UserProfile.from_payload(slim, vecs)
    np.testing.assert_allclose(r.vector("fused"), p.vector("fused"), atol=1e-6)
    assert len(r.interests()) == len(p.interests())
    # continuing the update gives the same result either way
    nxt = ev("like", 50)
    for prof in (p, r):
        prof.update(nxt, song("s50"), {"fused": np.eye(D)[1], "audio": np.eye(8)[1]})
    np.testing.assert_allclose(r.vector("fused"), p.vector("fused"), atol=1e-5)
    with pytest.raises(InvalidInput, match="missing"):
        UserProfile.from_payload(slim, {})


def test_onboarding_profile(rng):
    from songlens.content.taxonomy import load_taxonomy

    tax = load_taxonomy()
    liked = [{"fused": unit(rng.normal(size=D))} for _ in range(2)]
    p = onboarding_profile("new", tags={"style": ["Electronic"], "language": ["Cantonese"]},
                           liked_song_vectors=liked, ts=T0, canonical=tax.canonical)
    assert p.onboarding_tags == {"style": ["电子"], "language": ["粤语"]}
    assert p.tag_affinity["style"]["电子"] > 0 and p.language_affinity["粤语"] > 0
    assert p.vector("fused") is not None and p.n_positive == 2
    with pytest.raises(UnknownTag, match="allowed"):
        onboarding_profile("x", tags={"style": ["Polka"]}, ts=T0, canonical=tax.canonical)
    tags_only = onboarding_profile("y", tags={"style": ["电子"]}, ts=T0)
    assert tags_only.vector("fused") is None


def anisotropic(rng, n_tastes, n, common=1.2, dim=D):
    """Songs of ``n_tastes`` far-apart tastes that share one strong direction, as real
    embeddings do (different tastes still at cosine ~0.6), and a catalogue of such songs."""
    shared = unit(rng.normal(size=dim))
    centres = [unit(rng.normal(size=dim)) for _ in range(8)]

    def draw(c):
        return unit(unit(c + 0.25 * rng.normal(size=dim)) + common * shared)

    catalogue = np.array([draw(centres[i % 8]) for i in range(400)])
    songs = [draw(centres[i % n_tastes]) for i in range(n)]
    return catalogue, songs, centres


def test_fixed_threshold_never_splits_anisotropic_tastes_but_background_does(rng):
    from songlens.coldstart.interests import SimilarityBackground

    catalogue, songs, _ = anisotropic(rng, 2, 40)
    assert float(songs[0] @ songs[1]) > 0.4  # different tastes, yet far above 0.3
    bg = SimilarityBackground(catalogue, space="fused", quantile=0.8)
    fixed, adaptive = UserProfile("f"), UserProfile("a", ProfileConfig(background=bg))
    for i, v in enumerate(songs):
        fixed.update(ev("complete", i), song(f"s{i}"), {"fused": v})
        adaptive.update(ev("complete", i), song(f"s{i}"), {"fused": v})
    assert len(fixed.interests()) == 1
    assert len(adaptive.interests()) == 2
    # one taste stays one interest
    _, narrow, _ = anisotropic(np.random.default_rng(1), 1, 40)
    p = UserProfile("n", ProfileConfig(background=bg))
    for i, v in enumerate(narrow):
        p.update(ev("complete", i), song(f"s{i}"), {"fused": v})
    assert len(p.interests()) == 1
    # the background is a resource, never part of the stored config
    assert "background" not in adaptive.to_payload()["config"]
    json.dumps(adaptive.to_payload())


def test_similarity_background_validates_and_cap_grows_with_history():
    from songlens.coldstart.interests import SimilarityBackground, interest_cap

    with pytest.raises(ValueError, match="quantile must be in"):
        SimilarityBackground(np.eye(3), space="fused", quantile=1.0)
    with pytest.raises(ValueError, match="shape"):
        SimilarityBackground(np.zeros(3), space="fused")
    bg = SimilarityBackground(np.eye(4), space="fused", quantile=0.5)
    # centred on the catalogue mean: e0 is at cosine 1 to itself, -1/3 to the three others
    e0 = bg.view(np.array([1.0, 0, 0, 0]))
    assert bg.threshold(e0) == pytest.approx(-1 / 3)
    assert np.allclose(bg.pair_cosines(50), 0.0)  # as they come: orthogonal
    assert [interest_cap(n, 4) for n in (0, 1, 2, 3, 4, 7, 8, 100)] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert ProfileConfig().interest_cap(1) == 4  # growth is off by default
    assert ProfileConfig(interest_growth=True).interest_cap(1) == 1


def test_profile_payload_of_the_previous_build_still_loads():
    from pathlib import Path

    path = Path(__file__).parents[1] / "fixtures" / "coldstart" / "profile-v2.json"
    old = json.loads(path.read_text("utf-8"))
    p = UserProfile.from_payload(old)
    assert p.user_id == "old-user" and p.n_positive == 12 and len(p.interests()) == 2
    assert p.vector("fused") is not None and p.vector("audio") is not None
    again = p.to_payload()
    for key in ("t_ref", "n_events", "tag_affinity", "artist_affinity", "language_affinity"):
        assert again[key] == old[key]
    assert [c["mass"] for c in again["centroids"]] == pytest.approx(
        [c["mass"] for c in old["centroids"]])
