"""Operations: ``/readyz`` (can this server take traffic: models loaded, store answering, not
shutting down) and ``/metrics`` (Prometheus). ``/healthz`` (the process is alive) is in the app."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from songlens.api.deps import ReadScope
from songlens.api.metrics import CONTENT_TYPE
from songlens.api.schemas import ErrorDetail
from songlens.errors import SonglensError

router = APIRouter(tags=["ops"])


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description="each check: 'ok' or why not (a stable code)")
    reasons: list[str] = Field(default_factory=list, description="the checks that failed")
    error: ErrorDetail | None = None


def _checks(state: Any) -> dict[str, str]:
    catalog = getattr(state, "catalog", None)
    if catalog is None:
        return {"catalog": "starting"}
    models = catalog.models
    checks = {"models": "ok" if models.audio is not None and models.text is not None
              else "not_loaded",
              "catalog": "shutting_down" if catalog.closed else "ok",
              "coldstart": "ok" if getattr(state, "coldstart", None) is not None
              else "not_open"}
    try:
        catalog.count()
        checks["store"] = "ok"
    except SonglensError as exc:  # a message may name server paths: only the code goes out
        checks["store"] = exc.code
    return checks


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def readyz(request: Request) -> Any:
    """200 when every check is ``ok``; else 503 with the failing checks in ``reasons``. Open to
    anyone, like ``/healthz`` (it reveals only check names and codes)."""
    checks = _checks(request.app.state)
    reasons = [f"{name}: {value}" for name, value in checks.items() if value != "ok"]
    if not reasons:
        return {"status": "ready", "checks": checks}
    body = ReadyOut(status="not_ready", checks=checks, reasons=reasons,
                    error=ErrorDetail(code="not_ready", message="; ".join(reasons)))
    return JSONResponse(body.model_dump(), status_code=503)


@router.get("/metrics", include_in_schema=False, dependencies=[ReadScope])
def metrics(request: Request) -> Response:
    """Prometheus text format; the read rule applies (send a read key when keys are in
    force)."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
