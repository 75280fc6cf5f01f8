"""Anchor (b): the naive take-home app, on purpose.

What typical solutions look like: synchronous FastAPI endpoints (run in the threadpool), a
SQLAlchemy ORM session per request via a dependency, one commit per request, `/list`
returning every row through a Pydantic response model. It uses the app's tables (run
`shipshape migrate` first) and reads DATABASE_URL. `/livez` is only there for the harness.
Serve with `python -m bench.serve bench.baselines.naive:app --port P`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Date, DateTime, Integer, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
engine = create_engine(url)
SessionLocal = sessionmaker(bind=engine)


class Base(DeclarativeBase):
    pass


class Visit(Base):
    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ip: Mapped[str] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class User(Base):
    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class VisitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    ip: str
    user_agent: str | None
    created_at: dt.datetime


class Birthday(BaseModel):
    dateOfBirth: dt.date = Field(...)  # the API's field name


def get_db() -> Iterator[Session]:
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


app = FastAPI()


@app.get("/livez")
def livez() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/")
def index(request: Request, db: Session = Depends(get_db)) -> dict[str, str]:  # noqa: B008
    ip = request.client.host if request.client else "unknown"
    db.add(Visit(ip=ip, user_agent=request.headers.get("user-agent"), created_at=dt.datetime.now()))
    db.commit()
    return {"message": "Hello from the naive baseline!", "ip": ip}


@app.get("/list", response_model=list[VisitOut])
def list_visits(db: Session = Depends(get_db)) -> list[Visit]:  # noqa: B008
    return list(db.scalars(select(Visit).order_by(Visit.id.desc())))


@app.put("/hello/{username}", status_code=204)
def save(username: str, body: Birthday, db: Session = Depends(get_db)) -> Response:  # noqa: B008
    if not username.isalpha():
        raise HTTPException(422, "username must contain only letters")
    if body.dateOfBirth > dt.date.today():
        raise HTTPException(422, "Date of birth cannot be in the future")
    user = db.get(User, username)
    if user is None:
        user = User(username=username, date_of_birth=body.dateOfBirth)
        user.updated_at = dt.datetime.now()
        db.add(user)
    else:
        user.date_of_birth = body.dateOfBirth
        user.updated_at = dt.datetime.now()
    db.commit()
    return Response(status_code=204)


@app.get("/hello/{username}")
def hello(username: str, db: Session = Depends(get_db)) -> dict[str, str]:  # noqa: B008
    user = db.get(User, username)
    if user is None:
        raise HTTPException(404, f"User {username} not found")
    today = dt.date.today()
    birthday = user.date_of_birth.replace(year=today.year)
    if birthday < today:
        birthday = birthday.replace(year=today.year + 1)
    days = (birthday - today).days
    if days == 0:
        return {"message": f"Hello, {username}! Happy birthday!"}
    return {"message": f"Hello, {username}! Your birthday is in {days} day(s)"}
