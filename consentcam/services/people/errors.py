"""The refusals of the people services: each says, in words the owner reads, what is wrong."""

from __future__ import annotations

from consentcam.wording import N_, WordedError


class ConsentError(WordedError, ValueError):
    """A consent request that cannot be recorded as asked; the message says why."""


class ConsentAlreadyRecorded(ConsentError):
    """The same signature or scan sent again for the same person (a form sent twice): the
    consent is recorded once, as ``record_id``."""

    def __init__(self, record_id: int) -> None:
        self.record_id = record_id
        super().__init__(N_("This signed consent is already recorded."))


class FormDetailsMissing(ConsentError):
    """The consent form cannot be shown or signed until the business's details are set."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        if missing == ["BUSINESS_NAME"]:
            super().__init__(
                N_(
                    "Enter the business's name in the settings before recording a consent: the form names it."
                )
            )
        elif missing == ["RESPONSIBLE_PERSON"]:
            super().__init__(
                N_(
                    "Enter the person responsible for the data in the settings before recording "
                    "a consent: the form names them."
                )
            )
        else:
            super().__init__(
                N_(
                    "Enter the business's name and the person responsible for the data in the "
                    "settings before recording a consent: the form names them."
                )
            )


class EvidenceTampered(RuntimeError):
    """A stored evidence file no longer matches the SHA-256 recorded when it was given."""
