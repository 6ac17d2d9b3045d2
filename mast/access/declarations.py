"""The declaration a practitioner makes before every search: the legal gateway and the purpose.

The gateways are configuration (``infra/gateways.yaml``): information governance changes the list,
not the code. A search without a valid declaration is refused (DESIGN.md, "Security model").
"""

from __future__ import annotations

import functools

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mast.config import config_dir
from mast.normalise.text import has_words, visible
from mast.schema import StrictModel

#: Letters or digits a purpose, or the name of an 'other' legal basis, must hold: '...' holds none.
MIN_WORD_CHARACTERS = 3


class LegalGateway(BaseModel):
    """One legal basis for sharing information, as offered to the practitioner."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    label: str
    must_name: bool = Field(default=False, description="'other': the practitioner names the basis")


@functools.lru_cache(maxsize=1)
def legal_gateways() -> tuple[LegalGateway, ...]:
    """The configured gateways, read once per process."""
    with (config_dir() / "gateways.yaml").open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return tuple(LegalGateway.model_validate(g) for g in data["gateways"])


def said(value: str) -> str:
    """``value`` as text that shows words, or ValueError: invisible characters (zero-width,
    bidirectional marks, controls) removed, then at least MIN_WORD_CHARACTERS letters or digits.
    The one rule for every free text a person must give a reason in (a purpose, a report)."""
    value = visible(value).strip()
    if not has_words(value, MIN_WORD_CHARACTERS):
        raise ValueError(f"must say something: at least {MIN_WORD_CHARACTERS} letters or digits")
    return value


class Declaration(BaseModel):
    """What the practitioner declares: why they may search, and for what."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    gateway: str = Field(min_length=1, max_length=64, description="a configured gateway id")
    gateway_other: str | None = Field(
        default=None, max_length=300, description="the named legal basis when gateway is 'other'"
    )
    purpose: str = Field(
        min_length=3, max_length=500, description="free text or a case reference"
    )

    @field_validator("purpose", "gateway_other")
    @classmethod
    def _words(cls, value: str | None) -> str | None:
        """Text that shows words: invisible characters (zero-width, bidirectional marks, controls)
        removed and kept out of the audit, then at least MIN_WORD_CHARACTERS letters or digits."""
        return None if value is None else said(value)

    @model_validator(mode="after")
    def _known_gateway(self) -> Declaration:
        known = {g.id: g for g in legal_gateways()}
        gateway = known.get(self.gateway)
        if gateway is None:
            raise ValueError(f"unknown legal gateway {self.gateway!r}; choose one of {sorted(known)}")
        if gateway.must_name and not self.gateway_other:
            raise ValueError("name the legal basis when the gateway is 'other'")
        return self


class GatewayOption(StrictModel):
    """A gateway as ``GET /api/declaration-options`` offers it."""

    id: str
    label: str
    must_name: bool = False


class DeclarationOptions(StrictModel):
    gateways: list[GatewayOption]


def declaration_options() -> DeclarationOptions:
    """The configured gateways, as the declaration page offers them."""
    return DeclarationOptions(gateways=[GatewayOption(**g.model_dump()) for g in legal_gateways()])
