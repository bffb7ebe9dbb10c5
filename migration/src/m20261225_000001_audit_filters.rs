//! Indexes for the audit trail's filters: by actor (user or token), by action and by target,
//! each with the id, so that a filtered page newest first is read from the index in order
//! instead of scanning the log.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 4] = [
    ("ix_audit_actor_user_id", "actor_user_id"),
    ("ix_audit_actor_token_id", "actor_token_id"),
    ("ix_audit_action_id", "action"),
    ("ix_audit_target_id", "target"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, col) in INDEXES {
            m.create_index(Index::create().name(name).table("audit_log").col(col).col("id").take()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            m.drop_index(Index::drop().name(name).table("audit_log").to_owned()).await?;
        }
        Ok(())
    }
}
