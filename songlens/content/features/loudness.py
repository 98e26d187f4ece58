"""Loudness: integrated loudness (ITU-R BS.1770-4) and loudness range (EBU Tech 3342)."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm

__all__ = ["LOUDNESS_FLOOR", "loudness"]

#: BS.1770 absolute gate, LUFS: the loudness of silence.
LOUDNESS_FLOOR = -70.0


def loudness(*, y: np.ndarray, sr: int) -> tuple[float, float | None]:
    """Integrated loudness (LUFS) and loudness range (LU, None when undefined) of mono ``y``
    (shape ``(n,)``) at ``sr`` Hz; silence and clips under 3 s have no range."""
    # float32 as decoded: the meter copies its input and filters it channel by channel in
    # float64, so a float64 copy here would hold 150 MB more of a 20-minute track for nothing
    # (the level moves by under 1e-5 dB)
    x = np.asarray(y, dtype=np.float32)
    block = min(0.4, x.size / sr)  # one block for clips shorter than a 400 ms gating block
    lufs = float(pyloudnorm.Meter(sr, block_size=block).integrated_loudness(x))
    lufs = max(lufs, LOUDNESS_FLOOR) if math.isfinite(lufs) else LOUDNESS_FLOOR
    if x.size < 3.0 * sr or lufs <= LOUDNESS_FLOOR:
        return lufs, None
    # EBU Tech 3342: 3 s short-term loudness every 0.1 s, gated at -70 LUFS absolute and 20 LU
    # below the mean of what passes; LRA is the 10th-95th percentile spread. pyloudnorm's own
    # loudness_range appends 1.5 s of silence, which inflates LRA on short clips.
    meter = pyloudnorm.Meter(sr, block_size=3.0, overlap=1.0 - 0.1 / 3.0)
    meter.integrated_loudness(x)
    st = np.asarray(meter.blockwise_loudness, dtype=np.float64)
    st = st[np.isfinite(st) & (st >= LOUDNESS_FLOOR)]
    if st.size == 0:
        return lufs, None
    st = st[st >= 10 * np.log10(np.mean(10 ** (st / 10))) - 20.0]
    return lufs, float(np.percentile(st, 95) - np.percentile(st, 10))
