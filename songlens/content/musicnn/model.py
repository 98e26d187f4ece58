"""The musicnn tagger (Pons & Serra, 2019) in PyTorch, loaded from the original TF checkpoint.

Mirrors ``build_musicnn`` of ``musicnn/models.py`` (wheel 0.1.0) for ``MSD_musicnn`` and
``MTT_musicnn`` (``num_filt_frontend=1.6``, ``num_filt_midend=64``, ``num_units_backend=200``):

* input batch norm over the log-mel patch ``(batch, 187 frames, 96 mels)``;
* timbral front-end: two ``conv(7 x 38)`` and ``conv(7 x 67)`` blocks (204 filters each, time
  zero-padded by 3, "valid"), each ReLU → batch norm → max over frequency;
* temporal front-end: three ``conv(128|64|32 x 1)`` blocks (51 filters, TF "same" padding, which
  pads ``(k-1)//2`` before and the rest after), ReLU → batch norm → max over frequency;
* mid-end: three ``conv(7 x C)`` layers (64 filters) with residual connections on the 2nd and 3rd,
  dense-connected with the front-end (561 + 3 x 64 = 753 channels);
* back-end: max and mean over time (interleaved per channel, as ``tf.concat(..., 2)`` then flatten
  lays them out), batch norm, dense 200 + ReLU, batch norm (the *penultimate* features), dense 50.

Inference semantics: batch norm uses the moving statistics with TF's default epsilon 1e-3, dropout
is off.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from songlens.errors import ModelError

__all__ = ["Musicnn", "MusicnnActivations", "BN_EPSILON", "IGNORED_VARIABLE_SUFFIXES"]

log = logging.getLogger(__name__)

#: ``tf.compat.v1.layers.batch_normalization`` default.
BN_EPSILON = 1e-3
#: Optimiser state stored beside the weights; never part of the model.
IGNORED_VARIABLE_SUFFIXES = ("/Adam", "/Adam_1")
IGNORED_VARIABLES = ("beta1_power", "beta2_power")

N_MELS = 96
N_FRAMES = 187
NUM_FILT_FRONTEND = 1.6
TIMBRAL_FILTERS = int(NUM_FILT_FRONTEND * 128)  # 204
TEMPORAL_FILTERS = int(NUM_FILT_FRONTEND * 32)  # 51
TIMBRAL_HEIGHTS = (int(0.4 * N_MELS), int(0.7 * N_MELS))  # 38, 67
TEMPORAL_LENGTHS = (128, 64, 32)
FRONTEND_CHANNELS = 2 * TIMBRAL_FILTERS + 3 * TEMPORAL_FILTERS  # 561


_relu = F.relu


class _BatchNorm(nn.Module):
    """Inference-mode batch norm over the channel axis ``dim``, folded to ``x * scale + shift``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("scale", torch.ones(channels))
        self.register_buffer("shift", torch.zeros(channels))

    def load(self, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray) -> None:
        g, b, m, v = (np.asarray(a, dtype=np.float64) for a in (gamma, beta, mean, var))
        scale = g / np.sqrt(v + BN_EPSILON)
        self.scale.copy_(torch.from_numpy(scale.astype(np.float32)))
        self.shift.copy_(torch.from_numpy((b - m * scale).astype(np.float32)))

    def forward(self, x: torch.Tensor, dim: int = 1) -> torch.Tensor:
        shape = [1] * x.dim()
        shape[dim] = self.channels
        return x * self.scale.view(shape) + self.shift.view(shape)


def _relu_bn_freq_max(z: torch.Tensor, bn: _BatchNorm) -> torch.Tensor:
    """``max over frequency of bn(relu(z))`` for ``z`` ``(B, C, T, F)``, computed on ``(B, C, T)``.

    ReLU is monotone and inference batch norm is a per-channel affine map, so the maximum over
    frequency commutes with both: it is ``bn(relu(max z))`` where the channel's scale is positive
    and ``bn(relu(min z))`` where it is negative. The selected value is the same float, so the
    result equals the original order of operations exactly, with one pass over the big tensor.
    """
    zmin, zmax = torch.aminmax(z, dim=3)
    picked = torch.where((bn.scale >= 0).view(1, -1, 1), zmax, zmin)
    return bn(_relu(picked), dim=1)


class MusicnnActivations(dict):
    """Named outputs of one forward pass (all ``float32`` tensors with a leading batch axis)."""


class Musicnn(nn.Module):
    """musicnn with ``num_classes`` sigmoid outputs and a ``num_units_backend`` penultimate layer.

    Input: log-mel patches ``(batch, 187, 96)`` (any number of frames >= 1 works: the model is
    fully convolutional up to the temporal pooling, as in the original).
    """

    def __init__(self, num_classes: int = 50, num_filt_midend: int = 64,
                 num_units_backend: int = 200) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_filt_midend = num_filt_midend
        self.num_units_backend = num_units_backend
        self.bn_input = _BatchNorm(1)
        self.timbral = nn.ModuleList(
            nn.Conv2d(1, TIMBRAL_FILTERS, kernel_size=(7, h)) for h in TIMBRAL_HEIGHTS)
        self.bn_timbral = nn.ModuleList(_BatchNorm(TIMBRAL_FILTERS) for _ in TIMBRAL_HEIGHTS)
        self.temporal = nn.ModuleList(
            nn.Conv2d(1, TEMPORAL_FILTERS, kernel_size=(k, 1)) for k in TEMPORAL_LENGTHS)
        self.bn_temporal = nn.ModuleList(_BatchNorm(TEMPORAL_FILTERS) for _ in TEMPORAL_LENGTHS)
        c = num_filt_midend
        self.midend = nn.ModuleList([nn.Conv1d(FRONTEND_CHANNELS, c, 7), nn.Conv1d(c, c, 7),
                                     nn.Conv1d(c, c, 7)])
        self.bn_midend = nn.ModuleList(_BatchNorm(c) for _ in range(3))
        pooled = 2 * (FRONTEND_CHANNELS + 3 * c)
        self.bn_pool = _BatchNorm(pooled)
        self.dense = nn.Linear(pooled, num_units_backend)
        self.bn_dense = _BatchNorm(num_units_backend)
        self.output = nn.Linear(num_units_backend, num_classes)
        self.eval()

    # ------------------------------------------------------------------ weights

    def _tf_names(self) -> list[tuple[str, object, str]]:
        """``(tf_scope, module, kind)`` in the creation order of ``build_musicnn``."""
        convs = [*self.timbral, *self.temporal, *self.midend]
        bns = [self.bn_input, *self.bn_timbral, *self.bn_temporal, *self.bn_midend,
               self.bn_pool, self.bn_dense]
        out: list[tuple[str, object, str]] = []
        for i, m in enumerate(convs):
            out.append((f"conv2d_{i}" if i else "conv2d", m, "conv"))
        for i, m in enumerate(bns):
            out.append((f"batch_normalization_{i}" if i else "batch_normalization", m, "bn"))
        out.append(("dense", self.dense, "dense"))
        out.append(("dense_1", self.output, "dense"))
        return out

    @torch.no_grad()
    def load_tf_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Copy a musicnn checkpoint (see :func:`read_checkpoint`) into this module.

        Raises
        ------
        ModelError
            A variable is missing, has the wrong shape, or is left unused.
        """
        used: set[str] = set()

        def take(name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
            if name not in weights:
                raise ModelError(f"musicnn checkpoint lacks variable {name!r}")
            arr = np.asarray(weights[name], dtype=np.float32)
            if shape is not None and arr.shape != shape:
                raise ModelError(f"musicnn checkpoint variable {name!r} has shape {arr.shape}, "
                                 f"expected {shape}")
            used.add(name)
            return arr

        for scope, mod, kind in self._tf_names():
            if kind == "conv":
                assert isinstance(mod, (nn.Conv1d, nn.Conv2d))
                if isinstance(mod, nn.Conv2d):  # TF (kh, kw, in, out) → torch (out, in, kh, kw)
                    kh, kw = mod.kernel_size
                    k = take(f"{scope}/kernel", (kh, kw, mod.in_channels, mod.out_channels))
                    w = k.transpose(3, 2, 0, 1)
                else:  # TF (7, C_in, 1, out) over (time, channel) → torch (out, C_in, 7)
                    k = take(f"{scope}/kernel",
                             (mod.kernel_size[0], mod.in_channels, 1, mod.out_channels))
                    w = k[:, :, 0, :].transpose(2, 1, 0)
                mod.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                mod.bias.copy_(torch.from_numpy(take(f"{scope}/bias", (mod.out_channels,))))
            elif kind == "bn":
                assert isinstance(mod, _BatchNorm)
                shape = (mod.channels,)
                mod.load(*(take(f"{scope}/{p}", shape)
                           for p in ("gamma", "beta", "moving_mean", "moving_variance")))
            else:
                assert isinstance(mod, nn.Linear)
                k = take(f"{scope}/kernel", (mod.in_features, mod.out_features))
                mod.weight.copy_(torch.from_numpy(np.ascontiguousarray(k.T)))
                mod.bias.copy_(torch.from_numpy(take(f"{scope}/bias", (mod.out_features,))))

        unused = sorted(n for n in weights if n not in used and n not in IGNORED_VARIABLES
                        and not n.endswith(IGNORED_VARIABLE_SUFFIXES))
        if unused:
            raise ModelError(f"musicnn checkpoint has {len(unused)} variables the model does not "
                             f"use: {unused[:10]}")
        log.debug("loaded %d musicnn variables", len(used))

    # ------------------------------------------------------------------ forward

    def forward(self, x: torch.Tensor) -> MusicnnActivations:
        """Run the model on ``x`` of shape ``(batch, frames, 96)``.

        Returns
        -------
        MusicnnActivations
            ``logits``, ``probs`` ``(B, num_classes)``; ``penultimate`` ``(B, 200)``;
            ``mean_pool``, ``max_pool`` ``(B, 753)``; ``timbral`` ``(B, T, 408)``,
            ``temporal`` ``(B, T, 153)``.
        """
        if x.dim() != 3 or x.shape[-1] != N_MELS:
            raise ModelError(f"musicnn expects (batch, frames, {N_MELS}) input, got "
                             f"{tuple(x.shape)}")
        h = self.bn_input(x.unsqueeze(1), dim=1)  # (B, 1, T, F)

        feats: list[torch.Tensor] = []
        h_pad = F.pad(h, (0, 0, 3, 3))
        for conv, bn in zip(self.timbral, self.bn_timbral, strict=True):
            feats.append(_relu_bn_freq_max(conv(h_pad), bn))  # conv: (B, 204, T, F')
        for conv, bn, k in zip(self.temporal, self.bn_temporal, TEMPORAL_LENGTHS, strict=True):
            z = conv(F.pad(h, (0, 0, (k - 1) // 2, k - 1 - (k - 1) // 2)))  # (B, 51, T, 96)
            feats.append(_relu_bn_freq_max(z, bn))
        front = torch.cat(feats, dim=1)  # (B, 561, T)

        c1 = self.bn_midend[0](_relu(self.midend[0](F.pad(front, (3, 3)))))
        c2 = self.bn_midend[1](_relu(self.midend[1](F.pad(c1, (3, 3))))) + c1
        c3 = self.bn_midend[2](_relu(self.midend[2](F.pad(c2, (3, 3))))) + c2
        mid = torch.cat([front, c1, c2, c3], dim=1)  # (B, 753, T)

        max_pool = mid.amax(dim=2)
        mean_pool = mid.mean(dim=2)
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # interleaved, as TF
        flat = self.bn_pool(flat)
        penultimate = self.bn_dense(_relu(self.dense(flat)))
        logits = self.output(penultimate)
        return MusicnnActivations(
            logits=logits, probs=torch.sigmoid(logits), penultimate=penultimate,
            mean_pool=mean_pool, max_pool=max_pool,
            timbral=torch.cat(feats[:2], dim=1).transpose(1, 2),
            temporal=torch.cat(feats[2:], dim=1).transpose(1, 2))
