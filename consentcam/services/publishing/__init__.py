"""The publish queue: queue a photo, keep its gate verdict current, publish it, record what went out.

Statuses of a queue item:
  blocked     the gate refuses every channel still to publish (reasons in `blockers`)
  ready       cleared for at least one channel still to publish; waits for "publish now" (or its
              time, if it has one that has passed). The reasons of channels still refused are
              in `blockers`: each channel goes out when it is cleared, the others wait.
  scheduled   cleared, with a time in the future; published automatically when it comes
  publishing  being published, or waiting for the owner to post it by hand and paste the link
  published   every channel has a Publication
  failed      a channel refused for good (reason in `blockers`); "publish now" tries again
  cancelled   the owner took it off the queue

Other services call `recheck_queue(session, rt, photo_ids)` after a change to consent, faces or
supplier permissions, so blocked items unblock (and ready items block) at once; a periodic job
does the same every minute as a safety net.

The package's modules: `verdicts` (statuses, stored reasons, the re-check), `items` (queue, cancel,
publish now, what the pages list), `publish` (the publishing job's steps), `record` (what went
out), `manual` (posting by hand), `links` (public links for Meta's fetch), `connections` (how
each channel is reached) and `tasks` (the background jobs). Services here never commit: the
caller's unit of work does, and the publishing job opens one per step.
"""

from consentcam.services.publishing.connections import (
    ConnectionChoice,
    ConnectionSetupError,
    connections_by_channel,
    save_connection,
)
from consentcam.services.publishing.items import (
    CAPTION_MAX,
    FITS,
    QueuePage,
    cancel,
    due_items,
    photo_to_queue,
    publication_count,
    publications_of,
    publications_page,
    publish_now,
    queue_page,
    queue_photo,
    request_publish,
)
from consentcam.services.publishing.links import (
    PUBLIC_LINK_TTL,
    cleared_digest,
    create_public_link,
    purge_public_links,
    resolve_public_link,
    revoke_public_links,
)
from consentcam.services.publishing.manual import (
    POST_HOSTS,
    cleared_copy_for_manual,
    download_cleared_copy,
    post_url_problem,
    record_manual_publication,
)
from consentcam.services.publishing.publish import PublishOutcome, publish_item
from consentcam.services.publishing.tasks import (
    recheck_photos,
    register,
    run_due,
    run_publish_job,
    run_recheck,
)
from consentcam.services.publishing.verdicts import (
    OPEN_STATUSES,
    PUBLISH_FAILED,
    STATUSES,
    QueueError,
    blocked_channels,
    blocker_entries,
    blockers_of,
    parse_channels,
    pending_manual_channels,
    published_channels,
    recheck_queue,
    verdict_is_stale,
)

__all__ = [
    "CAPTION_MAX",
    "FITS",
    "OPEN_STATUSES",
    "POST_HOSTS",
    "PUBLIC_LINK_TTL",
    "PUBLISH_FAILED",
    "STATUSES",
    "ConnectionChoice",
    "ConnectionSetupError",
    "PublishOutcome",
    "QueueError",
    "QueuePage",
    "blocked_channels",
    "blocker_entries",
    "blockers_of",
    "cancel",
    "cleared_copy_for_manual",
    "cleared_digest",
    "connections_by_channel",
    "create_public_link",
    "download_cleared_copy",
    "due_items",
    "parse_channels",
    "pending_manual_channels",
    "photo_to_queue",
    "post_url_problem",
    "publication_count",
    "publications_of",
    "publications_page",
    "publish_item",
    "publish_now",
    "published_channels",
    "purge_public_links",
    "queue_page",
    "queue_photo",
    "recheck_photos",
    "recheck_queue",
    "record_manual_publication",
    "register",
    "request_publish",
    "resolve_public_link",
    "revoke_public_links",
    "run_due",
    "run_publish_job",
    "run_recheck",
    "save_connection",
    "verdict_is_stale",
]
