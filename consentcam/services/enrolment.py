"""Background enrolment of reference photos, so face encoding never runs in a web request."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from consentcam.services import people

if TYPE_CHECKING:
    from consentcam.jobs import Jobs
    from consentcam.runtime import Runtime

log = logging.getLogger(__name__)


def register(jobs: Jobs) -> None:
    @jobs.task("enrol_reference", retries=0)
    def enrol_reference(rt: Runtime, upload_id: int) -> str | None:
        with rt.sessions() as session:
            upload = people.enrol_upload(session, rt, upload_id)
            session.commit()
            if upload is None:
                log.warning("enrol: reference upload %s no longer exists", upload_id)
                return None
            if upload.state == "failed":
                log.info("enrol: reference upload %s failed: %s", upload_id, upload.error)
            return upload.state
