"""Research tokens, privacy budgets and the public register of research releases.

A research token is kept apart from partner tokens: it names a client and research scopes,
never a grant or a person, so no person resource can ever resolve it. Privacy budgets are
counted in millionths of epsilon (integers: no floating-point drift across many queries).
The register holds who, what, when and which budget — never a person or a query's answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime


class ResearchToken(Base):
    """A DPoP-bound access token of a research client (client credentials), as a digest."""

    __tablename__ = "research_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("partner_clients.client_id"), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    jkt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PrivacyBudget(Base):
    """One client's epsilon for one dataset; spent only by a guarded UPDATE."""

    __tablename__ = "research_budgets"
    __table_args__ = (UniqueConstraint("client_id", "dataset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("partner_clients.client_id"))
    dataset: Mapped[str] = mapped_column(String(32))
    total_micro: Mapped[int] = mapped_column(BigInteger)  # epsilon x 1e6
    spent_micro: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class RegisterEntry(Base):
    """One research query or extract, released or refused: the public register's row."""

    __tablename__ = "research_register"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("partner_clients.client_id"), index=True)
    partner_name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))  # aggregate | dp-count | extract
    dataset: Mapped[str] = mapped_column(String(32))
    # The query's shape only: measure, dimensions, date range, filters. Never an answer.
    query: Mapped[dict[str, Any]] = mapped_column(JSON)
    epsilon_micro: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))  # released | refused
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    row_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
