"""The access-token check of the perf session's reference and floor apps: one, so all agree."""

import uuid

import jwt
from starlette.requests import Request


def token_user_id(request: Request) -> uuid.UUID | None:
    """The user id of the request's bearer access token, if it is valid; None if not.

    Valid: signed with the app's SECRET_KEY (HS256), unexpired, with the claims the service
    writes, and of the access type.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        claims = jwt.decode(
            token,
            request.app.state.secret_key,
            algorithms=["HS256"],
            options={"require": ["exp", "iat", "sub", "type"]},
        )
    except jwt.PyJWTError:
        return None
    return uuid.UUID(claims["sub"]) if claims["type"] == "access" else None
