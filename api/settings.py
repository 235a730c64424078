"""The HTTP server's settings, read from the environment (``REGISTRY_…`` variables).

``REGISTRY_WRITE_RATE``
    Events per second that one signing key may submit (a float; ``0`` disables the limit).
``REGISTRY_WRITE_BURST``
    How many events one key may submit at once before the rate applies.
``REGISTRY_READ_THREADS``
    Threads that run the JSON API's database reads (:mod:`api.reads`).

The load benchmark sets these names; do not rename them.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """What an operator may tune without changing code."""

    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore", frozen=True)

    write_rate: float = Field(default=100.0, ge=0, allow_inf_nan=False)
    """Sustained ``POST /v1/events`` per second per signing key; 0 turns the limit off."""
    write_burst: int = Field(default=200, ge=1)
    """Events a key may send at once (the size of its token bucket)."""
    read_threads: int = Field(default=1, ge=1, le=64)
    """Threads for database reads: few, since Python runs one thread at a time."""
