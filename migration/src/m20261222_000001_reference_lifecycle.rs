//! Reference data that lives (issue 18, item 12): categories and territories can be
//! deactivated like recipients (`active`), and a recipient, category or territory merged into
//! another keeps its row (its name stays in history) with `merged_into_id` pointing at the
//! one that took its appeals.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for table in ["categories", "territories"] {
            m.alter_table(Table::alter().table(table).add_column(boolean("active").default(true)).take()).await?;
        }
        for table in ["recipients", "categories", "territories"] {
            m.alter_table(Table::alter().table(table).add_column(big_integer_null("merged_into_id")).take()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for table in ["recipients", "categories", "territories"] {
            db.execute_unprepared(&format!("ALTER TABLE {table} DROP COLUMN merged_into_id")).await?;
        }
        for table in ["categories", "territories"] {
            db.execute_unprepared(&format!("ALTER TABLE {table} DROP COLUMN active")).await?;
        }
        Ok(())
    }
}
