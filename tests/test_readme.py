"""The README says what the UI says: option names and defaults, as the forms show them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from custom_components.smart_meter_hub.kinds import KINDS
from custom_components.smart_meter_hub.meters import default_spacing, obis

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
STRINGS = json.loads(
    (ROOT / "custom_components/smart_meter_hub/translations/en.json").read_text()
)
# The README section of each kind that has an options table.
SECTIONS = {
    "obis_http": "## OBIS HTTP JSON meters",
    "sdm630": "## Eastron SDM meters behind a Modbus gateway",
}


def _options_table(heading: str) -> dict[str, str]:
    """Option name -> default, from the '### Options' table under ``heading``."""
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    table = section.split("### Options", 1)[1]
    rows = re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|", table, re.MULTILINE)
    return {name: default for name, default in rows if name not in ("Option", "---")}


def test_option_names_and_defaults_are_the_forms() -> None:
    for key, heading in SECTIONS.items():
        labels = STRINGS["options"]["step"][key]["data"]
        table = _options_table(heading)
        assert table, key
        for name in table:
            assert name in labels.values(), f"{key}: {name!r} is not in the form"
        kind = KINDS[key]
        assert kind.default_interval is not None
        interval = int(kind.default_interval.total_seconds())
        assert table[labels["scan_interval"]] == f"{interval} s", key
    obis_table = _options_table(SECTIONS["obis_http"])
    codes = obis_table[STRINGS["options"]["step"]["obis_http"]["data"]["obis_codes"]]
    assert codes.startswith(f"{len(obis.DEFAULT_CODES)} codes")
    sdm = _options_table(SECTIONS["sdm630"])
    orders = STRINGS["selector"]["word_order"]["options"]
    assert orders["normal"].startswith(sdm["Word order"])
    spacing = round(default_spacing("tcp") * 1000)
    rtu = round(default_spacing("rtu") * 1000)
    assert sdm["Pause between requests"] == f"{spacing} ms ({rtu} ms with RTU framing)"


def test_every_default_entity_the_readme_calls_disabled_is_disabled() -> None:
    from custom_components.smart_meter_hub.sensor import READINGS  # noqa: PLC0415

    disabled = {d.key for d in READINGS if d.entity_registry_enabled_default is False}
    for key in ("apparent_power", "reactive_power", "energy_absolute", "voltage_l1"):
        assert key in disabled, key
    enabled = {d.key for d in READINGS} - disabled
    for key in ("energy_import", "energy_export", "power_net", "voltage", "current"):
        assert key in enabled, key
