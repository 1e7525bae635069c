"""The landing sources of CONTRACT §1: their columns and the row rules that reject a row."""

from __future__ import annotations

from dataclasses import dataclass

STRING = "string"
TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class Source:
    name: str
    # every contract column, in order, with its logical type; all must be present in a file
    columns: tuple[tuple[str, str], ...]
    # columns that must be non-empty strings (a row without one is quarantined)
    required_strings: tuple[str, ...]
    # the timestamp that must be present, parseable and (if checked) inside the partition hour
    event_time: str
    event_time_in_partition: bool
    # columns whose value, lower-cased and trimmed, must be one of a list when present: a row
    # with another value is quarantined, not left to fail the marts' tests (and the build)
    allowed: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


# CONTRACT §1's plans, in tier order: seeds/plan_tiers.csv ranks the same ones
PLANS = ("free", "starter", "pro", "enterprise")

SOURCES: dict[str, Source] = {
    "pings": Source(
        name="pings",
        columns=(
            ("event_id", STRING),
            ("created_at", TIMESTAMP),
            ("cookie", STRING),
            ("url", STRING),
            ("referrer", STRING),
            ("user_agent", STRING),
        ),
        required_strings=("event_id", "cookie"),
        event_time="created_at",
        event_time_in_partition=True,
    ),
    "signups": Source(
        name="signups",
        columns=(
            ("event_id", STRING),
            ("created_at", TIMESTAMP),
            ("cookie", STRING),
            ("email", STRING),
            ("referring_channel", STRING),
        ),
        required_strings=("event_id", "cookie", "email"),
        event_time="created_at",
        event_time_in_partition=True,
    ),
    # A CRM export row is a contact's state as of updated_at, which is usually well before
    # the hour the export landed, so it is not checked against the partition hour.
    "crm": Source(
        name="crm",
        columns=(
            ("email", STRING),
            ("demo_at", TIMESTAMP),
            ("trial_at", TIMESTAMP),
            ("customer_at", TIMESTAMP),
            ("updated_at", TIMESTAMP),
        ),
        required_strings=("email",),
        event_time="updated_at",
        event_time_in_partition=False,
    ),
    "accounts": Source(
        name="accounts",
        columns=(
            ("event_id", STRING),
            ("created_at", TIMESTAMP),
            ("cookie", STRING),
            ("account_id", STRING),
            ("email", STRING),
            ("event_type", STRING),
            ("plan", STRING),
        ),
        required_strings=("event_id", "cookie", "account_id", "email"),
        event_time="created_at",
        event_time_in_partition=True,
        allowed=(("plan", PLANS),),
    ),
}
