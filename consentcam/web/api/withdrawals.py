"""API: withdrawing a person's consent, in one step (removal tasks are in ``removals``)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import abort, jsonify

from consentcam.services.withdrawal import WithdrawalError, withdraw_consent
from consentcam.web import runtime, transaction
from consentcam.web.api import api_user, bp
from consentcam.web.api.fields import (
    CHANNELS,
    COMMON,
    Closed,
    Shape,
    array,
    boolean,
    integer,
    moment,
    nested,
    text,
)
from consentcam.web.api.people import person_or_404


class ChannelsOrAll(ma.fields.Field[Any]):
    """ "all", or a list of channel names (the withdrawal service reads the names)."""

    default_error_messages = {  # noqa: RUF012
        "invalid": '{{field}} must be "all" or a list of channel names',
        "required": '{{field}} is required: a list of channel names, or "all"',
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value == "all" or (isinstance(value, list) and all(isinstance(c, str) for c in value)):
            return value
        raise self.make_error("invalid")


class WithdrawalRequestSchema(Closed):
    channels = ChannelsOrAll(
        required=True,
        error_messages={"null": COMMON["null"]},
        metadata={
            "description": 'The channels to withdraw, or "all". An empty list withdraws '
            "no channel (useful with biometric: true).",
            "oneOf": [
                {"type": "string", "enum": ["all"]},
                {
                    "type": "array",
                    "items": {"type": "string", "enum": CHANNELS},
                    "uniqueItems": True,
                    "maxItems": len(CHANNELS),
                },
            ],
        },
    )
    biometric = boolean(
        default=False,
        description="Also end automatic recognition and delete the person's templates.",
    )


class Withdrawn(Shape):
    consent_id = integer(required=True)
    channel = text(required=True)


class OpenedTask(Shape):
    id = integer(required=True)
    publication_id = integer(required=True)
    channel = text(required=True)
    method = text(required=True, choices=["api", "manual"])
    url = text(required=True, nullable=True)
    due_at = moment(required=True)


class WithdrawalResultSchema(Shape):
    person_id = integer(required=True)
    at = moment(required=True)
    channels = array(text(choices=CHANNELS), required=True)
    changed = boolean(required=True, description="False when it had all been done before.")
    withdrawn = array(nested(Withdrawn), required=True)
    biometric_withdrawn = array(integer(), required=True)
    blocked_queue_item_ids = array(integer(), required=True)
    removal_tasks = array(
        nested(OpenedTask),
        required=True,
        description="Removal tasks this call opened (none on a repeat).",
    )
    references_deleted = integer(required=True)
    face_templates_deleted = integer(required=True)


@bp.endpoint(
    "POST",
    "/people/<int:person_id>/withdrawals",
    tag="withdrawals",
    body=WithdrawalRequestSchema,
    response=WithdrawalResultSchema,
)
def withdraw_person(body: dict[str, Any], person_id: int) -> Any:
    """Withdraw a person's consent for channels (and optionally biometrics), in one step"""
    person = person_or_404(person_id)
    try:
        with transaction() as session:
            result = withdraw_consent(
                session, runtime(), person, body["channels"], body["biometric"], api_user()
            )
    except WithdrawalError as exc:
        abort(422, description=str(exc))
    return jsonify(result.as_json()), 200
