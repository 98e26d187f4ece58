"""musicnn inference with ONNX Runtime: the PyTorch port, exported once at load, run per batch.

The PyTorch module (:class:`~songlens.content.musicnn.model.Musicnn`) stays the definition of the
model (weights, layer order, TF semantics); at load it is exported to an in-memory ONNX graph and
run with ONNX Runtime, whose graph optimiser folds the batch norms into the convolutions and whose
CPU kernels ran the model in 0.6 of torch's CPU time per patch on this project's machine
(benchmarks/audio_speed.py). Same outputs within float rounding (tests/content/test_musicnn.py).

Each session is single-threaded with spinning off; parallelism comes from running patch batches
on several Python threads at once (``session.run`` releases the GIL), so a busy core slows one
batch instead of stalling every thread at a barrier, as torch's OpenMP pool did.
"""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
import torch

from songlens.content.musicnn.model import Musicnn
from songlens.errors import ModelError

__all__ = ["OUTPUTS", "OnnxMusicnn"]

log = logging.getLogger(__name__)

#: Outputs of the exported graph, in order (names of :class:`MusicnnActivations` entries).
OUTPUTS = ("probs", "penultimate", "mean_pool", "max_pool")


class _Outputs(torch.nn.Module):
    """``Musicnn`` with a tuple output (what ONNX export needs)."""

    def __init__(self, net: Musicnn) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(x)
        return tuple(out[k] for k in OUTPUTS)


def _export(net: Musicnn) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notes
        torch.onnx.export(_Outputs(net).eval(), (torch.zeros(2, 187, 96),), buf,
                          input_names=["patches"], output_names=list(OUTPUTS),
                          dynamic_axes={"patches": {0: "batch", 1: "frames"}},
                          opset_version=17, dynamo=False)
    return buf.getvalue()


class OnnxMusicnn:
    """One musicnn model as an ONNX Runtime session (thread-safe: ``run`` may be called from
    several threads at once)."""

    def __init__(self, net: Musicnn) -> None:
        import onnxruntime as ort

        try:
            graph = _export(net)
        except Exception as exc:  # noqa: BLE001 - any exporter failure is a model failure
            raise ModelError(f"cannot export musicnn to ONNX: {exc}") from exc
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(graph, so, providers=["CPUExecutionProvider"])
        self.num_classes = net.num_classes
        log.debug("musicnn exported to ONNX (%d bytes)", len(graph))

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs of :data:`OUTPUTS` for patches ``x`` ``(batch, frames, 96)`` float32."""
        res = self.session.run(list(OUTPUTS), {"patches": np.ascontiguousarray(x, np.float32)})
        return dict(zip(OUTPUTS, res, strict=True))
