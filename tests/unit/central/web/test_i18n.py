"""The message catalogue: both languages complete, and no template or script holding text of its own."""

from __future__ import annotations

import re
import string
from html.parser import HTMLParser
from pathlib import Path

import pytest

from central.rules.base import AlertKind
from central.web.i18n import ALERT_KINDS, DEFAULT_LANG, LANGS, MESSAGES, Translator, choose_lang
from central.web.layout import NAV
from central.web.render import STATIC, TEMPLATES

WORDS = re.compile(r"[A-Za-z\u3400-\u9fff]")
CJK = re.compile(r"[\u3400-\u9fff]")
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
SHOWN_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}


def placeholders(text: str) -> set[str]:
    """The {names} a catalogue text fills in."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_every_key_with_the_same_placeholders() -> None:
    """A key missing in one language, or a {value} only one language fills, is a bug."""
    zh, en = MESSAGES["zh"], MESSAGES["en"]
    assert set(zh) == set(en), set(zh) ^ set(en)
    for key in zh:
        assert placeholders(zh[key]) == placeholders(en[key]), key
        assert zh[key].strip() and en[key].strip(), key


def test_chinese_is_the_default_and_unknown_languages_fall_back_to_it() -> None:
    """?lang= and the cookie pick a language only when it is one we have."""
    assert DEFAULT_LANG == "zh" and set(LANGS) == {"zh", "en"}
    assert choose_lang(None, None) == "zh"
    assert choose_lang("fr", "en") == "en"
    assert choose_lang("en", "zh") == "en"
    assert choose_lang("<script>", None) == "zh"


def test_translator_fills_values_labels_codes_and_refuses_unknown_keys() -> None:
    """t(key) fills placeholders; label() falls back to the raw code; an unknown key raises."""
    t = Translator("zh")
    assert t("common.days_left", n=3) == "剩余 3 天"
    assert t.label("category", "parole") == "假释"
    assert t.label("kind", "brand_new_kind") == "brand_new_kind"
    assert t.label("kind", None) == ""
    with pytest.raises(KeyError):
        t("no.such.key")
    assert set(Translator("en").subset("state.")) == {
        f"state.{s}" for s in ("open", "acknowledged", "handled", "escalated")
    }


def test_every_alert_kind_and_navigation_entry_is_catalogued() -> None:
    """Each kind the rules can raise has a name and a rule text; each navigation entry has a label."""
    assert set(ALERT_KINDS) == set(AlertKind.__args__)  # type: ignore[attr-defined]
    for lang in LANGS:
        for kind in ALERT_KINDS:
            assert f"kind.{kind}" in MESSAGES[lang] and f"rule.{kind}" in MESSAGES[lang]
        for key, _path, _admin in NAV:
            assert f"nav.{key}" in MESSAGES[lang]


class _Text(HTMLParser):
    """Collects what a browser would show: text outside scripts and styles, and shown attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        self.shown += [value for name, value in attrs if name in SHOWN_ATTRIBUTES and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.shown.append(data)


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.html")), ids=lambda p: p.name)
def test_templates_hold_no_text_outside_the_catalogue(template: Path) -> None:
    """With every Jinja expression removed, nothing a reader sees has a letter or a Chinese character."""
    parser = _Text()
    parser.feed(JINJA.sub("", template.read_text()))
    words = [piece.strip() for piece in parser.shown if WORDS.search(piece)]
    assert words == [], f"{template.name} shows text of its own: {words}"


@pytest.mark.parametrize("script", sorted(STATIC.glob("*.js")), ids=lambda p: p.name)
def test_scripts_take_their_texts_from_the_page(script: Path) -> None:
    """The UI's own scripts hold no Chinese: every text they show comes from #ui-text."""
    assert not CJK.search(script.read_text())


def test_every_literal_key_used_in_templates_and_pages_exists() -> None:
    """t("…") with a literal key anywhere in the UI names a catalogued key."""
    sources = [*TEMPLATES.glob("*.html"), *(TEMPLATES.parent / "pages").glob("*.py")]
    used = {key for path in sources for key in re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""", path.read_text())}
    assert used, "the pattern found no key at all"
    assert used - set(MESSAGES["zh"]) == set()
