"""OpenAI-compatible chat completions and models."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["chat"])
