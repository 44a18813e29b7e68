"""What hassfest and the HACS action would check (they cannot run here), restated."""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_zeroconf
from packaging.requirements import Requirement
from packaging.version import Version
from PIL import Image

from custom_components.smart_meter_hub.binary_sensor import BINARY_SENSORS
from custom_components.smart_meter_hub.config_flow import menu_options
from custom_components.smart_meter_hub.kinds import KINDS
from custom_components.smart_meter_hub.sensor import (
    LAST_READING,
    NIGHT_BASELINE,
    READINGS,
    UNMEASURED,
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


def _flow_sources() -> str:
    """The config flow: the composed class, its shared path and every kind's steps."""
    paths = [INTEGRATION / "config_flow.py", INTEGRATION / "flow.py"]
    paths += sorted((INTEGRATION / "kinds").glob("**/*.py"))
    return "\n".join(path.read_text() for path in paths)


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
    source = _flow_sources()
    config = STRINGS["config"]
    for step in re.findall(r'step_id="(\w+)"', source):
        assert step in config["step"], step
    # Steps that only route to another step (or generate an identity): no form.
    routing = {
        "reauth",
        "reconfigure",
        "zeroconf",
        "integration_discovery",
        "init",
        "xcel_zeroconf",
        *(kind.discovered_step for kind in KINDS.values() if kind.discovered_step),
    }
    for step in re.findall(r"async def async_step_(\w+)", source):
        if step not in routing | {"xcel_generate"}:
            assert step in config["step"], step
    for kind in KINDS.values():
        assert kind.key in config["step"], kind.key
        assert kind.key in STRINGS["options"]["step"], kind.key
        for step in (kind.reconfigure_step, kind.reauth_step):
            assert step is None or step in config["step"], step
        for issue in (kind.pending_issue, kind.silent_issue and kind.silent_issue[1]):
            assert not issue or STRINGS["issues"][issue]["title"], issue
    # Import errors are built from the identity check's reasons.
    for reason in re.findall(
        r'IdentityError\("(\w+)"\)', _source("meters/sep2_identity.py") + source
    ):
        assert f"identity_{reason}" in config["error"], reason
    for error in re.findall(r'FormError\(\s*"(\w+)"', source):
        assert error in config["error"], error
    for error in re.findall(r'\{"base": "(\w+)"\}', source):
        assert error in config["error"], error
    for error in re.findall(r'errors\[\w+\] = "(\w+)"', source):
        assert error in config["error"], error
    for error in re.findall(r'OptionsError\(\w+, "(\w+)"\)', source):
        assert error in STRINGS["options"]["error"], error
    for reason in re.findall(r'reason="(\w+)"', source):
        assert reason in config["abort"], reason
    for reason in (
        "already_configured",
        "already_in_progress",
        "reauth_successful",
        "reconfigure_successful",
    ):
        assert reason in config["abort"], reason
    assert list(config["step"]["user"]["menu_options"]) == menu_options(KINDS)


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
    for description in (*READINGS, LAST_READING, NIGHT_BASELINE, UNMEASURED):
        assert STRINGS["entity"]["sensor"][description.translation_key]["name"]
    for description in BINARY_SENSORS:
        if description.translation_key is None:
            # The connectivity sensor takes its name from its device class.
            assert description.device_class is not None
        else:
            key = description.translation_key
            assert STRINGS["entity"]["binary_sensor"][key]["name"]


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
    shared = _source("flow.py")
    assert "async_set_unique_id(" in shared
    assert "_abort_if_unique_id_configured(" in shared
    assert "_abort_if_unique_id_mismatch(" in shared
    for step in ("reauth", "reconfigure", "user"):
        assert f"async def async_step_{step}(" in _source("config_flow.py")


def test_actions_are_registered_in_async_setup() -> None:
    tree = ast.parse(_source("__init__.py"))
    setup = next(
        node
        for node in tree.body
        if isinstance(node, ast.AsyncFunctionDef) and node.name == "async_setup"
    )
    assert "async_setup_services" in ast.unparse(setup)


def test_shared_files_name_no_kind_of_meter() -> None:
    """A kind declares what it needs: only kinds/ (and the protocols) name one."""
    names = set(KINDS) | {"Xcel", "SDM630", "Eastron", "ObisHttp", "Virtual"}
    for path in _python_files():
        relative = path.relative_to(INTEGRATION)
        if relative.parts[0] in ("kinds", "meters", "analysis"):
            continue
        source = path.read_text()
        for name in names:
            assert not re.search(rf"\b{name}\b", source), f"{relative}: {name}"


def test_protocol_package_names_no_product_and_no_entity() -> None:
    for path in sorted((INTEGRATION / "meters").rglob("*.py")):
        source = path.read_text()
        assert not re.search(r"Xcel|Riva|sensor\.\w+", source), path.name


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


# Publishing (issue #13): license, one version, changelog, the release zip, workflows,
# discovery, the relation to core Modbus, brand images for the brands repository.

REPOSITORY = "https://github.com/smart-meter-hub/smart_meter_hub"
WORKFLOWS = ROOT / ".github" / "workflows"
BRANDS = ROOT / "brands" / "custom_integrations" / INTEGRATION.name


def test_license_is_apache_2() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("Copyright 2026 The Smart Meter Hub authors\n")
    assert "Apache License\n" in text
    assert "Version 2.0, January 2004" in text
    for section in range(1, 10):  # the nine sections of the terms, in full
        assert re.search(rf"^   {section}\. [A-Z]", text, re.MULTILINE), section
    assert "END OF TERMS AND CONDITIONS" in text
    # The captured meter data keeps its own notice (Apache License 2.0 as well).
    notice = (ROOT / "meter_sim" / "data" / "NOTICE.md").read_text()
    assert "Apache License 2.0" in notice


def test_hacs_installs_the_release_zip() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert set(hacs) <= HACS_KEYS
    assert isinstance(hacs["name"], str)
    assert hacs["zip_release"] is True
    assert hacs["filename"] == f"{MANIFEST['domain']}.zip"
    assert not hacs.get("content_in_root", False)


def test_manifest_version_is_the_only_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    version = MANIFEST["version"]
    assert re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", version)  # SemVer
    assert str(Version(version)) == version  # PEP 440, in canonical form
    # What Home Assistant's loader requires of a custom integration's version.
    AwesomeVersion(
        version,
        ensure_strategy=[
            AwesomeVersionStrategy.CALVER,
            AwesomeVersionStrategy.SEMVER,
            AwesomeVersionStrategy.SIMPLEVER,
            AwesomeVersionStrategy.BUILDVER,
            AwesomeVersionStrategy.PEP440,
        ],
    )


def test_changelog_has_unreleased_and_the_manifest_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\](.*)$", text, re.MULTILINE)
    assert headings[0] == ("Unreleased", "")
    versions = [name for name, _ in headings[1:]]
    assert MANIFEST["version"] in versions
    for name, date in headings[1:]:
        assert re.fullmatch(r" - \d{4}-\d{2}-\d{2}", date), name
    assert versions == sorted(versions, key=Version, reverse=True)


def test_workflows_run_hassfest_hacs_and_the_tests() -> None:
    validate = yaml.safe_load((WORKFLOWS / "validate.yml").read_text())
    tests = yaml.safe_load((WORKFLOWS / "tests.yml").read_text())
    for workflow in (validate, tests):
        triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads 'on' as True
        assert "push" in triggers
        assert "pull_request" in triggers
    steps = [step for job in validate["jobs"].values() for step in job["steps"]]
    actions = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    assert "home-assistant/actions/hassfest" in actions
    assert actions["hacs/action"]["with"]["category"] == "integration"

    (job,) = tests["jobs"].values()
    legs = {
        (leg["python"], leg.get("pymodbus") or "")
        for leg in job["strategy"]["matrix"]["include"]
    }
    # Oldest Home Assistant (3.13), newest (3.14), oldest with the newest pymodbus.
    assert legs == {("3.13", ""), ("3.14", ""), ("3.13", "latest")}
    (run,) = [step for step in job["steps"] if "run" in step]
    assert run["run"] == "scripts/test"
    assert run["env"]["SMH_PYMODBUS"] == "${{ matrix.pymodbus }}"
    # .ci/run, the local CI, runs the same three legs.
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'run "Home Assistant oldest (Python 3.13)" scripts/test' in ci
    assert "with-python314 scripts/test" in ci
    assert "env SMH_PYMODBUS=latest scripts/test" in ci


def _environment_without_coverage() -> dict[str, str]:
    """This environment, less pytest-cov's: the script's own Python is not measured."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("COV_CORE_", "COVERAGE_"))
    }


def test_release_dry_run_builds_the_zip_hacs_installs(tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and the repository")
    major, minor, _patch = (int(part) for part in MANIFEST["version"].split("."))
    version = f"{major}.{minor + 1}.0"
    result = subprocess.run(  # noqa: S603 (our own script, fixed arguments)
        [ROOT / "scripts" / "release", "--dry-run", "--workdir", tmp_path, version],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=_environment_without_coverage() | {"PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stderr
    archive = Path(result.stdout.splitlines()[-1])
    assert archive.name == json.loads((ROOT / "hacs.json").read_text())["filename"]
    assert archive.is_relative_to(tmp_path)
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        released = json.loads(zipped.read("manifest.json"))
    # The integration's folder at the root of the zip, as HACS unpacks it.
    assert released["domain"] == MANIFEST["domain"]
    assert released["version"] == version
    for name in ("__init__.py", "translations/en.json", "brand/icon.png"):
        assert name in names, name
    assert not [
        name for name in names if "__pycache__" in name or name.endswith(".pyc")
    ]
    assert not [name for name in names if name.startswith("custom_components")]
    changelog = (archive.parent.parent / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.MULTILINE)
    assert headings[:3] == ["Unreleased", version, MANIFEST["version"]]
    assert (archive.parent / "RELEASE_NOTES.md").is_file()
    # The repository itself is untouched: no bump, no tag.
    assert json.loads((INTEGRATION / "manifest.json").read_text()) == MANIFEST
    tags = subprocess.run(  # noqa: S603 (fixed arguments)
        [git, "-C", ROOT, "tag", "--list", f"v{version}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert tags.stdout == ""


async def test_zeroconf_matches_only_itron_meters(hass: HomeAssistant) -> None:
    matchers = await async_get_zeroconf(hass)
    ours = [
        matcher
        for matcher in matchers["_smartenergy._tcp.local."]
        if matcher["domain"] == MANIFEST["domain"]
    ]
    assert ours == [{"domain": MANIFEST["domain"], "name": "itrondnsserver-*"}]

    def discovered(instance: str) -> bool:
        # Home Assistant matches the lower-cased instance name against the pattern.
        return any(
            re.compile(fnmatch.translate(matcher["name"])).match(instance.lower())
            for matcher in ours
        )

    assert discovered("itrondnsserver-007001234567._smartenergy._tcp.local.")
    assert discovered("ItronDNSServer-007001234567._smartenergy._tcp.local.")
    assert not discovered("printer._smartenergy._tcp.local.")
    assert not discovered("emu-2-gateway._smartenergy._tcp.local.")


def test_core_modbus_relation_and_its_loggers() -> None:
    # Core Modbus (its shared connection) and the recorder (Xcel's backfill of missed
    # hours into the statistics) when they are there; neither is required.
    assert MANIFEST["after_dependencies"] == ["modbus", "recorder"]
    assert MANIFEST["loggers"] == ["modbus_connection", "pymodbus", "tmodbus"]
    for logger in MANIFEST["loggers"]:
        # Each library logs under its package's name (logging.getLogger(__name__)).
        spec = importlib.util.find_spec(logger)
        if spec is None:
            # Before Home Assistant 2026.9 core Modbus has no shared connection library.
            assert sys.version_info < (3, 14), logger
            continue
        assert spec.submodule_search_locations is not None, logger
    # The pymodbus this Home Assistant runs (or the newest, SMH_PYMODBUS=latest) is one
    # the manifest allows.
    (pymodbus,) = [
        Requirement(text)
        for text in MANIFEST["requirements"]
        if Requirement(text).name == "pymodbus"
    ]
    assert importlib.metadata.version("pymodbus") in pymodbus.specifier


def test_documentation_and_issue_tracker_are_one_repository() -> None:
    assert MANIFEST["documentation"] == REPOSITORY
    assert MANIFEST["issue_tracker"] == f"{REPOSITORY}/issues"
    assert all(owner.startswith("@") for owner in MANIFEST["codeowners"])


def test_brands_submission_matches_the_integration_brand_folder() -> None:
    brand = {path.name: path.read_bytes() for path in (INTEGRATION / "brand").iterdir()}
    submission = {path.name: path.read_bytes() for path in BRANDS.iterdir()}
    assert submission == brand
    with Image.open(BRANDS / "icon.png") as icon:
        assert icon.size == (256, 256)
    with Image.open(BRANDS / "icon@2x.png") as icon:
        assert icon.size == (512, 512)
    with Image.open(BRANDS / "logo.png") as logo:
        assert 128 <= min(logo.size) <= 256
    with Image.open(BRANDS / "logo@2x.png") as logo:
        assert 256 <= min(logo.size) <= 512
