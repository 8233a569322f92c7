"""The settings retention runs by (``records.retention.registry.retention_policy`` reads them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RetentionPolicy:
    fiscal_year_start_month: int = 1
    two_person_rule: bool = False
    batch_max_items: int = 10_000
    review_period: str = "P1Y"
    transfer_dir: Path = Path("transfers")
    organization: str = "records"
