"""Recall channels: the ALS model on co-listening, the relation channel, the merge with quotas
and the background refit cadence. Synthetic data whose right answer is known: two groups of
listeners who each finish one group of songs, songs whose vectors say nothing about the group."""

from __future__ import annotations

import numpy as np
import pytest

from songlens.catalog.filters import SongFilter
from songlens.coldstart.channels import (
    CollaborativeChannel,
    ContentChannel,
    Listener,
    RelationChannel,
    merge_channels,
)
from songlens.coldstart.collaborative import ALSConfig, CollaborativeModel, interaction_matrix
from songlens.coldstart.events import Event
from songlens.coldstart.feedback_log import FeedbackLog
from songlens.coldstart.profiles import UserProfile
from songlens.coldstart.recall import ContentRecaller, RecallItem
from songlens.coldstart.vector_search import BruteForceIndex
from songlens.errors import StoreError
from songlens.service.collab_fit import CollaborativeFit
from songlens.settings import RecallChannelSettings
from songlens.store import Match

T0 = 1_767_225_600.0
CFG = ALSConfig(factors=4, iterations=10, min_item_users=2)  # two groups: a small rank


def ev(u: str, s: str, kind: str = "complete", ts: float = T0) -> Event:
    return Event.model_construct(user_id=u, song_id=s, event=kind, ts=ts,
                                 play_ms=200_000 if kind == "complete" else 5_000, event_id=None)


def co_listening(seed: int = 0, n_users: int = 60, n_songs: int = 20) -> list[Event]:
    """Listeners u0.. of group a finish a-songs, group b finish b-songs (8 each)."""
    rng = np.random.default_rng(seed)
    out = []
    for u in range(n_users):
        g = "a" if u < n_users // 2 else "b"
        for j, s in enumerate(rng.choice(n_songs, 8, replace=False)):
            out.append(ev(f"u{u}", f"{g}{s}", ts=T0 + u * 100 + j))
        out.append(ev(f"u{u}", f"{'b' if g == 'a' else 'a'}{u % n_songs}", "skip"))
    return out


@pytest.fixture(scope="module")
def model() -> CollaborativeModel:
    return CollaborativeModel.fit(co_listening(), CFG, fitted_seq=42)


@pytest.fixture(scope="module")
def index():
    """The a- and b-songs with random vectors (no group in content), artist per song parity,
    album per group; plus 'new' songs n0..n3 nobody played."""
    rng = np.random.default_rng(1)
    idx = BruteForceIndex()
    for g in "abn":
        for s in range(20 if g != "n" else 4):
            v = rng.normal(size=6)
            idx.add(f"{g}{s}", {"fused": v / np.linalg.norm(v)},
                    {"song_id": f"{g}{s}", "artist": f"art{s % 2}", "artist_key": f"art{s % 2}",
                     "album": f"album-{g}", "ingested_at": T0 + (10_000 if g == "n" else 0)})
    return idx


def test_interaction_matrix_sums_positives_and_admits_songs_by_listeners():
    evs = [ev("u1", "s1"), ev("u1", "s1", "like", T0 + 1), ev("u1", "s2", "skip"),
           ev("u2", "s1"), ev("u2", "s3"), ev("u3", "s2", "impression")]
    users, songs, m = interaction_matrix(evs)
    assert users == ["u1", "u2"] and songs == ["s1", "s3"]  # skips and impressions add nothing
    assert m.toarray().tolist() == [[3.0, 0.0], [1.0, 1.0]]  # complete 1 + like 2
    users, songs, m = interaction_matrix(evs, min_item_users=2)
    assert songs == ["s1"] and m.shape == (2, 1)


def test_als_recovers_co_listening_groups(model):
    assert model.fitted_seq == 42 and model.n_users == 60 and len(model) == 40
    recs = model.recommend({"a1": 1.0, "a2": 1.0, "a3": 1.0}, 10)
    assert len(recs) == 10 and all(s.startswith("a") for s, _ in recs)
    assert {"a1", "a2", "a3"}.isdisjoint(s for s, _ in recs)  # the history is not recalled
    assert [sc for _, sc in recs] == sorted((sc for _, sc in recs), reverse=True)
    # restricted to candidates (unknown ids ignored), minus exclusions
    recs = model.recommend({"b4": 2.0}, 3, candidates=["a5", "b5", "b6", "zz"], exclude=["b6"])
    assert [s for s, _ in recs][0] == "b5" and "b6" not in dict(recs)
    assert model.recommend({"zz": 1.0}, 5) == []  # nothing the model knows
    ids = [f"a{i}" for i in range(4, 20)] + [f"b{i}" for i in range(4, 20)] + ["zz"]
    sc = model.score({"a1": 1.0, "a2": 1.0, "a3": 1.0}, ids)
    pairs = (sc[:16, None] > sc[None, 16:32]).mean()  # a-songs above b-songs
    assert pairs > 0.9 and np.isnan(sc[32])


def test_model_survives_a_restart_and_refuses_a_broken_file(model, tmp_path):
    path = tmp_path / "collab" / "als.npz"
    model.save(path)
    back = CollaborativeModel.load(path)
    assert back.song_ids == model.song_ids and back.fitted_seq == 42
    h = {"a1": 1.0, "a7": 1.0}
    assert back.recommend(h, 5) == model.recommend(h, 5)
    assert not list(path.parent.glob(".*.tmp"))  # nothing half-written left
    path.write_bytes(b"not a model")
    with pytest.raises(StoreError, match="cannot read the collaborative model 'als.npz'"):
        CollaborativeModel.load(path)


def test_collaborative_channel_filters_and_windows(model, index):
    ch = CollaborativeChannel(lambda: model, index, lambda ids: {
        s: index.payloads[s] for s in ids})
    lis = Listener(UserProfile("x"), {"a1": 1.0, "a2": 1.0})
    items = ch.recall(listener=lis, k=5, filter=SongFilter(exclude_ids=frozenset({"a3"})))
    assert len(items) == 5 and all(it.channels == ("collaborative",) and it.reason == "als"
                                   for it in items)
    assert all(it.id.startswith("a") and it.id != "a3" for it in items)
    # a window of new songs: nobody played them, so the collaborative channel has none
    assert ch.recall(listener=lis, k=5, filter=SongFilter(ingested_after=T0 + 1)) == []
    assert ch.recall(listener=Listener(UserProfile("y")), k=5) == []  # no history
    assert CollaborativeChannel(lambda: None, index, dict).recall(listener=lis, k=5) == []


def test_relation_channel_same_artist_and_album(index):
    pl = lambda ids: {s: index.payloads[s] for s in ids}  # noqa: E731
    ch = RelationChannel(index, pl)
    lis = Listener(UserProfile("x"), {"a0": 1.0, "a2": 1.0, "b1": 0.5})
    rel = ch.relations(lis.history)
    assert rel["artist"] == pytest.approx({"art0": 0.8, "art1": 0.2})
    assert rel["album"] == pytest.approx({"album-a": 0.8, "album-b": 0.2})
    items = ch.recall(listener=lis, k=60, filter=SongFilter(exclude_ids=frozenset(lis.history)))
    got = {it.id: it for it in items}
    assert "a0" not in got and got["a4"].reason in ("artist:art0", "album:album-a")
    assert got["a4"].score == pytest.approx(0.8) and got["n0"].reason == "artist:art0"
    assert got["b3"].score == pytest.approx(0.2) and all(
        it.channels == ("relation",) for it in items)
    # the same album filter in the store's terms (the service's Qdrant path)
    assert Match("album", ("album-a",)) in SongFilter(albums=("album-a",)).to_store().must
    # album filter on the new songs only
    new = ch.recall(listener=lis, k=10, filter=SongFilter(ingested_after=T0 + 1))
    assert {it.id for it in new} == {"n0", "n1", "n2", "n3"}


def items(prefix: str, n: int) -> list[RecallItem]:
    return [RecallItem(f"{prefix}{i}", 1.0 - i / 100, f"r{prefix}") for i in range(n)]


def test_merge_fills_quotas_and_names_every_channel():
    lists = {"content": items("c", 10), "collaborative": items("k", 10) + [items("c", 1)[0]],
             "relation": items("r", 10)}
    out = merge_channels(lists, {"content": 0.5, "collaborative": 0.3, "relation": 0.2}, 10)
    first = [it.channels[0] for it in out]
    assert len(out) == 10 and len({it.id for it in out}) == 10
    assert first.count("content") == 5 and first.count("collaborative") == 3
    assert first.count("relation") == 2
    c0 = next(it for it in out if it.id == "c0")
    assert c0.channels == ("content", "collaborative") and c0.reason == "rc"
    assert out[0].id == "c0"  # found by two channels: the highest fused score
    assert [it.score for it in out] == sorted((it.score for it in out), reverse=True)
    # a channel that cannot fill its quota leaves the slots to the others; a zero quota is off
    out = merge_channels({"content": items("c", 10), "collaborative": items("k", 1)},
                         {"content": 0.5, "collaborative": 0.5}, 8)
    assert len(out) == 8 and sum(it.channels[0] == "collaborative" for it in out) == 1
    out = merge_channels({"content": items("c", 3), "relation": items("r", 3)},
                         {"content": 1.0, "relation": 0.0}, 5)
    assert [it.id for it in out] == ["c0", "c1", "c2"]
    assert merge_channels({}, {"content": 1.0}, 5) == []


def test_content_channel_names_itself(index):
    p = UserProfile("x")
    p.update(ev("x", "a1"), index.payloads["a1"], {"fused": index._matrix("fused")[1][1]})
    out = ContentChannel(ContentRecaller(index)).recall(listener=Listener(p), k=3)
    assert len(out) == 3 and all(it.channels == ("content",) for it in out)


def test_background_refit_on_cadence_and_reload(tmp_path):
    log = FeedbackLog(tmp_path / "f.sqlite", synchronous="NORMAL")
    settings = RecallChannelSettings(factors=4, iterations=5, min_item_users=2,
                                     refit_every_events=100, refit_min_s=0)
    path = tmp_path / "collab" / "als.npz"
    fit = CollaborativeFit(log, path, settings)
    assert fit.model is None and not fit.maybe_refit()  # nothing logged: not due
    evs = co_listening()
    log.append(evs[:50])
    assert not fit.maybe_refit()  # 50 < 100 events since the last fit
    log.append(evs[50:])
    assert fit.maybe_refit()
    fit.join(60)
    assert fit.model is not None and fit.model.fitted_seq == len(evs) and path.exists()
    assert not fit.maybe_refit()  # nothing new since
    again = CollaborativeFit(log, path, settings)  # a restart serves the saved model
    assert again.model is not None and again.model.song_ids == fit.model.song_ids
    log.close()


def test_quota_settings_are_checked():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="quotas must be >= 0 with a positive sum"):
        RecallChannelSettings(quotas={"content": 0.0, "collaborative": 0.0})
    with pytest.raises(ValidationError, match="content"):
        RecallChannelSettings(quotas={"contnet": 1.0})
