"""Who is calling: a server API key or a mobile application."""

from dataclasses import dataclass

SCOPES = ("read", "write", "admin")
# Each scope includes the ones before it: admin can write, write can read.
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}


@dataclass(frozen=True)
class ApiKeyPrincipal:
    id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return any(_RANK[granted] >= _RANK[scope] for granted in self.scopes)

    @property
    def source(self) -> str:
        """How changes made with this key are attributed in the audit (R9)."""
        return f"apikey:{self.name}"


@dataclass(frozen=True)
class AppPrincipal:
    id: str
    application_code: str
    require_user_jwt: bool
    jwt_secret: str
