"""Every language has every string English has, and nothing else (#13).

Home Assistant falls back to English for a missing key, silently: a string added to
``en.json`` and forgotten in another language would show English in the middle of a
German form. A placeholder missing from a translation shows ``{unit}`` to the user; one
too many breaks the string's formatting in the frontend.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "custom_components" / "smart_meter_hub" / "translations"
LANGUAGES = ("de", "es", "fr", "nl")
LANGUAGE_NAMES = {"de": "German", "es": "Spanish", "fr": "French", "nl": "Dutch"}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _strings(language: str) -> dict[str, str]:
    """The language's strings by their dotted key."""

    def walk(node: Any, prefix: str) -> Iterator[tuple[str, str]]:
        assert isinstance(node, dict), prefix
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                yield from walk(value, path)
            else:
                assert isinstance(value, str), path
                yield path, value

    data = json.loads((TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8"))
    return dict(walk(data, ""))


ENGLISH = _strings("en")


def test_only_the_listed_languages_exist() -> None:
    assert sorted(path.stem for path in TRANSLATIONS.glob("*.json")) == sorted(
        ("en", *LANGUAGES)
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_keys_as_english(language: str) -> None:
    strings = _strings(language)
    assert sorted(set(ENGLISH) - set(strings)) == [], "missing"
    assert sorted(set(strings) - set(ENGLISH)) == [], "not in English"


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_placeholders_as_english(language: str) -> None:
    strings = _strings(language)
    wrong = {
        key: (PLACEHOLDER.findall(text), PLACEHOLDER.findall(strings[key]))
        for key, text in ENGLISH.items()
        if key in strings
        and sorted(PLACEHOLDER.findall(text))
        != sorted(PLACEHOLDER.findall(strings[key]))
    }
    assert wrong == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_translated_not_copied(language: str) -> None:
    """Written in the language: most strings differ from the English ones.

    Some may stay the same (a unit, "OBIS", "Modbus TCP"); a copy of the English file,
    or large parts of it, fails.
    """
    strings = _strings(language)
    assert all(text.strip() for text in strings.values())
    same = [key for key, text in ENGLISH.items() if strings.get(key) == text]
    assert len(same) <= len(ENGLISH) // 10, same


def test_readme_names_the_languages() -> None:
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("Languages:"))
    for name in ("English", *LANGUAGE_NAMES.values()):
        assert name in line
