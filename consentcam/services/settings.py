"""The business's own settings, changed by the owner: checked, written to config.toml, logged."""

from __future__ import annotations

import os
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy.orm as so

from consentcam import config as config_mod
from consentcam.domain.retention import parse_period
from consentcam.models import User
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.uow import after_rollback
from consentcam.wording import N_, WordedError

# Settings the owner may change in the app; the rest (keys, database, queue) stay in config.toml.
EDITABLE = (
    "BUSINESS_NAME",
    "RESPONSIBLE_PERSON",
    "LANGUAGE",
    "TIME_ZONE",
    "REMOVAL_DUE_DAYS",
    "RETENTION",
)
LANGUAGES = ("sv", "en")
MAX_TEXT = 200


class SettingsError(WordedError, ValueError):
    """A setting the owner entered that cannot be saved; ``field`` names it."""

    def __init__(self, field: str, template: str, /, **params: Any) -> None:
        self.field = field
        super().__init__(template, **params)


def check_text(name: str, value: Any) -> str:
    """A text setting as stored: trimmed, without control characters (a line break in the
    business's name would break the form and the file the settings are kept in)."""
    text = str(value if value is not None else "").strip()
    if config_mod.has_control_characters(text):
        raise SettingsError(
            name,
            N_("%(setting)s may not contain line breaks, tabs or other control characters."),
            setting=name,
        )
    if len(text) > MAX_TEXT:
        raise SettingsError(
            name, N_("%(setting)s is longer than %(max)s characters."), setting=name, max=MAX_TEXT
        )
    return text


def check(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The given settings, checked and converted; a SettingsError names the first that is wrong.

    Only the names given are checked, so a form or API call may change one setting alone.
    """
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in EDITABLE:
            raise SettingsError(name, N_("%(setting)s cannot be changed here."), setting=name)
        text = check_text(name, value)
        if name == "LANGUAGE":
            if text not in LANGUAGES:
                raise SettingsError(name, N_("Choose Swedish or English as the default language."))
            out[name] = text
        elif name == "TIME_ZONE":
            if text not in zoneinfo.available_timezones():
                raise SettingsError(
                    name,
                    N_("%(zone)s is not a time zone; write it like Europe/Stockholm."),
                    zone=text,
                )
            out[name] = text
        elif name == "REMOVAL_DUE_DAYS":
            if not text.isdigit() or not 1 <= int(text) <= 31:
                raise SettingsError(
                    name,
                    N_(
                        "The removal deadline is a whole number of days from 1 to 31 (the law "
                        "allows at most one month)."
                    ),
                )
            out[name] = int(text)
        elif name == "RETENTION":
            try:
                parse_period(text)
            except ValueError as exc:
                raise SettingsError(
                    name,
                    N_(
                        "The retention period is a whole number of years, months or days, "
                        "at most 100 years."
                    ),
                ) from exc
            out[name] = text.replace(" ", "").lower()
        else:
            out[name] = text
    return out


def save(
    session: so.Session, rt: Runtime, raw: Mapping[str, Any], actor: User | None = None
) -> list[str]:
    """Check the settings, write the changed ones to config.toml and log it; the changed names.

    The caller commits (the settings event is part of its unit of work). Every other key of
    config.toml (keys, addresses) is kept as it is. The file is written before the commit, so
    that a file that cannot be written leaves no event behind; should the unit of work roll
    back instead, the file and the settings are put back as they were.
    """
    new = check(raw)
    changed = sorted(k for k, v in new.items() if rt.settings.get(k) != v)
    if not changed:
        return []
    path = rt.instance_path / config_mod.CONFIG_FILE
    before = path.read_bytes() if path.exists() else None
    current: dict[str, Any] = tomllib.loads(before.decode("utf-8")) if before is not None else {}
    after_rollback(session, _putting_back(rt, before, {k: rt.settings.get(k) for k in changed}))
    current.update({k.lower(): new[k] for k in changed})
    config_mod.write_instance_config(rt.instance_path, current)
    rt.settings.update({k: new[k] for k in changed})
    events.record(
        session,
        "settings.changed",
        "instance",
        {"fields": changed},
        actor=actor.email if actor else None,
    )
    return changed


def _putting_back(
    rt: Runtime, before: bytes | None, settings: dict[str, Any]
) -> Callable[[], None]:
    """What puts config.toml's earlier content (``before``; None: no file) and the earlier
    ``settings`` back."""

    def put_back() -> None:
        path = rt.instance_path / config_mod.CONFIG_FILE
        if before is None:
            path.unlink(missing_ok=True)
        else:
            config_mod.replace_file(path, before)
        rt.settings.update(settings)

    return put_back


def follow_config_file(rt: Runtime) -> dict[str, Any]:
    """Take in the settings the owner saved in another process; the ones that changed here.

    The worker and every other web process read config.toml once at start; one stat per request
    or job tells them when the owner has saved new settings since. Only the settings the owner
    edits in the app are taken in, and a setting the environment gives keeps the environment's
    value (the environment wins, as at start).
    """
    stamp = config_mod.file_stamp(rt.instance_path)
    if stamp is None or rt.cache.get(config_mod.STAMP_KEY) == stamp:
        return {}
    rt.cache[config_mod.STAMP_KEY] = stamp
    path = rt.instance_path / config_mod.CONFIG_FILE
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    fresh: dict[str, Any] = {}
    for name in EDITABLE:
        if name.lower() in data and config_mod.ENV_PREFIX + name not in os.environ:
            value = config_mod.coerce(name, data[name.lower()])
            if rt.settings.get(name) != value:
                fresh[name] = value
    rt.settings.update(fresh)
    return fresh
