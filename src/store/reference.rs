//! Persistence side of the reference data (recipients, categories, territories): the whole
//! of it read for the in-memory cache (`state::ReferenceCache`), and the announcement of a
//! change, written in the change's transaction, that tells every process to read it again.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait};

use super::outbox::{self, Subject};
use crate::domain::events::Topic;
use crate::entity::{category, recipient, territory};
use crate::error::AppResult;
use crate::state::ReferenceData;

/// Every recipient, category and territory (three statements), tagged with `generation`.
///
/// # Errors
/// On a database failure.
pub async fn load_all(conn: &impl ConnectionTrait, generation: u64) -> AppResult<ReferenceData> {
    let recipients = recipient::Entity::find().all(conn).await?;
    let categories = category::Entity::find().all(conn).await?;
    let territories = territory::Entity::find().all(conn).await?;
    Ok(ReferenceData::new(generation, recipients, categories, territories))
}

/// Announces that a reference row was created or changed (`REFERENCE_CHANGED`, internal),
/// in the change's transaction: each process that hears of it marks its reference data
/// stale.
///
/// # Errors
/// When the row cannot be written.
pub async fn announce(
    conn: &impl ConnectionTrait,
    subject: Subject,
    action: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let (_, id) = subject.parts();
    let change = outbox::Change::new(id, action, None, 0);
    outbox::record(conn, Topic::ReferenceChanged, subject, &change, now).await?;
    Ok(())
}
