"""indexes of the queue's count: suspended workflows, and waiting ones that need an operator on PostgreSQL (revision 9d3e5b7a1c20, after c41f0d2a9e37, 2026-12-03)."""
from alembic import op
import sqlalchemy as sa

# as wfapp.models.workflows.NEEDS_OPERATOR_PG says it today (a migration does not follow the code)
NEEDS_OPERATOR_PG = (
    "jsonb_path_exists(pending_dependencies, "
    """'$.* ? (@.state == "pending" && @.needs_operator == true)'::jsonpath)"""
)

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
    if op.get_bind().dialect.name == 'postgresql':
        op.create_index('ix_workflows_needs_operator', 'workflows', ['status'], postgresql_where=sa.text(NEEDS_OPERATOR_PG))


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_workflows_needs_operator', table_name='workflows')
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.drop_index('ix_workflows_suspended')
