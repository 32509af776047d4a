"""job callback credentials (revision b7c3d91e0a42, after 3eb59d6b2dee, 2026-11-28)."""
from alembic import op
import sqlalchemy as sa

import wfapp.models.types


# revision identifiers, used by Alembic.
revision = 'b7c3d91e0a42'
down_revision = '3eb59d6b2dee'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('callback_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('callback_used_at', wfapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_jobs_callback_hash'), ['callback_hash'])


def downgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_jobs_callback_hash'), type_='unique')
        batch_op.drop_column('callback_used_at')
        batch_op.drop_column('callback_hash')
