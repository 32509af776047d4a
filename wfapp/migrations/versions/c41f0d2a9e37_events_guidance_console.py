"""events, timers, suspension, callback credentials, guidance, console (revision c41f0d2a9e37, after 6af56dbaae9b, 2026-12-03)."""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import wfapp.models.types

revision = 'c41f0d2a9e37'
down_revision = '6af56dbaae9b'
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
UNPOSITIONED = dict(sqlite_where=sa.text('position IS NULL'), postgresql_where=sa.text('position IS NULL'))


def _at(name, nullable=False):
    return sa.Column(name, wfapp.models.types.UTCDateTime(timezone=True), nullable=nullable)


def _columns(table, *columns):
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.add_column(column)


def _drop(table, *names):
    """Drops, in order, the indexes named ix_* and the other columns of one table."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in names:
            if name.startswith('ix_'):
                batch_op.drop_index(batch_op.f(name), **(UNPOSITIONED if name == 'ix_event_outbox_unpositioned' else {}))
            else:
                batch_op.drop_column(name)


def _workflow_fk(table):
    return sa.ForeignKeyConstraint(['workflow_id'], ['workflows.id'], name=op.f(f'fk_{table}_workflow_id_workflows'), ondelete='CASCADE')


def _job_kinds(kinds):
    """The jobs.kind CHECK constraint names the kinds: a new kind replaces it."""
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_jobs_job_kind'), type_='check')
        batch_op.create_check_constraint('job_kind', sa.text(f"kind IN ({kinds})"))


def upgrade():
    op.create_table('event_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('event_types', JSON_DOC, nullable=False),
    sa.Column('templates', JSON_DOC, nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    _at('created_at'), _at('updated_at'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_subscriptions'))
    )
    op.create_table('event_outbox',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('workflow_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('template', sa.String(length=100), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('data', JSON_DOC, nullable=False),
    _at('created_at'),
    sa.Column('position', sa.BigInteger(), nullable=True),
    _workflow_fk('event_outbox'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_outbox')),
    sa.UniqueConstraint('event_id', name=op.f('uq_event_outbox_event_id'))
    )
    with op.batch_alter_table('event_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_event_outbox_position', ['position'], unique=True)
        batch_op.create_index('ix_event_outbox_unpositioned', ['id'], unique=False, **UNPOSITIONED)
        batch_op.create_index('ix_event_outbox_workflow', ['workflow_id', 'seq'], unique=False)
    op.create_table('timers',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('workflow_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    _at('due_at'), _at('fired_at', nullable=True), _at('created_at'),
    _workflow_fk('timers'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timers'))
    )
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.create_index('ix_timers_due', ['due_at'], unique=False)
        batch_op.create_index('ix_timers_workflow', ['workflow_id'], unique=False)
    _columns('template_versions', sa.Column('timers', JSON_DOC, nullable=True))
    _columns('workflows', _at('suspended_at', nullable=True), sa.Column('suspend_reason', sa.Text(), nullable=True))
    _job_kinds("'end_action', 'dependency', 'webhook'")
    # Job callback credentials
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('callback_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(_at('callback_used_at', nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_jobs_callback_hash'), ['callback_hash'])
    # Conversation guidance: handoff, declined fields, refusals, ask_optional, escalation
    _columns('workflows',
        sa.Column('handoff_reason', sa.Text(), nullable=True),
        _at('handoff_at', nullable=True),
        sa.Column('handoff_source', sa.String(length=20), nullable=True),
        sa.Column('declined', JSON_DOC, nullable=True),
        sa.Column('refusals', JSON_DOC, nullable=True))
    _columns('template_versions',
        sa.Column('ask_optional', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('escalation', JSON_DOC, nullable=True))
    # Operator console
    op.create_table('saved_views',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    _at('created_at'),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_saved_views_staff_user_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_views')),
    sa.UniqueConstraint('staff_user_id', 'name', name='uq_saved_views_name')
    )
    with op.batch_alter_table('saved_views', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_views_staff_user_id'), ['staff_user_id'], unique=False)
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=200), nullable=True))
        batch_op.add_column(_at('claimed_at', nullable=True))
        batch_op.create_index('ix_workflows_claimed', ['claimed_by'], unique=False)
        batch_op.create_index('ix_workflows_handoff', ['handoff_at'], unique=False)
        batch_op.create_index('ix_workflows_status_interaction', ['status', 'last_interaction_at'], unique=False)


def downgrade():
    _drop('workflows', 'ix_workflows_status_interaction', 'ix_workflows_handoff', 'ix_workflows_claimed', 'claimed_at', 'claimed_by')
    _drop('saved_views', 'ix_saved_views_staff_user_id')
    op.drop_table('saved_views')
    _drop('template_versions', 'escalation', 'ask_optional')
    _drop('workflows', 'refusals', 'declined', 'handoff_source', 'handoff_at', 'handoff_reason')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_jobs_callback_hash'), type_='unique')
        batch_op.drop_column('callback_used_at')
        batch_op.drop_column('callback_hash')
    op.execute("DELETE FROM jobs WHERE kind = 'webhook'")
    _job_kinds("'end_action', 'dependency'")
    _drop('workflows', 'suspend_reason', 'suspended_at')
    _drop('template_versions', 'timers')
    _drop('timers', 'ix_timers_workflow', 'ix_timers_due')
    op.drop_table('timers')
    _drop('event_outbox', 'ix_event_outbox_workflow', 'ix_event_outbox_unpositioned', 'ix_event_outbox_position')
    op.drop_table('event_outbox')
    op.drop_table('event_subscriptions')
