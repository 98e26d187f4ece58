"""musicnn's input pipeline: 16 kHz audio → log-compressed mel patches of 3 s.

Reproduces ``batch_data`` of ``musicnn/extractor.py`` (wheel 0.1.0) with ``torch.stft`` and
``librosa.filters.mel`` instead of ``librosa.feature.melspectrogram``:

* power mel spectrogram, ``n_fft=512``, ``hop_length=256``, Hann window, ``center=True`` with zero
  padding (librosa >= 0.10's default ``pad_mode="constant"``), 96 Slaney mel bands, 0-8 kHz;
* rounded to float16 (``audio_rep.astype(np.float16)``), then ``log10(10000 * x + 1)`` in float32.
  That is what the original computes under NumPy 1.x, whose value-based casting promotes
  ``10000 * float16_array`` to float32. (Under NumPy 2 the same line stays in float16 and
  overflows to ``inf`` above x ~ 6.55 — about 2 % of the bins of loud rock — which the model was
  never trained on; we follow the NumPy 1.x semantics the original was written and trained for.)
* non-overlapping patches of 187 frames (the original's default ``input_overlap=False``), starting
  at frame 0; trailing frames that do not fill a patch are dropped.

Deviation: the original fails on audio shorter than one patch (~3 s); here the log-mel frames are
repeated to fill one patch ("repeat-pad", the padding musicnn's training used for short clips).
"""

from __future__ import annotations

import librosa
import numpy as np
import torch

from songlens.errors import AudioTooShort, InvalidInput

__all__ = [
    "SR",
    "N_FFT",
    "HOP",
    "N_MELS",
    "PATCH_FRAMES",
    "mel_power",
    "log_compress",
    "log_mel",
    "patch_frames",
    "make_patches",
]

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
#: ``librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1``
PATCH_FRAMES = 187


# Constant tables of the one supported front end (16 kHz, 512-point FFT, 96 bands); read-only.
_MEL_BASIS = torch.from_numpy(librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS))
_WINDOW = torch.hann_window(N_FFT, periodic=True, dtype=torch.float32)


def mel_power(*, y: np.ndarray | torch.Tensor, sr: int = SR) -> torch.Tensor:
    """Power mel spectrogram as ``librosa.feature.melspectrogram`` computes it (float32).

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (batch, n)]
        Mono audio at ``sr`` Hz.

    Returns
    -------
    torch.Tensor [shape=(..., frames, 96)]
        Time-major, ``frames = 1 + n // 256``.
    """
    if sr != SR:
        raise InvalidInput(f"musicnn needs {SR} Hz audio, got sr={sr}")
    t = torch.as_tensor(np.asarray(y, dtype=np.float32) if not torch.is_tensor(y) else y,
                        dtype=torch.float32)
    if t.dim() not in (1, 2) or t.shape[-1] == 0:
        raise InvalidInput(f"audio must be a non-empty (n,) or (batch, n) array, got shape "
                           f"{tuple(t.shape)}")
    spec = torch.stft(t, n_fft=N_FFT, hop_length=HOP, window=_WINDOW, center=True,
                      pad_mode="constant", return_complex=True)
    power = spec.real.square() + spec.imag.square()  # (..., 257, frames)
    mel = torch.matmul(_MEL_BASIS, power)
    return mel.transpose(-1, -2).contiguous()


def log_compress(mel: torch.Tensor) -> torch.Tensor:
    """Round ``mel`` to float16, then ``log10(10000 * x + 1)`` in float32 (see module notes)."""
    x = mel.to(torch.float16).to(torch.float32)
    return torch.log10(x * 10000 + 1)


def log_mel(*, y: np.ndarray | torch.Tensor, sr: int = SR) -> torch.Tensor:
    """musicnn's input representation ``(frames, 96)`` for mono audio ``y``."""
    return log_compress(mel_power(y=y, sr=sr))


def patch_frames(n_frames: int, *, patch: int = PATCH_FRAMES, hop: int | None = None) -> list[int]:
    """Start frames of the patches ``batch_data`` cuts from ``n_frames`` frames."""
    hop = patch if hop is None else hop
    if hop < 1:
        raise InvalidInput(f"patch hop must be >= 1 frame, got {hop}")
    return list(range(0, n_frames - patch + 1, hop))


def make_patches(rep: torch.Tensor, *, patch: int = PATCH_FRAMES,
                 hop: int | None = None) -> torch.Tensor:
    """Cut ``(frames, 96)`` into ``(n_patches, patch, 96)``; repeat-pad when shorter than a patch.

    Raises
    ------
    AudioTooShort
        ``rep`` has no frames.
    """
    n = int(rep.shape[0])
    if n == 0:
        raise AudioTooShort("no spectrogram frames to tag", duration_s=0.0)
    if n < patch:
        reps = -(-patch // n)
        rep = rep.repeat(reps, 1)[:patch]
        n = patch
    starts = patch_frames(n, patch=patch, hop=hop)
    hop = patch if hop is None else hop
    return rep.unfold(0, patch, hop)[: len(starts)].transpose(1, 2).contiguous()
