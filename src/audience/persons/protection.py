"""Protected persons (docs/security.md): who needs the user's JWT, whichever app is calling.

Persons are shared by every application of a deployment, so checking only the calling app's
``requireUserJwt`` let any other app reach a person a JWT app protects. A person is protected
once it is personalized through, or holds a live installation of, an application with
``requireUserJwt``; from then on every mobile call that reads or changes it must carry a token
valid under the *calling* application's secret for the person's ``externalUserId``.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row

from audience.auth.principals import AppPrincipal
from audience.auth.user_jwt import UserToken
from audience.errors import ApiError
from audience.persons import queries


def is_protected(conn: Connection, person: Row, live: Sequence[Any] | None = None) -> bool:
    """``live``: the person's live installations with their application's
    ``require_user_jwt``, when the caller has read them (no query then)."""
    if person.protected:
        return True
    if live is not None:
        return any(device.require_user_jwt for device in live)
    return queries.holds_live_installation_of_jwt_app(conn, person.id)


def check_access(
    conn: Connection,
    app: AppPrincipal,
    user: UserToken,
    person: Row,
    live: Sequence[Any] | None = None,
) -> None:
    """A mobile read or change of ``person``: identified persons need the user's token when
    the calling app requires it (docs/api.md) or the person is protected (docs/security.md)."""
    if person.type != "IDENTIFIED":
        return
    if app.require_user_jwt or is_protected(conn, person, live):
        user.require(person.external_user_id)


def check_personalize_target(
    conn: Connection, app: AppPrincipal, user: UserToken, target: Row
) -> None:
    """Before a personalize joins ``target`` (the person owning identities of X): in a JWT app
    phones and emails only prove nothing, so a person found by them must carry the token's
    user as its externalUserId (403); a protected target needs the user's token (401)."""
    if app.require_user_jwt and target.external_user_id != user.subject:
        raise ApiError(
            403,
            "IDENTITY_NOT_VERIFIED",
            "A phone or email in userIdentity belongs to a person the user token does not name",
        )
    if is_protected(conn, target):
        user.require(target.external_user_id)


def after_personalize(conn: Connection, app: AppPrincipal, person_id: str) -> None:
    """A person personalized through a JWT app stays protected."""
    if app.require_user_jwt:
        queries.mark_protected(conn, person_id)
