"""Back-catalogue ingestion on Ray: batch ingestion's per-song analysis
(:meth:`SongAnalyser.prepare <songlens.catalog.analysis.SongAnalyser.prepare>`) on a pool of Ray
actors that each load the models once, a bounded number of songs in flight, and one writer here
that stores what they return in batches (:meth:`Catalog.store_analysed
<songlens.catalog.pipeline.Catalog.store_analysed>`: the embedded store, or a Qdrant server when
``qdrant.url`` is set), with the manifest of :func:`~songlens.catalog.batch.ingest_files`, so
the songs stored are those the plain path stores and re-runs skip unchanged files.

Ray is an optional extra (``pip install 'songlens[ray]'``), imported only when used. On a
cluster (``address``), every node needs songlens installed and the files at the same paths."""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from songlens.catalog.analysis import Analysed, SongAnalyser
from songlens.catalog.batch import BatchReport, Manifest, failure_reason, read_song_file
from songlens.catalog.pipeline import Catalog
from songlens.errors import ConfigError, ModelError
from songlens.settings import Settings

__all__ = ["RayOptions", "SongAnalyst", "ingest_files_ray", "require_ray", "start_ray"]

log = logging.getLogger(__name__)


@dataclass
class RayOptions:
    """``address``: a Ray cluster (None: a local Ray on this machine); ``workers``: actors
    (None: the cluster's CPUs over ``audio.threads``); ``in_flight``: songs handed to actors and
    not yet back (None: two per actor); ``write_batch``: songs per store write;
    ``checkpoint_s``: how often the manifest is saved while the job runs (less often when saving
    it takes long: at most 5 % of the driver's time)."""

    address: str | None = None
    workers: int | None = None
    in_flight: int | None = None
    write_batch: int = 32
    checkpoint_s: float = 10.0


class SongAnalyst:
    """One Ray actor's work: the models loaded once, then files analysed one at a time. What a
    file raises comes back as its failure reason, worded as the plain path words it."""

    def __init__(self, settings: Settings, config_dir: str, segments: bool,
                 versions: bool) -> None:
        from songlens.content.resources import Resources
        from songlens.embeddings.models import load_models

        self.analyser = SongAnalyser(settings=settings, models=load_models(settings),
                                     resources=Resources(config_dir), segments=segments,
                                     versions=versions)

    def analyse(self, path: str, on_existing: str) -> tuple[bool, Analysed | str]:
        """(True, the song analysed) or (False, why not)."""
        p = Path(path)
        try:
            data, meta = read_song_file(p, on_existing)
            return True, self.analyser.prepare(data, meta, filename=p.name,
                                               source_path=str(p.resolve()))
        except Exception as exc:  # noqa: BLE001 - one file's failure, never the actor's
            log.warning("analysing %s failed: %s", p, exc)
            return False, failure_reason(exc)

    def usage(self) -> dict[str, float]:
        """This actor's CPU seconds and peak resident memory so far (for the benchmark)."""
        import resource

        return {"cpu_s": time.process_time(),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def require_ray() -> None:
    """Raise ConfigError (naming the extra to install) when Ray is not installed."""
    _ray()


def _ray():
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("ingesting with Ray needs the 'ray' extra: pip install "
                          "'songlens[ray]'") from exc
    return ray


def start_ray(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Connect to the Ray cluster at ``address``, or start a local Ray (its node on 127.0.0.1,
    no dashboard, no usage reporting); False when Ray was already running in this process (the
    caller then leaves it running)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False)
        return True
    # a local Ray reports nothing to anyone: read by the processes ray.init starts
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    return True


def _skip_unchanged(catalog: Catalog, manifest: Manifest, files: list[Path], *, force: bool,
                    done: Callable[[Path, str, str | None], None]) -> list[Path]:
    """The files to analyse: unchanged files whose song is still stored are skipped (looked up
    a thousand at a time)."""
    if force:
        return list(files)
    todo: list[Path] = []
    for start in range(0, len(files), 1000):
        chunk = files[start:start + 1000]
        known = {p: manifest.unchanged(p) for p in chunk}
        ids = sorted({k for k in known.values() if k})
        stored = {h.key for h in catalog.store.get(catalog.spec, ids)} if ids else set()
        for p in chunk:
            if known[p] in stored:
                done(p, "skipped", known[p])
            else:
                todo.append(p)
    return todo


def ingest_files_ray(catalog: Catalog, files: list[Path], *, options: RayOptions | None = None,
                     force: bool = False, on_existing: str = "update",
                     on_done: Callable[[Path, str, str | None], None] | None = None
                     ) -> BatchReport:
    """:func:`~songlens.catalog.batch.ingest_files` with the analysis on Ray actors."""
    opts = options or RayOptions()
    catalog.settings.data_path.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(catalog.settings.data_path / "ingest_manifest.json")
    report = BatchReport()

    def done(p: Path, status: str, detail: str | None) -> None:
        report.add(p, status, detail)
        if on_done:
            on_done(p, status, detail)

    todo = _skip_unchanged(catalog, manifest, files, force=force, done=done)
    if not todo:
        return report
    ray = _ray()
    # a local Ray gets room for the actors asked for, even beyond this machine's CPUs
    want = (opts.workers or 0) * max(1, catalog.settings.audio.threads or 1)
    started = start_ray(opts.address, num_cpus=max(os.cpu_count() or 1, want))
    try:
        _Job(ray, catalog, manifest, opts, on_existing, done).run(deque(todo))
    finally:
        manifest.save()
        if started:
            ray.shutdown()
    return report


class _Job:
    """The driver's loop: keep the actors fed, gather what comes back, write it in batches."""

    def __init__(self, ray, catalog: Catalog, manifest: Manifest, opts: RayOptions,
                 on_existing: str, done: Callable[[Path, str, str | None], None]) -> None:
        self.ray, self.catalog, self.manifest, self.opts = ray, catalog, manifest, opts
        self.on_existing, self.done = on_existing, done
        threads = max(1, catalog.settings.audio.threads or 1)
        fits = max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
        if opts.workers and opts.workers > fits:  # an actor that never fits would never start
            log.warning("%d Ray actors of %d CPU asked, the cluster has room for %d: using %d",
                        opts.workers, threads, fits, fits)
        self.workers = min(opts.workers or fits, fits)
        self.actor_class = ray.remote(num_cpus=threads, max_restarts=0)(SongAnalyst)
        self.actors = [self._new_actor() for _ in range(self.workers)]
        self.limit = opts.in_flight or 2 * self.workers
        self.batch: list[tuple[Path, Analysed]] = []
        self.retried: set[Path] = set()

    def _new_actor(self):
        c = self.catalog
        return self.actor_class.remote(c.settings, str(c.resources.config_dir),
                                       "segments" in c.spec.multi, "versions" in c.spec.dense)

    def run(self, todo: deque[Path]) -> None:
        from ray.exceptions import RayActorError, RayError

        try:  # every actor has loaded its models, or the job cannot run at all
            self.ray.get([actor.usage.remote() for actor in self.actors])
        except RayError as exc:
            raise ModelError(f"the Ray workers could not start ({type(exc).__name__}); their "
                             "logs are under the Ray session's logs folder (a local Ray: "
                             "/tmp/ray/session_latest/logs)") from exc
        in_flight: dict = {}  # ref → (path, actor index, actor)
        load = [0] * self.workers
        save_at = time.monotonic() + self.opts.checkpoint_s
        while todo or in_flight:
            while todo and len(in_flight) < self.limit:
                i = load.index(min(load))
                p = todo.popleft()
                actor = self.actors[i]
                in_flight[actor.analyse.remote(str(p), self.on_existing)] = (p, i, actor)
                load[i] += 1
            ready, _ = self.ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            for ref in ready:
                p, i, actor = in_flight.pop(ref)
                load[i] -= 1
                try:
                    ok, value = self.ray.get(ref)
                except RayActorError as exc:
                    # the process died (a crash in native code, out of memory): a new actor
                    # takes its place; its songs are tried once more, then fail
                    if self.actors[i] is actor:
                        log.warning("Ray actor %d died (%s); starting another", i, exc)
                        self.actors[i] = self._new_actor()
                    if p not in self.retried:
                        self.retried.add(p)
                        todo.appendleft(p)
                        continue
                    ok, value = False, ("worker_died: the Ray worker analysing this file died "
                                        "twice (a crash or out of memory)")
                except RayError as exc:
                    ok, value = False, failure_reason(exc)
                if ok:
                    self.batch.append((p, value))
                else:
                    self.done(p, "failed", value)
            if len(self.batch) >= self.opts.write_batch or (self.batch and not in_flight):
                self._write()
            if time.monotonic() > save_at:
                t0 = time.monotonic()
                self.manifest.save()
                # the whole manifest is rewritten (~140 bytes a song): at most 5 % of the time
                save_at = time.monotonic() + max(self.opts.checkpoint_s,
                                                 20 * (time.monotonic() - t0))
        self._write()

    def _write(self) -> None:
        """Store the batch in one write; if that fails, each song alone, so each gets its
        own outcome."""
        batch, self.batch = self.batch, []
        if not batch:
            return
        keep = self.catalog.settings.audio.keep_files
        ready: list[tuple[Path, Analysed]] = []
        for p, item in batch:
            try:
                if keep:  # the file as it is kept: read here, not carried back from the actor
                    item.keep = (p.read_bytes(), item.record.source.get("container", ""))
                ready.append((p, item))
            except OSError as exc:
                self.done(p, "failed", failure_reason(exc))
        try:
            results = self.catalog.store_analysed([item for _, item in ready])
        except Exception:  # noqa: BLE001 - retried one by one below
            log.exception("writing a batch of %d songs failed; writing them one by one",
                          len(ready))
            results = None
        for n, (p, item) in enumerate(ready):
            if results is not None:
                res = results[n]
            else:
                try:
                    res = self.catalog.store_analysed([item])[0]
                except Exception as exc:  # noqa: BLE001 - that song's failure
                    self.done(p, "failed", failure_reason(exc))
                    continue
            self.manifest.record(p, res.record.song_id, save=False)
            self.done(p, "kept" if res.kept else "ingested", res.record.song_id)
