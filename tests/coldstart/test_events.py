from dataclasses import replace

import pytest

from songlens.coldstart.events import (
    Event,
    ImpressionJoiner,
    attribute_labels,
    event_key,
    signal_weight,
    validate_batch,
)

NOW = 1_767_225_600.0


def test_validate_batch_rejects_bad_keeps_good():
    raw = [
        {"user_id": "u1", "song_id": "s1", "event": "complete", "ts": NOW - 10, "play_ms": 200000},
        {"user_id": "u1", "song_id": "s1", "event": "teleport", "ts": NOW},
        {"user_id": "", "song_id": "s1", "event": "like", "ts": NOW},
        "not an object",
        {"user_id": "u1", "song_id": "s2", "event": "like", "ts": NOW + 10 * 86400},
        {"user_id": "u1", "song_id": "s2", "event": "play", "ts": NOW, "play_ms": -5},
        {"user_id": "u1", "song_id": "s2", "event": "like", "ts": NOW, "colour": "red"},
        {"user_id": "u2", "song_id": "s3", "event": "skip", "ts": NOW, "play_ms": 3000,
         "event_id": "abc"},
        {"user_id": "u2", "song_id": "s3", "event": "like", "ts": float("nan")},
    ]
    good, rejected = validate_batch(raw, now=NOW)
    assert [(e.user_id, e.song_id, e.event) for e in good] == [("u1", "s1", "complete"),
                                                               ("u2", "s3", "skip")]
    reasons = {r.index: r.reason for r in rejected}
    assert set(reasons) == {1, 2, 3, 4, 5, 6, 8}
    assert "event" in reasons[1] and "teleport" not in reasons[2]
    assert "future" in reasons[4]
    assert "play_ms" in reasons[5]
    assert "colour" in reasons[6]
    assert "ts" in reasons[8]


def test_signal_weights_follow_play_length():
    long_play = Event(user_id="u", song_id="s", event="play", ts=NOW, play_ms=120_000)
    short_play = Event(user_id="u", song_id="s", event="play", ts=NOW, play_ms=5_000)
    early_skip = Event(user_id="u", song_id="s", event="skip", ts=NOW, play_ms=5_000)
    late_skip = Event(user_id="u", song_id="s", event="skip", ts=NOW, play_ms=150_000)
    assert signal_weight(long_play) > 0
    assert signal_weight(short_play) == 0
    assert signal_weight(early_skip) < 0
    assert signal_weight(late_skip) == 0
    assert signal_weight(Event(user_id="u", song_id="s", event="block", ts=NOW)) < \
        signal_weight(Event(user_id="u", song_id="s", event="dislike", ts=NOW)) < 0
    for ev in ("complete", "like", "collect", "share", "download"):
        assert signal_weight(Event(user_id="u", song_id="s", event=ev, ts=NOW)) > 0


def test_event_key_prefers_client_id_and_is_stable():
    a = Event(user_id="u", song_id="s", event="like", ts=NOW)
    b = Event(user_id="u", song_id="s", event="like", ts=NOW)
    c = Event(user_id="u", song_id="s", event="like", ts=NOW + 1)
    assert event_key(a) == event_key(b) != event_key(c)
    assert event_key(Event(user_id="u", song_id="s", event="like", ts=NOW,
                           event_id="x1")) == "id:x1"


def test_attribute_labels_joins_impressions_with_outcomes():
    ev = [
        Event(user_id="u", song_id="a", event="impression", ts=NOW),
        Event(user_id="u", song_id="a", event="complete", ts=NOW + 200, play_ms=200_000),
        Event(user_id="u", song_id="a", event="like", ts=NOW + 201),
        Event(user_id="u", song_id="b", event="impression", ts=NOW),
        Event(user_id="u", song_id="c", event="impression", ts=NOW),
        Event(user_id="u", song_id="c", event="skip", ts=NOW + 5, play_ms=4000),
        # a play long after the window does not rescue the impression of b
        Event(user_id="u", song_id="b", event="play", ts=NOW + 10_000, play_ms=60_000),
    ]
    labs = {(x.song_id, x.ts): x for x in attribute_labels(ev, window_s=3600)}
    a, b, c = labs[("a", NOW)], labs[("b", NOW)], labs[("c", NOW)]
    assert (a.played, a.complete, a.like, a.negative) == (True, True, True, False)
    assert (b.played, b.complete, b.like) == (False, False, False)
    assert (c.played, c.complete, c.negative) == (True, False, True)
    assert ("b", NOW + 10_000) in labs  # organic play becomes its own sample
    assert len(attribute_labels(ev, include_organic=False)) == 3


def test_event_model_forbids_unknown_event():
    with pytest.raises(ValueError, match="event"):
        Event(user_id="u", song_id="s", event="teleport", ts=NOW)


def test_joiner_in_chunks_gives_what_attribute_labels_gives():
    """The streaming negative cache (as the service runs it: chunks, pop_ready after each)
    labels a log exactly as the batch function does, and keeps each sample's context."""
    from songlens.coldstart.simulator import SimConfig, Simulator

    sim = Simulator(SimConfig(n_users=15, initial_songs=100, new_songs_per_day=5, seed=2))
    events = [e for _ in range(3) for e in sim.step()[2]]
    joiner, got = ImpressionJoiner(window_s=3600), []
    for i in range(0, len(events), 97):
        for ev in events[i:i + 97]:
            joiner.add(ev, lambda ev=ev: ev.ts)  # context: the opening event's time
        got += joiner.pop_ready()
    assert all(joiner.watermark - s.ts <= 3600 for s in joiner.open.values())
    got += joiner.flush()
    want = attribute_labels(events, window_s=3600)

    def key(s):
        return s.user_id, s.song_id, s.ts

    assert sorted(got, key=key) == sorted((replace(s, context=s.ts) for s in want), key=key)
    assert len(want) > 100 and any(s.like for s in want) and any(s.negative for s in want)
    assert not joiner.open and not joiner.pop_ready()


def test_impossible_for_song_allows_skew_and_flags_events_before_the_song():
    from songlens.coldstart.events import impossible_for_song

    ing = 1_767_225_600.0
    song = {"song_id": "s", "ingested_at": ing}

    def e(ts):
        return Event(user_id="u", song_id="s", event="complete", ts=ts)

    assert impossible_for_song(e(ing + 10), song, skew_s=3600) is None
    assert impossible_for_song(e(ing - 3000), song, skew_s=3600) is None  # clock skew
    p = impossible_for_song(e(ing - 14 * 86_400), song, skew_s=3600)
    assert p is not None and p.code == "before_song_existed" and "14.0 days before" in p.reason
    # nothing to judge without an ingestion time
    assert impossible_for_song(e(1.0), {"song_id": "s"}, skew_s=0) is None
    assert impossible_for_song(e(1.0), None, skew_s=0) is None
