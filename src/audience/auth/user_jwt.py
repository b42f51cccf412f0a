"""User JWTs (docs/api.md, Authentication; docs/security.md): mobile calls about a protected
person carry ``X-User-Token``, HS256-signed with the calling application's secret, for that
person's ``externalUserId``; each token id (``jti``) is accepted once."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import Connection, delete
from sqlalchemy.exc import IntegrityError

from audience.auth.principals import AppPrincipal
from audience.clock import utcnow
from audience.db import Database
from audience.errors import ApiError
from audience.tables import used_jwt_ids

MAX_LIFETIME_SECONDS = 15 * 60
LEEWAY_SECONDS = 30
MISSING = "X-User-Token is required for this person"


def refuse(message: str) -> ApiError:
    return ApiError(401, "USER_JWT_REQUIRED", message)


@dataclass(frozen=True)
class UserToken:
    """What a request's ``X-User-Token`` proves: the verified subject, or why there is none.

    A token is read (and its ``jti`` spent) once per request, before the work; whether the
    work needs it is only known once the person is found, so the refusal is kept for then.
    """

    subject: str | None
    problem: str = MISSING

    def require(self, external_user_id: str | None) -> None:
        """401 ``USER_JWT_REQUIRED`` unless the token is valid and for ``external_user_id``."""
        if self.subject is None:
            raise refuse(self.problem)
        if external_user_id is None:
            raise refuse("A user token needs an externalUserId to be checked against")
        if self.subject != external_user_id:
            raise refuse("The user token is for another user")


def read_user_token(db: Database, app: AppPrincipal, token: str | None) -> UserToken:
    """Check ``token`` under the calling application's secret and spend its ``jti`` (in a
    transaction of its own, so a replay is refused even if the request's work fails)."""
    if not token:
        return UserToken(None)
    try:
        claims = jwt.decode(
            token,
            app.jwt_secret,
            algorithms=["HS256"],
            options={"require": ["sub", "iat", "exp", "jti"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        return UserToken(None, "The user token has expired")
    except jwt.PyJWTError as exc:
        return UserToken(None, f"Invalid user token: {exc}")
    if not all(isinstance(claims[k], int | float) for k in ("iat", "exp")):
        return UserToken(None, "Invalid user token: iat and exp must be numbers")
    if claims["exp"] - claims["iat"] > MAX_LIFETIME_SECONDS:
        return UserToken(None, "The user token lives longer than 15 minutes")
    jti, sub = claims["jti"], claims["sub"]
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        return UserToken(None, "Invalid user token: bad jti")
    if not isinstance(sub, str) or not sub:
        return UserToken(None, "Invalid user token: bad sub")
    expires = datetime.fromtimestamp(claims["exp"], UTC).replace(tzinfo=None)
    try:
        with db.write() as conn:
            _forget_expired(conn)
            conn.execute(used_jwt_ids.insert().values(jti=f"{app.id}:{jti}", expires_at=expires))
    except IntegrityError:
        return UserToken(None, "The user token was already used")
    return UserToken(sub)


def _forget_expired(conn: Connection) -> None:
    """Spent ids of expired tokens can go: those tokens fail on ``exp`` anyway."""
    cutoff = utcnow() - timedelta(seconds=LEEWAY_SECONDS + 60)
    conn.execute(delete(used_jwt_ids).where(used_jwt_ids.c.expires_at < cutoff))
