//! Administrator overrides of the production calendar (days the crate does not know yet,
//! or local decisions), used by every deadline computed afterwards.

use chrono::NaiveDate;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, QueryOrder, Set};

use super::{Caller, audit};
use crate::entity::calendar_override;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// All overrides by date.
pub async fn list(state: &AppState) -> AppResult<Vec<calendar_override::Model>> {
    Ok(calendar_override::Entity::find().order_by_asc(calendar_override::Column::Day).all(&state.db).await?)
}

/// Declares `day` working or not, replacing an earlier override of that day.
pub async fn set(
    state: &AppState,
    caller: &Caller,
    day: NaiveDate,
    working: bool,
    note: Option<String>,
) -> AppResult<calendar_override::Model> {
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(AppError::bad("note", "must be at most 500 characters"));
    }
    let key = day.format("%Y-%m-%d").to_string();
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let existing = calendar_override::Entity::find_by_id(key.clone()).one(&txn).await?;
    let note = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let model = match existing {
        Some(m) => {
            let mut am = m.into_active_model();
            am.working = Set(working);
            am.note = Set(note);
            am.update(&txn).await?
        }
        None => {
            calendar_override::ActiveModel { day: Set(key.clone()), working: Set(working), note: Set(note) }
                .insert(&txn)
                .await?
        }
    };
    audit::record(
        &txn,
        caller,
        now,
        "setCalendarDay",
        Some(format!("day:{key}")),
        Some(serde_json::json!({ "working": working })),
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// Removes the override of `day`, so the production calendar decides again.
pub async fn remove(state: &AppState, caller: &Caller, day: NaiveDate) -> AppResult<bool> {
    let key = day.format("%Y-%m-%d").to_string();
    let txn = crate::db::begin_write(&state.writer).await?;
    let removed = calendar_override::Entity::delete_by_id(key.clone()).exec(&txn).await?.rows_affected > 0;
    audit::record(&txn, caller, state.clock.now(), "removeCalendarDay", Some(format!("day:{key}")), None).await?;
    txn.commit().await?;
    Ok(removed)
}
