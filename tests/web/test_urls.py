"""URLs built once per page for many rows, and a tile's words, agree with Flask's own."""

from __future__ import annotations

from flask import Flask, url_for

from consentcam.web.urls import id_url


def test_id_url_gives_what_url_for_gives(app: Flask) -> None:
    for root in ("", "/studio"):
        with app.test_request_context("/", environ_overrides={"SCRIPT_NAME": root}):
            detail = id_url("photos.detail", "photo_id")
            thumbnail = id_url("photos.thumbnail", "photo_id")
            for photo_id in (1, 7, 42, 2_147_000_000, 123456):
                assert detail(photo_id) == url_for("photos.detail", photo_id=photo_id)
                assert thumbnail(photo_id) == url_for("photos.thumbnail", photo_id=photo_id)
            assert detail(5).startswith(f"{root}/photos/")


def test_id_url_with_the_id_in_a_query_string(app: Flask) -> None:
    # An endpoint whose id lands in the query string still gets the right URL.
    with app.test_request_context("/"):
        removals = id_url("removals.index", "person_id")
        assert removals(9) == url_for("removals.index", person_id=9)
