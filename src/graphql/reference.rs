//! Reference data as clients see it: recipients, categories, territories.

use async_graphql::{ComplexObject, Context, ID, SimpleObject};

use crate::entity::{category, recipient, territory};
use crate::error::AppResult;
use crate::service::reference;

/// A department, municipal organisation or external body that answers appeals.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Recipient {
    pub id: ID,
    pub name: String,
    pub short_name: Option<String>,
    /// A body outside the administration (appeals to it are redirected, not assigned).
    pub external: bool,
    pub active: bool,
    pub version: i32,
    #[graphql(skip)]
    pub parent_id: Option<i64>,
}

impl From<&recipient::Model> for Recipient {
    fn from(m: &recipient::Model) -> Self {
        Self::from(m.clone())
    }
}

impl From<recipient::Model> for Recipient {
    fn from(m: recipient::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            name: m.name,
            short_name: m.short_name,
            external: m.external,
            active: m.active,
            version: m.version,
            parent_id: m.parent_id,
        }
    }
}

#[ComplexObject]
impl Recipient {
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Recipient>> {
        Ok(load_recipient(ctx, self.parent_id).await?)
    }
}

/// A territory: municipality → settlement → district, with population and centre.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Territory {
    pub id: ID,
    pub name: String,
    pub code: Option<String>,
    pub population: Option<i32>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub version: i32,
    #[graphql(skip)]
    pub parent_id: Option<i64>,
}

impl From<&territory::Model> for Territory {
    fn from(m: &territory::Model) -> Self {
        Self::from(m.clone())
    }
}

impl From<territory::Model> for Territory {
    fn from(m: territory::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            name: m.name,
            code: m.code,
            population: m.population,
            latitude: m.latitude,
            longitude: m.longitude,
            version: m.version,
            parent_id: m.parent_id,
        }
    }
}

#[ComplexObject]
impl Territory {
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Territory>> {
        Ok(load_territory(ctx, self.parent_id).await?)
    }
}

/// A topic of the two-level rubricator.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Category {
    pub id: ID,
    pub name: String,
    pub version: i32,
    #[graphql(skip)]
    pub parent_id: Option<i64>,
    #[graphql(skip)]
    pub default_recipient_id: Option<i64>,
}

impl From<&category::Model> for Category {
    fn from(m: &category::Model) -> Self {
        Self::from(m.clone())
    }
}

impl From<category::Model> for Category {
    fn from(m: category::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            name: m.name,
            version: m.version,
            parent_id: m.parent_id,
            default_recipient_id: m.default_recipient_id,
        }
    }
}

#[ComplexObject]
impl Category {
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Category>> {
        Ok(load_category(ctx, self.parent_id).await?)
    }

    /// Subcategories.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn children(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Category>> {
        let id: i64 = self.id.parse().unwrap_or_default();
        let refs = reference::snapshot(super::state(ctx)).await?;
        Ok(refs.category_children(id).map(Category::from).collect())
    }

    /// The recipient appeals on this topic go to unless routed otherwise.
    async fn default_recipient(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Recipient>> {
        Ok(load_recipient(ctx, self.default_recipient_id).await?)
    }
}

/// A recipient from the reference data in memory.
pub async fn load_recipient(ctx: &Context<'_>, id: Option<i64>) -> AppResult<Option<Recipient>> {
    let Some(id) = id else { return Ok(None) };
    let refs = reference::snapshot_with(super::state(ctx), Some(id), None, None).await?;
    Ok(refs.recipient(id).map(Recipient::from))
}

/// A territory from the reference data in memory.
pub async fn load_territory(ctx: &Context<'_>, id: Option<i64>) -> AppResult<Option<Territory>> {
    let Some(id) = id else { return Ok(None) };
    let refs = reference::snapshot_with(super::state(ctx), None, None, Some(id)).await?;
    Ok(refs.territory(id).map(Territory::from))
}

/// A category from the reference data in memory.
pub async fn load_category(ctx: &Context<'_>, id: Option<i64>) -> AppResult<Option<Category>> {
    let Some(id) = id else { return Ok(None) };
    let refs = reference::snapshot_with(super::state(ctx), None, Some(id), None).await?;
    Ok(refs.category(id).map(Category::from))
}

#[derive(async_graphql::InputObject)]
pub struct RecipientInput {
    pub name: String,
    pub short_name: Option<String>,
    pub parent_id: Option<ID>,
    /// A body outside the administration.
    pub external: Option<bool>,
}

#[derive(async_graphql::InputObject)]
pub struct CategoryInput {
    pub name: String,
    /// A top-level category (the rubricator has two levels).
    pub parent_id: Option<ID>,
    pub default_recipient_id: Option<ID>,
}

#[derive(async_graphql::InputObject)]
pub struct UpdateRecipientInput {
    pub id: ID,
    pub version: i32,
    pub name: Option<String>,
    pub short_name: Option<String>,
    pub external: Option<bool>,
    pub active: Option<bool>,
}

#[derive(async_graphql::InputObject)]
pub struct UpdateCategoryInput {
    pub id: ID,
    pub version: i32,
    pub name: Option<String>,
    pub default_recipient_id: Option<ID>,
}

#[derive(async_graphql::InputObject)]
pub struct UpdateTerritoryInput {
    pub id: ID,
    pub version: i32,
    pub name: Option<String>,
    pub code: Option<String>,
    pub population: Option<i32>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(async_graphql::InputObject)]
pub struct TerritoryInput {
    pub name: String,
    pub code: Option<String>,
    pub parent_id: Option<ID>,
    pub population: Option<i32>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// Reference data queries.
#[derive(Default)]
pub struct ReferenceQuery;

#[async_graphql::Object]
impl ReferenceQuery {
    /// All recipients (departments, organisations, external bodies).
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn recipients(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Recipient>> {
        Ok(reference::recipients(super::state(ctx)).await?.into_iter().map(Recipient::from).collect())
    }

    /// All categories of both levels (top-level ones have no parent).
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn categories(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Category>> {
        Ok(reference::categories(super::state(ctx)).await?.into_iter().map(Category::from).collect())
    }

    /// All territories.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn territories(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Territory>> {
        Ok(reference::territories(super::state(ctx)).await?.into_iter().map(Territory::from).collect())
    }
}

/// Reference data mutations (ADMIN, CURATOR).
#[derive(Default)]
pub struct ReferenceMutation;

#[async_graphql::Object]
impl ReferenceMutation {
    async fn create_recipient(&self, ctx: &Context<'_>, input: RecipientInput) -> async_graphql::Result<Recipient> {
        let new = reference::NewRecipient {
            name: input.name,
            short_name: input.short_name,
            parent_id: super::parse_opt_id("input.parentId", input.parent_id.as_ref())?,
            external: input.external.unwrap_or(false),
        };
        Ok(reference::create_recipient(super::state(ctx), super::caller(ctx), new).await?.into())
    }

    async fn create_category(&self, ctx: &Context<'_>, input: CategoryInput) -> async_graphql::Result<Category> {
        let new = reference::NewCategory {
            name: input.name,
            parent_id: super::parse_opt_id("input.parentId", input.parent_id.as_ref())?,
            default_recipient_id: super::parse_opt_id("input.defaultRecipientId", input.default_recipient_id.as_ref())?,
        };
        Ok(reference::create_category(super::state(ctx), super::caller(ctx), new).await?.into())
    }

    async fn create_territory(&self, ctx: &Context<'_>, input: TerritoryInput) -> async_graphql::Result<Territory> {
        let new = reference::NewTerritory {
            name: input.name,
            code: input.code,
            parent_id: super::parse_opt_id("input.parentId", input.parent_id.as_ref())?,
            population: input.population,
            latitude: input.latitude,
            longitude: input.longitude,
        };
        Ok(reference::create_territory(super::state(ctx), super::caller(ctx), new).await?.into())
    }

    /// Renames a recipient or changes its short name, kind or activity.
    async fn update_recipient(
        &self,
        ctx: &Context<'_>,
        input: UpdateRecipientInput,
    ) -> async_graphql::Result<Recipient> {
        let id = super::parse_id("input.id", &input.id)?;
        let ch = reference::RecipientChanges {
            name: input.name,
            short_name: input.short_name,
            external: input.external,
            active: input.active,
        };
        let (state, caller) = (super::state(ctx), super::caller(ctx));
        Ok(reference::update_recipient(state, caller, id, input.version, ch).await?.into())
    }

    /// Renames a category or changes its default recipient.
    async fn update_category(&self, ctx: &Context<'_>, input: UpdateCategoryInput) -> async_graphql::Result<Category> {
        let id = super::parse_id("input.id", &input.id)?;
        let ch = reference::CategoryChanges {
            name: input.name,
            default_recipient_id: super::parse_opt_id("input.defaultRecipientId", input.default_recipient_id.as_ref())?,
        };
        let (state, caller) = (super::state(ctx), super::caller(ctx));
        Ok(reference::update_category(state, caller, id, input.version, ch).await?.into())
    }

    /// Renames a territory or changes its code, population or centre.
    async fn update_territory(
        &self,
        ctx: &Context<'_>,
        input: UpdateTerritoryInput,
    ) -> async_graphql::Result<Territory> {
        let id = super::parse_id("input.id", &input.id)?;
        let ch = reference::TerritoryChanges {
            name: input.name,
            code: input.code,
            population: input.population,
            latitude: input.latitude,
            longitude: input.longitude,
        };
        let (state, caller) = (super::state(ctx), super::caller(ctx));
        Ok(reference::update_territory(state, caller, id, input.version, ch).await?.into())
    }
}
