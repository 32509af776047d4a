"""conversation guidance: handoff, declined fields, refusals, ask_optional, escalation

Revision ID: b7c1d2e3f4a5
Revises: b7c3d91e0a42
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import wfapp.models.types


# revision identifiers, used by Alembic.
revision = 'b7c1d2e3f4a5'
down_revision = 'b7c3d91e0a42'
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handoff_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('handoff_at', wfapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('handoff_source', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('declined', JSON_DOC, nullable=True))
        batch_op.add_column(sa.Column('refusals', JSON_DOC, nullable=True))
    with op.batch_alter_table('template_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ask_optional', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('escalation', JSON_DOC, nullable=True))


def downgrade():
    with op.batch_alter_table('template_versions', schema=None) as batch_op:
        batch_op.drop_column('escalation')
        batch_op.drop_column('ask_optional')
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.drop_column('refusals')
        batch_op.drop_column('declined')
        batch_op.drop_column('handoff_source')
        batch_op.drop_column('handoff_at')
        batch_op.drop_column('handoff_reason')
