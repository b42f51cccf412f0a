"""User JWTs (docs/api.md, Authentication): for apps with ``requireUserJwt``, mobile calls
about an identified person carry ``X-User-Token``, HS256-signed with the app's secret, for
that person's ``externalUserId``; each token id (``jti``) is accepted once."""

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


def _refuse(message: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message)


def verify_user_token(
    db: Database, app: AppPrincipal, token: str | None, external_user_id: str | None
) -> None:
    """Check the token for ``external_user_id`` and spend its ``jti`` (in a transaction of its
    own, before the request's work, so a replay is refused even if that work fails)."""
    if not app.require_user_jwt:
        return
    if not token:
        raise _refuse("X-User-Token is required for this application")
    if external_user_id is None:
        raise _refuse("A user token needs an externalUserId to be checked against")
    try:
        claims = jwt.decode(
            token,
            app.jwt_secret,
            algorithms=["HS256"],
            options={"require": ["sub", "iat", "exp", "jti"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise _refuse("The user token has expired") from None
    except jwt.PyJWTError as exc:
        raise _refuse(f"Invalid user token: {exc}") from None
    if not all(isinstance(claims[k], int | float) for k in ("iat", "exp")):
        raise _refuse("Invalid user token: iat and exp must be numbers")
    if claims["exp"] - claims["iat"] > MAX_LIFETIME_SECONDS:
        raise _refuse("The user token lives longer than 15 minutes")
    if claims["sub"] != external_user_id:
        raise _refuse("The user token is for another user")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise _refuse("Invalid user token: bad jti")
    expires = datetime.fromtimestamp(claims["exp"], UTC).replace(tzinfo=None)
    try:
        with db.write() as conn:
            _forget_expired(conn)
            conn.execute(used_jwt_ids.insert().values(jti=f"{app.id}:{jti}", expires_at=expires))
    except IntegrityError:
        raise _refuse("The user token was already used") from None


def _forget_expired(conn: Connection) -> None:
    """Spent ids of expired tokens can go: those tokens fail on ``exp`` anyway."""
    cutoff = utcnow() - timedelta(seconds=LEEWAY_SECONDS + 60)
    conn.execute(delete(used_jwt_ids).where(used_jwt_ids.c.expires_at < cutoff))
