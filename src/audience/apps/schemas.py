"""Answers of ``/v1/apps`` (documented in ``/openapi.json``; see ``audience.models.answers``)."""

from audience.models import ResponseModel, Timestamp


class Application(ResponseModel):
    id: str
    name: str
    application_code: str
    require_user_jwt: bool
    created_at: Timestamp
    updated_at: Timestamp


class ApplicationWithSecret(Application):
    """Create and secret rotation: the only answers that carry the JWT secret."""

    jwt_secret: str
