"""The WHERE clauses the filtered lists share: a column equal to the filter of the same name, and a
timestamp within [after, before). A filter left empty (None, "") narrows nothing."""

from typing import Any

import sqlalchemy as sa


def equal_to(q: sa.Select, model: Any, filters: Any, *names: str) -> sa.Select:
    """q narrowed to the rows whose column `name` equals `filters.name`, for each name given."""
    for name in names:
        value = getattr(filters, name)
        if value:
            q = q.where(getattr(model, name) == value)
    return q


def within(q: sa.Select, column: Any, after: Any, before: Any) -> sa.Select:
    """q narrowed to the rows whose `column` is at or after `after` and before `before`."""
    if after:
        q = q.where(column >= after)
    if before:
        q = q.where(column < before)
    return q
