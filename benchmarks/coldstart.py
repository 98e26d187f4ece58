"""Offline cold-start evaluation on the seeded listener simulator.

Protocol (``python benchmarks/coldstart.py [--days 30 --train-days 20 --users 300]``):

1. Simulate ``days`` days (:mod:`songlens.coldstart.simulator`). Day by day, every user's
   profile is updated with that day's logged events *after* the day has been used, so nothing
   is ever scored with knowledge of its own outcome. Song interaction counts likewise.
2. Ranker samples are the day's feed impressions joined with what followed them
   (:func:`attribute_labels`); their features use the profiles and counts of the day before.
   Days ``< train_days`` are the training set: one batch :meth:`Ranker.fit` at the end of them.
3. Each held-out day: (i) for a fixed sample of users, recall 50 songs among the new songs of
   the last 7 days (not heard yet) with each strategy and keep the top 10 (by the strategy's own
   score, or re-ranked by the ranker); ground truth is the simulator's true probability of a
   complete play (relevant when ≥ 0.5; NDCG gains are that probability); (ii) AUC of the
   ranker's p(complete) / p(like) on that day's impressions before the model has seen them
   (progressive validation), against the content cosine and popularity; then
   :meth:`Ranker.partial_fit` on the day; (iii) song→audience recall@50 of users for the day's
   new songs; (iv) new-user recall: held-out users who never logged anything get an onboarding
   profile (their main style and language as chosen tags, 3 liked songs) and get recall@50.

Results are written to ``benchmarks/results/coldstart.md``. The second pass (interests that split
on real-like vectors, the ranker's feature groups one by one) is ``coldstart_second_pass.py``,
which reuses :func:`auc` and :func:`ndcg` from here.
"""

from __future__ import annotations

import argparse
import logging
import platform
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from songlens.catalog.filters import SongFilter
from songlens.coldstart.events import attribute_labels, interaction_count
from songlens.coldstart.profiles import UserProfile, onboarding_profile
from songlens.coldstart.recall import (
    ContentRecaller,
    OnboardingRecaller,
    PopularityRecaller,
    RandomRecaller,
    SongAudienceRecaller,
    SongQuery,
    UserNewSongsRecaller,
)
from songlens.coldstart.simulator import SimConfig, Simulator
from songlens.coldstart.vector_search import BruteForceIndex
from songlens.ranking.features import build_features
from songlens.ranking.ranker import Ranker, RankerConfig
from songlens.units import DAY

logger = logging.getLogger("benchmarks.coldstart")
K_RECALL, K_TOP = 50, 10


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties get half credit)."""
    y = np.asarray(y, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ndcg(ranked: list[str], gain: dict[str, float], k: int = K_TOP) -> float:
    g = [gain.get(s, 0.0) for s in ranked[:k]]
    dcg = sum(x / np.log2(i + 2) for i, x in enumerate(g))
    ideal = sorted(gain.values(), reverse=True)[:k]
    idcg = sum(x / np.log2(i + 2) for i, x in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--train-days", type=int, default=20)
    ap.add_argument("--users", type=int, default=250)
    ap.add_argument("--eval-users", type=int, default=80)
    ap.add_argument("--cold-users", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/coldstart.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t_start = time.time()

    sim = Simulator(SimConfig(n_users=args.users, seed=args.seed))
    rng = np.random.default_rng(args.seed + 1)
    users = {u.user_id: u for u in sim.users}
    uids = list(users)
    cold = set(rng.choice(uids, size=args.cold_users, replace=False))  # never logged: new users
    warm = [u for u in uids if u not in cold]
    eval_users = list(rng.choice(warm, size=min(args.eval_users, len(warm)), replace=False))

    index = BruteForceIndex()
    for sid in sim.order:
        index.add(sid, sim.songs[sid].vectors, sim.songs[sid].payload)
    profiles = {u: UserProfile(u) for u in warm}
    heard: dict[str, set[str]] = defaultdict(set)
    completes: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, Counter] = defaultdict(Counter)  # as of the end of the previous day
    ranker = Ranker(RankerConfig(seed=args.seed))
    train_X: list[dict[str, float]] = []
    train_yc: list[int] = []
    train_yl: list[int] = []

    methods = ["random", "popularity", "content", "multi_interest", "content+ranker",
               "multi_interest+ranker"]
    rec = {m: [] for m in methods}
    nd = {m: [] for m in methods}
    covered = {m: set() for m in methods}
    pool_all: set[str] = set()
    aucs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    aud_rec = {"song_audience": [], "random": []}
    onb_rec = {"onboarding": [], "popularity": [], "random": []}
    onb_nd = {"onboarding": [], "popularity": [], "random": []}
    n_events = 0
    timings: dict[str, float] = defaultdict(float)

    for _ in range(args.days):
        d, new, events = sim.step()
        n_events += len(events)
        for sid in new:
            index.add(sid, sim.songs[sid].vectors, sim.songs[sid].payload)
        day_ts = sim.cfg.start_ts + d * DAY
        since = day_ts - (sim.cfg.new_window_days - 1) * DAY
        pool = sim.new_song_ids(d)

        # -- ranker samples of today (features from yesterday's state) --------------------------
        t0 = time.time()
        labs = [lab for lab in attribute_labels(events, include_organic=False)
                if lab.user_id in profiles]
        X = [build_features(profile=profiles[lab.user_id],
                            song_payload=sim.songs[lab.song_id].payload,
                            song_vectors=sim.songs[lab.song_id].vectors, ts=lab.ts,
                            song_counts=counts.get(lab.song_id)) for lab in labs]
        yc = [int(lab.complete) for lab in labs]
        yl = [int(lab.like) for lab in labs]
        timings["features"] += time.time() - t0

        if d >= args.train_days:
            if d == args.train_days:
                t0 = time.time()
                ranker.fit(train_X, train_yc, train_yl)
                timings["fit"] += time.time() - t0
                logger.info("fit on %d samples in %.1f s", len(train_X), time.time() - t0)
            t0 = time.time()
            # (i) recall + ranking for eval users
            pop_now = {s: float(interaction_count(counts.get(s, {}))) for s in pool}
            mi = UserNewSongsRecaller(index, tag_weight=0.3)
            content = ContentRecaller(index)
            popular = PopularityRecaller(lambda p=pool: p, lambda q=pop_now: q)
            rnd = RandomRecaller(lambda p=pool: p, seed=args.seed + d)
            pool_all.update(pool)
            for uid in eval_users:
                prof, user = profiles[uid], users[uid]
                cands = [s for s in pool if s not in heard[uid]]
                if not cands:
                    continue
                p_true = dict(zip(cands, sim.p_complete_many(user, cands), strict=True))
                relevant = {s for s, p in p_true.items() if p >= 0.5}
                filt = SongFilter(ingested_after=since, exclude_ids=frozenset(heard[uid]))
                lists = {
                    "random": rnd.recall(k=K_RECALL, user=prof, filter=filt),
                    "popularity": popular.recall(k=K_RECALL, user=prof, filter=filt),
                    "content": content.recall(k=K_RECALL, user=prof, filter=filt),
                    "multi_interest": mi.recall(k=K_RECALL, user=prof, filter=filt),
                }
                tops = {m: [it.id for it in lst][:K_TOP] for m, lst in lists.items()}
                for base in ("content", "multi_interest"):
                    ids = [it.id for it in lists[base]]
                    feats = [build_features(profile=prof, song_payload=sim.songs[s].payload,
                                            song_vectors=sim.songs[s].vectors,
                                            ts=day_ts + 12 * 3600, song_counts=counts.get(s))
                             for s in ids]
                    sc = ranker.predict_many(feats)[:, 2] if ids else np.zeros(0)
                    order = np.argsort(-sc, kind="stable")
                    tops[f"{base}+ranker"] = [ids[i] for i in order][:K_TOP]
                    lists[f"{base}+ranker"] = lists[base]
                for m in methods:
                    ids50 = {it.id for it in lists[m]}
                    if relevant:
                        rec[m].append(len(ids50 & relevant) / len(relevant))
                    nd[m].append(ndcg(tops[m], p_true))
                    covered[m].update(tops[m])
            timings["eval_recall"] += time.time() - t0

            # (ii) progressive AUC on today's impressions, then the online update
            if labs:
                t0 = time.time()
                P = ranker.predict_many(X)
                cos = np.array([x.get("cos_long_fused", 0.0) for x in X])
                pop = np.array([interaction_count(counts.get(lab.song_id, {})) for lab in labs],
                               dtype=float)
                aucs["ranker p(complete)"].append((np.array(yc), P[:, 0]))
                aucs["ranker p(like)"].append((np.array(yl), P[:, 1]))
                aucs["ranker score -> complete"].append((np.array(yc), P[:, 2]))
                aucs["content cosine -> complete"].append((np.array(yc), cos))
                aucs["content cosine -> like"].append((np.array(yl), cos))
                aucs["popularity -> complete"].append((np.array(yc), pop))
                ranker.partial_fit(X, yc, yl)
                timings["partial_fit"] += time.time() - t0

            # (iii) song -> audience for today's new songs
            t0 = time.time()
            uindex = BruteForceIndex()
            for uid in warm:
                p = profiles[uid]
                uindex.add(uid, p.named_vectors(), p.to_payload(include_vectors=False))
            aud = SongAudienceRecaller(uindex, tag_weight=0.3)
            r_users = RandomRecaller(lambda: warm, seed=args.seed + 100 + d)
            for sid in new:
                song = sim.songs[sid]
                truth = {u for u in warm if sim.p_complete(users[u], song) >= 0.5}
                if not truth:
                    continue
                got = {it.id for it in aud.recall(k=K_RECALL, song=SongQuery(
                    sid, song.payload, song.vectors))}
                aud_rec["song_audience"].append(len(got & truth) / len(truth))
                rr = {it.id for it in r_users.recall(k=K_RECALL)}
                aud_rec["random"].append(len(rr & truth) / len(truth))

            # (iv) new users from onboarding choices
            onb = OnboardingRecaller(index)
            for uid in sorted(cold)[: args.cold_users]:
                user = users[uid]
                cat = sim.order
                u_all = sim.utilities(user, cat)
                liked = [cat[i] for i in np.argsort(-u_all)[:3]]
                style = sim.styles[int(np.argmax(sim.style_proto @ user.tastes[0]))]
                lang = sim.languages[int(np.argmax(user.lang_pref))]
                prof = onboarding_profile(
                    uid, tags={"style": [style], "language": [lang]},
                    liked_song_vectors=[sim.songs[s].vectors for s in liked],
                    liked_song_payloads=[sim.songs[s].payload for s in liked], ts=day_ts)
                p_true = dict(zip(pool, sim.p_complete_many(user, pool), strict=True))
                relevant = {s for s, p in p_true.items() if p >= 0.5}
                filt = SongFilter(ingested_after=since)
                for name, r in (("onboarding", onb), ("popularity", popular), ("random", rnd)):
                    items = r.recall(k=K_RECALL, user=prof, filter=filt)
                    if relevant:
                        onb_rec[name].append(len({it.id for it in items} & relevant)
                                             / len(relevant))
                    onb_nd[name].append(ndcg([it.id for it in items][:K_TOP], p_true))
            timings["eval_other"] += time.time() - t0
        else:
            train_X += X
            train_yc += yc
            train_yl += yl

        # -- fold today's events into the state used tomorrow -----------------------------------
        t0 = time.time()
        for ev in events:
            counts[ev.song_id][ev.event] += 1
            if ev.event == "complete":
                completes[ev.user_id].append(ev.song_id)
            p = profiles.get(ev.user_id)
            if p is None:
                continue
            if ev.event != "impression":
                heard[ev.user_id].add(ev.song_id)
            song = sim.songs[ev.song_id]
            p.update(ev, song.payload, song.vectors)
        timings["profiles"] += time.time() - t0
        logger.info("day %d: %d events, %d samples", d, len(events), len(labs))

    elapsed = time.time() - t_start

    def pooled_auc(name: str) -> float:
        y = np.concatenate([a for a, _ in aucs[name]])
        s = np.concatenate([b for _, b in aucs[name]])
        return auc(y, s)

    # effective tastes: true taste centroids that drew >= 20 % of a listener's complete plays
    n_int, true_n = [], []
    for u, p in profiles.items():
        done = completes.get(u, [])
        if len(done) < 10:
            continue
        z = np.array([sim.songs[s].z for s in done])
        frac = np.bincount(np.argmax(z @ users[u].tastes.T, axis=1),
                           minlength=len(users[u].tastes)) / len(done)
        true_n.append(int((frac >= 0.2).sum()))
        n_int.append(len(p.interests()))
    lines = [
        "# Cold-start recall and ranking on the listener simulator",
        "",
        f"Command: `python benchmarks/coldstart.py --days {args.days} --train-days "
        f"{args.train_days} --users {args.users} --eval-users {args.eval_users} "
        f"--cold-users {args.cold_users} --seed {args.seed}`  ",
        "Machine: 2-core x86_64 CPU, 24 GiB, no GPU (shared with other jobs)  ",
        f"Date: {subprocess.run(['date'], capture_output=True, text=True).stdout.strip()}  ",
        f"Python {platform.python_version()}; wall time {elapsed:.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})",
        "",
        f"World: {args.users} listeners ({len(cold)} held out as brand-new users), "
        f"{sim.cfg.initial_songs} initial songs + {sim.cfg.new_songs_per_day}/day, "
        f"{n_events} logged events; training days 0–{args.train_days - 1}, "
        f"held-out days {args.train_days}–{args.days - 1}. "
        f"Ranker batch-fit on {len(train_X)} impressions, then partial_fit daily; "
        f"{int(ranker.admitted.sum())} hashed features admitted.",
        "",
        "## User → new songs (new songs of the last 7 days, not yet heard)",
        "",
        f"{len(eval_users)} users × {args.days - args.train_days} days. Relevant: true "
        "p(complete) ≥ 0.5. recall@50 of the recalled 50; NDCG@10 of the top 10 with the true "
        "p(complete) as gain; coverage: share of the new songs that reached anyone's top 10.",
        "",
        "| method | recall@50 | NDCG@10 | coverage@10 |",
        "|---|---|---|---|",
    ]
    for m in methods:
        lines.append(f"| {m} | {np.mean(rec[m]):.3f} | {np.mean(nd[m]):.3f} | "
                     f"{len(covered[m]) / max(len(pool_all), 1):.3f} |")
    lines += [
        "",
        "`+ranker`: the same 50 recalled songs re-ordered by the ranker's combined score "
        "(p(complete) + p(like)).",
        "",
        "## Ranker AUC on held-out impressions",
        "",
        "Progressive validation: each held-out day is scored before the ranker trains on it.",
        "",
        "| scorer → label | AUC |",
        "|---|---|",
    ]
    for name in aucs:
        lines.append(f"| {name} | {pooled_auc(name):.3f} |")
    lines += [
        "",
        "## Song → audience (each new song of the held-out days)",
        "",
        f"recall@50 of the true audience (p(complete) ≥ 0.5) among {len(warm)} users: "
        f"song_audience {np.mean(aud_rec['song_audience']):.3f}, random "
        f"{np.mean(aud_rec['random']):.3f} (over {len(aud_rec['random'])} songs).",
        "",
        "## New users (onboarding: main style + language tags, 3 liked songs)",
        "",
        "| method | recall@50 | NDCG@10 |",
        "|---|---|---|",
    ]
    for m in onb_rec:
        lines.append(f"| {m} | {np.mean(onb_rec[m]):.3f} | {np.mean(onb_nd[m]):.3f} |")
    lines += [
        "",
        "## Interest centroids",
        "",
        f"Over {len(n_int)} listeners with ≥ 10 complete plays: mean interests per profile "
        f"{np.mean(n_int):.2f}, mean effective true tastes (true taste centroids behind ≥ 20 % "
        f"of their complete plays) {np.mean(true_n):.2f}; correlation "
        f"{np.corrcoef(n_int, true_n)[0, 1]:.2f}; exact match "
        f"{np.mean(np.array(n_int) == np.array(true_n)):.2f}.",
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines)
    out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
