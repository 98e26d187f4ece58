"""The training cadence: late plays correct their sample, the quality gate refuses a worse
candidate, rollback serves the older model, frozen features keep their dynamic L1."""

import numpy as np
import pytest

from songlens.coldstart.events import Event, LabeledImpression
from songlens.errors import InvalidInput
from songlens.ranking.cadence import CadenceConfig, CadenceTrainer, auc, gate
from songlens.ranking.labels import LabelJoiner, measure_delays, reattribute
from songlens.ranking.ranker import Ranker, RankerConfig
from songlens.ranking.snapshots import SnapshotRegistry


def ev(user, song, kind, ts, play_ms=None):
    return Event(user_id=user, song_id=song, event=kind, ts=ts, play_ms=play_ms)


def samples(n, seed=0, flip=False, t0=1000.0):
    """Complete iff the sample carries "cat=<k>" with k < 5; ``flip`` inverts the labels."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(0, 10))
        y = (k < 5) != flip
        f = {"bias": 1.0, f"cat={k}": 1.0, "time:hour=3": 1.0}
        out.append(LabeledImpression(f"u{i % 7}", f"s{i}", t0 + i, True, y, False, False, f))
    return out


CFG = RankerConfig(n_bits=14, alpha=0.1, admit_online=1)


def test_late_play_corrects_its_sample_instead_of_adding_one():
    j = LabelJoiner(window_s=100, late_s=10_000)
    j.add(ev("u", "a", "impression", 1000.0), context={"f": 1.0})
    j.add(ev("u", "b", "impression", 1200.0))  # moves the watermark past a's window
    ready = j.pop_ready()
    assert [(s.song_id, s.played) for s in ready] == [("a", False)]
    j.add(ev("u", "a", "complete", 1500.0, play_ms=200_000))  # 500 s late
    fixes = j.pop_corrections()
    assert len(fixes) == 1 and fixes[0].old.complete is False and fixes[0].new.complete
    assert fixes[0].new.context == {"f": 1.0} and fixes[0].new.ts == 1000.0
    assert ("u", "a") not in j.open  # no second (organic) sample for the late play
    assert [s.song_id for s in j.pop_ready()] == ["b"]
    # after late_s, a play is organic again
    j.add(ev("u", "a", "play", 20_000.0, play_ms=40_000))
    assert j.pop_corrections() == [] and ("u", "a") in j.open


def test_trainer_takes_a_corrected_step_back():
    tr = CadenceTrainer(CFG, CadenceConfig(holdout_share=0.0, min_heldout=0))
    s = samples(1)[0]
    wrong = LabeledImpression(s.user_id, s.song_id, s.ts, False, False, False, False, s.context)
    tr.add([wrong] * 1)
    tr.increment()
    from songlens.ranking.labels import Correction
    tr.add([], [Correction(wrong, s)])
    assert tr.history[0] == s  # the batch fit reads the corrected label only
    assert len(tr.corrections) == 1
    tr.increment()
    assert tr.corrections == [] and tr.last["corrections"] == 1


def test_delays_set_the_window_and_reattribution_finds_late_labels():
    evs = []
    for i in range(100):
        evs.append(ev(f"u{i}", "s", "impression", 1000.0 + i))
        if i % 2 == 0:  # half are played, after 10 s .. 1000 s
            evs.append(ev(f"u{i}", "s", "complete", 1000.0 + i + 10 * (i // 2 + 1),
                          play_ms=200_000))
    rep = measure_delays(evs, quantile=0.95, floor_s=1)
    assert rep.impressions == 100 and rep.converted == 50
    assert 450 <= rep.window_s <= 500 and rep.join_rate == pytest.approx(0.47)
    j = LabelJoiner(window_s=100, late_s=0)
    for e in sorted(evs, key=lambda e: e.ts):
        j.add(e)
    first = j.flush()
    fixes = reattribute(first, evs)
    late = {f"u{i}" for i in range(0, 100, 2) if 10 * (i // 2 + 1) > 100}
    assert {f.new.user_id for f in fixes} == late


def test_gate_refuses_a_worse_candidate_and_rollback_serves_the_older(tmp_path):
    reg = SnapshotRegistry(tmp_path, keep=5)
    tr = CadenceTrainer(CFG, CadenceConfig(min_heldout=20, min_auc=0.0), registry=reg)
    tr.add(samples(600))
    ok, _ = tr.increment()
    assert ok and reg.serving == reg.entries[-1].id
    good_id = reg.serving
    tr.add(samples(300, seed=1, t0=5000.0))
    ok, _ = tr.increment()
    assert ok
    # a bad stretch: labels inverted (a client bug), trained hard
    tr.add(samples(2000, seed=2, flip=True, t0=9000.0) + samples(400, seed=3, t0=12000.0))
    before = tr.serving
    ok, info = tr.increment()
    assert not ok and tr.serving is before and "< serving" in reg.entries[-1].reason
    assert reg.entries[-1].file is None and reg.entries[-1].heldout["n"] >= 20
    # rollback to the first model
    held = samples(400, seed=4, t0=20000.0)
    r = tr.rollback(good_id)
    assert reg.serving == good_id
    first = Ranker.load(reg.path(good_id))
    assert np.allclose(r.predict_many([s.context for s in held]),
                       first.predict_many([s.context for s in held]))
    assert SnapshotRegistry(tmp_path).serving == good_id  # survives a restart
    refused = reg.entries[-1].id
    with pytest.raises(InvalidInput, match="refused"):
        reg.serve(refused)


def test_gate_floor_refuses_a_stretch_of_broken_labels():
    tr = CadenceTrainer(CFG, CadenceConfig(min_heldout=20))
    tr.add(samples(600))
    assert tr.increment()[0]
    tr.add(samples(600, seed=2, flip=True, t0=9000.0))  # held-out slice broken as well
    ok, info = tr.increment()
    assert not ok and "labels look broken" in tr.last["reason"]
    assert len(tr.pending) == 144  # 20 % of 720 held out; the broken rest is dropped


def test_gate_figures():
    good = Ranker(CFG).fit(*(lambda s: ([x.context for x in s], [x.complete for x in s],
                                        [x.like for x in s]))(samples(500)))
    bad = Ranker(CFG)
    held = samples(200, seed=9)
    ok, _, figs = gate(bad, good, held, margin=0.01, min_n=10)
    assert not ok and figs["serving_auc"] > 0.9 and figs["auc"] == 0.5
    assert gate(good, bad, held, margin=0.01, min_n=10)[0]
    assert np.isnan(auc([1, 1], [0.2, 0.3]))


def test_frozen_feature_keeps_its_weight_and_its_l1_online():
    tr = samples(400)
    r = Ranker(CFG).fit([s.context for s in tr], [s.complete for s in tr], [0] * 400)
    w, n = r.weight("time:hour=3"), r.frequency("time:hour=3")
    more = samples(400, seed=5, flip=True)
    r.partial_fit([s.context for s in more], [s.complete for s in more], [0] * 400,
                  batch_size=64)
    assert r.weight("time:hour=3") == w and r.frequency("time:hour=3") == n
    assert r.frequency("bias") == 800
