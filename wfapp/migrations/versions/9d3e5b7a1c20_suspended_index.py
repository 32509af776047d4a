"""an index on workflows.suspended_at, for the queue's count (revision 9d3e5b7a1c20, after c41f0d2a9e37, 2026-12-03)."""
from alembic import op
import sqlalchemy as sa

revision = '9d3e5b7a1c20'
down_revision = 'c41f0d2a9e37'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.create_index(
            'ix_workflows_suspended', ['suspended_at'], unique=False,
            sqlite_where=sa.text('suspended_at IS NOT NULL'), postgresql_where=sa.text('suspended_at IS NOT NULL'),
        )


def downgrade():
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.drop_index('ix_workflows_suspended')
