"""SQLAlchemy models of the whole domain: people, consent, photos, faces, publishing, audit and events.

One module per part of the domain; every model is importable from here.
"""

from __future__ import annotations

from consentcam.models.accounts import ApiToken, User, UserSession
from consentcam.models.base import NAMING, Base, EnumText, UTCDateTime, utcnow
from consentcam.models.people import (
    ConsentChannel,
    ConsentFormVersion,
    ConsentLink,
    ConsentPhoto,
    ConsentRecord,
    CustomerRequest,
    EmailCode,
    Person,
    PersonalLink,
    PersonKey,
    ReferenceFace,
    ReferenceUpload,
)
from consentcam.models.photos import (
    Face,
    Photo,
    PhotoChannelState,
    PhotoTally,
    Supplier,
    SupplierPermission,
    SupplierPermissionChannel,
)
from consentcam.models.publishing import (
    ChannelConnection,
    Publication,
    PublicationFace,
    PublicLink,
    QueueItem,
    QueueItemChannel,
    RemovalTask,
)
from consentcam.models.records import AuditRun, Event, OutgoingMail

__all__ = [
    "NAMING",
    "ApiToken",
    "AuditRun",
    "Base",
    "ChannelConnection",
    "ConsentChannel",
    "ConsentFormVersion",
    "ConsentLink",
    "ConsentPhoto",
    "ConsentRecord",
    "CustomerRequest",
    "EmailCode",
    "EnumText",
    "Event",
    "Face",
    "OutgoingMail",
    "Person",
    "PersonKey",
    "PersonalLink",
    "Photo",
    "PhotoChannelState",
    "PhotoTally",
    "PublicLink",
    "Publication",
    "PublicationFace",
    "QueueItem",
    "QueueItemChannel",
    "ReferenceFace",
    "ReferenceUpload",
    "RemovalTask",
    "Supplier",
    "SupplierPermission",
    "SupplierPermissionChannel",
    "UTCDateTime",
    "User",
    "UserSession",
    "utcnow",
]
