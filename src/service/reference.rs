//! Reference data: recipients, the two-level category rubricator, the territory tree.
//!
//! Reads go to the in-memory copy ([`snapshot`]); every write announces itself in its
//! transaction (`REFERENCE_CHANGED` through the outbox) and, once committed, marks this
//! process's copy stale and reads it again ([`refresh`]); other processes hear of it through
//! the outbox (on PostgreSQL by `NOTIFY`, see `jobs::dispatcher`).

use crate::domain::appeal::{CategoryId, RecipientId, TerritoryId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
};

use super::{Caller, audit};
use crate::domain::access::Role;
use crate::domain::reference::{self, Kind};
use crate::entity::{category, recipient, territory};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::{AppState, ReferenceData};
use crate::store::outbox::Subject;
use crate::store::reference::{AppealRef, MergeStamp, Named};

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
    // The copy in memory without awaiting anything; reading the data again is boxed, so that
    // the future of a field that shows a name stays small (a page of 50 appeals moves one
    // such future for each name of each appeal).
    if let Some(data) = state.reference.fresh()
        && !(data.read_at.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1))
            && data.lacks(recipient, category, territory))
    {
        return Ok(data);
    }
    Box::pin(snapshot_again(state, recipient, category, territory)).await
}

async fn snapshot_again(
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

/// Creates a recipient.
pub async fn create_recipient(state: &AppState, caller: &Caller, new: NewRecipient) -> AppResult<recipient::Model> {
    may_edit(caller)?;
    let mut errors = Vec::new();
    FieldError::check_text(&mut errors, "input.name", &new.name, MAX_NAME);
    let txn = crate::db::begin_write(&state.writer).await?;
    if let Some(p) = new.parent_id
        && recipient::Entity::find_by_id(p).one(&txn).await?.is_none()
    {
        errors.push(FieldError { path: "input.parentId".into(), message: "no such recipient".into() });
    }
    FieldError::finish(errors)?;
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
    FieldError::check_text(&mut errors, "input.name", &new.name, MAX_NAME);
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
    FieldError::finish(errors)?;
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
    FieldError::check_text(&mut errors, "input.name", &new.name, MAX_NAME);
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
    FieldError::finish(errors)?;
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
    pub active: Option<bool>,
}

/// Changes of a territory; absent fields stay as they are.
pub struct TerritoryChanges {
    pub name: Option<String>,
    pub code: Option<String>,
    pub population: Option<i32>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub active: Option<bool>,
}

fn check_name(errors: &mut Vec<FieldError>, name: Option<&String>) {
    if let Some(n) = name {
        FieldError::check_text(errors, "input.name", n, MAX_NAME);
    }
}

/// `CONFLICT` unless the row is still at `version`.
fn at_version(what: &str, current: i32, version: i32) -> AppResult<()> {
    if current == version { Ok(()) } else { Err(AppError::stale(what)) }
}

/// One kind of reference row, as the shared steps of a change see it.
trait RefRow: Clone + Send + Sync + sea_orm::IntoActiveModel<Self::Active> + 'static {
    type Entity: EntityTrait<Model = Self>;
    type Active: ActiveModelTrait<Entity = Self::Entity> + sea_orm::ActiveModelBehavior + Send + From<Self>;
    const KIND: Kind;
    fn id(&self) -> i64;
    fn version(&self) -> i32;
    fn name(&self) -> &str;
    fn row(&self) -> reference::Row;
    fn subject(id: i64) -> Subject;
    fn set_version(am: &mut Self::Active, v: i32);
    /// Marks the row merged into `into` (and so no longer active).
    fn set_merged(am: &mut Self::Active, into: i64);
}

/// The three kinds share their columns; only the kind, the subject and whether the row may
/// come from outside (`external`, recipients only) differ.
macro_rules! ref_row {
    ($module:ident, $kind:ident, |$m:ident| $external:expr) => {
        impl RefRow for $module::Model {
            type Entity = $module::Entity;
            type Active = $module::ActiveModel;
            const KIND: Kind = Kind::$kind;
            fn id(&self) -> i64 {
                self.id
            }
            fn version(&self) -> i32 {
                self.version
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn row(&self) -> reference::Row {
                let $m = self;
                reference::Row {
                    id: self.id,
                    parent_id: self.parent_id,
                    active: self.active,
                    merged_into_id: self.merged_into_id,
                    external: $external,
                }
            }
            fn subject(id: i64) -> Subject {
                Subject::$kind(id)
            }
            fn set_version(am: &mut Self::Active, v: i32) {
                am.version = Set(v);
            }
            fn set_merged(am: &mut Self::Active, into: i64) {
                am.active = Set(false);
                am.merged_into_id = Set(Some(into));
            }
        }
    };
}

ref_row!(recipient, Recipient, |m| m.external);
ref_row!(category, Category, |_m| false);
ref_row!(territory, Territory, |_m| false);

/// Reads a row for a change, locked until the transaction ends (`FOR UPDATE`; SQLite's
/// writer lock does the same).
async fn lock<R: RefRow>(txn: &DatabaseTransaction, id: i64) -> AppResult<R>
where
    <<R::Entity as EntityTrait>::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<i64>,
{
    <R::Entity as EntityTrait>::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| AppError::NotFound(R::KIND.noun().into()))
}

/// Opens the write transaction of a change to row `id` read at `version`: the row, locked,
/// or `NOT_FOUND`, or `CONFLICT` when it moved on.
async fn open<R: RefRow>(state: &AppState, id: i64, version: i32) -> AppResult<(DatabaseTransaction, R)>
where
    <<R::Entity as EntityTrait>::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<i64>,
{
    let txn = crate::db::begin_write(&state.writer).await?;
    let old: R = lock(&txn, id).await?;
    at_version(&format!("the {}", R::KIND.noun()), old.version(), version)?;
    Ok((txn, old))
}

/// Saves a changed row with its version moved on, its audit entry (`action`, `data`) and
/// its announcement, commits, and has this process read the reference data again.
async fn save<R: RefRow>(
    state: &AppState,
    caller: &Caller,
    txn: DatabaseTransaction,
    old: &R,
    mut am: R::Active,
    action: &str,
    data: Option<serde_json::Value>,
) -> AppResult<R> {
    R::set_version(&mut am, old.version() + 1);
    let now = state.clock.now();
    let m = am.update(&txn).await?;
    let id = old.id();
    audit::record(&txn, caller, now, action, Some(format!("{}:{id}", R::KIND.noun())), data).await?;
    crate::store::reference::announce(&txn, R::subject(id), action, now).await?;
    txn.commit().await?;
    refresh(state).await;
    Ok(m)
}

/// `{"active": …}` for the audit entry of a change that (de)activates a row.
fn activity(active: Option<bool>) -> Option<serde_json::Value> {
    active.map(|a| serde_json::json!({ "active": a }))
}

/// Renames or otherwise changes a recipient (optimistic locking by `version`); `active:
/// false` deactivates it (no new assignments; its appeals and history stay).
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT` with the field paths, `CONFLICT` for a stale version.
pub async fn update_recipient(
    state: &AppState,
    caller: &Caller,
    id: RecipientId,
    version: i32,
    ch: RecipientChanges,
) -> AppResult<recipient::Model> {
    let id = id.0;
    may_edit(caller)?;
    let mut errors = Vec::new();
    check_name(&mut errors, ch.name.as_ref());
    FieldError::finish(errors)?;
    let (txn, old) = open::<recipient::Model>(state, id, version).await?;
    refuse_reactivating_merged(old.merged_into_id, ch.active)?;
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
    save(state, caller, txn, &old, m, "updateRecipient", activity(ch.active)).await
}

/// A merged row stays inactive: its appeals are elsewhere.
fn refuse_reactivating_merged(merged_into: Option<i64>, active: Option<bool>) -> AppResult<()> {
    match (merged_into, active) {
        (Some(into), Some(true)) => Err(AppError::BadInput(vec![FieldError {
            path: "input.active".into(),
            message: format!("this row was merged into {into} and stays inactive"),
        }])),
        _ => Ok(()),
    }
}

/// Renames a category or changes its default recipient (optimistic locking by `version`);
/// `active: false` deactivates it (no new classification; history stays).
///
/// # Errors
/// As [`update_recipient`]; `CONFLICT` also for a name taken at the same level.
pub async fn update_category(
    state: &AppState,
    caller: &Caller,
    id: CategoryId,
    version: i32,
    ch: CategoryChanges,
) -> AppResult<category::Model> {
    let id = id.0;
    may_edit(caller)?;
    let mut errors = Vec::new();
    check_name(&mut errors, ch.name.as_ref());
    let (txn, old) = open::<category::Model>(state, id, version).await?;
    if let Some(r) = ch.default_recipient_id {
        check_refs(&txn, &mut errors, Refs { recipient_id: Some(r), ..Default::default() }).await?;
        rename_path(&mut errors, "input.recipientId", "input.defaultRecipientId");
    }
    FieldError::finish(errors)?;
    refuse_reactivating_merged(old.merged_into_id, ch.active)?;
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
    if let Some(a) = ch.active {
        m.active = Set(a);
    }
    save(state, caller, txn, &old, m, "updateCategory", activity(ch.active)).await
}

/// Renames or otherwise changes a territory (optimistic locking by `version`); `active:
/// false` deactivates it (no new appeals placed there; history stays).
///
/// # Errors
/// As [`update_recipient`]; `CONFLICT` also for a code another territory has.
pub async fn update_territory(
    state: &AppState,
    caller: &Caller,
    id: TerritoryId,
    version: i32,
    ch: TerritoryChanges,
) -> AppResult<territory::Model> {
    let id = id.0;
    may_edit(caller)?;
    let mut errors = Vec::new();
    check_name(&mut errors, ch.name.as_ref());
    if ch.population.is_some_and(|p| p < 0) {
        errors.push(FieldError { path: "input.population".into(), message: "must not be negative".into() });
    }
    crate::domain::appeal::check_coords(&mut errors, ch.latitude, ch.longitude);
    FieldError::finish(errors)?;
    let (txn, old) = open::<territory::Model>(state, id, version).await?;
    refuse_reactivating_merged(old.merged_into_id, ch.active)?;
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
    if let Some(a) = ch.active {
        m.active = Set(a);
    }
    save(state, caller, txn, &old, m, "updateTerritory", activity(ch.active)).await
}

fn rename_path(errors: &mut [FieldError], from: &str, to: &str) {
    for e in errors.iter_mut().filter(|e| e.path == from) {
        e.path = to.into();
    }
}

/// What a merge moved.
#[derive(Debug, Clone, Default)]
pub struct Merged<R> {
    /// The merged row (now inactive, `merged_into_id` set).
    pub from: Option<R>,
    pub into: Option<R>,
    pub appeals: u64,
    /// Other rows that followed: users, roadmaps, measures, polls, practices, children,
    /// categories' default recipient.
    pub others: u64,
}

/// The tables and columns that follow a merged row, besides the appeals.
fn followers(kind: Kind) -> &'static [(&'static str, &'static str)] {
    match kind {
        Kind::Recipient => &[
            ("users", "recipient_id"),
            ("roadmap_measures", "responsible_id"),
            ("categories", "default_recipient_id"),
            ("recipients", "parent_id"),
        ],
        Kind::Category => &[
            ("appeals", "suggested_category_id"),
            ("roadmaps", "category_id"),
            ("polls", "category_id"),
            ("practices", "category_id"),
            ("categories", "parent_id"),
        ],
        Kind::Territory => &[
            ("users", "territory_id"),
            ("roadmaps", "territory_id"),
            ("polls", "territory_id"),
            ("poll_ballots", "territory_id"),
            ("practices", "territory_id"),
            ("territories", "parent_id"),
        ],
    }
}

/// Longest chain of parents a merge walks (the trees are shallow; a cycle stops there).
async fn parents_of<R: RefRow>(txn: &DatabaseTransaction) -> AppResult<HashMap<i64, Option<i64>>> {
    Ok(<R::Entity as EntityTrait>::find().all(txn).await?.iter().map(|r| (r.id(), r.row().parent_id)).collect())
}

/// Merges row `from` into row `into` (a reorganisation): every appeal of `from` moves to
/// `into` with a history entry that keeps both names, the rollups follow, so do users,
/// roadmaps, measures, polls, practices and children ([`followers`]); `from` stays (its name
/// in older history and exports) inactive with `merged_into_id`. One transaction, audited.
///
/// # Errors
/// `FORBIDDEN` but for ADMIN and CURATOR, `NOT_FOUND`, `BAD_USER_INPUT` (`input.fromId`,
/// `input.intoId`) for a merge [`reference::check_merge`] refuses, `CONFLICT` for two
/// subcategories of the same name under merged top-level categories.
async fn merge<R: RefRow>(state: &AppState, caller: &Caller, from_id: i64, into_id: i64) -> AppResult<Merged<R>>
where
    <<R::Entity as EntityTrait>::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<i64>,
{
    may_edit(caller)?;
    let txn = crate::db::begin_write(&state.writer).await?;
    // Both rows locked, in id order, so two merges never wait on each other crosswise.
    let (from, into): (R, R) = if from_id <= into_id {
        let f = lock(&txn, from_id).await.map_err(|e| not_found_at(e, "input.fromId"))?;
        (f, lock(&txn, into_id).await.map_err(|e| not_found_at(e, "input.intoId"))?)
    } else {
        let i = lock(&txn, into_id).await.map_err(|e| not_found_at(e, "input.intoId"))?;
        (lock(&txn, from_id).await.map_err(|e| not_found_at(e, "input.fromId"))?, i)
    };
    let parents = parents_of::<R>(&txn).await?;
    reference::check_merge(R::KIND, &from.row(), &into.row(), &parents)
        .map_err(|(field, message)| AppError::BadInput(vec![FieldError { path: format!("input.{field}"), message }]))?;
    if R::KIND == Kind::Category && from.row().parent_id.is_none() {
        same_named_children(&txn, from_id, into_id).await?;
    }
    let now = state.clock.now();
    let action = match R::KIND {
        Kind::Recipient => "mergeRecipients",
        Kind::Category => "mergeCategories",
        Kind::Territory => "mergeTerritories",
    };
    let what = match R::KIND {
        Kind::Recipient => AppealRef::Recipient,
        Kind::Category => AppealRef::Category,
        Kind::Territory => AppealRef::Territory,
    };
    let named = |r: &R| Named { id: r.id(), name: r.name().to_string() };
    let audit_actor = audit::actor(caller);
    let stamp = MergeStamp { action, actor: &caller.principal.label(), audit: &audit_actor, at: now };
    let appeals =
        crate::store::reference::move_appeals(&txn, state.settings.timezone, what, &named(&from), &named(&into), stamp)
            .await?;
    let mut others = 0;
    for (table, column) in followers(R::KIND) {
        others += crate::store::reference::repoint(&txn, table, column, from_id, into_id).await?;
    }
    let mut am: R::Active = from.clone().into();
    R::set_merged(&mut am, into_id);
    R::set_version(&mut am, from.version() + 1);
    let merged = am.update(&txn).await?;
    let data = serde_json::json!({ "intoId": into_id, "appeals": appeals, "others": others });
    audit::record(&txn, caller, now, action, Some(format!("{}:{from_id}", R::KIND.noun())), Some(data)).await?;
    crate::store::reference::announce(&txn, R::subject(from_id), action, now).await?;
    crate::store::reference::announce(&txn, R::subject(into_id), action, now).await?;
    txn.commit().await?;
    // A merge moves people to the surviving recipient or territory: the people kept for
    // access tokens are read again (other processes drop theirs on hearing the merge).
    state.sessions.invalidate();
    refresh(state).await;
    Ok(Merged { from: Some(merged), into: Some(into), appeals, others })
}

fn not_found_at(e: AppError, path: &str) -> AppError {
    match e {
        AppError::NotFound(what) => {
            AppError::BadInput(vec![FieldError { path: path.into(), message: format!("no such {what}") }])
        }
        other => other,
    }
}

/// Two top-level categories merge only when their subcategories' names differ (a
/// subcategory would otherwise have a twin at its level): merge those subcategories first.
async fn same_named_children(txn: &DatabaseTransaction, from: i64, into: i64) -> AppResult<()> {
    let kids = category::Entity::find().filter(category::Column::ParentId.is_in([from, into])).all(txn).await?;
    let names: HashSet<&str> = kids.iter().filter(|c| c.parent_id == Some(into)).map(|c| c.name.as_str()).collect();
    if let Some(twin) = kids.iter().find(|c| c.parent_id == Some(from) && names.contains(c.name.as_str())) {
        return Err(AppError::Conflict(format!(
            "both categories have a subcategory «{}» (id {}); merge the subcategories first",
            twin.name, twin.id
        )));
    }
    Ok(())
}

/// Merges recipient `from` into `into` ([`merge`]).
///
/// # Errors
/// As [`merge`].
pub async fn merge_recipients(
    state: &AppState,
    caller: &Caller,
    from: RecipientId,
    into: RecipientId,
) -> AppResult<Merged<recipient::Model>> {
    let from = from.0;
    let into = into.0;
    merge(state, caller, from, into).await
}

/// Merges category `from` into `into` ([`merge`]); subcategories of a top-level `from`
/// move under `into`.
///
/// # Errors
/// As [`merge`].
pub async fn merge_categories(
    state: &AppState,
    caller: &Caller,
    from: CategoryId,
    into: CategoryId,
) -> AppResult<Merged<category::Model>> {
    let from = from.0;
    let into = into.0;
    merge(state, caller, from, into).await
}

/// Merges territory `from` into `into` ([`merge`]); its children move under `into`.
///
/// # Errors
/// As [`merge`].
pub async fn merge_territories(
    state: &AppState,
    caller: &Caller,
    from: TerritoryId,
    into: TerritoryId,
) -> AppResult<Merged<territory::Model>> {
    let from = from.0;
    let into = into.0;
    merge(state, caller, from, into).await
}

/// Ids an input refers to in the reference data.
#[derive(Debug, Clone, Copy, Default)]
pub struct Refs {
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub recipient_id: Option<i64>,
}

/// Adds an `input.<field>` error for every referenced row that does not exist or is not
/// active (deactivated or merged): no new assignment or classification goes to one.
pub async fn check_refs(conn: &impl ConnectionTrait, errors: &mut Vec<FieldError>, refs: Refs) -> AppResult<()> {
    if let Some(id) = refs.category_id {
        let row = category::Entity::find_by_id(id).one(conn).await?;
        usable(errors, "input.categoryId", Kind::Category, row.map(|r| (r.active, r.merged_into_id)));
    }
    if let Some(id) = refs.territory_id {
        let row = territory::Entity::find_by_id(id).one(conn).await?;
        usable(errors, "input.territoryId", Kind::Territory, row.map(|r| (r.active, r.merged_into_id)));
    }
    if let Some(id) = refs.recipient_id {
        let row = recipient::Entity::find_by_id(id).one(conn).await?;
        usable(errors, "input.recipientId", Kind::Recipient, row.map(|r| (r.active, r.merged_into_id)));
    }
    Ok(())
}

/// A row a new reference may point at: it exists and is active (a merged row names its
/// successor).
fn usable(errors: &mut Vec<FieldError>, path: &str, kind: Kind, row: Option<(bool, Option<i64>)>) {
    let noun = kind.noun();
    let message = match row {
        None => format!("no such {noun}"),
        Some((_, Some(into))) => format!("the {noun} was merged into {into}; use that one"),
        Some((false, None)) => format!("the {noun} is deactivated"),
        Some((true, None)) => return,
    };
    errors.push(FieldError { path: path.into(), message });
}
