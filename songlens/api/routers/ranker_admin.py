"""/v1/admin/ranker: the ranker's snapshots with their held-out figures, rollback, and training
runs on demand (admin scope)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from songlens.api.deps import ColdStartDep
from songlens.api.schemas import ErrorOut
from songlens.api.security import ADMIN

router = APIRouter(prefix="/v1/admin/ranker", tags=["admin"], dependencies=[Depends(ADMIN)])


class SnapshotOut(BaseModel):
    id: str
    kind: str = Field(description="batch, increment, online, rebuild")
    version: int
    samples_seen: int
    created_at: float
    accepted: bool = Field(description="false: the quality gate refused it")
    reason: str
    file_kept: bool = Field(description="false: pruned (or refused); it cannot serve again")
    heldout: dict[str, Any] = Field(description="auc, serving_auc, n, positives, since, until")
    trained: dict[str, Any]


class SnapshotsOut(BaseModel):
    serving: str | None
    snapshots: list[SnapshotOut] = Field(description="oldest first")


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=32)


class RollbackOut(BaseModel):
    serving: str | None = Field(description="the snapshot id now serving")
    version: int
    samples_seen: int


class TrainOut(BaseModel):
    """What one training run did; a batch fit adds its diagnostics (re-attributed samples, the
    measured wait window and delay quantiles, fit seconds) as further keys."""

    model_config = ConfigDict(extra="allow")
    accepted: bool | None = Field(None, description="null: nothing was offered to the gate")
    reason: str | None = None
    heldout: dict[str, Any] | None = Field(None, description="the gate's held-out figures")


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["increment", "batch"]


@router.get("/snapshots", response_model=SnapshotsOut)
def snapshots(coldstart: ColdStartDep) -> SnapshotsOut:
    serving, entries = coldstart.ranker_snapshots()
    return SnapshotsOut(serving=serving, snapshots=[
        SnapshotOut(id=e.id, kind=e.kind, version=e.version, samples_seen=e.samples_seen,
                    created_at=e.created_at, accepted=e.accepted, reason=e.reason,
                    file_kept=e.file is not None, heldout=e.heldout, trained=e.trained)
        for e in entries])


@router.post("/rollback", response_model=RollbackOut,
             responses={s: {"model": ErrorOut} for s in (404, 422)})
def rollback(body: RollbackIn, coldstart: ColdStartDep) -> RollbackOut:
    """Serve an older snapshot now (the feedback since is not replayed into it)."""
    info = coldstart.ranker_rollback(body.id)
    return RollbackOut(serving=info.serving_id, version=info.version,
                       samples_seen=info.samples_seen)


@router.post("/train", response_model=TrainOut, responses={422: {"model": ErrorOut}})
def train(body: TrainIn, coldstart: ColdStartDep) -> TrainOut:
    """Run a gated increment or a batch fit now (``coldstart.training: cadence``)."""
    return TrainOut(**coldstart.ranker_train(body.kind))
