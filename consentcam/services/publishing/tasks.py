"""The publishing jobs: publish an item, the minute's re-check of the queue, and due items."""

from __future__ import annotations

from typing import Any

from consentcam.runtime import Runtime, TaskQueue
from consentcam.services.publishing.items import due_items
from consentcam.services.publishing.links import purge_public_links
from consentcam.services.publishing.publish import PublishOutcome, publish_item
from consentcam.services.publishing.verdicts import recheck_queue
from consentcam.uow import later, unit_of_work


def run_publish_job(rt: Runtime, item_id: int, final_attempt: bool) -> PublishOutcome:
    """Publish an item (its steps are units of work of their own, on one session)."""
    with rt.sessions() as session:
        return publish_item(session, rt, item_id, final_attempt=final_attempt)


def recheck_photos(rt: Runtime, photo_ids: list[int]) -> int:
    """The queue items of these photos checked by the gate now (a job); the number changed."""
    with unit_of_work(rt) as session:
        changed = recheck_queue(session, rt, photo_ids)
    return len(changed)


def run_recheck(rt: Runtime) -> int:
    with unit_of_work(rt) as session:
        changed = recheck_queue(session, rt)
        purge_public_links(session)
    return len(changed)


def run_due(rt: Runtime) -> list[int]:
    with unit_of_work(rt) as session:
        ids = due_items(session)
        for item_id in ids:
            later(session, "publish_queue_item", item_id)
    return ids


def register(jobs: TaskQueue) -> None:
    """Declare the publishing tasks on the job queue (`consentcam.jobs.Jobs`)."""
    from huey import crontab

    config = jobs.rt.settings
    retries = int(config.get("PUBLISH_RETRIES", 5))

    @jobs.task(
        "publish_queue_item",
        retries=retries,
        retry_delay=float(config.get("PUBLISH_RETRY_DELAY", 60)),
        retry_backoff=2,
        context=True,
    )
    def publish_queue_item(rt: Runtime, item_id: int, task: Any = None) -> str:
        # huey counts retries down; on the last one a retryable error fails the item for good.
        final = task is None or not task.retries
        return run_publish_job(rt, item_id, final).status

    jobs.periodic("recheck_queue", crontab(minute="*"), run_recheck)

    @jobs.task("recheck_photos")
    def recheck_photos_task(rt: Runtime, photo_ids: list[int]) -> int:
        return recheck_photos(rt, photo_ids)

    jobs.periodic("publish_due_items", crontab(minute="*"), run_due)
