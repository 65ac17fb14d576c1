"""What one withdrawal changed, as the pages, the API and the customer's own page report it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consentcam.wording import WordedError


class WithdrawalError(WordedError, ValueError):
    """A withdrawal request that cannot be carried out as asked; the message says why."""


@dataclass(frozen=True)
class OpenedTask:
    """A removal task this withdrawal opened."""

    id: int
    publication_id: int
    channel: str
    method: str
    url: str | None
    due_at: datetime


@dataclass(frozen=True)
class WithdrawalResult:
    """What one withdrawal changed; an empty result means it had all been done before."""

    person_id: int
    at: datetime
    channels: tuple[str, ...]
    withdrawn: tuple[tuple[int, str], ...]
    biometric_withdrawn: tuple[int, ...]
    blocked_queue_item_ids: tuple[int, ...]
    tasks: tuple[OpenedTask, ...]
    references_deleted: int
    face_templates_deleted: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(
            self.withdrawn
            or self.biometric_withdrawn
            or self.blocked_queue_item_ids
            or self.tasks
            or self.references_deleted
            or self.face_templates_deleted
        )

    @property
    def api_tasks(self) -> tuple[OpenedTask, ...]:
        return tuple(t for t in self.tasks if t.method == "api")

    @property
    def manual_tasks(self) -> tuple[OpenedTask, ...]:
        return tuple(t for t in self.tasks if t.method == "manual")

    @property
    def due_at(self) -> datetime | None:
        return min((t.due_at for t in self.tasks), default=None)

    def as_json(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "at": self.at.isoformat(),
            "channels": list(self.channels),
            "changed": self.changed,
            "withdrawn": [{"consent_id": c, "channel": ch} for c, ch in self.withdrawn],
            "biometric_withdrawn": list(self.biometric_withdrawn),
            "blocked_queue_item_ids": list(self.blocked_queue_item_ids),
            "removal_tasks": [
                {
                    "id": t.id,
                    "publication_id": t.publication_id,
                    "channel": t.channel,
                    "method": t.method,
                    "url": t.url,
                    "due_at": t.due_at.isoformat(),
                }
                for t in self.tasks
            ],
            "references_deleted": self.references_deleted,
            "face_templates_deleted": self.face_templates_deleted,
        }
