"""Messages the services raise, kept translatable without the services knowing about Flask.

A service raises ``ConsentError(N_("%(name)s is a minor: a guardian must sign"), name=...)``.
``str(exc)`` is the English text, as the CLI, the logs and the JSON API show it; the web pages
look the exception's ``template`` up in the catalogue and fill in its ``params``
(consentcam.web.words.error_text). ``N_`` only marks a template for extraction.
"""

from __future__ import annotations

from typing import Any


def N_(template: str) -> str:
    """Mark `template` for the catalogue; it is translated where it is shown, not here."""
    return template


class WordedError(Exception):
    """An error whose message is an untranslated template plus the facts to fill in.

    Plain messages still work: ``SomeError("text")`` has that text as its template and no params.
    """

    template: str
    params: dict[str, Any]

    def __init__(self, template: str = "", /, **params: Any) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)
