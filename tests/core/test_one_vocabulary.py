"""One way to read channels, name evidence files, write times and name who did it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from consentcam.cli import main
from consentcam.domain.types import Channel
from consentcam.domain.vocabulary import (
    ChannelError,
    evidence_extension,
    iso,
    parse_channels,
)
from consentcam.models import User
from consentcam.runtime import Runtime
from consentcam.services import events, people, publishing, withdrawal
from consentcam.services import users as users_service
from consentcam.web.photos import shared
from consentcam.wording import WordedError
from tests.conftest import cli_init

IG, FB, WEB, PRINT = Channel.INSTAGRAM, Channel.FACEBOOK, Channel.WEBSITE, Channel.PRINT


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("instagram", (IG,)),
        ("Print, INSTAGRAM", (IG, PRINT)),
        ("website instagram,facebook", (IG, FB, WEB)),
        (["facebook", " instagram "], (IG, FB)),
        (["instagram", "instagram,instagram"], (IG,)),
        (("print",), (PRINT,)),
        ("", ()),
        ([], ()),
        (None, ()),
    ],
)
def test_one_parser_reads_every_spelling_in_the_channels_own_order(
    given: Any, read: tuple[Channel, ...]
) -> None:
    assert parse_channels(given) == read


@pytest.mark.parametrize("given", [5, [5], ["instagram", None], {"instagram": True}, b"print"])
def test_anything_but_names_is_refused(given: Any) -> None:
    with pytest.raises(ChannelError) as refused:
        parse_channels(given)
    assert refused.value.template == "channels must be names such as instagram or facebook"


def test_an_unknown_name_is_refused_in_the_callers_words() -> None:
    class MyError(WordedError):
        pass

    with pytest.raises(MyError) as refused:
        parse_channels("instagram,tiktok", MyError)
    assert refused.value.params == {
        "channel": "tiktok",
        "allowed": "instagram, facebook, website, print",
    }
    assert (
        str(refused.value) == "unknown channel 'tiktok' (use instagram, facebook, website, print)"
    )


def test_each_service_keeps_its_rule_around_the_one_parser() -> None:
    # The queue: names in order, at least one.
    assert publishing.parse_channels("facebook,instagram") == ["instagram", "facebook"]
    with pytest.raises(publishing.QueueError, match="choose at least one channel"):
        publishing.parse_channels([])
    with pytest.raises(publishing.QueueError, match="unknown channel 'tiktok'"):
        publishing.parse_channels(["tiktok"])
    # Consent: any number (biometric consent alone names none).
    assert people.parse_channels(["website", "Instagram"]) == [IG, WEB]
    assert people.parse_channels([]) == []
    with pytest.raises(people.ConsentError, match="unknown channel 'tiktok'"):
        people.parse_channels(["tiktok"])
    # Withdrawal: "all" (or nothing said) is every channel; an empty list is none.
    assert withdrawal.parse_channels("all") == frozenset(Channel)
    assert withdrawal.parse_channels(None) == frozenset(Channel)
    assert withdrawal.parse_channels([]) == frozenset()
    assert withdrawal.parse_channels("instagram facebook") == {IG, FB}
    with pytest.raises(withdrawal.WithdrawalError, match='"all" or a list'):
        withdrawal.parse_channels(5)
    with pytest.raises(withdrawal.WithdrawalError, match="unknown channel 'tiktok'"):
        withdrawal.parse_channels(["instagram", "tiktok"])
    # A page's or the API's query value: nothing named is every channel.
    assert shared.parse_channels(None) == ["instagram", "facebook", "website", "print"]
    assert shared.parse_channels("print,instagram") == ["instagram", "print"]
    with pytest.raises(ValueError, match="name at least one channel"):
        shared.parse_channels(" , ")
    with pytest.raises(ValueError, match="unknown channel 'tiktok'"):
        shared.parse_channels("tiktok")


def _owner_token(app: Flask, users: dict[str, int]) -> dict[str, str]:
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        owner = s.get(User, users["owner"])
        assert owner is not None
        _token, secret = users_service.create_token(s, owner, "vocabulary")
        s.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_refuses_an_unknown_channel_with_the_parsers_words(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    headers = _owner_token(app, users)
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        person = people.add_person(s, "Lena Holm")
        s.commit()
        person_id = person.id
    refused = client.post(
        f"/api/v1/people/{person_id}/withdrawals",
        json={"channels": ["instagram", "tiktok"]},
        headers=headers,
    )
    assert refused.status_code == 422
    assert "unknown channel 'tiktok'" in refused.get_data(as_text=True)
    gate = client.get("/api/v1/photos/1/gate?channels=tiktok", headers=headers)
    assert gate.status_code == 400
    assert "unknown channel 'tiktok'" in gate.get_data(as_text=True)


def test_the_command_line_refuses_an_unknown_channel_with_the_parsers_words(
    tmp_path: Path,
) -> None:
    # The printed form names the business, so a consent needs its name first.
    instance = cli_init(tmp_path / "instance", "--business", "Kraftkällan")
    evidence = tmp_path / "signed.pdf"
    evidence.write_bytes(b"%PDF-1.4\n% signed consent form\n")
    args = ["--instance", str(instance), "person", "add", "Lena Holm", "--evidence", str(evidence)]
    refused = CliRunner().invoke(main, [*args, "--channels", "instagram,tiktok"])
    assert refused.exit_code != 0
    assert "unknown channel 'tiktok'" in refused.output
    added = CliRunner().invoke(main, [*args, "--channels", "Website,instagram", "--json"])
    assert added.exit_code == 0, added.output


def test_evidence_names_times_and_actors_are_written_one_way() -> None:
    assert evidence_extension("application/pdf") == "pdf"
    assert evidence_extension("image/jpeg") == "jpg"
    assert evidence_extension("text/html") == "bin" and evidence_extension(None) == "bin"
    assert people.EVIDENCE_TYPES is shared_evidence_map()
    moment = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    assert iso(moment) == "2026-11-28T09:30:00+00:00" and iso(None) is None
    assert events.actor_of(None) is None
    assert events.actor_of(User(email="ann@example.com", name="Ann")) == "ann@example.com"


def shared_evidence_map() -> object:
    from consentcam.domain.vocabulary import EVIDENCE_EXTENSIONS
    from consentcam.web.people import EVIDENCE_EXT

    assert EVIDENCE_EXT is EVIDENCE_EXTENSIONS
    return EVIDENCE_EXTENSIONS
