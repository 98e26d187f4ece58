"""Recall channels on the listener simulator with hidden scenes: with and without the
collaborative channel, how fast a new song moves from content to collaborative, and the ALS fit
time at 1M events.

Protocol (``python benchmarks/recall_channels.py``):

1. A world with ``--scenes`` hidden scenes (:mod:`songlens.coldstart.simulator`): every song
   belongs to one, every listener likes one (+``--scene-weight`` utility), and no content view,
   tag or artist shows it. ``anisotropy=1.0`` and ``taste_max_cos=0.3`` as in the second cold-start
   pass.
2. Day by day, profiles and histories are updated with a day's events only after the day was
   used; the ALS model is refit at the end of every day on every event so far (the cadence), so
   a held-out day is always served by a model that never saw it.
3. Held-out days ``>= --train-days``: for ``--eval-users`` listeners, two recalls of 10 songs
   each — *home* (any catalogue song not heard yet) and *new* (songs of the last 7 days not
   heard yet) — with the channels' lists merged by :func:`merge_channels` under the service's
   default quotas, for the arms below. Relevant: the simulator's true p(complete) ≥ 0.5;
   recall@10 = relevant in the 10 / min(10, relevant); NDCG@10 with the true p(complete) as
   gain. AUC: the day's impressions (label: completed), scored before the model saw them by the
   content cosine (long-term vector), the ALS score, and their sum after z-scoring per day (ALS
   missing → 0, the mean).
4. Time to switch: for every song that arrived on a held-out day, the first daily refit that
   holds it (``min_item_users`` listeners with a positive play): hours after it arrived and its
   positive listeners then; and, over the new-song recalls, which channel filled each slot by
   the song's age in days.
5. Fit time at 1M events: a synthetic log (``--fit-users`` × ``--fit-songs``, Zipf popularity)
   read back from a real :class:`FeedbackLog`; the reference in the same run is reading the
   log itself; ALS at 1 and 2 threads.

Output: ``benchmarks/results/recall_channels.md``.
"""

from __future__ import annotations

import argparse
import logging
import platform
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from coldstart import auc, ndcg

from songlens.catalog.filters import SongFilter
from songlens.coldstart.channels import (
    CollaborativeChannel,
    ContentChannel,
    Listener,
    RelationChannel,
    merge_channels,
)
from songlens.coldstart.collaborative import ALSConfig, CollaborativeModel
from songlens.coldstart.events import Event, signal_weight
from songlens.coldstart.feedback_log import FeedbackLog
from songlens.coldstart.profiles import UserProfile
from songlens.coldstart.recall import UserNewSongsRecaller
from songlens.coldstart.simulator import SimConfig, Simulator
from songlens.coldstart.vector_search import BruteForceIndex
from songlens.settings import RecallChannelSettings
from songlens.units import DAY

logger = logging.getLogger("benchmarks.recall_channels")
K = 10
QUOTAS = RecallChannelSettings().quotas
ARMS = {
    "content only": ("content",),
    "content + relation": ("content", "relation"),
    "content + collaborative": ("content", "collaborative"),
    "all three (service default)": ("content", "collaborative", "relation"),
    "collaborative only": ("collaborative",),
}


def fit_time(n_events: int, n_users: int, n_songs: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_songs + 1) ** 0.9
    pop /= pop.sum()
    users = rng.integers(0, n_users, size=n_events)
    songs = rng.choice(n_songs, size=n_events, p=pop)
    kinds = rng.choice(["complete", "like", "skip", "impression"], size=n_events,
                       p=[0.45, 0.1, 0.2, 0.25])
    lines = []
    with tempfile.TemporaryDirectory() as d:
        log = FeedbackLog(Path(d) / "f.sqlite", synchronous="NORMAL")
        t0 = time.perf_counter()
        for i in range(0, n_events, 20_000):
            log.append(Event.model_construct(
                user_id=f"u{users[j]}", song_id=f"s{songs[j]}", event=str(kinds[j]),
                ts=1.7e9 + j, play_ms=200_000 if kinds[j] == "complete" else 5_000,
                event_id=None) for j in range(i, min(i + 20_000, n_events)))
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        n = sum(1 for _ in log.iter_events(0))
        t_read = time.perf_counter() - t0
        res = {}
        for threads in (1, 2, 1, 2):  # alternating
            t0 = time.perf_counter()
            m = CollaborativeModel.fit((le.event for le in log.iter_events(0)),
                                       ALSConfig(threads=threads))
            res.setdefault(threads, []).append(time.perf_counter() - t0)
        log.close()
    lines += [
        f"Synthetic log: {n:,} events ({n_users:,} listeners × {n_songs:,} songs, Zipf 0.9 "
        f"popularity; 55 % positive), {m.n_pairs:,} positive pairs, {len(m):,} songs admitted "
        f"(≥ {m.config.min_item_users} listeners); ALS 32 factors, 15 iterations.",
        "",
        "| step | seconds | × reading the log |",
        "|---|---|---|",
        f"| write the log (reference setup, 20k-event batches) | {t_write:.1f} | – |",
        f"| read the log (reference) | {t_read:.1f} | 1.0 |",
    ]
    for threads, ts in res.items():
        lines.append(f"| read + matrix + ALS fit, {threads} thread(s) (best of {len(ts)}) | "
                     f"{min(ts):.1f} | {min(ts) / t_read:.1f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=250)
    ap.add_argument("--days", type=int, default=22)
    ap.add_argument("--train-days", type=int, default=14)
    ap.add_argument("--eval-users", type=int, default=80)
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--scene-weight", type=float, default=1.5)
    ap.add_argument("--artists-by-scene", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fit-events", type=int, default=1_000_000)
    ap.add_argument("--fit-users", type=int, default=50_000)
    ap.add_argument("--fit-songs", type=int, default=100_000)
    ap.add_argument("--out", default="benchmarks/results/recall_channels.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t_start = time.time()
    load0 = Path("/proc/loadavg").read_text().split()[:3]

    sim = Simulator(SimConfig(n_users=args.users, seed=args.seed, n_scenes=args.scenes,
                              scene_weight=args.scene_weight, anisotropy=1.0,
                              taste_max_cos=0.3, artists_by_scene=args.artists_by_scene))
    rng = np.random.default_rng(args.seed + 1)
    users = {u.user_id: u for u in sim.users}
    eval_users = list(rng.choice(list(users), size=min(args.eval_users, len(users)),
                                 replace=False))
    index = BruteForceIndex()
    for sid in sim.order:
        index.add(sid, sim.songs[sid].vectors, sim.songs[sid].payload)
    profiles = {u: UserProfile(u) for u in users}
    history: dict[str, dict[str, float]] = defaultdict(dict)
    heard: dict[str, set[str]] = defaultdict(set)
    listeners: dict[str, set[str]] = defaultdict(set)  # positive listeners per song
    all_events: list[Event] = []
    cfg = ALSConfig()
    model: CollaborativeModel | None = None
    entered: dict[str, tuple[float, int]] = {}  # song -> (hours after arrival, listeners)
    watch: set[str] = set()
    rec = {(t, a): [] for t in ("home", "new") for a in ARMS}
    nd = {(t, a): [] for t in ("home", "new") for a in ARMS}
    aucs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    by_age: dict[int, Counter] = defaultdict(Counter)
    fit_s: list[float] = []

    def payloads(ids):
        return {s: index.payloads[s] for s in ids if s in index.payloads}

    for _ in range(args.days):
        d, new, events = sim.step()
        for sid in new:
            index.add(sid, sim.songs[sid].vectors, sim.songs[sid].payload)
        if d >= args.train_days:
            watch.update(new)
            day_ts = sim.cfg.start_ts + d * DAY
            since = day_ts - (sim.cfg.new_window_days - 1) * DAY
            content = ContentChannel(UserNewSongsRecaller(index, tag_weight=0.3))
            collab = CollaborativeChannel(lambda m=model: m, index, payloads)
            relation = RelationChannel(index, payloads)
            for uid in eval_users:
                lis = Listener(profiles[uid], dict(history[uid]))
                for task in ("home", "new"):
                    ex = frozenset(heard[uid])
                    filt = SongFilter(exclude_ids=ex) if task == "home" else SongFilter(
                        ingested_after=since, exclude_ids=ex)
                    pool = [s for s in (sim.order if task == "home" else sim.new_song_ids(d))
                            if s not in ex]
                    p_true = dict(zip(pool, sim.p_complete_many(users[uid], pool), strict=True))
                    relevant = {s for s, p in p_true.items() if p >= 0.5}
                    lists = {c.name: c.recall(listener=lis, k=K, filter=filt)
                             for c in (content, collab, relation)}
                    for arm, names in ARMS.items():
                        top = merge_channels({n: lists[n] for n in names}, QUOTAS, K)
                        ids = [it.id for it in top]
                        if relevant:
                            rec[(task, arm)].append(len(set(ids) & relevant)
                                                    / min(K, len(relevant)))
                        nd[(task, arm)].append(ndcg(ids, p_true, K))
                        if task == "new" and arm.startswith("all"):
                            for it in top:
                                by_age[d - sim.songs[it.id].day][it.channels[0]] += 1
            # AUC on today's impressions, before any model saw them
            completed = {(e.user_id, e.song_id) for e in events if e.event == "complete"}
            imps = [e for e in events if e.event == "impression"]
            y = np.array([(e.user_id, e.song_id) in completed for e in imps])
            cos = np.zeros(len(imps))
            als = np.full(len(imps), np.nan)
            by_user: dict[str, list[int]] = defaultdict(list)
            for i, e in enumerate(imps):
                by_user[e.user_id].append(i)
            for uid, ix in by_user.items():
                v = profiles[uid].vector("fused", "long")
                sids = [imps[i].song_id for i in ix]
                if v is not None:
                    cos[ix] = np.array([sim.songs[s].vectors["fused"] for s in sids]) @ v
                if model is not None:
                    als[ix] = model.score(history[uid], sids)

            def z(x):
                x = np.where(np.isnan(x), np.nanmean(x) if np.isfinite(x).any() else 0.0, x)
                return (x - x.mean()) / (x.std() or 1.0)

            aucs["content cosine"].append((y, cos))
            aucs["ALS score (missing: the day's mean)"].append((y, z(als)))
            aucs["content cosine + ALS score (z-scored sum)"].append((y, z(cos) + z(als)))
        # fold the day in, then refit (the daily cadence)
        for ev in events:
            all_events.append(ev)
            w = signal_weight(ev)
            if ev.event != "impression":
                heard[ev.user_id].add(ev.song_id)
            if w > 0:
                h = history[ev.user_id]
                h[ev.song_id] = h.pop(ev.song_id, 0.0) + w
                listeners[ev.song_id].add(ev.user_id)
            song = sim.songs[ev.song_id]
            profiles[ev.user_id].update(ev, song.payload, song.vectors)
        model = CollaborativeModel.fit(all_events, cfg)
        fit_s.append(model.fit_s)
        end = sim.cfg.start_ts + (d + 1) * DAY
        for sid in watch:
            if sid not in entered and sid in model:
                entered[sid] = ((end - sim.songs[sid].payload["ingested_at"]) / 3600,
                                len(listeners[sid]))
        logger.info("day %d: %d events; ALS %d songs in %.1f s", d, len(events), len(model),
                    model.fit_s)
    elapsed = time.time() - t_start
    load1 = Path("/proc/loadavg").read_text().split()[:3]

    def pooled(name):
        return auc(np.concatenate([a for a, _ in aucs[name]]),
                   np.concatenate([b for _, b in aucs[name]]))

    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True,
                         text=True).stdout.split(":")[-1].strip()
    lines = [
        "# Recall channels on the simulator with hidden scenes",
        "",
        f"Command: `python benchmarks/recall_channels.py --users {args.users} --days "
        f"{args.days} --train-days {args.train_days} --eval-users {args.eval_users} --scenes "
        f"{args.scenes} --scene-weight {args.scene_weight} --seed {args.seed}"
        f"{' --artists-by-scene' if args.artists_by_scene else ''} --fit-events "
        f"{args.fit_events}`  ",
        f"Machine: {cpu}, {platform.machine()}; load average {' '.join(load0)} before, "
        f"{' '.join(load1)} after  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; Python "
        f"{platform.python_version()}; simulation and evaluation {elapsed:.0f} s",
        "",
        f"World: {args.users} listeners, {sim.cfg.initial_songs} initial songs + "
        f"{sim.cfg.new_songs_per_day}/day, {args.scenes} hidden scenes (weight "
        f"{args.scene_weight}), {len(all_events):,} events; days 0–{args.train_days - 1} only "
        f"build history, held-out days {args.train_days}–{args.days - 1}; {len(eval_users)} "
        f"listeners evaluated each held-out day. Quotas: {dict(QUOTAS)}. ALS refit daily: "
        f"median {np.median(fit_s):.2f} s.",
        "",
        "| arm | home recall@10 | home NDCG@10 | new recall@10 | new NDCG@10 |",
        "|---|---|---|---|---|",
    ]
    for arm in ARMS:
        lines.append(f"| {arm} | {np.mean(rec[('home', arm)]):.3f} | "
                     f"{np.mean(nd[('home', arm)]):.3f} | {np.mean(rec[('new', arm)]):.3f} | "
                     f"{np.mean(nd[('new', arm)]):.3f} |")
    lines += ["", "AUC on the held-out days' impressions (label: completed):", "",
              "| scorer | AUC |", "|---|---|"]
    lines += [f"| {name} | {pooled(name):.3f} |" for name in aucs]
    hrs = np.array([h for h, _ in entered.values()])
    plays = np.array([p for _, p in entered.values()])
    lines += [
        "",
        f"Time to switch: {len(entered)} of {len(watch)} songs that arrived on held-out days "
        f"entered the collaborative model before the run ended; hours after arrival (quartiles) "
        f"{np.percentile(hrs, 25):.0f} / {np.median(hrs):.0f} / {np.percentile(hrs, 75):.0f}, "
        f"positive listeners then {np.percentile(plays, 25):.0f} / {np.median(plays):.0f} / "
        f"{np.percentile(plays, 75):.0f} (admission needs {cfg.min_item_users}; the refit is "
        "daily, so hours are bounded below by the time to the next refit).",
        "",
        "Which channel filled the new-song slots (service default quotas), by the song's age:",
        "",
        "| age (days) | slots | content | collaborative | relation |",
        "|---|---|---|---|---|",
    ]
    for age in sorted(by_age):
        c = by_age[age]
        tot = sum(c.values())
        lines.append(f"| {age} | {tot} | " + " | ".join(
            f"{c[n] / tot:.2f}" for n in ("content", "collaborative", "relation")) + " |")
    if args.fit_events:
        lines += ["", "## ALS fit time at 1M events", ""]
        lines += fit_time(args.fit_events, args.fit_users, args.fit_songs, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines)
    out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
