//! Reference data: recipients, the two-level category rubricator, the territory tree.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::{Caller, audit};
use crate::entity::{category, recipient, territory};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;

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
    txn.commit().await?;
    Ok(m)
}

/// Creates a category; a subcategory's parent must be a top-level category (two levels).
pub async fn create_category(state: &AppState, caller: &Caller, new: NewCategory) -> AppResult<category::Model> {
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
    txn.commit().await?;
    Ok(m)
}

/// Creates a territory.
pub async fn create_territory(state: &AppState, caller: &Caller, new: NewTerritory) -> AppResult<territory::Model> {
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
    txn.commit().await?;
    Ok(m)
}

/// All recipients by name.
pub async fn recipients(conn: &impl ConnectionTrait) -> AppResult<Vec<recipient::Model>> {
    Ok(recipient::Entity::find().order_by_asc(recipient::Column::Name).all(conn).await?)
}

/// All categories, top level first, by name.
pub async fn categories(conn: &impl ConnectionTrait) -> AppResult<Vec<category::Model>> {
    Ok(category::Entity::find().order_by_asc(category::Column::Name).all(conn).await?)
}

/// All territories by name.
pub async fn territories(conn: &impl ConnectionTrait) -> AppResult<Vec<territory::Model>> {
    Ok(territory::Entity::find().order_by_asc(territory::Column::Name).all(conn).await?)
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
