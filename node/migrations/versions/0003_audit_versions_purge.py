"""The audit trail; the peer's address of each received object; versions of a SOP Instance
UID received again with other content (one row per version, unique per UID and version,
with the content's sha256); when ``facenode purge`` deleted an object's file.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False, index=True),
        sa.Column("event", sa.String(32), nullable=False, index=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("peer_ip", sa.String(45), nullable=False),
        sa.Column("calling_ae", sa.String(16), nullable=False),
        sa.Column("called_ae", sa.String(16), nullable=False),
        sa.Column("sop_instance_uid", sa.String(64), nullable=False, index=True),
        sa.Column("sop_class_uid", sa.String(64), nullable=False),
        sa.Column("study_uid", sa.String(64), nullable=False),
        sa.Column("series_uid", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("peer_ip", sa.String(45), nullable=False, server_default=""))
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("content_sha256", sa.String(64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("purged_at", sa.DateTime, nullable=True))
        # one row per version: the UID alone is no longer unique
        batch.drop_index("ix_instances_sop_instance_uid")
        batch.create_index("ix_instances_sop_instance_uid", ["sop_instance_uid"], unique=False)
        batch.create_unique_constraint("uq_instances_sop_version", ["sop_instance_uid", "version"])


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_constraint("uq_instances_sop_version", type_="unique")
        batch.drop_index("ix_instances_sop_instance_uid")
        batch.create_index("ix_instances_sop_instance_uid", ["sop_instance_uid"], unique=True)
        for column in ("purged_at", "content_sha256", "version", "peer_ip"):
            batch.drop_column(column)
    op.drop_table("audit")
