//! Roadmaps (дорожные карты) with measures, linked appeals and comments; polls with questions,
//! options, one-time invitations, ballots, answers and discussion comments.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(table: &str, col: &'static str, to: &'static str, cascade: bool) -> ForeignKeyCreateStatement {
    let action = if cascade { ForeignKeyAction::Cascade } else { ForeignKeyAction::Restrict };
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(table.to_string(), col)
        .to(to, "id")
        .on_delete(action)
        .take()
}

async fn index(
    m: &SchemaManager<'_>,
    name: &str,
    table: &str,
    cols: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut idx = Index::create().name(name).table(table.to_string()).take();
    for c in cols {
        idx.col(*c);
    }
    if unique {
        idx.unique();
    }
    m.create_index(idx).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("roadmaps")
                .col(big_pk_auto("id"))
                .col(string("title"))
                .col(text("problem"))
                .col(string("status"))
                .col(big_integer_null("category_id"))
                .col(big_integer_null("territory_id"))
                .col(big_integer("owner_id"))
                .col(big_integer_null("approved_by_id"))
                .col(timestamp_with_time_zone_null("approved_at"))
                .col(text_null("cancel_reason"))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("roadmaps", "category_id", "categories", false))
                .foreign_key(&mut fk("roadmaps", "territory_id", "territories", false))
                .foreign_key(&mut fk("roadmaps", "owner_id", "users", false))
                .foreign_key(&mut fk("roadmaps", "approved_by_id", "users", false))
                .take(),
        )
        .await?;
        index(m, "ix_roadmaps_status", "roadmaps", &["status", "id"], false).await?;
        m.create_table(
            Table::create()
                .table("roadmap_appeals")
                .col(big_pk_auto("id"))
                .col(big_integer("roadmap_id"))
                .col(big_integer("appeal_id"))
                .foreign_key(&mut fk("roadmap_appeals", "roadmap_id", "roadmaps", true))
                .foreign_key(&mut fk("roadmap_appeals", "appeal_id", "appeals", true))
                .take(),
        )
        .await?;
        index(m, "ux_roadmap_appeals", "roadmap_appeals", &["roadmap_id", "appeal_id"], true).await?;
        m.create_table(
            Table::create()
                .table("roadmap_measures")
                .col(big_pk_auto("id"))
                .col(big_integer("roadmap_id"))
                .col(string("title"))
                .col(big_integer_null("responsible_id"))
                .col(string_null("responsible_name"))
                .col(date("due_date"))
                .col(string("status"))
                .col(timestamp_with_time_zone_null("done_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("roadmap_measures", "roadmap_id", "roadmaps", true))
                .foreign_key(&mut fk("roadmap_measures", "responsible_id", "recipients", false))
                .take(),
        )
        .await?;
        index(m, "ix_roadmap_measures", "roadmap_measures", &["roadmap_id", "id"], false).await?;
        m.create_table(
            Table::create()
                .table("roadmap_comments")
                .col(big_pk_auto("id"))
                .col(big_integer("roadmap_id"))
                .col(timestamp_with_time_zone("at"))
                .col(string("author"))
                .col(string("kind"))
                .col(text("text"))
                .foreign_key(&mut fk("roadmap_comments", "roadmap_id", "roadmaps", true))
                .take(),
        )
        .await?;
        index(m, "ix_roadmap_comments", "roadmap_comments", &["roadmap_id", "id"], false).await?;
        m.create_table(
            Table::create()
                .table("polls")
                .col(big_pk_auto("id"))
                .col(string("title"))
                .col(text_null("description"))
                .col(string("kind"))
                .col(string("status"))
                .col(string("access"))
                .col(timestamp_with_time_zone_null("opens_at"))
                .col(timestamp_with_time_zone_null("closes_at"))
                .col(big_integer_null("territory_id"))
                .col(big_integer_null("category_id"))
                .col(boolean("public_results").default(true))
                .col(big_integer_null("created_by_id"))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("polls", "territory_id", "territories", false))
                .foreign_key(&mut fk("polls", "category_id", "categories", false))
                .foreign_key(&mut fk("polls", "created_by_id", "users", false))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("poll_questions")
                .col(big_pk_auto("id"))
                .col(big_integer("poll_id"))
                .col(integer("position"))
                .col(text("text"))
                .col(string("question_type"))
                .foreign_key(&mut fk("poll_questions", "poll_id", "polls", true))
                .take(),
        )
        .await?;
        index(m, "ix_poll_questions", "poll_questions", &["poll_id", "position"], false).await?;
        m.create_table(
            Table::create()
                .table("poll_options")
                .col(big_pk_auto("id"))
                .col(big_integer("poll_id"))
                .col(big_integer("question_id"))
                .col(integer("position"))
                .col(text("text"))
                .foreign_key(&mut fk("poll_options", "poll_id", "polls", true))
                .foreign_key(&mut fk("poll_options", "question_id", "poll_questions", true))
                .take(),
        )
        .await?;
        index(m, "ix_poll_options", "poll_options", &["poll_id", "question_id"], false).await?;
        m.create_table(
            Table::create()
                .table("poll_invites")
                .col(big_pk_auto("id"))
                .col(big_integer("poll_id"))
                .col(string("code_hash"))
                .col(timestamp_with_time_zone_null("used_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("poll_invites", "poll_id", "polls", true))
                .take(),
        )
        .await?;
        index(m, "ux_poll_invites_code", "poll_invites", &["code_hash"], true).await?;
        m.create_table(
            Table::create()
                .table("poll_ballots")
                .col(big_pk_auto("id"))
                .col(big_integer("poll_id"))
                .col(string("respondent_hash"))
                .col(timestamp_with_time_zone("at"))
                .foreign_key(&mut fk("poll_ballots", "poll_id", "polls", true))
                .take(),
        )
        .await?;
        index(m, "ux_poll_ballots_respondent", "poll_ballots", &["poll_id", "respondent_hash"], true).await?;
        m.create_table(
            Table::create()
                .table("poll_answers")
                .col(big_pk_auto("id"))
                .col(big_integer("ballot_id"))
                .col(big_integer("poll_id"))
                .col(big_integer("question_id"))
                .col(big_integer_null("option_id"))
                .col(integer_null("scale"))
                .col(text_null("text"))
                .foreign_key(&mut fk("poll_answers", "ballot_id", "poll_ballots", true))
                .foreign_key(&mut fk("poll_answers", "poll_id", "polls", true))
                .foreign_key(&mut fk("poll_answers", "question_id", "poll_questions", true))
                .foreign_key(&mut fk("poll_answers", "option_id", "poll_options", true))
                .take(),
        )
        .await?;
        index(m, "ix_poll_answers", "poll_answers", &["poll_id", "question_id"], false).await?;
        m.create_table(
            Table::create()
                .table("poll_comments")
                .col(big_pk_auto("id"))
                .col(big_integer("poll_id"))
                .col(string("respondent_hash"))
                .col(timestamp_with_time_zone("at"))
                .col(text("text"))
                .col(boolean("hidden").default(false))
                .col(text_null("moderation_reason"))
                .col(integer("version").default(1))
                .foreign_key(&mut fk("poll_comments", "poll_id", "polls", true))
                .take(),
        )
        .await?;
        index(m, "ix_poll_comments", "poll_comments", &["poll_id", "id"], false).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "poll_comments",
            "poll_answers",
            "poll_ballots",
            "poll_invites",
            "poll_options",
            "poll_questions",
            "polls",
            "roadmap_comments",
            "roadmap_measures",
            "roadmap_appeals",
            "roadmaps",
        ] {
            m.drop_table(Table::drop().table(t).if_exists().take()).await?;
        }
        Ok(())
    }
}
