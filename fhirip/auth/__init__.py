"""Authentication: bearer JWTs verified against trusted keys, mapped to an Actor."""

from fhirip.auth.actor import Actor, ActorKind
from fhirip.auth.tokens import AuthConfigError, AuthSettings, TokenVerifier, bearer_token

__all__ = ["Actor", "ActorKind", "AuthConfigError", "AuthSettings", "TokenVerifier", "bearer_token"]
