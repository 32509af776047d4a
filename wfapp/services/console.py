"""What the operator's console adds to the monitor and the template pages: a bounded total
count, state_data columns (masked for viewers), and what keeps a template from starting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from wfapp.models import Permission, TemplateVersion, WorkflowTemplate
from wfapp.schemas.state_schema import compiled_for_version
from wfapp.services import privacy

COUNT_CAP = 10_000
MAX_COLUMNS = 8


@dataclass
class Total:
    count: int
    capped: bool  # more than COUNT_CAP: `count` is COUNT_CAP

    @property
    def label(self) -> str:
        return f"more than {COUNT_CAP:,}" if self.capped else f"{self.count:,}"


def bounded_total(session, query: sa.Select) -> Total:
    """The number of rows of a filtered query, exact up to COUNT_CAP (a LIMIT-ed subquery: the
    database stops counting there)."""
    inner = query.with_only_columns(sa.literal(1)).order_by(None).limit(COUNT_CAP + 1).subquery()
    n = session.scalar(sa.select(sa.func.count()).select_from(inner)) or 0
    return Total(min(n, COUNT_CAP), n > COUNT_CAP)


def parse_columns(raw: str | None) -> list[str]:
    keys = [k.strip() for k in (raw or "").split(",") if k.strip()]
    return list(dict.fromkeys(keys))[:MAX_COLUMNS]


def template_fields(session, template: WorkflowTemplate) -> tuple[list[str], frozenset[str]]:
    """The field keys of the template's current version (the columns one may pick) and the
    keys that are sensitive in any of its versions (masked for viewers)."""
    versions = session.scalars(sa.select(TemplateVersion).where(TemplateVersion.template_id == template.id)).all()
    sensitive: set[str] = set()
    keys: list[str] = []
    for v in versions:
        compiled = compiled_for_version(v)
        sensitive |= privacy.sensitive_keys(compiled)
        if v.id == template.current_version_id:
            keys = [f.key for f in compiled.fields]
    return keys, frozenset(sensitive)


def column_values(state: dict[str, Any] | None, columns: list[str], sensitive: frozenset[str], role: str) -> list[Any]:
    reveal = privacy.may_reveal(role)
    out = []
    for key in columns:
        value = (state or {}).get(key)
        out.append(privacy.MASK if key in sensitive and value is not None and not reveal else value)
    return out


def start_blockers(session, template: WorkflowTemplate) -> list[str]:
    """Why no workflow of this template can start yet (empty: it can)."""
    out = []
    if not template.is_active:
        out.append("The workflow template is inactive: activate it first.")
    granted = session.scalar(
        sa.select(sa.func.count()).select_from(Permission).where(Permission.workflow_template_id == template.id)
    )
    if not granted:
        out.append("No user type is granted this workflow template: grant one on the Permissions page.")
    return out
