"""What hassfest and the HACS action would check (they cannot run here), restated."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from custom_components.smart_meter_hub.binary_sensor import (
    CONNECTIVITY,
    HIGH_CONSUMPTION,
    PHANTOM_LOAD,
)
from custom_components.smart_meter_hub.sensor import (
    LAST_READING,
    NIGHT_BASELINE,
    SENSORS,
)

ROOT = Path(__file__).resolve().parents[1]
INTEGRATION = ROOT / "custom_components" / "smart_meter_hub"
MANIFEST = json.loads((INTEGRATION / "manifest.json").read_text())
STRINGS = json.loads((INTEGRATION / "translations" / "en.json").read_text())
PLATFORMS = ("binary_sensor", "sensor")
MANIFEST_KEYS = {
    "domain", "name", "after_dependencies", "bluetooth", "codeowners", "config_flow",
    "dependencies", "dhcp", "documentation", "homekit", "integration_type", "iot_class",
    "issue_tracker", "loggers", "mqtt", "quality_scale", "requirements", "single_config_entry",
    "ssdp", "usb", "version", "zeroconf",
}  # fmt: skip
HACS_KEYS = {
    "name", "content_in_root", "zip_release", "filename", "hide_default_branch", "country",
    "homeassistant", "hacs", "persistent_directory",
}  # fmt: skip


def _source(name: str) -> str:
    return (INTEGRATION / name).read_text()


def _python_files() -> list[Path]:
    return sorted(INTEGRATION.rglob("*.py"))


def test_manifest_keys_order_and_values() -> None:
    keys = list(MANIFEST)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert set(keys) <= MANIFEST_KEYS
    for required in (
        "codeowners",
        "documentation",
        "issue_tracker",
        "version",
        "iot_class",
    ):
        assert MANIFEST[required], required
    assert MANIFEST["domain"] == INTEGRATION.name
    assert MANIFEST["config_flow"] is True
    assert MANIFEST["iot_class"] == "local_polling"
    assert MANIFEST["integration_type"] in {"device", "hub", "service"}
    assert MANIFEST["documentation"].startswith("https://")
    assert "home-assistant.io" not in MANIFEST["documentation"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", MANIFEST["version"])
    # Home Assistant pins its own versions: a requirement must be a range.
    assert all("==" not in req for req in MANIFEST["requirements"])


def test_hacs_json() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert set(hacs) <= HACS_KEYS
    assert hacs["name"]
    assert hacs["homeassistant"] == "2025.4.0"
    assert (ROOT / "README.md").is_file()


def test_brand_images() -> None:
    with Image.open(INTEGRATION / "brand" / "icon.png") as icon:
        assert icon.size == (256, 256)
    with Image.open(INTEGRATION / "brand" / "icon@2x.png") as icon:
        assert icon.size == (512, 512)
    assert (INTEGRATION / "brand" / "logo.png").is_file()


def test_translations_have_no_references() -> None:
    assert "[%key:" not in (INTEGRATION / "translations" / "en.json").read_text()


def test_every_config_flow_step_error_and_abort_has_text() -> None:
    source = _source("config_flow.py")
    config = STRINGS["config"]
    for step in re.findall(r'step_id="(\w+)"', source):
        assert step in config["step"] or step in STRINGS["options"]["step"], step
    for step in re.findall(r"async def async_step_(\w+)", source):
        # These only route to another step (or generate an identity): no form of their own.
        if step not in ("reauth", "reconfigure", "zeroconf", "init", "xcel_generate"):
            assert step in config["step"], step
    # Import errors are built from the identity check's reasons.
    for reason in re.findall(
        r'IdentityError\("(\w+)"\)', _source("meters/sep2_identity.py")
    ):
        assert f"identity_{reason}" in config["error"], reason
    for reason in re.findall(r'IdentityError\("(\w+)"\)', source):
        assert f"identity_{reason}" in config["error"], reason
    for error in re.findall(r'\{"base": "(\w+)"\}', source):
        assert error in config["error"], error
    for error in re.findall(r'errors\[\w+\] = "(\w+)"', source):
        assert error in config["error"] or error in STRINGS["options"]["error"], error
    for reason in re.findall(r'reason="(\w+)"', source):
        assert reason in config["abort"], reason
    for reason in ("already_configured", "reauth_successful", "reconfigure_successful"):
        assert reason in config["abort"], reason
    for meter_type in config["step"]["user"]["menu_options"]:
        assert meter_type in config["step"], meter_type


def test_every_exception_and_issue_key_in_code_has_text() -> None:
    found = 0
    for path in _python_files():
        source = path.read_text()
        for key in re.findall(
            r'translation_domain=DOMAIN,\s*translation_key="(\w+)"', source
        ):
            assert STRINGS["exceptions"][key]["message"], f"{path.name}: {key}"
            found += 1
        for key in re.findall(
            r'async_create_issue\([^)]*?translation_key="(\w+)"', source
        ):
            assert STRINGS["issues"][key]["title"], f"{path.name}: {key}"
            found += 1
    assert found >= 10


def test_every_entity_has_a_name() -> None:
    for description in (*SENSORS, LAST_READING, NIGHT_BASELINE):
        assert STRINGS["entity"]["sensor"][description.translation_key]["name"]
    for description in (PHANTOM_LOAD, HIGH_CONSUMPTION):
        assert STRINGS["entity"]["binary_sensor"][description.translation_key]["name"]
    # The connectivity sensor takes its name from its device class.
    assert CONNECTIVITY.translation_key is None
    assert CONNECTIVITY.device_class is not None


def test_every_action_is_described_and_has_an_icon() -> None:
    services = yaml.safe_load(_source("services.yaml"))
    icons = json.loads(_source("icons.json"))
    for name, spec in services.items():
        text = STRINGS["services"][name]
        assert text["name"]
        assert text["description"]
        for field in spec.get("fields", {}):
            assert text["fields"][field]["name"], field
        assert icons["services"][name]["service"].startswith("mdi:")
    source = _source("services.py")
    registered = re.findall(r"SERVICE_\w+ = \"(\w+)\"", source)
    assert sorted(registered) == sorted(services)


def test_icons_refer_to_existing_entities() -> None:
    icons = json.loads(_source("icons.json"))
    for platform, keys in icons["entity"].items():
        for key in keys:
            assert key in STRINGS["entity"][platform], key


@pytest.mark.parametrize("platform", PLATFORMS)
def test_parallel_updates_in_every_platform(platform: str) -> None:
    tree = ast.parse(_source(f"{platform}.py"))
    names = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert "PARALLEL_UPDATES" in names


def test_setup_refreshes_first_then_sets_runtime_data_then_forwards() -> None:
    source = _source("__init__.py")
    first = source.index("async_config_entry_first_refresh()")
    runtime = source.index("entry.runtime_data = ")
    forward = source.index("async_forward_entry_setups(")
    assert first < runtime < forward


def test_config_flow_sets_and_checks_unique_id() -> None:
    source = _source("config_flow.py")
    assert "async_set_unique_id(" in source
    assert "_abort_if_unique_id_configured(" in source
    assert "_abort_if_unique_id_mismatch(" in source
    for step in ("reauth", "reauth_confirm", "reconfigure"):
        assert f"async def async_step_{step}(" in source


def test_actions_are_registered_in_async_setup() -> None:
    tree = ast.parse(_source("__init__.py"))
    setup = next(
        node
        for node in tree.body
        if isinstance(node, ast.AsyncFunctionDef) and node.name == "async_setup"
    )
    assert "async_setup_services" in ast.unparse(setup)


def test_protocol_package_has_no_home_assistant_imports() -> None:
    for path in sorted((INTEGRATION / "meters").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.startswith("homeassistant") for name in names), (
                path.name
            )


def test_quality_scale_states_every_rule() -> None:
    rules = yaml.safe_load(_source("quality_scale.yaml"))["rules"]
    reference = ROOT.parent / "shared" / "reference" / "ha-quality-scale.md"
    if reference.is_file():
        listed = set(
            re.findall(r"^\| ([a-z-]+) [|(]", reference.read_text(), re.MULTILINE)
        )
        assert listed <= set(rules), listed - set(rules)
    for rule, value in rules.items():
        status = value if isinstance(value, str) else value["status"]
        assert status in {"done", "todo", "exempt"}, rule
        if status == "exempt":
            assert value["comment"], rule
