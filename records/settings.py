"""Service settings: environment variables (prefix ``RECORDS_``), an optional TOML file, defaults.

pydantic-settings gives typed, validated settings with one precedence order everywhere:
explicit arguments (CLI flags) > environment > TOML file (``RECORDS_CONFIG``) > defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from records.errors import InvalidConfiguration
from records.roles import Role

MiB = 1024 * 1024
GiB = 1024 * MiB


class RecordsSettings(BaseSettings):
    """Every setting the service reads. README lists them all (a test keeps the two in step)."""

    model_config = SettingsConfigDict(env_prefix="RECORDS_", extra="forbid")

    data_dir: Path = Field(Path("records-data"), description="Where the embedded store keeps its database and blobs.")
    host: str = Field("127.0.0.1", description="Address `records serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `records serve` listens on.")
    store: str = Field(
        "sqlite", description="Record store: `sqlite` (embedded default) or a `mongodb://` URL (a replica set)."
    )
    blobs: str = Field("file", description="Blob store: `file` (blobs under the data dir) or `s3://BUCKET`.")
    s3_endpoint: str | None = Field(None, description="S3 server as `host:port`, for `RECORDS_BLOBS=s3://…`.")
    s3_access_key: str | None = Field(None, description="S3 access key.")
    s3_secret_key: SecretStr | None = Field(None, description="S3 secret key.")
    s3_secure: bool = Field(True, description="Use TLS to reach the S3 server.")
    s3_lock_mode: str = Field(
        "governance", pattern="^(governance|compliance)$",
        description="Object Lock mode of retention put on archived files: `governance` or `compliance`.",
    )
    max_request_bytes: int = Field(1 * MiB, ge=1024, description="Largest JSON request body accepted (413 beyond).")
    max_attachment_bytes: int = Field(
        10 * GiB, ge=1, description="Largest attachment upload accepted (413 beyond)."
    )
    page_size_default: int = Field(50, ge=1, description="Records per page when `limit` is not given.")
    page_size_max: int = Field(200, ge=1, description="Largest `limit` a list request may ask for (422 beyond).")
    master_key: SecretStr | None = Field(
        None, description="Base64 of 32 bytes; seals the keyring's keys so the key file alone is useless."
    )
    keyring_dir: Path | None = Field(None, description="Where the keyring lives (default `<data dir>/keyring`).")
    key_rotation_grace_seconds: float = Field(
        5.0, ge=0, le=600, description="How long `records keys rotate` waits for in-flight requests before retiring a KEK."
    )
    identity_roles: str = Field(
        "agent,supervisor", description="Roles that see customers' personal data in clear; others see it masked."
    )
    reveal_roles: str = Field(
        "agent,supervisor,compliance_officer",
        description="Roles that may read one record's personal data in clear (`GET /api/v1/records/{id}/identity`).",
    )
    lookup_roles: str = Field(
        "admin,archivist,compliance_officer",
        description="Roles outside `RECORDS_IDENTITY_ROLES` that may look files up by phone or account, each time with an `X-Purpose`.",
    )
    masked_attachments: str = Field(
        "purpose", pattern="^(purpose|refuse)$",
        description="Attachment bytes for roles outside `RECORDS_IDENTITY_ROLES`: `purpose` (with an `X-Purpose`, audited as `attachment.reveal`) or `refuse` (403).")
    lookup_limit: int = Field(
        120, ge=1, description="Lookups by personal identifier one principal may make within the lookup window (429 beyond).")
    lookup_window_seconds: float = Field(
        3600.0, gt=0, le=86400 * 7, description="The sliding window over which lookups by personal identifier are counted.")
    audit_seal_seconds: float = Field(
        2.0, gt=0, le=3600, description="How often the service seals new audit events into a signed checkpoint."
    )
    auth_failure_limit: int = Field(
        20, ge=1, description="Failed authentications one client address may make within the window before it gets 429."
    )
    auth_failure_window_seconds: float = Field(
        60.0, gt=0, le=86400, description="The sliding window over which failed authentications are counted."
    )
    trusted_proxies: str = Field(
        "", description="Reverse proxies whose `X-Forwarded-For` names the client: IP addresses or CIDR networks, comma-separated (none by default).")
    audit_lock_publish_seconds: float = Field(
        300.0, gt=0, le=86400,
        description="How often a checkpoint is also written to the Object Lock bucket (S3 blobs only).")
    audit_lock_retention_days: int = Field(
        3650, ge=1, le=36500, description="How long the bucket keeps each checkpoint copy locked (S3 blobs only).")
    log_level: str = Field("info", pattern="^(critical|error|warning|info|debug)$", description="Server log level.")
    plugins_block: str | None = Field(
        None, description="Plugins not to load, comma-separated: plugin names (`telecom-metrics`, in any spelling pip treats as the same) or module names; built-ins too."
    )
    plugins_allow: str | None = Field(
        None, description="If set, only these plugins load (comma-separated plugin or module names); `local-keys` always does."
    )
    business_calendar: str = Field(
        "cn", pattern=r"^[a-z0-9_\-]+$", description="Calendar for limits in working days (`cn`: China's official, `weekdays`: Mon–Fri)."
    )
    holiday_file: Path | None = Field(
        None, description="TOML table of holidays and adjusted working days, for years a calendar has no data for."
    )
    service_level_limits: dict[str, str] = Field(
        {},
        description='Override limits by service level: `{"response_general": "PT10M", "result_feedback": "3wd"}`.',
    )
    metric_targets: dict[str, str] = Field(
        {},
        description='Switch metric targets by name: `{"satisfaction_rate": ">= 85%"}` (SPEC §4.1, §5.2 beside §1.3).',
    )
    plugin_settings: dict[str, dict[str, Any]] = Field(
        {},
        description='Settings of plugins, by section: `{"telecom": {"delivering_service_types": ["network"]}}`.',
    )
    due_soon_seconds: int = Field(3600, ge=1, le=30 * 86400, description="How close to due a deadline is `?sla=due_soon`.")
    sla_check_seconds: float = Field(
        60.0, gt=0, le=86400, description="How often the service looks for newly breached deadlines to report."
    )

    max_plugin_bytes: int = Field(20 * MiB, ge=1024, le=GiB, description="Largest plugin wheel accepted for installation (413 beyond).")
    plugins_allow_binary: bool = Field(
        False, description="Allow installing plugin wheels that are not pure Python (compiled code cannot be reviewed)."
    )
    plugin_sync_seconds: float = Field(
        5.0, gt=0, le=3600, description="How often an instance looks for plugin changes made through another instance."
    )

    retention_sweep_seconds: float = Field(
        3600.0, ge=0, le=31_536_000,
        description="How often the service sweeps due records into disposition batches (0: only on request).")
    retention_two_person_rule: bool = Field(
        False, description="Disposal needs approval by two different archivists or admins.")
    retention_batch_max_items: int = Field(10_000, ge=1, le=1_000_000, description="Most items one disposition batch holds.")
    retention_review_period: str = Field(
        "P1Y", description="How long a rejected disposal keeps a record before it is proposed again (ISO 8601).")
    retention_fiscal_year_start_month: int = Field(
        1, ge=1, le=12, description="First month of the fiscal year, for the `fiscal_year` cutoff.")
    retention_transfer_dir: Path | None = Field(
        None, description="Where transfer packages (BagIt) are written (default `<data dir>/transfers`).")
    retention_organization: str = Field(
        "records", min_length=1, max_length=200, description="`Source-Organization` written into transfer packages.")

    console_session_idle_seconds: float = Field(
        1800.0, gt=0, le=86400, description="A console session unused this long ends; signing in again opens a new one.")
    console_session_max_seconds: float = Field(
        43200.0, gt=0, le=30 * 86400, description="A console session ends this long after sign-in, however active.")
    console_time_zone: str = Field(
        "Asia/Shanghai", description="IANA time zone the console shows times in (UTC is shown on hover).")

    @field_validator("console_time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai") from None
        return value

    @field_validator("retention_review_period")
    @classmethod
    def _iso_period(cls, value: str) -> str:
        from records.retention.periods import parse_period

        parse_period(value)
        return value

    def names(self, field: str) -> list[str]:
        value = getattr(self, field)
        return [n.strip() for n in value.split(",") if n.strip()] if value is not None else []

    @field_validator("identity_roles", "reveal_roles", "lookup_roles")
    @classmethod
    def _known_roles(cls, value: str) -> str:
        names = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [n for n in names if n not in Role.__members__]
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles: {', '.join(Role.__members__)}")
        return ",".join(names)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        from records.api.client_address import parse_proxies

        entries = [e.strip() for e in value.split(",") if e.strip()]
        parse_proxies(entries)
        return ",".join(entries)

    def proxy_networks(self):  # type: ignore[no-untyped-def]
        """``RECORDS_TRUSTED_PROXIES`` as ``ipaddress`` networks."""
        from records.api.client_address import parse_proxies

        return parse_proxies(self.names("trusted_proxies"))

    def roles(self, field: str) -> frozenset[Role]:
        return frozenset(Role(n) for n in getattr(self, field).split(",") if n)

    @property
    def keyring_path(self) -> Path:
        return self.keyring_dir or self.data_dir / "keyring"

    @model_validator(mode="after")
    def _page_sizes_agree(self) -> RecordsSettings:
        if self.page_size_default > self.page_size_max:
            raise ValueError("page_size_default must not exceed page_size_max")
        return self

    @field_validator("store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if value != "sqlite" and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must be `sqlite` or a mongodb:// URL")
        return value

    @field_validator("blobs")
    @classmethod
    def _known_blobs(cls, value: str) -> str:
        if value != "file" and not value.startswith("s3://"):
            raise ValueError("must be `file` or s3://BUCKET")
        return value

    @model_validator(mode="after")
    def _s3_complete(self) -> RecordsSettings:
        if self.blobs.startswith("s3://"):
            missing = [f"RECORDS_{name.upper()}" for name in ("s3_endpoint", "s3_access_key", "s3_secret_key")
                       if getattr(self, name) is None]
            if missing:
                raise ValueError(f"RECORDS_BLOBS={self.blobs} needs {', '.join(missing)}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("RECORDS_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def transfer_path(self) -> Path:
        return self.retention_transfer_dir or self.data_dir / "transfers"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "records.sqlite3"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


def load_settings(**overrides: object) -> RecordsSettings:
    """Build settings, turning every kind of bad configuration into one typed error.

    ``overrides`` whose value is None are dropped so that an absent CLI flag falls through
    to the environment and the config file.
    """
    config_file = os.environ.get("RECORDS_CONFIG")
    if config_file and not Path(config_file).is_file():
        raise InvalidConfiguration(f"RECORDS_CONFIG points to {config_file!r}, which is not a readable file")
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return RecordsSettings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidConfiguration(f"invalid settings: {problems}") from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise InvalidConfiguration(f"cannot read configuration: {exc}") from None
