"""The providers that work, by id: what ``GET /api/providers`` lists.

Only adapters that really sync are listed, and the two of kind ``file``: ACTIVE and UltraSignup
(their roster is an export file read by the roster file import, ``POST
/api/events/{id}/roster/import``; an account of theirs lists no events and its sync says so).
"""

from __future__ import annotations

from typing import Any

from race_control.providers.active import Active
from race_control.providers.base import ProviderAdapter
from race_control.providers.copernico import Copernico
from race_control.providers.ctlive import ChronoTrackLive
from race_control.providers.errors import ProviderInputError
from race_control.providers.eventbrite import Eventbrite
from race_control.providers.raceroster import RaceRoster
from race_control.providers.runsignup import RunSignUp
from race_control.providers.ultrasignup import UltraSignup

ADAPTERS: dict[str, type[ProviderAdapter]] = {
    a.id: a for a in (RunSignUp, RaceRoster, UltraSignup, Active, Eventbrite, ChronoTrackLive, Copernico)
}
PLANNED: tuple[str, ...] = ()


def describe(adapter: type[ProviderAdapter]) -> dict[str, Any]:
    return {
        "id": adapter.id,
        "name": adapter.name,
        "kind": adapter.kind,
        "credentials": list(adapter.credential_fields),
        "incremental": adapter.incremental,
        "default_base_url": adapter.default_base_url,
    }


def providers() -> list[dict[str, Any]]:
    return [describe(a) for a in ADAPTERS.values()]


def adapter_class(provider: object) -> type[ProviderAdapter]:
    if not isinstance(provider, str) or not provider:
        raise ProviderInputError(f"'provider' must be one of {', '.join(ADAPTERS)}", field="provider")
    if provider in ADAPTERS:
        return ADAPTERS[provider]
    if provider in PLANNED:
        raise ProviderInputError(
            f"provider {provider!r} is not supported yet; supported: {', '.join(ADAPTERS)}",
            provider=provider,
            field="provider",
        )
    raise ProviderInputError(
        f"unknown provider {provider[:40]!r}; supported: {', '.join(ADAPTERS)}", field="provider"
    )
