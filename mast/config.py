"""The partnership configuration: organisations and their feeds.

It lives as YAML under ``infra/`` (onboarding is a configuration change, not a code change) and is
shipped beside each function. ``MAST_CONFIG_DIR`` names the folder; from a source checkout it
defaults to the repository's ``infra/``. This module reads files; it imports nothing from ``infra``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

FeedState = Literal["sample", "live"]


class AlertSettings(BaseModel):
    """An organisation's choice of alerts (``alerts:`` under it in ``infra/partnership.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    partners: tuple[str, ...] | None = Field(
        default=None, description="the partners whose new involvement alerts; none named: every other partner")
    delivery: Literal["immediate", "daily"] = Field(
        default="immediate", description="immediate: a mail after each link that made alerts; daily: one "
        "digest mail a day at 07:00 UTC counting the day's new unseen alerts (the alerts themselves are always "
        "made at once)")

    def alerts_on(self, partner: str) -> bool:
        return self.partners is None or partner in self.partners


class Organisation(BaseModel):
    """A body whose staff use MAST; a partner when it also sends a feed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    name: str
    #: which partners' new involvement with this organisation's open cases alerts it, and how
    alerts: AlertSettings = AlertSettings()


class FeedRef(BaseModel):
    """A feed as the partnership knows it: whose, what, and whether it is live yet."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    partner: str
    name: str
    state: FeedState = "sample"

    @property
    def landing_prefix(self) -> str:
        """The feed's folder in the landing bucket, and its SFTP user's home."""
        return f"{self.partner}/{self.id}/"


class Partnership(BaseModel):
    """Every organisation and feed of one MAST deployment."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    region: str = "eu-west-2"
    organisations: tuple[Organisation, ...]
    feeds: tuple[FeedRef, ...]

    def organisation(self, org_id: str) -> Organisation | None:
        return next((o for o in self.organisations if o.id == org_id), None)

    def feed(self, feed_id: str) -> FeedRef | None:
        return next((f for f in self.feeds if f.id == feed_id), None)

    def feed_for_prefix(self, key: str) -> FeedRef | None:
        """The feed whose landing folder holds ``key`` (``<partner>/<feed>/<file>``), if any."""
        return next((f for f in self.feeds if key.startswith(f.landing_prefix)), None)


def config_dir() -> Path:
    """Where the partnership YAML lives: ``MAST_CONFIG_DIR``, else the checkout's ``infra/``."""
    env = os.environ.get("MAST_CONFIG_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "infra"


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> Partnership:
    with path.open(encoding="utf-8") as handle:
        return Partnership.model_validate(yaml.safe_load(handle))


def load_partnership() -> Partnership:
    """The deployment's partnership, read once per process (cold start) and cached."""
    return _load(config_dir() / "partnership.yaml")
