"""Cold start, second pass (issue 17), on the listener simulator: interests that split, and the
ranker's new feature groups one by one.

``python benchmarks/coldstart_second_pass.py [--users 120 --days 16 --train-days 10]``

The world is :mod:`songlens.coldstart.simulator` with ``anisotropy=1.0`` (random song pairs at
cosine ≈ 0.5 in ``fused``, as real embeddings: the fixed 0.3 threshold never fires) and
``taste_max_cos=0.3`` (a listener's 1–3 tastes are far apart). Ground truth comes from the
simulator's latent space, never from the service's vectors: a listener's true interest count is
the number of their latent tastes behind ≥ 20 % of their complete plays; relevance is the true
p(complete).

1. Interests: every listener's profile is folded from the same events with the fixed
   thresholds (before) and with a :class:`SimilarityBackground` of 512 catalogue songs at
   quantile 0.8 (after; plus two variants: MIND-like growth of the cap, quantile 0.9).
   Reported: the share of listeners whose interest count matches the
   truth, and on held-out days, recall@50 of new songs for listeners with ≥ 2 true tastes:
   multi-interest recall over each profile vs one long-term vector.
2. Ranker ablation: samples are feed impressions joined with their outcome; features use the
   profiles of the day before, song counts of the day before, and real-time counters of the
   events before the impression. Every variant is the same samples with some feature groups
   dropped: batch-fit on days < ``train-days``, then each held-out day is scored before the
   variant trains on it (progressive validation: AUC), and NDCG@10 of the top 10 after
   re-ranking 50 multi-interest candidates for ``eval-users`` listeners (gain: true
   p(complete)).
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
from coldstart import auc, ndcg

from songlens.catalog.filters import SongFilter
from songlens.coldstart.events import attribute_labels
from songlens.coldstart.interests import SimilarityBackground
from songlens.coldstart.profiles import ProfileConfig, UserProfile
from songlens.coldstart.recall import ContentRecaller, UserNewSongsRecaller
from songlens.coldstart.simulator import SimConfig, Simulator
from songlens.coldstart.vector_search import BruteForceIndex
from songlens.ranking.counters import RecentCounts
from songlens.ranking.features import build_features
from songlens.ranking.ranker import Ranker, RankerConfig
from songlens.units import DAY

logger = logging.getLogger("benchmarks.coldstart_second_pass")


def _is_artist(k: str) -> bool:
    return k in ("artist_aff", "artist_known=0", "artist_known=1") or k.startswith("artist=")


GROUPS = {
    "tag crosses": lambda k: k.startswith("xt:"),
    "real-time counters": lambda k: k.startswith("rt:"),
    "recency": lambda k: k.startswith("rec:"),
    "catalogue percentiles": lambda k: k.startswith("pct:"),
}
OLD = tuple(GROUPS.values())
#: variant -> predicate of the features it drops
VARIANTS = {
    "before (previous features)": lambda k: any(g(k) for g in OLD),
    "previous − artist affinity": lambda k: any(g(k) for g in OLD) or _is_artist(k),
    **{f"previous + {name}": (lambda k, g=g: not g(k) and any(h(k) for h in OLD))
       for name, g in GROUPS.items()},
    "after (all)": lambda k: False,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=120)
    ap.add_argument("--days", type=int, default=16)
    ap.add_argument("--train-days", type=int, default=10)
    ap.add_argument("--eval-users", type=int, default=50)
    ap.add_argument("--quantile", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/coldstart_second_pass.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t_start = time.time()

    sim = Simulator(SimConfig(n_users=args.users, anisotropy=1.0, taste_max_cos=0.3,
                              seed=args.seed))
    users = {u.user_id: u for u in sim.users}
    rng = np.random.default_rng(args.seed + 1)
    eval_users = list(rng.choice(list(users), size=min(args.eval_users, len(users)),
                                 replace=False))
    index = BruteForceIndex()
    for sid in sim.order:
        index.add(sid, sim.songs[sid].vectors, sim.songs[sid].payload)
    sample = rng.choice(len(sim.order), size=min(512, len(sim.order)), replace=False)
    vecs = np.array([sim.songs[sim.order[i]].vectors["fused"] for i in sample])

    def bg(q: float) -> SimilarityBackground:
        return SimilarityBackground(vecs, space="fused", quantile=q)

    pair_cos = bg(args.quantile).pair_cosines()
    after_name = f"catalogue quantile {args.quantile} (after)"
    configs = {"fixed 0.3 / 0.55 (before)": ProfileConfig(),
               after_name: ProfileConfig(background=bg(args.quantile)),
               f"catalogue quantile {args.quantile} + MIND-like growth": ProfileConfig(
                   background=bg(args.quantile), interest_growth=True),
               "catalogue quantile 0.9": ProfileConfig(background=bg(0.9))}
    profiles = {name: {u: UserProfile(u, c) for u in users} for name, c in configs.items()}
    after = profiles[after_name]
    heard: dict[str, set[str]] = defaultdict(set)
    completes: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, Counter] = defaultdict(Counter)
    recent = RecentCounts()
    rankers = {v: Ranker(RankerConfig(seed=args.seed)) for v in VARIANTS}
    train: list[tuple[dict, int, int]] = []
    scored: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = defaultdict(list)
    nd: dict[str, list[float]] = defaultdict(list)
    multi_rec: dict[str, list[float]] = defaultdict(list)
    oracle: list[tuple[np.ndarray, np.ndarray]] = []  # the simulator's true p(complete)
    timings: dict[str, float] = defaultdict(float)

    def keep(f: dict[str, float], variant: str) -> dict[str, float]:
        drop = VARIANTS[variant]
        return {k: v for k, v in f.items() if not drop(k)}

    for _ in range(args.days):
        d, new, events = sim.step()
        for sid in new:
            index.add(sid, sim.songs[sid].vectors, sim.songs[sid].payload)
        day_ts = sim.cfg.start_ts + d * DAY
        pool = sim.new_song_ids(d)
        since = day_ts - (sim.cfg.new_window_days - 1) * DAY

        if d >= args.train_days:
            if d == args.train_days:
                t0 = time.time()
                for v, r in rankers.items():
                    r.fit([keep(x, v) for x, _, _ in train], [c for _, c, _ in train],
                          [lk for _, _, lk in train])
                timings["fit"] += time.time() - t0
            t0 = time.time()
            snap_ts = day_ts  # real-time counters as of the start of the day
            for uid in eval_users:
                cands = [s for s in pool if s not in heard[uid]]
                if not cands:
                    continue
                p_true = dict(zip(cands, sim.p_complete_many(users[uid], cands), strict=True))
                relevant = {s for s, p in p_true.items() if p >= 0.5}
                filt = SongFilter(ingested_after=since, exclude_ids=frozenset(heard[uid]))
                if len(users[uid].tastes) >= 2 and relevant:
                    for name, profs in profiles.items():
                        got = UserNewSongsRecaller(index, tag_weight=0.3).recall(
                            k=50, user=profs[uid], filter=filt)
                        multi_rec[f"multi-interest, {name}"].append(
                            len({it.id for it in got} & relevant) / len(relevant))
                    got = ContentRecaller(index).recall(k=50, user=after[uid], filter=filt)
                    multi_rec["one long-term vector"].append(
                        len({it.id for it in got} & relevant) / len(relevant))
                ids = [it.id for it in UserNewSongsRecaller(index, tag_weight=0.3).recall(
                    k=50, user=after[uid], filter=filt)]
                if not ids:
                    continue
                feats = [build_features(profile=after[uid], song_payload=sim.songs[s].payload,
                                        song_vectors=sim.songs[s].vectors,
                                        ts=day_ts + 12 * 3600, song_counts=counts.get(s),
                                        recent_counts=recent.snapshot(s, snap_ts))
                         for s in ids]
                for v, r in rankers.items():
                    sc = r.predict_many([keep(f, v) for f in feats])[:, 2]
                    nd[v].append(ndcg([ids[i] for i in np.argsort(-sc, kind="stable")],
                                      p_true))
            timings["eval"] += time.time() - t0

        # today's samples: profiles / counts of yesterday, real-time counters up to the moment
        t0 = time.time()
        labs = sorted((lab for lab in attribute_labels(events, include_organic=False)),
                      key=lambda lab: lab.ts)
        evs = sorted(events, key=lambda e: e.ts)
        j = 0
        X, yc, yl = [], [], []
        for lab in labs:
            while j < len(evs) and evs[j].ts < lab.ts:
                recent.add(evs[j])
                j += 1
            X.append(build_features(profile=after[lab.user_id],
                                    song_payload=sim.songs[lab.song_id].payload,
                                    song_vectors=sim.songs[lab.song_id].vectors, ts=lab.ts,
                                    song_counts=counts.get(lab.song_id),
                                    recent_counts=recent.snapshot(lab.song_id, lab.ts)))
            yc.append(int(lab.complete))
            yl.append(int(lab.like))
        for e in evs[j:]:
            recent.add(e)
        timings["features"] += time.time() - t0
        if d >= args.train_days:
            t0 = time.time()
            by_user: dict[str, list[int]] = defaultdict(list)
            for i, lab in enumerate(labs):
                by_user[lab.user_id].append(i)
            p_true = np.zeros(len(labs))
            for uid, ix in by_user.items():
                p_true[ix] = sim.p_complete_many(users[uid], [labs[i].song_id for i in ix])
            oracle.append((np.array(yc), p_true))
            for v, r in rankers.items():
                Xv = [keep(x, v) for x in X]
                P = r.predict_many(Xv)
                scored[v].append((np.array(yc), np.array(yl), P))
                r.partial_fit(Xv, yc, yl)
            timings["score+partial_fit"] += time.time() - t0
        else:
            train += list(zip(X, yc, yl, strict=True))

        t0 = time.time()
        for ev in events:
            counts[ev.song_id][ev.event] += 1
            if ev.event == "complete":
                completes[ev.user_id].append(ev.song_id)
            if ev.event != "impression":
                heard[ev.user_id].add(ev.song_id)
            song = sim.songs[ev.song_id]
            for profs in profiles.values():
                profs[ev.user_id].update(ev, song.payload, song.vectors)
        timings["profiles"] += time.time() - t0
        logger.info("day %d: %d events, %d samples", d, len(events), len(labs))

    elapsed = time.time() - t_start
    truth = {}
    for u, done in completes.items():
        if len(done) < 10:
            continue
        z = np.array([sim.songs[s].z for s in done])
        frac = np.bincount(np.argmax(z @ users[u].tastes.T, axis=1),
                           minlength=len(users[u].tastes)) / len(done)
        truth[u] = int((frac >= 0.2).sum())
    t_arr = np.array(list(truth.values()))
    load = subprocess.run(["cat", "/proc/loadavg"], capture_output=True, text=True).stdout
    cpu = subprocess.run(["sh", "-c", "lscpu | grep 'Model name' | sed 's/.*: *//'"],
                         capture_output=True, text=True).stdout.strip()
    lines = [
        "# Cold start, second pass: interests and ranker ablation on the simulator",
        "",
        f"Command: `python benchmarks/coldstart_second_pass.py --users {args.users} --days "
        f"{args.days} --train-days {args.train_days} --eval-users {args.eval_users} "
        f"--quantile {args.quantile} --seed {args.seed}`  ",
        f"Machine: {cpu}, 2 cores shared with other jobs; load before the summary "
        f"{load.split()[:3]}  ",
        f"Date: {subprocess.run(['date'], capture_output=True, text=True).stdout.strip()}  ",
        f"Python {platform.python_version()}; wall time {elapsed:.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})",
        "",
        f"World: {args.users} listeners, anisotropy 1.0 (random song pairs in fused: cosine "
        f"5/50/95 % = {np.percentile(pair_cos, 5):.2f} / {np.median(pair_cos):.2f} / "
        f"{np.percentile(pair_cos, 95):.2f}), tastes ≤ 0.3 apart in the latent space; "
        f"training days 0–{args.train_days - 1}, held-out days {args.train_days}–"
        f"{args.days - 1}; {len(train)} training impressions.",
        "",
        "## Interest count vs the truth",
        "",
        f"{len(truth)} listeners with ≥ 10 complete plays; true counts 1/2/3: "
        f"{[int((t_arr == i).sum()) for i in (1, 2, 3)]}.",
        "",
        "| thresholds | exact match | mean count (truth 1 / 2 / 3) |",
        "|---|---|---|",
    ]
    for name, profs in profiles.items():
        n = np.array([len(profs[u].interests()) for u in truth])
        by = " / ".join(f"{n[t_arr == i].mean():.2f}" if (t_arr == i).any() else "–"
                        for i in (1, 2, 3))
        lines.append(f"| {name} | {np.mean(n == t_arr):.3f} | {by} |")
    lines += [
        "",
        "## User → new songs, listeners with ≥ 2 tastes (held-out days)",
        "",
        "| recall | recall@50 | n |",
        "|---|---|---|",
    ]
    for name, vals in multi_rec.items():
        lines.append(f"| {name} | {np.mean(vals):.3f} | {len(vals)} |")
    lines += [
        "",
        "## Ranker ablation (held-out days)",
        "",
        "AUC: progressive validation on the held-out impressions; NDCG@10: 50 multi-interest "
        "candidates re-ranked for the evaluation listeners.",
        "",
        "| features | AUC p(complete) | AUC p(like) | AUC score→complete | NDCG@10 |",
        "|---|---|---|---|---|",
    ]
    for v in VARIANTS:
        yc_all = np.concatenate([a for a, _, _ in scored[v]])
        yl_all = np.concatenate([b for _, b, _ in scored[v]])
        P = np.concatenate([p for _, _, p in scored[v]])
        lines.append(f"| {v} | {auc(yc_all, P[:, 0]):.4f} | {auc(yl_all, P[:, 1]):.4f} | "
                     f"{auc(yc_all, P[:, 2]):.4f} | {np.mean(nd[v]):.4f} |")
    yo = np.concatenate([a for a, _ in oracle])
    po = np.concatenate([b for _, b in oracle])
    lines.append(f"| ceiling: the simulator's true p(complete) | {auc(yo, po):.4f} | – | – | – |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines)
    out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
