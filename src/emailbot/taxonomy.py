"""The categories EmailBot sorts mail into, with what each one needs: template, expertise, escalation members."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULTS_DIR = Path(__file__).with_name("defaults")
DEFAULT_TAXONOMY_FILE = DEFAULTS_DIR / "taxonomy.toml"


class TaxonomyError(Exception):
    """The taxonomy file is unreadable or inconsistent; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class CategorySpec:
    name: str
    description: str
    template: str
    expertise: tuple[str, ...] = ()
    escalation_members: tuple[str, ...] = ()
    auto_reply: bool = True
    examples: tuple[str, ...] = ()  # sample emails (subject and body as one text): few-shot examples for an LLM


@dataclass(frozen=True, slots=True)
class Taxonomy:
    categories: dict[str, CategorySpec]
    template_dirs: tuple[Path, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.categories)

    def get(self, name: str) -> CategorySpec | None:
        return self.categories.get(name)


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Read a taxonomy TOML; templates are looked up beside the file first, then in the defaults."""
    source = path or DEFAULT_TAXONOMY_FILE
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TaxonomyError(f"{source}: {exc}") from exc
    table = document.get("categories")
    if not isinstance(table, dict) or not table:
        raise TaxonomyError(f"{source}: needs at least one [categories.NAME] table")
    categories = {name: _category(source, name, spec) for name, spec in table.items()}
    dirs = (source.parent, source.parent / "replies", DEFAULTS_DIR / "replies")
    return Taxonomy(categories=categories, template_dirs=tuple(dict.fromkeys(dirs)))


def _category(source: Path, name: str, spec: object) -> CategorySpec:
    if not isinstance(spec, dict):
        raise TaxonomyError(f"{source}: [categories.{name}] must be a table")
    try:
        return CategorySpec(
            name=name,
            description=str(spec.get("description", "")),
            template=str(spec.get("template", "generic.txt.j2")),
            expertise=tuple(str(item) for item in spec.get("expertise", ())),
            escalation_members=tuple(str(item) for item in spec.get("escalation_members", ())),
            auto_reply=bool(spec.get("auto_reply", True)),
            examples=tuple(str(item) for item in spec.get("examples", ())),
        )
    except TypeError as exc:
        raise TaxonomyError(f"{source}: [categories.{name}]: {exc}") from exc
