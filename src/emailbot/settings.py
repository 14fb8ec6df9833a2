"""All configuration, validated once at start-up.

Every setting is an environment variable `EMAILBOT_<NAME>` (or a line in `.env`); a secret may instead be given as
`EMAILBOT_<NAME>_FILE` pointing to a file that holds it (Docker and Kubernetes secrets). A wrong value stops
start-up with one line naming the variable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from emailbot.domain import Thresholds

ENV_PREFIX = "EMAILBOT_"
DEFAULT_SLA_MINUTES = {"CRITICAL": 60.0, "HIGH": 240.0, "MEDIUM": 1440.0, "LOW": 4320.0}


class SettingsError(Exception):
    """A setting is wrong; the message names the variable and says what is expected."""


class _FileSecretsSource(PydanticBaseSettingsSource):
    """Reads `EMAILBOT_<NAME>_FILE` for any field whose plain variable is not set."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        path = os.environ.get(f"{ENV_PREFIX}{field_name.upper()}_FILE")
        if not path or f"{ENV_PREFIX}{field_name.upper()}" in os.environ:
            return None, field_name, False
        try:
            return Path(path).read_text(encoding="utf-8").strip(), field_name, False
        except OSError as exc:
            raise SettingsError(f"{ENV_PREFIX}{field_name.upper()}_FILE: cannot read {path}: {exc}") from exc

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, info in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(info, name)
            if value is not None:
                values[key] = value
        return values


class WebhookTarget(BaseModel):
    """One webhook that hears about escalations; a bare URL is a generic JSON webhook unless its host says more."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: SecretStr
    kind: Literal["teams_workflow", "slack", "generic"] = "generic"
    name: str = ""
    secret: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = {"url": value, "kind": _kind_of_url(value)}
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: SecretStr) -> SecretStr:
        if not url.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("a webhook URL must start with https:// or http://")
        return url


def _kind_of_url(url: str) -> str:
    host = url.split("/")[2].lower() if url.count("/") >= 2 else ""
    if host == "hooks.slack.com":
        return "slack"
    if host.endswith((".logic.azure.com", ".powerplatform.com", ".powerautomate.com")):
        return "teams_workflow"
    return "generic"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # Storage
    database_url: str = "sqlite+aiosqlite:///./var/emailbot.db"
    data_dir: Path = Path("./var")

    # Mailbox
    mailbox: Literal["local", "graph"] = "local"
    local_mailbox_dir: Path = Path("./var/mailbox")
    mailbox_address: str = "helpdesk@example.com"
    mailbox_display_name: str = "IT Help Desk"
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True

    # API
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = ""

    # Routing
    threshold_auto: float = Field(default=85, ge=0, le=100)
    threshold_suggest: float = Field(default=60, ge=0, le=100)
    threshold_review: float = Field(default=40, ge=0, le=100)
    max_replies_per_sender_per_hour: int = Field(default=3, ge=0)
    max_auto_replies_per_conversation: int = Field(default=1, ge=0, le=100)
    # live: act on mail; shadow: decide and record what would have been done, send and change nothing
    mode: Literal["live", "shadow"] = "live"
    # Noise: below this request confidence an email is left alone (NO_ACTION); 0 leaves it to server verdicts.
    noise_threshold: float = Field(default=30, ge=0, le=100)
    # Where noise goes: a folder name (Maildir) or folder id / well-known name (Graph, e.g. junkemail); unset: left.
    noise_folder: str | None = Field(default=None, min_length=1)
    # Policy escalation (ESCALATION, CRITICAL) needs confidence and request confidence >= this; unset: the review
    # threshold.
    escalation_min_confidence: float | None = Field(default=None, ge=0, le=100)

    # Engine
    poll_interval_seconds: float = Field(default=2.0, gt=0, le=3600)
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    batch_size: int = Field(default=50, ge=1, le=1000)
    max_attempts: int = Field(default=5, ge=1, le=100)
    lease_seconds: float = Field(default=120, gt=0)

    # Classification
    classifier: Literal["local", "llm", "hybrid"] = "local"
    model_dir: Path = Path("./var/models")
    taxonomy_file: Path | None = None

    # LLM classification and drafting (any OpenAI-compatible API; see classifiers/llm/)
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_azure_endpoint: str | None = None
    llm_azure_api_version: str = "2024-10-21"
    llm_azure_deployment: str | None = None
    llm_structured_output: Literal["auto", "json_schema", "json_object", "tools"] = "auto"
    llm_logprobs: bool = True
    llm_timeout_seconds: float = Field(default=30, gt=0, le=600)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_concurrency: int = Field(default=10, ge=1, le=256)
    llm_max_input_tokens: int = Field(default=1500, ge=100, le=100_000)
    llm_prices: dict[str, tuple[float, float]] = Field(default_factory=dict)
    llm_daily_budget: float | None = Field(default=None, ge=0)
    llm_requests_per_minute: int | None = Field(default=None, ge=1)
    llm_tokens_per_minute: int | None = Field(default=None, ge=1)
    llm_cache_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    llm_cache_size: int = Field(default=10_000, ge=0)
    llm_breaker_failures: int = Field(default=5, ge=1)
    llm_breaker_reset_seconds: float = Field(default=30, gt=0)
    llm_hybrid_weight: float = Field(default=0.7, ge=0, le=1)
    llm_drafting: bool = True
    llm_redact_pii: bool = False
    llm_auto_send_categories: list[str] = Field(default_factory=list)
    redis_url: str | None = None

    # Escalation
    escalation_default_members: list[str] = Field(default_factory=list)

    # Escalation: webhooks, SLA targets, Teams chats (see docs/escalations.md)
    notify_webhooks: Annotated[list[WebhookTarget], NoDecode] = Field(default_factory=list)
    notify_timeout_seconds: float = Field(default=10, gt=0, le=120)
    notify_max_attempts: int = Field(default=4, ge=1, le=10)
    notify_backoff_seconds: float = Field(default=1.0, ge=0, le=60)
    notify_signing_secret: SecretStr | None = None
    escalation_sla_minutes: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SLA_MINUTES))
    escalation_sla_at_risk: float = Field(default=0.8, gt=0, lt=1)
    escalation_sla_check_seconds: float = Field(default=60, gt=0, le=86400)
    teams_chats: bool = False
    teams_post_as: Literal["delegated", "workflow"] = "delegated"
    teams_delegated_account: str | None = None
    teams_client_id: str | None = None
    teams_delegated_scopes: list[str] = Field(
        default_factory=lambda: ["Chat.ReadWrite", "ChatMessage.Send", "User.Read"]
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Operations: logs, backups, data retention, encryption at rest
    log_dir: Path | None = None
    log_retention_days: int = Field(default=7, ge=1)
    backup_dir: Path = Path("./var/backups")
    backup_retention_days: int = Field(default=30, ge=1)
    backup_s3_bucket: str | None = None
    backup_s3_prefix: str = "database/"
    backup_s3_endpoint_url: str | None = None
    backup_s3_region: str | None = None
    backup_s3_access_key_id: str | None = None
    backup_s3_secret_access_key: SecretStr | None = None
    retention_days: int | None = Field(default=None, ge=1)
    retention_mode: Literal["delete", "anonymize"] = "anonymize"
    retention_batch_size: int = Field(default=500, ge=1, le=100_000)
    # Operations (issue 6): the monitoring cycle, its thresholds, alert delivery and the analytics schedule
    log_format: Literal["text", "json"] = "text"
    monitor_interval_seconds: float = Field(default=60, gt=0, le=86400)
    metrics_update_interval_seconds: float = Field(default=3600, gt=0, le=7 * 86400)
    pattern_analysis_interval_seconds: float = Field(default=86400, ge=0, le=31 * 86400)
    alert_max_queue_size: int = Field(default=1000, ge=0)
    alert_min_success_rate: float = Field(default=0.95, ge=0, le=1)
    alert_max_processing_time: float = Field(default=30, gt=0)
    alert_max_cpu_percent: float = Field(default=90, gt=0, le=100)
    alert_max_memory_percent: float = Field(default=90, gt=0, le=100)
    alert_max_disk_percent: float = Field(default=90, gt=0, le=100)
    alert_cooldown_seconds: float = Field(default=300, ge=0)
    alert_webhook_urls: list[str] = Field(default_factory=list)
    security_business_hours: tuple[int, int] = (7, 19)
    security_burst_per_minute: int = Field(default=120, ge=1)
    # Encryption at rest of bodies and raw sources (also checked by the security monitor)
    encryption_key: SecretStr | None = None
    # API authentication, rate limits and the dashboard
    api_key: SecretStr | None = None
    rate_limit_per_minute: int = Field(default=600, ge=1, le=100_000)
    session_hours: float = Field(default=12, gt=0, le=24 * 30)
    # GET /process/status without a key: the manual's daily health check reads its counts with a plain curl
    status_public: bool = False

    # Learning loop: retrain on the feedback every N hours (0 turns the scheduled job off)
    retrain_interval_hours: float = Field(default=168, ge=0)
    retrain_min_feedback: int = Field(default=10, ge=1)
    # Earned autonomy: a category auto-sends once operators' reviews show this precision over this many reviews
    # (`always`: every category may auto-send, as before; for tests and trials)
    autonomy: Literal["earned", "always"] = "earned"
    autonomy_target_precision: float = Field(default=0.95, gt=0, le=1)
    autonomy_min_reviews: int = Field(default=30, ge=1)
    # Refit the LLM's confidence calibration from feedback once this many new reviews came in (0 = never)
    calibration_min_new_feedback: int = Field(default=20, ge=0)
    # Microsoft 365 (EMAILBOT_MAILBOX=graph); see docs/m365-setup.md
    graph_tenant_id: str = ""
    graph_client_id: str = ""
    graph_client_secret: SecretStr | None = None
    graph_client_certificate: Path | None = None
    graph_client_certificate_thumbprint: str | None = None
    graph_client_certificate_key: Path | None = None
    graph_authority_url: str = "https://login.microsoftonline.com"
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    graph_ca_bundle: Path | None = None
    graph_mailbox: str = ""
    graph_page_size: int = Field(default=50, ge=1, le=1000)
    graph_max_concurrency: int = Field(default=4, ge=1, le=4)
    graph_move_to: str | None = None
    graph_notification_url: str = ""
    graph_client_state: SecretStr | None = None
    graph_subscription_minutes: int = Field(default=4200, ge=5, le=10080)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSecretsSource(settings_cls), dotenv_settings)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        """Accept the everyday URL forms and pick the async driver for them."""
        for plain, asynchronous in (
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return asynchronous + url.removeprefix(plain)
        if not url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("expected a sqlite:/// or postgresql:// URL")
        return url

    @field_validator("noise_folder")
    @classmethod
    def _plain_folder_name(cls, name: str | None) -> str | None:
        # A folder name or a Graph folder id: never a path (the Maildir connector makes `.<name>` of it).
        if name is not None and (any(c in name for c in "/\\\0") or ".." in name or name.startswith(".")):
            raise ValueError("a folder name or id, without '/', '\\', '..' or a leading '.'")
        return name

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")

    @field_validator("api_key")
    @classmethod
    def _long_enough_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value().strip()) < 16:
            raise ValueError("an API key must have at least 16 characters")
        return key

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> Settings:
        if not self.threshold_review <= self.threshold_suggest <= self.threshold_auto:
            raise ValueError(
                "threshold_auto: thresholds must satisfy "
                "EMAILBOT_THRESHOLD_REVIEW <= EMAILBOT_THRESHOLD_SUGGEST <= EMAILBOT_THRESHOLD_AUTO"
            )
        return self

    @model_validator(mode="after")
    def _encryption_keys_valid(self) -> Settings:
        from emailbot.store.crypto import EncryptionKeyError, KeyRing

        if self.encryption_key is not None:
            try:
                KeyRing.parse(self.encryption_key.get_secret_value())
            except EncryptionKeyError as exc:
                raise ValueError(f"encryption_key: {exc}") from None
        return self

    @model_validator(mode="before")
    @classmethod
    def _llm_when_configured(cls, data: Any) -> Any:
        """Pointing EmailBot at an LLM is three settings: base URL, key and model (or the Azure trio) make the LLM
        the classifier unless EMAILBOT_CLASSIFIER says otherwise."""
        if not isinstance(data, dict) or data.get("classifier"):
            return data
        openai_style = all(data.get(name) for name in ("llm_base_url", "llm_api_key", "llm_model"))
        azure = all(data.get(name) for name in ("llm_azure_endpoint", "llm_api_key", "llm_azure_deployment"))
        return {**data, "classifier": "llm"} if openai_style or azure else data

    @model_validator(mode="after")
    def _llm_configured(self) -> Settings:
        """An LLM classifier needs somewhere to send requests: say which variable is missing."""
        if self.classifier == "local":
            return self
        if self.llm_azure_endpoint:
            needed = {"llm_api_key": self.llm_api_key, "llm_azure_deployment": self.llm_azure_deployment}
        else:
            needed = {"llm_base_url": self.llm_base_url, "llm_api_key": self.llm_api_key, "llm_model": self.llm_model}
        missing = [name for name, value in needed.items() if not value]
        if missing:
            names = " and ".join(f"{ENV_PREFIX}{name.upper()}" for name in missing)
            raise ValueError(f"{missing[0]}: EMAILBOT_CLASSIFIER={self.classifier} needs {names}")
        return self

    @field_validator("alert_webhook_urls")
    @classmethod
    def _webhooks_are_http(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"expected http(s) URLs, got {url!r}")
        return urls

    @field_validator("security_business_hours")
    @classmethod
    def _hours_in_a_day(cls, hours: tuple[int, int]) -> tuple[int, int]:
        start, end = hours
        if not 0 <= start < end <= 24:
            raise ValueError("expected [start, end] hours with 0 <= start < end <= 24, e.g. [7, 19]")
        return hours

    @field_validator("notify_webhooks", mode="before")
    @classmethod
    def _webhook_list(cls, value: Any) -> Any:
        """Accept one URL, a comma-separated list of URLs or a JSON list of URLs and objects."""
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON: {exc}") from None
        return [item.strip() for item in value.split(",") if item.strip()]

    @field_validator("escalation_sla_minutes")
    @classmethod
    def _sla_per_urgency(cls, targets: dict[str, float]) -> dict[str, float]:
        upper = {name.upper(): minutes for name, minutes in targets.items()}
        unknown = set(upper) - {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
        if unknown or any(minutes <= 0 for minutes in upper.values()):
            raise ValueError("expected positive minutes per urgency LOW, MEDIUM, HIGH, CRITICAL")
        return DEFAULT_SLA_MINUTES | upper

    @field_validator("notify_webhooks")
    @classmethod
    def _named_targets(cls, targets: list[WebhookTarget]) -> list[WebhookTarget]:
        """Unnamed targets are called after their kind and position (slack-1, generic-2) in logs and records."""
        named = [
            t if t.name else t.model_copy(update={"name": f"{t.kind}-{index}"}) for index, t in enumerate(targets, 1)
        ]
        names = [t.name for t in named]
        if len(set(names)) != len(names):
            raise ValueError("webhook names must be unique")
        return named

    @model_validator(mode="after")
    def _teams_needs_graph(self) -> Settings:
        credential = self.graph_client_secret or self.graph_client_certificate
        if self.teams_chats and not (self.graph_tenant_id and self.graph_client_id and credential):
            raise ValueError(
                "teams_chats: EMAILBOT_TEAMS_CHATS needs EMAILBOT_GRAPH_TENANT_ID, EMAILBOT_GRAPH_CLIENT_ID "
                "and EMAILBOT_GRAPH_CLIENT_SECRET (or EMAILBOT_GRAPH_CLIENT_CERTIFICATE)"
            )
        workflow = [t for t in self.notify_webhooks if t.kind == "teams_workflow"]
        if self.teams_chats and self.teams_post_as == "workflow" and not workflow:
            raise ValueError(
                "teams_post_as: EMAILBOT_TEAMS_POST_AS=workflow needs a teams_workflow target in "
                "EMAILBOT_NOTIFY_WEBHOOKS"
            )
        return self

    @model_validator(mode="after")
    def _graph_complete(self) -> Settings:
        if self.mailbox != "graph":
            return self
        for name in ("graph_tenant_id", "graph_client_id", "graph_mailbox"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name}: required when EMAILBOT_MAILBOX=graph")
        certificate = self.graph_client_certificate
        if self.graph_client_secret is None and certificate is None:
            raise ValueError(
                "graph_client_secret: set EMAILBOT_GRAPH_CLIENT_SECRET or EMAILBOT_GRAPH_CLIENT_CERTIFICATE "
                "when EMAILBOT_MAILBOX=graph"
            )
        key = self.graph_client_certificate_key
        if key is not None and not Path(key).is_file():
            raise ValueError("graph_client_certificate_key: no such file (the certificate's private key, PEM)")
        if certificate is not None and not Path(certificate).is_file():
            raise ValueError(
                "graph_client_certificate: no such file (a PEM file holding the private key and certificate)"
            )
        if self.graph_ca_bundle is not None and not Path(self.graph_ca_bundle).is_file():
            raise ValueError("graph_ca_bundle: no such file")
        for name in ("graph_authority_url", "graph_base_url"):
            if not getattr(self, name).startswith("https://"):
                raise ValueError(f"{name}: must be an https:// URL")
        if self.graph_notification_url and not self.graph_notification_url.startswith(("https://", "http://")):
            raise ValueError("graph_notification_url: must be the public http(s) URL of /notifications/graph")
        return self

    @property
    def graph_mailboxes(self) -> tuple[str, ...]:
        """EMAILBOT_GRAPH_MAILBOX: one address or several, comma-separated."""
        return tuple(dict.fromkeys(part.strip().lower() for part in self.graph_mailbox.split(",") if part.strip()))

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(auto=self.threshold_auto, suggest=self.threshold_suggest, review=self.threshold_review)

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning pydantic's report into one line per wrong variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "settings"
        message = error["msg"].removeprefix("Value error, ")
        if ":" in message and message.split(":", 1)[0].islower() and message.split(":", 1)[0] in Settings.model_fields:
            field, message = message.split(":", 1)
        given = error.get("input")
        secret = "password" in field or "key" in field
        secret = any(word in field for word in ("password", "secret", "webhook", "key"))
        shown = "" if isinstance(given, dict) or secret or given is None else f" (got {given!r})"
        lines.append(f"{ENV_PREFIX}{field.upper()}: {message.strip()}{shown}")
    return "; ".join(lines)
