//! Reference data: recipients, the two-level category rubricator, the territory tree.
//!
//! Reads go to the in-memory copy ([`snapshot`]); every write announces itself in its
//! transaction (`REFERENCE_CHANGED` through the outbox) and, once committed, marks this
//! process's copy stale and reads it again ([`refresh`]); other processes hear of it through
//! the outbox (on PostgreSQL by `NOTIFY`, see `jobs::dispatcher`).

use std::sync::Arc;

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::{Caller, audit};
use crate::domain::access::Role;
use crate::entity::{category, recipient, territory};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::{AppState, ReferenceData};
use crate::store::outbox::Subject;

/// The reference data as of the last change this process knows of: held in memory, read
/// again from the database (three statements) only after a change.
///
/// # Errors
/// When the data is stale and the database fails.
pub async fn snapshot(state: &AppState) -> AppResult<Arc<ReferenceData>> {
    if let Some(data) = state.reference.fresh() {
        return Ok(data);
    }
    let _one_reader = state.reference.reload.lock().await;
    if let Some(data) = state.reference.fresh() {
        return Ok(data);
    }
    // Tagged with the generation before reading: a change committed meanwhile bumps it
    // again, so this data is read again on its next use.
    let generation = state.reference.wanted();
    let data = Arc::new(crate::store::reference::load_all(&state.db, generation).await?);
    state.reference.install(Arc::clone(&data));
    Ok(data)
}

/// The reference data, read again first when it lacks one of these ids: a row another
/// process created whose announcement has not arrived yet (ids come from rows whose foreign
/// keys guarantee the row exists). Read again at most once a second for such misses.
///
/// # Errors
/// As [`snapshot`].
pub async fn snapshot_with(
    state: &AppState,
    recipient: Option<i64>,
    category: Option<i64>,
    territory: Option<i64>,
) -> AppResult<Arc<ReferenceData>> {
    let data = snapshot(state).await?;
    let old = data.read_at.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1));
    if old && data.lacks(recipient, category, territory) {
        state.reference.invalidate();
        return snapshot(state).await;
    }
    Ok(data)
}

/// After a committed change of reference data: marks this process's copy stale and reads it
/// again, so that the change is visible here at once, and wakes the dispatcher to tell the
/// other processes.
async fn refresh(state: &AppState) {
    state.reference.invalidate();
    state.announcements.wake_dispatcher();
    if let Err(e) = snapshot(state).await {
        tracing::warn!(error = %e.message(), "could not read the reference data again");
    }
}

/// Marks the reference data stale after a change made outside this module (an import or
/// ingestion that created rows), and reads it again.
pub async fn changed(state: &AppState) {
    refresh(state).await;
}

/// Administrators and curators edit the reference data.
fn may_edit(caller: &Caller) -> AppResult<()> {
    match caller.principal.user() {
        Some(u) if u.has_any(&[Role::Admin, Role::Curator]) => Ok(()),
        _ => Err(AppError::Forbidden("the reference data is edited by administrators and curators".into())),
    }
}

/// A new recipient.
pub struct NewRecipient {
    pub name: String,
    pub short_name: Option<String>,
    pub parent_id: Option<i64>,
    pub external: bool,
}

/// A new category.
pub struct NewCategory {
    pub name: String,
    pub parent_id: Option<i64>,
    pub default_recipient_id: Option<i64>,
}

/// A new territory.
pub struct NewTerritory {
    pub name: String,
    pub code: Option<String>,
    pub parent_id: Option<i64>,
    pub population: Option<i32>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// Longest name of a recipient, category or territory, in characters (also for the ones an
/// import creates).
pub const MAX_NAME: usize = 500;

fn required(errors: &mut Vec<FieldError>, path: &str, value: &str) {
    if value.trim().is_empty() {
        errors.push(FieldError { path: path.into(), message: "must not be empty".into() });
    } else if value.chars().count() > MAX_NAME {
        errors.push(FieldError { path: path.into(), message: format!("must be at most {MAX_NAME} characters") });
    }
}

fn finish(errors: Vec<FieldError>) -> AppResult<()> {
    if errors.is_empty() { Ok(()) } else { Err(AppError::BadInput(errors)) }
}

/// Creates a recipient.
pub async fn create_recipient(state: &AppState, caller: &Caller, new: NewRecipient) -> AppResult<recipient::Model> {
    may_edit(caller)?;
    let mut errors = Vec::new();
    required(&mut errors, "input.name", &new.name);
    let txn = crate::db::begin_write(&state.writer).await?;
    if let Some(p) = new.parent_id
        && recipient::Entity::find_by_id(p).one(&txn).await?.is_none()
    {
        errors.push(FieldError { path: "input.parentId".into(), message: "no such recipient".into() });
    }
    finish(errors)?;
    let now = state.clock.now();
    let m = recipient::ActiveModel {
        name: Set(new.name.trim().to_string()),
        short_name: Set(new.short_name.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())),
        parent_id: Set(new.parent_id),
        external: Set(new.external),
        active: Set(true),
        version: Set(1),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, caller, now, "createRecipient", Some(format!("recipient:{}", m.id)), None).await?;
    crate::store::reference::announce(&txn, Subject::Recipient(m.id), "createRecipient", now).await?;
    txn.commit().await?;
    refresh(state).await;
    Ok(m)
}

/// Creates a category; a subcategory's parent must be a top-level category (two levels).
pub async fn create_category(state: &AppState, caller: &Caller, new: NewCategory) -> AppResult<category::Model> {
    may_edit(caller)?;
    let mut errors = Vec::new();
    required(&mut errors, "input.name", &new.name);
    let txn = crate::db::begin_write(&state.writer).await?;
    if let Some(p) = new.parent_id {
        match category::Entity::find_by_id(p).one(&txn).await? {
            None => errors.push(FieldError { path: "input.parentId".into(), message: "no such category".into() }),
            Some(parent) if parent.parent_id.is_some() => errors.push(FieldError {
                path: "input.parentId".into(),
                message: "the rubricator has two levels: a subcategory cannot have children".into(),
            }),
            Some(_) => {}
        }
    }
    if let Some(r) = new.default_recipient_id
        && recipient::Entity::find_by_id(r).one(&txn).await?.is_none()
    {
        errors.push(FieldError { path: "input.defaultRecipientId".into(), message: "no such recipient".into() });
    }
    finish(errors)?;
    let name = new.name.trim().to_string();
    let sibling = category::Entity::find()
        .filter(category::Column::Name.eq(name.as_str()))
        .filter(match new.parent_id {
            Some(p) => category::Column::ParentId.eq(p),
            None => category::Column::ParentId.is_null(),
        })
        .one(&txn)
        .await?;
    if sibling.is_some() {
        return Err(AppError::Conflict("a category with this name already exists at this level".into()));
    }
    let now = state.clock.now();
    let m = category::ActiveModel {
        name: Set(name),
        parent_id: Set(new.parent_id),
        default_recipient_id: Set(new.default_recipient_id),
        version: Set(1),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, caller, now, "createCategory", Some(format!("category:{}", m.id)), None).await?;
    crate::store::reference::announce(&txn, Subject::Category(m.id), "createCategory", now).await?;
    txn.commit().await?;
    refresh(state).await;
    Ok(m)
}

/// Creates a territory.
pub async fn create_territory(state: &AppState, caller: &Caller, new: NewTerritory) -> AppResult<territory::Model> {
    may_edit(caller)?;
    let mut errors = Vec::new();
    required(&mut errors, "input.name", &new.name);
    if new.population.is_some_and(|p| p < 0) {
        errors.push(FieldError { path: "input.population".into(), message: "must not be negative".into() });
    }
    if new.latitude.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
        errors.push(FieldError { path: "input.latitude".into(), message: "must be between -90 and 90".into() });
    }
    if new.longitude.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
        errors.push(FieldError { path: "input.longitude".into(), message: "must be between -180 and 180".into() });
    }
    if new.latitude.is_some() != new.longitude.is_some() {
        errors.push(FieldError { path: "input.longitude".into(), message: "give both latitude and longitude".into() });
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    if let Some(p) = new.parent_id
        && territory::Entity::find_by_id(p).one(&txn).await?.is_none()
    {
        errors.push(FieldError { path: "input.parentId".into(), message: "no such territory".into() });
    }
    let code = new.code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    if let Some(c) = &code
        && territory::Entity::find().filter(territory::Column::Code.eq(c.as_str())).one(&txn).await?.is_some()
    {
        return Err(AppError::Conflict("a territory with this code already exists".into()));
    }
    finish(errors)?;
    let now = state.clock.now();
    let m = territory::ActiveModel {
        name: Set(new.name.trim().to_string()),
        code: Set(code),
        parent_id: Set(new.parent_id),
        population: Set(new.population),
        latitude: Set(new.latitude),
        longitude: Set(new.longitude),
        version: Set(1),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, caller, now, "createTerritory", Some(format!("territory:{}", m.id)), None).await?;
    crate::store::reference::announce(&txn, Subject::Territory(m.id), "createTerritory", now).await?;
    txn.commit().await?;
    refresh(state).await;
    Ok(m)
}

/// All recipients by name.
///
/// # Errors
/// When the data is stale and the database fails.
pub async fn recipients(state: &AppState) -> AppResult<Vec<recipient::Model>> {
    Ok(snapshot(state).await?.recipients().cloned().collect())
}

/// All categories of both levels by name.
///
/// # Errors
/// As [`recipients`].
pub async fn categories(state: &AppState) -> AppResult<Vec<category::Model>> {
    Ok(snapshot(state).await?.categories().cloned().collect())
}

/// All territories by name.
///
/// # Errors
/// As [`recipients`].
pub async fn territories(state: &AppState) -> AppResult<Vec<territory::Model>> {
    Ok(snapshot(state).await?.territories().cloned().collect())
}

/// Changes of a recipient; absent fields stay as they are.
pub struct RecipientChanges {
    pub name: Option<String>,
    pub short_name: Option<String>,
    pub external: Option<bool>,
    pub active: Option<bool>,
}

/// Changes of a category; absent fields stay as they are.
pub struct CategoryChanges {
    pub name: Option<String>,
    pub default_recipient_id: Option<i64>,
}

/// Changes of a territory; absent fields stay as they are.
pub struct TerritoryChanges {
    pub name: Option<String>,
    pub code: Option<String>,
    pub population: Option<i32>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

fn check_name(errors: &mut Vec<FieldError>, name: Option<&String>) {
    if let Some(n) = name {
        required(errors, "input.name", n);
    }
}

/// `CONFLICT` unless the row is still at `version`.
fn at_version(what: &str, current: i32, version: i32) -> AppResult<()> {
    if current == version { Ok(()) } else { Err(AppError::stale(what)) }
}

/// Renames or otherwise changes a recipient (optimistic locking by `version`).
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT` with the field paths, `CONFLICT` for a stale version.
pub async fn update_recipient(
    state: &AppState,
    caller: &Caller,
    id: i64,
    version: i32,
    ch: RecipientChanges,
) -> AppResult<recipient::Model> {
    may_edit(caller)?;
    let mut errors = Vec::new();
    check_name(&mut errors, ch.name.as_ref());
    finish(errors)?;
    let txn = crate::db::begin_write(&state.writer).await?;
    let old = recipient::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound("recipient".into()))?;
    at_version("the recipient", old.version, version)?;
    let now = state.clock.now();
    let mut m: recipient::ActiveModel = old.clone().into();
    if let Some(n) = ch.name {
        m.name = Set(n.trim().to_string());
    }
    if let Some(s) = ch.short_name {
        m.short_name = Set(Some(s.trim().to_string()).filter(|s| !s.is_empty()));
    }
    if let Some(e) = ch.external {
        m.external = Set(e);
    }
    if let Some(a) = ch.active {
        m.active = Set(a);
    }
    m.version = Set(old.version + 1);
    let m = m.update(&txn).await?;
    audit::record(&txn, caller, now, "updateRecipient", Some(format!("recipient:{id}")), None).await?;
    crate::store::reference::announce(&txn, Subject::Recipient(id), "updateRecipient", now).await?;
    txn.commit().await?;
    refresh(state).await;
    Ok(m)
}

/// Renames a category or changes its default recipient (optimistic locking by `version`).
///
/// # Errors
/// As [`update_recipient`]; `CONFLICT` also for a name taken at the same level.
pub async fn update_category(
    state: &AppState,
    caller: &Caller,
    id: i64,
    version: i32,
    ch: CategoryChanges,
) -> AppResult<category::Model> {
    may_edit(caller)?;
    let mut errors = Vec::new();
    check_name(&mut errors, ch.name.as_ref());
    let txn = crate::db::begin_write(&state.writer).await?;
    if let Some(r) = ch.default_recipient_id
        && recipient::Entity::find_by_id(r).one(&txn).await?.is_none()
    {
        errors.push(FieldError { path: "input.defaultRecipientId".into(), message: "no such recipient".into() });
    }
    finish(errors)?;
    let old = category::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound("category".into()))?;
    at_version("the category", old.version, version)?;
    let mut m: category::ActiveModel = old.clone().into();
    if let Some(n) = ch.name {
        let name = n.trim().to_string();
        let sibling = category::Entity::find()
            .filter(category::Column::Name.eq(name.as_str()))
            .filter(category::Column::Id.ne(id))
            .filter(match old.parent_id {
                Some(p) => category::Column::ParentId.eq(p),
                None => category::Column::ParentId.is_null(),
            })
            .one(&txn)
            .await?;
        if sibling.is_some() {
            return Err(AppError::Conflict("a category with this name already exists at this level".into()));
        }
        m.name = Set(name);
    }
    if let Some(r) = ch.default_recipient_id {
        m.default_recipient_id = Set(Some(r));
    }
    m.version = Set(old.version + 1);
    let now = state.clock.now();
    let m = m.update(&txn).await?;
    audit::record(&txn, caller, now, "updateCategory", Some(format!("category:{id}")), None).await?;
    crate::store::reference::announce(&txn, Subject::Category(id), "updateCategory", now).await?;
    txn.commit().await?;
    refresh(state).await;
    Ok(m)
}

/// Renames or otherwise changes a territory (optimistic locking by `version`).
///
/// # Errors
/// As [`update_recipient`]; `CONFLICT` also for a code another territory has.
pub async fn update_territory(
    state: &AppState,
    caller: &Caller,
    id: i64,
    version: i32,
    ch: TerritoryChanges,
) -> AppResult<territory::Model> {
    may_edit(caller)?;
    let mut errors = Vec::new();
    check_name(&mut errors, ch.name.as_ref());
    if ch.population.is_some_and(|p| p < 0) {
        errors.push(FieldError { path: "input.population".into(), message: "must not be negative".into() });
    }
    crate::domain::appeal::check_coords(&mut errors, ch.latitude, ch.longitude);
    finish(errors)?;
    let txn = crate::db::begin_write(&state.writer).await?;
    let old = territory::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound("territory".into()))?;
    at_version("the territory", old.version, version)?;
    let mut m: territory::ActiveModel = old.clone().into();
    if let Some(n) = ch.name {
        m.name = Set(n.trim().to_string());
    }
    if let Some(c) = ch.code {
        let code = Some(c.trim().to_string()).filter(|c| !c.is_empty());
        if let Some(c) = &code
            && territory::Entity::find()
                .filter(territory::Column::Code.eq(c.as_str()))
                .filter(territory::Column::Id.ne(id))
                .one(&txn)
                .await?
                .is_some()
        {
            return Err(AppError::Conflict("a territory with this code already exists".into()));
        }
        m.code = Set(code);
    }
    if let Some(p) = ch.population {
        m.population = Set(Some(p));
    }
    if ch.latitude.is_some() {
        m.latitude = Set(ch.latitude);
        m.longitude = Set(ch.longitude);
    }
    m.version = Set(old.version + 1);
    let now = state.clock.now();
    let m = m.update(&txn).await?;
    audit::record(&txn, caller, now, "updateTerritory", Some(format!("territory:{id}")), None).await?;
    crate::store::reference::announce(&txn, Subject::Territory(id), "updateTerritory", now).await?;
    txn.commit().await?;
    refresh(state).await;
    Ok(m)
}

/// Ids an input refers to in the reference data.
#[derive(Debug, Clone, Copy, Default)]
pub struct Refs {
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub recipient_id: Option<i64>,
}

/// Adds an `input.<field>` error for every referenced row that does not exist.
pub async fn check_refs(conn: &impl ConnectionTrait, errors: &mut Vec<FieldError>, refs: Refs) -> AppResult<()> {
    if let Some(id) = refs.category_id
        && category::Entity::find_by_id(id).one(conn).await?.is_none()
    {
        errors.push(FieldError { path: "input.categoryId".into(), message: "no such category".into() });
    }
    if let Some(id) = refs.territory_id
        && territory::Entity::find_by_id(id).one(conn).await?.is_none()
    {
        errors.push(FieldError { path: "input.territoryId".into(), message: "no such territory".into() });
    }
    if let Some(id) = refs.recipient_id
        && recipient::Entity::find_by_id(id).one(conn).await?.is_none()
    {
        errors.push(FieldError { path: "input.recipientId".into(), message: "no such recipient".into() });
    }
    Ok(())
}
