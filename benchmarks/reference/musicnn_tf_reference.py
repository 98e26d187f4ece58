"""Reference outputs of the ORIGINAL TensorFlow musicnn, for the PyTorch port's parity test.

Run with a throwaway TensorFlow environment outside the repository, never with songlens' venv:

    python3 -m venv /tmp/tfref
    /tmp/tfref/bin/pip install "tensorflow-cpu==2.15.*" librosa soundfile
    /tmp/tfref/bin/pip install --no-deps musicnn==0.1.0
    /tmp/tfref/bin/python benchmarks/reference/musicnn_tf_reference.py \
        tests/fixtures/musicnn/*.wav --out tests/fixtures/musicnn/reference_tf.npz

For every clip and model it stores

* ``<clip>/<model>/taggram``: ``musicnn.extractor.extractor(...)``'s taggram, unmodified;
* ``<clip>/<model>/penultimate``, ``mean_pool``, ``max_pool``: fetched from the same graph
  (``models.define_model`` under ``tf.name_scope('model')``, restored from the wheel's checkpoint)
  for all patches of ``extractor.batch_data`` at once, because extractor 0.1.0 returns the first
  batch's ``penultimate`` for every patch (upstream issues #2/#20: later batches are unpacked into
  misnamed variables);
* ``<clip>/<model>/probs``: the sigmoid outputs of that same run (must equal the taggram).

The script runs the wheel's code as shipped (TF 2.x executes its ``tf.compat.v1`` graph code with
eager execution disabled by extractor.py itself); nothing is patched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clips", nargs="+", help="16 kHz wav files")
    ap.add_argument("--out", help=".npz to write (omit to only time the run)")
    ap.add_argument("--models", nargs="+", default=["MSD_musicnn", "MTT_musicnn"])
    ap.add_argument("--time-only", action="store_true",
                    help="only run extractor() per clip and model; print JSON timings")
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import librosa
    import tensorflow as tf
    from musicnn import extractor as ex
    from musicnn import models

    if args.time_only:
        times: dict[str, float] = {}
        model_only: dict[str, float] = {}
        for m in args.models:
            t0 = time.perf_counter()
            for clip in args.clips:
                ex.extractor(clip, model=m, extract_features=False)
            times[m] = time.perf_counter() - t0
            # model only: graph built once, one patch per sess.run as extractor does, best of 2
            tf.compat.v1.reset_default_graph()
            with tf.name_scope("model"):
                x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
                is_training = tf.compat.v1.placeholder(tf.bool)
                probs = tf.nn.sigmoid(models.define_model(x, is_training, m, 50)[0])
            with tf.compat.v1.Session() as sess:
                tf.compat.v1.train.Saver().restore(sess, str(Path(ex.__file__).parent / m) + "/")
                batches = [ex.batch_data(clip, 187, 187)[0] for clip in args.clips]
                sess.run(probs, feed_dict={x: batches[0][:1], is_training: False})
                best = float("inf")
                for _ in range(2):
                    t0 = time.perf_counter()
                    for b in batches:
                        for i in range(b.shape[0]):
                            sess.run(probs, feed_dict={x: b[i:i + 1], is_training: False})
                    best = min(best, time.perf_counter() - t0)
                model_only[m] = best
        print(json.dumps({"seconds": times, "model_only_seconds": model_only}))
        return 0

    out: dict[str, np.ndarray] = {}
    wheel = Path(ex.__file__).parent
    for clip in args.clips:
        name = Path(clip).stem
        for m in args.models:
            taggram, labels, feats = ex.extractor(clip, model=m)
            batch, _ = ex.batch_data(clip, 187, 187)
            tf.compat.v1.reset_default_graph()
            with tf.name_scope("model"):
                x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
                is_training = tf.compat.v1.placeholder(tf.bool)
                (y, _timbral, _temporal, _c1, _c2, _c3, mean_pool, max_pool,
                 penultimate) = models.define_model(x, is_training, m, len(labels))
                probs = tf.nn.sigmoid(y)
            with tf.compat.v1.Session() as sess:
                tf.compat.v1.train.Saver().restore(sess, str(wheel / m) + "/")
                p, pen, mp, xp = sess.run([probs, penultimate, mean_pool, max_pool],
                                          feed_dict={x: batch, is_training: False})
            if np.abs(p - taggram).max() > 1e-5:
                raise SystemExit(f"{clip} {m}: graph run disagrees with extractor's taggram")
            key = f"{name}/{m}"
            out[f"{key}/taggram"] = taggram.astype(np.float32)
            out[f"{key}/probs"] = p.astype(np.float32)
            out[f"{key}/penultimate"] = pen.astype(np.float32)
            out[f"{key}/mean_pool"] = mp.astype(np.float32)
            out[f"{key}/max_pool"] = xp.astype(np.float32)
            out[f"{key}/labels"] = np.array(labels)
            bug = np.abs(np.asarray(feats["penultimate"])[1:] - pen[0]).max() if len(pen) > 1 else 0
            print(f"{name} {m}: {taggram.shape[0]} patches; extractor's penultimate rows 2.. "
                  f"differ from patch 1 by {bug:.2e} (0 = upstream bug #2/#20 present)")
    meta = {"tensorflow": tf.__version__, "numpy": np.__version__, "librosa": librosa.__version__,
            "python": sys.version.split()[0], "musicnn": "0.1.0",
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")}
    out["meta"] = np.array(json.dumps(meta))
    if args.out:
        np.savez_compressed(args.out, **out)
        print("wrote", args.out, json.dumps(meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
