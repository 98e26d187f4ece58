import numpy as np

from songlens.catalog.record import SongRecord
from songlens.coldstart.simulator import SimConfig, Simulator
from songlens.content.taxonomy import load_taxonomy


def test_simulator_is_seeded_and_consistent():
    cfg = SimConfig(n_users=20, initial_songs=200, new_songs_per_day=10, seed=3)
    a, b = Simulator(cfg), Simulator(cfg)
    da, db = a.step(), b.step()
    assert da[1] == db[1] and [e.model_dump() for e in da[2]] == [e.model_dump() for e in db[2]]
    d, new, events = da
    assert d == 0 and len(new) == 10 and len(a.songs) == 210
    kinds = {e.event for e in events}
    assert {"impression", "complete", "skip"} <= kinds
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    s = a.songs[new[0]]
    assert s.payload["ingested_at"] >= cfg.start_ts
    for v in s.vectors.values():
        assert abs(np.linalg.norm(v) - 1) < 1e-5
    # the payload a real song gets, with the taxonomy's tags
    assert SongRecord.from_payload(s.payload).to_payload() == s.payload
    assert s.payload["tag_style"] and s.payload["language"] in a.languages
    tax = load_taxonomy()
    assert all((dim, t["tag"]) in tax and t["en"] == tax.en[(dim, t["tag"])]
               for sg in a.songs.values() for dim, ts in sg.payload["tags"].items() for t in ts)
    # liked songs are the ones with high true utility
    u = {x.user_id: x for x in a.users}
    like_u = [a.utility(u[e.user_id], a.songs[e.song_id]) for e in events if e.event == "like"]
    skip_u = [a.utility(u[e.user_id], a.songs[e.song_id]) for e in events if e.event == "skip"]
    assert np.mean(like_u) > np.mean(skip_u) + 1.0
    ids = a.order[:30]
    np.testing.assert_allclose(a.utilities(a.users[0], ids),
                               [a.utility(a.users[0], a.songs[s]) for s in ids])


def test_anisotropy_and_far_apart_tastes():
    base = SimConfig(n_users=30, initial_songs=300, new_songs_per_day=5, seed=4)
    plain = Simulator(base)
    same = Simulator(SimConfig(**{**base.__dict__, "anisotropy": 0.0}))
    s0 = plain.songs[plain.order[7]]
    assert np.array_equal(s0.vectors["fused"], same.songs[same.order[7]].vectors["fused"])
    aniso = Simulator(SimConfig(**{**base.__dict__, "anisotropy": 1.0, "taste_max_cos": 0.3}))
    F = np.array([aniso.songs[s].vectors["fused"] for s in aniso.order])
    cos = (F @ F.T)[np.triu_indices(len(F), 1)]
    assert 0.4 < float(np.median(cos)) < 0.7  # like real embeddings, unlike the plain world
    P = np.array([plain.songs[s].vectors["fused"] for s in plain.order])
    assert float(np.median((P @ P.T)[np.triu_indices(len(P), 1)])) < 0.2
    for u in aniso.users:
        styles = np.argmax(u.tastes @ aniso.style_proto.T, axis=1)
        c = aniso.style_proto[styles] @ aniso.style_proto[styles].T
        assert len(u.tastes) == 1 or c[np.triu_indices(len(styles), 1)].max() <= 0.3 + 1e-9


def test_hidden_scenes_move_utility_but_not_content():
    base = SimConfig(n_users=40, initial_songs=400, new_songs_per_day=5, seed=5)
    plain = Simulator(base)
    scened = Simulator(SimConfig(**{**base.__dict__, "n_scenes": 4, "scene_weight": 1.5}))
    # scenes come from their own generator: the world is otherwise drawn exactly as before
    for sid in plain.order[:50]:
        np.testing.assert_array_equal(plain.songs[sid].z, scened.songs[sid].z)
        assert plain.songs[sid].payload == scened.songs[sid].payload
        assert plain.songs[sid].scene == -1
    user = scened.users[0]
    ids = scened.order[:200]
    gap = scened.utilities(user, ids) - plain.utilities(plain.users[0], ids)
    in_scene = np.array([scened.songs[s].scene == user.scene for s in ids])
    assert in_scene.any() and (~in_scene).any()
    np.testing.assert_allclose(gap[in_scene], 1.5)
    np.testing.assert_allclose(gap[~in_scene], 0.0, atol=1e-12)
    np.testing.assert_allclose(scened.utilities(user, ids[:20]),
                               [scened.utility(user, scened.songs[s]) for s in ids[:20]])
    # content does not show the scene: same-scene songs are no closer than any two songs
    f = np.array([scened.songs[s].vectors["fused"] for s in ids])
    sc = np.array([scened.songs[s].scene for s in ids])
    cos = f @ f.T
    same = (sc[:, None] == sc[None, :]) & ~np.eye(len(ids), dtype=bool)
    diff = sc[:, None] != sc[None, :]
    assert abs(cos[same].mean() - cos[diff].mean()) < 0.02
    # and co-listening does: a day's completes fall in the listener's scene far above chance
    _, _, events = scened.step()
    done = [e for e in events if e.event == "complete"]
    u = {x.user_id: x for x in scened.users}
    share = np.mean([scened.songs[e.song_id].scene == u[e.user_id].scene for e in done])
    assert share > 0.4  # chance: 1/4
