"""Background enrolment of reference photos, so face encoding never runs in a web request."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from consentcam.services import people
from consentcam.uow import unit_of_work

if TYPE_CHECKING:
    from consentcam.runtime import Runtime, TaskQueue

log = logging.getLogger(__name__)


def enrol(rt: Runtime, upload_id: int) -> str | None:
    """Enrol one stored reference photo in its own unit of work; returns the upload's state."""
    with unit_of_work(rt) as session:
        outcome = people.enrol_upload(session, rt, upload_id)
    # The failed upload no longer points to its photo: the file can go now.
    rt.storage.delete(outcome.delete_key)
    upload = outcome.upload
    if upload is None:
        log.warning("enrol: reference upload %s no longer exists", upload_id)
        return None
    if upload.state == "failed":
        log.info("enrol: reference upload %s failed: %s", upload_id, upload.error)
    return upload.state


def register(jobs: TaskQueue) -> None:
    """Declare the enrolment task on the job queue (consentcam.jobs.Jobs)."""
    jobs.task(people.ENROL_TASK, retries=0)(enrol)
