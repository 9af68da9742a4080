"""REST for documents: upload, status, list, delete."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["documents"])
