"""Settings of the guardrail service, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from ragplane.runtime.settings import CommonSettings, load_settings


@dataclass(frozen=True)
class Settings(CommonSettings):
    pass


def load() -> Settings:
    return load_settings(Settings)
