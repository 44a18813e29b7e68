"""The installation's IEEE 2030.5 client identity, kept once for every Xcel meter.

The key and certificate are created (or imported) once and kept in Home Assistant's
private storage, so every Xcel meter and every later setup use the LFDI the utility
approved; each entry also keeps a copy, so it survives the store being cleared.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from ...const import DOMAIN
from ...meters import Identity, IdentityError, generate_identity, grouped, load_identity

CONF_CERTIFICATE: Final = "certificate"
CONF_PRIVATE_KEY: Final = "private_key"
IDENTITY_STORE_VERSION: Final = 1


def _identity_store(hass: HomeAssistant) -> Store[dict[str, str]]:
    return Store(hass, IDENTITY_STORE_VERSION, f"{DOMAIN}.xcel_identity", private=True)


async def async_stored_identity(hass: HomeAssistant) -> Identity | None:
    """The installation's client identity, if one was made or imported."""
    stored = await _identity_store(hass).async_load()
    if not stored:
        return None
    return await hass.async_add_executor_job(identity_of, stored)


async def async_keep_identity(hass: HomeAssistant, identity: Identity) -> None:
    """Make ``identity`` the installation's client identity."""
    await _identity_store(hass).async_save(identity_data(identity))


async def async_new_identity(hass: HomeAssistant) -> Identity:
    """Generate a key and certificate (in the executor) and keep them."""
    identity = await hass.async_add_executor_job(generate_identity)
    await async_keep_identity(hass, identity)
    return identity


def identity_data(identity: Identity) -> dict[str, str]:
    """How an identity is saved, in an entry or the store (read back by identity_of)."""
    return {
        CONF_CERTIFICATE: identity.certificate_pem,
        CONF_PRIVATE_KEY: identity.key_pem,
    }


def identity_of(data: Mapping[str, Any]) -> Identity:
    """The identity saved in an entry or the store (checked when it was saved).

    Its certificate may have expired since: it stays the registered identity, and the
    meter decides whether it still accepts it.
    """
    return load_identity(
        data[CONF_CERTIFICATE], data[CONF_PRIVATE_KEY], check_validity=False
    )


def approval_placeholders(identity: Identity) -> dict[str, str]:
    """What the user gives the utility: the LFDI, grouped, and the SFDI."""
    return {"lfdi": grouped(identity.lfdi), "sfdi": str(identity.sfdi)}


def _pem_or_file(text: str) -> str:
    """Pasted PEM, or the PEM in the file at that path (blocking)."""
    text = text.strip()
    if "-----BEGIN" in text:
        return text
    try:
        return Path(text).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as err:
        raise IdentityError("file_not_found") from err


def import_identity(certificate: str, key: str) -> Identity:
    """Check an imported certificate and key (blocking: files, PEM, signature)."""
    return load_identity(_pem_or_file(certificate), _pem_or_file(key))
