"""Reply templates: Jinja2 in a sandbox, because operators write them and email text flows into them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from jinja2.sandbox import SandboxedEnvironment


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """The only values a template sees: nothing from the email can reach code or settings."""

    email_id: int
    subject: str
    sender_name: str
    sender_email: str
    category: str
    mailbox_name: str


class TemplateRenderError(Exception):
    pass


class ReplyTemplates:
    def __init__(self, directories: tuple[Path, ...]) -> None:
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader([str(directory) for directory in directories]),
            autoescape=select_autoescape(enabled_extensions=("html", "htm", "html.j2"), default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def render(self, name: str, context: ReplyContext) -> str:
        try:
            return self._env.get_template(name).render(_values(context))
        except TemplateError as exc:
            raise TemplateRenderError(f"reply template {name!r}: {exc}") from exc

    def render_string(self, source: str, context: ReplyContext) -> str:
        """Render an operator rule's inline template with the same sandbox and values."""
        try:
            return self._env.from_string(source).render(_values(context))
        except TemplateError as exc:
            raise TemplateRenderError(f"rule template: {exc}") from exc


def _values(context: ReplyContext) -> dict[str, object]:
    return {
        "email_id": context.email_id,
        "subject": _one_line(context.subject),
        "sender_name": _one_line(context.sender_name),
        "sender_email": context.sender_email,
        "category": context.category,
        "mailbox_name": context.mailbox_name,
    }


def _one_line(text: str, limit: int = 200) -> str:
    """Email-supplied values are quoted in a reply: keep them short and on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
