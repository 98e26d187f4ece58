import numpy as np
import pytest

from songlens.catalog.filters import SongFilter
from songlens.coldstart.events import Event
from songlens.coldstart.profiles import UserProfile, onboarding_profile
from songlens.coldstart.recall import (
    ContentRecaller,
    OnboardingRecaller,
    PopularityRecaller,
    RandomRecaller,
    SongAudienceRecaller,
    SongQuery,
    UserNewSongsRecaller,
    allocate_quotas,
)
from songlens.coldstart.vector_search import BruteForceIndex
from songlens.errors import InvalidInput

T0 = 1_767_225_600.0
D = 12
STYLES = ["电子", "古典", "民谣"]


def unit(v):
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def world():
    """Three well separated styles; 'old' songs before T0, 'new' songs after."""
    rng = np.random.default_rng(11)
    centres = [unit(rng.normal(size=D)) for _ in STYLES]
    index = BruteForceIndex()
    meta = {}
    for i in range(300):
        k = i % 3
        v = unit(centres[k] + 0.2 * rng.normal(size=D))
        ing = T0 - 86400 * 10 if i < 150 else T0 + i
        payload = {"song_id": f"s{i}", "ingested_at": ing, "language": "华语",
                   "tags": {"style": [{"tag": STYLES[k], "en": STYLES[k], "score": 0.9}]}}
        index.add(f"s{i}", {"fused": v}, payload)
        meta[f"s{i}"] = (k, v, payload)
    return centres, index, meta


def profile_liking(meta, styles, n=12, uid="u"):
    p = UserProfile(uid)
    i = 0
    for sid, (k, v, payload) in meta.items():
        if k in styles and payload["ingested_at"] < T0 and i < n:
            p.update(Event(user_id=uid, song_id=sid, event="complete", ts=T0 - 1000 + i),
                     payload, {"fused": v})
            i += 1
    return p


def test_allocate_quotas():
    assert allocate_quotas([0.5, 0.3, 0.2], 10) == [5, 3, 2]
    assert sum(allocate_quotas([0.9, 0.05, 0.05], 7)) == 7
    assert min(allocate_quotas([0.98, 0.01, 0.01], 10)) >= 1
    assert allocate_quotas([], 5) == []


def test_bruteforce_filter(world):
    _, index, meta = world
    hits = index(meta["s0"][1], "fused", 10, SongFilter(ingested_after=T0,
                                                         exclude_ids=frozenset({"s150"})))
    assert len(hits) == 10 and all(h[2]["ingested_at"] >= T0 for h in hits)
    assert "s150" not in {h[0] for h in hits}
    assert [h[1] for h in hits] == sorted((h[1] for h in hits), reverse=True)
    tagged = index(None, "fused", 500, SongFilter(tags={"style": ("古典",)}))
    assert len(tagged) == 100


def test_multi_interest_quotas_and_dedupe(world):
    centres, index, meta = world
    p = profile_liking(meta, {0, 1}, n=20)
    assert len(p.interests()) == 2
    rec = UserNewSongsRecaller(index, short_share=0.0)
    items = rec.recall(k=20, user=p, filter=SongFilter(ingested_after=T0))
    assert len(items) == 20 and len({it.id for it in items}) == 20
    by_reason = {}
    for it in items:
        by_reason.setdefault(it.reason, []).append(meta[it.id][0])
    shares = [s for _, s in p.interests()]
    quotas = allocate_quotas(shares, 20)
    got = sorted(len(v) for v in by_reason.values())
    assert got == sorted(quotas)  # each interest filled exactly its quota
    styles = {k for ks in by_reason.values() for k in ks}
    assert styles == {0, 1}  # both tastes served, the third style not
    assert all(meta[it.id][2]["ingested_at"] >= T0 for it in items)
    # a single long-term vector (content baseline) serves mostly one side of the taste
    content = ContentRecaller(index).recall(k=20, user=p, filter=SongFilter(ingested_after=T0))
    assert len(content) == 20


def test_quota_shortfall_goes_to_leftovers(world):
    _, index, meta = world
    p = profile_liking(meta, {0, 1}, n=20)
    # only 5 new songs exist in style 1 after the filter's exclusions
    excl = frozenset(s for s, (k, _, pl) in meta.items() if k == 1 and pl["ingested_at"] >= T0
                     and int(s[1:]) > 170)
    items = UserNewSongsRecaller(index, short_share=0.0).recall(
        k=30, user=p, filter=SongFilter(ingested_after=T0, exclude_ids=excl))
    assert len(items) == 30 and not ({it.id for it in items} & excl)


def test_song_audience(world):
    centres, index, meta = world
    users = BruteForceIndex()
    for u, styles in (("fan0", {0}), ("fan1", {1}), ("fan01", {0, 1}), ("fan2", {2})):
        p = profile_liking(meta, styles, n=12, uid=u)
        users.add(u, p.named_vectors(), p.to_payload(include_vectors=False))
    sid = "s150"  # a new style-0 song
    k, v, payload = meta[sid]
    assert k == 0
    items = SongAudienceRecaller(users).recall(k=2, song=SongQuery(sid, payload, {"fused": v}))
    assert {it.id for it in items} == {"fan0", "fan01"}
    with pytest.raises(InvalidInput, match="fused"):
        SongAudienceRecaller(users).recall(k=2, song=SongQuery(sid, payload, {}))


def test_onboarding_recall(world):
    _, index, meta = world
    liked = [{"fused": meta["s2"][1]}]  # a style-2 song
    p = onboarding_profile("new", tags={"style": ["古典"]}, liked_song_vectors=liked, ts=T0)
    items = OnboardingRecaller(index).recall(k=20, user=p, filter=SongFilter(ingested_after=T0))
    styles = [meta[it.id][0] for it in items]
    assert len(items) == 20 and set(styles) == {1, 2}
    tags_only = onboarding_profile("t", tags={"style": ["民谣"]}, ts=T0)
    items = OnboardingRecaller(index).recall(k=10, user=tags_only)
    assert len(items) == 10 and {meta[it.id][0] for it in items} == {2}


def test_baselines(world):
    _, index, meta = world
    ids = list(meta)
    pop = {s: float(i) for i, s in enumerate(ids)}
    top = PopularityRecaller(lambda: ids, lambda: pop).recall(k=3)
    assert [it.id for it in top] == ids[::-1][:3]
    a = RandomRecaller(lambda: ids, seed=1).recall(k=5)
    b = RandomRecaller(lambda: ids, seed=1).recall(k=5)
    assert [it.id for it in a] == [it.id for it in b] and len({it.id for it in a}) == 5
    with pytest.raises(InvalidInput, match="profile"):
        ContentRecaller(index).recall(k=5)
