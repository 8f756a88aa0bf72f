"""Floors for `GET /users/me`: the reference's request through FastAPI, then through an ORM.

`uvx nox -s perf -- --floors` serves these next to the reference and the service, with the
generated project's own interpreter (the same FastAPI, pydantic, SQLAlchemy and asyncpg),
to show how much of the gap to the reference each layer takes before any of the service's
own code runs:

- `fastapi_asyncpg`: FastAPI with one async dependency that verifies the token and loads
  the user with asyncpg, answering a pydantic response model;
- `fastapi_sqlalchemy`: the same with the user loaded by `AsyncSession.get` from a session
  dependency (function scope, autocommit), as the SQLAlchemy and SQLModel services do.

Served by `uvicorn --factory tests.perf_floors:fastapi_asyncpg` (or `:fastapi_sqlalchemy`)
with DATABASE_URL and SECRET_KEY in the environment.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict

from tests.perf_tokens import token_user_id

USER_BY_ID = (
    "SELECT id, email, is_active, is_superuser, created_at, updated_at FROM users WHERE id = $1"
)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    is_active: bool
    is_superuser: bool
    created_at: datetime
    updated_at: datetime


def authenticated_user_id(request: Request) -> uuid.UUID:
    """The id of the token's user (the reference's check, tests/perf_tokens.py), else 401."""
    user_id = token_user_id(request)
    if user_id is None:
        raise HTTPException(401, "Could not validate credentials")
    return user_id


def app_with(lifespan: Any, current_user: Any) -> FastAPI:
    app = FastAPI(lifespan=lifespan, telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.secret_key = os.environ["SECRET_KEY"]

    @app.get("/users/me")
    async def read_me(user: Annotated[Any, Depends(current_user)]) -> UserRead:
        return UserRead.model_validate(user)

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app


def asyncpg_url() -> str:
    return os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)


def fastapi_asyncpg() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with asyncpg.create_pool(asyncpg_url(), min_size=1, max_size=15) as pool:
            app.state.pool = pool
            yield

    async def current_user(request: Request) -> dict[str, Any]:
        user = await request.app.state.pool.fetchrow(USER_BY_ID, authenticated_user_id(request))
        if user is None or not user["is_active"]:
            raise HTTPException(401, "Could not validate credentials")
        return dict(user)

    return app_with(lifespan, current_user)


def fastapi_sqlalchemy() -> FastAPI:
    # Imported here: the Tortoise projects' environments have no SQLAlchemy.
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"

        id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
        email: Mapped[str]
        hashed_password: Mapped[str]
        is_active: Mapped[bool]
        is_superuser: Mapped[bool]
        token_version: Mapped[int]
        created_at: Mapped[datetime]
        updated_at: Mapped[datetime]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = asyncpg_url().replace("postgresql://", "postgresql+asyncpg://", 1)
        engine = create_async_engine(url, pool_size=10, max_overflow=5)
        reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        app.state.sessionmaker = async_sessionmaker(reads, expire_on_commit=False)
        yield
        await engine.dispose()

    async def session(request: Request) -> AsyncIterator[AsyncSession]:
        async with request.app.state.sessionmaker() as session:
            yield session

    async def current_user(
        request: Request,
        session: Annotated[AsyncSession, Depends(session, scope="function")],
    ) -> User:
        user = await session.get(User, authenticated_user_id(request))
        if user is None or not user.is_active:
            raise HTTPException(401, "Could not validate credentials")
        return user

    return app_with(lifespan, current_user)
