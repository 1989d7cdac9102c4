"""``/version`` and ``/health``: what answers and whether it is up."""

from __future__ import annotations

from fastapi import APIRouter

from vantage6_common import WIRE_VERSION

router = APIRouter(tags=["Version"])


@router.get("/version", summary="The vantage6 store version this store speaks")
def version() -> dict:
    return {"version": WIRE_VERSION}


@router.get("/health", summary="Whether the store is up")
def health() -> dict:
    return {"healthy": True}
