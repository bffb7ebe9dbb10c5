//! Reference data as clients see it: recipients, categories, territories.

use crate::domain::appeal::{CategoryId, RecipientId, TerritoryId};
use async_graphql::{ComplexObject, Context, ID, SimpleObject};

use crate::entity::{category, recipient, territory};
use crate::error::AppResult;
use crate::service::reference;
use crate::state::ReferenceData;

// The reference objects resolve their fields one after another (`serial`), as `AppealEdge`
// does: a page shows three of them an appeal, and async-graphql would otherwise give each
// one a `FuturesUnordered` of its fields.
/// A department, municipal organisation or external body that answers appeals.
#[derive(SimpleObject, Clone)]
#[graphql(complex, serial)]
pub struct Recipient {
    pub id: ID,
    pub name: String,
    pub short_name: Option<String>,
    /// A body outside the administration (appeals to it are redirected, not assigned).
    pub external: bool,
    /// Takes new assignments (a deactivated or merged recipient keeps its appeals and history).
    pub active: bool,
    /// The recipient this one was merged into (its appeals moved there).
    pub merged_into_id: Option<ID>,
    pub version: i32,
    #[graphql(skip)]
    pub parent_id: Option<i64>,
}

impl From<recipient::Model> for Recipient {
    fn from(m: recipient::Model) -> Self {
        Self::from(&m)
    }
}

// From the reference data in memory, for every name a page shows: only the fields the type
// has are copied (not the whole row first).
impl From<&recipient::Model> for Recipient {
    fn from(m: &recipient::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            name: m.name.clone(),
            short_name: m.short_name.clone(),
            external: m.external,
            active: m.active,
            merged_into_id: m.merged_into_id.map(|i| ID(i.to_string())),
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
#[graphql(complex, serial)]
pub struct Territory {
    pub id: ID,
    pub name: String,
    pub code: Option<String>,
    pub population: Option<i32>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// New appeals, users, roadmaps and polls may be placed here.
    pub active: bool,
    /// The territory this one was merged into.
    pub merged_into_id: Option<ID>,
    pub version: i32,
    #[graphql(skip)]
    pub parent_id: Option<i64>,
}

impl From<territory::Model> for Territory {
    fn from(m: territory::Model) -> Self {
        Self::from(&m)
    }
}

impl From<&territory::Model> for Territory {
    fn from(m: &territory::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            name: m.name.clone(),
            code: m.code.clone(),
            population: m.population,
            latitude: m.latitude,
            longitude: m.longitude,
            active: m.active,
            merged_into_id: m.merged_into_id.map(|i| ID(i.to_string())),
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
#[graphql(complex, serial)]
pub struct Category {
    pub id: ID,
    pub name: String,
    /// Appeals, roadmaps and polls may be newly classified here.
    pub active: bool,
    /// The category this one was merged into.
    pub merged_into_id: Option<ID>,
    pub version: i32,
    #[graphql(skip)]
    pub parent_id: Option<i64>,
    #[graphql(skip)]
    pub default_recipient_id: Option<i64>,
}

impl From<category::Model> for Category {
    fn from(m: category::Model) -> Self {
        Self::from(&m)
    }
}

impl From<&category::Model> for Category {
    fn from(m: &category::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            name: m.name.clone(),
            active: m.active,
            merged_into_id: m.merged_into_id.map(|i| ID(i.to_string())),
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

/// The three kinds of reference data.
#[derive(Clone, Copy)]
enum Reference {
    Recipient,
    Category,
    Territory,
}

/// An object of the reference data in memory: found in the current copy with one lookup (a
/// page asks for three names an appeal), otherwise through [`reference::snapshot_with`],
/// which reads the data again when it is stale or lacks the id.
async fn from_reference<T>(
    ctx: &Context<'_>,
    id: Option<i64>,
    kind: Reference,
    pick: fn(&ReferenceData, i64) -> Option<T>,
) -> AppResult<Option<T>> {
    let Some(id) = id else { return Ok(None) };
    let state = super::state(ctx);
    if let Some(refs) = state.reference.fresh()
        && let Some(found) = pick(&refs, id)
    {
        return Ok(Some(found));
    }
    let (recipient, category, territory) = match kind {
        Reference::Recipient => (Some(id), None, None),
        Reference::Category => (None, Some(id), None),
        Reference::Territory => (None, None, Some(id)),
    };
    let refs = reference::snapshot_with(state, recipient, category, territory).await?;
    Ok(pick(&refs, id))
}

/// A recipient from the reference data in memory.
pub async fn load_recipient(ctx: &Context<'_>, id: Option<i64>) -> AppResult<Option<Recipient>> {
    from_reference(ctx, id, Reference::Recipient, |refs, id| refs.recipient(id).map(Recipient::from)).await
}

/// A territory from the reference data in memory.
pub async fn load_territory(ctx: &Context<'_>, id: Option<i64>) -> AppResult<Option<Territory>> {
    from_reference(ctx, id, Reference::Territory, |refs, id| refs.territory(id).map(Territory::from)).await
}

/// A category from the reference data in memory.
pub async fn load_category(ctx: &Context<'_>, id: Option<i64>) -> AppResult<Option<Category>> {
    from_reference(ctx, id, Reference::Category, |refs, id| refs.category(id).map(Category::from)).await
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
    /// `false` deactivates the recipient: no new assignments; history unchanged.
    pub active: Option<bool>,
}

/// Which row merges into which (`fromId` keeps its name in history and becomes inactive).
#[derive(async_graphql::InputObject)]
pub struct MergeInput {
    pub from_id: ID,
    pub into_id: ID,
}

/// What a merge did: the merged row (inactive, `mergedIntoId` set), the row that took its
/// appeals, and how many appeals and other rows (users, roadmaps, measures, polls,
/// practices, children) moved.
#[derive(SimpleObject)]
#[graphql(concrete(name = "RecipientMerge", params(Recipient)))]
#[graphql(concrete(name = "CategoryMerge", params(Category)))]
#[graphql(concrete(name = "TerritoryMerge", params(Territory)))]
pub struct Merge<T: async_graphql::OutputType> {
    pub from: Option<T>,
    pub into: Option<T>,
    pub appeals_moved: i64,
    pub others_moved: i64,
}

impl<M, T: async_graphql::OutputType + From<M>> From<reference::Merged<M>> for Merge<T> {
    fn from(m: reference::Merged<M>) -> Self {
        Self {
            from: m.from.map(T::from),
            into: m.into.map(T::from),
            appeals_moved: i64::try_from(m.appeals).unwrap_or(i64::MAX),
            others_moved: i64::try_from(m.others).unwrap_or(i64::MAX),
        }
    }
}

fn merge_ids(input: &MergeInput) -> AppResult<(i64, i64)> {
    Ok((super::parse_id("input.fromId", &input.from_id)?, super::parse_id("input.intoId", &input.into_id)?))
}

#[derive(async_graphql::InputObject)]
pub struct UpdateCategoryInput {
    pub id: ID,
    pub version: i32,
    pub name: Option<String>,
    pub default_recipient_id: Option<ID>,
    /// `false` deactivates the category: no new classification; history unchanged.
    pub active: Option<bool>,
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
    /// `false` deactivates the territory: nothing new is placed there; history unchanged.
    pub active: Option<bool>,
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
        Ok(reference::update_recipient(state, caller, RecipientId(id), input.version, ch).await?.into())
    }

    /// Renames a category or changes its default recipient.
    async fn update_category(&self, ctx: &Context<'_>, input: UpdateCategoryInput) -> async_graphql::Result<Category> {
        let id = super::parse_id("input.id", &input.id)?;
        let ch = reference::CategoryChanges {
            name: input.name,
            default_recipient_id: super::parse_opt_id("input.defaultRecipientId", input.default_recipient_id.as_ref())?,
            active: input.active,
        };
        let (state, caller) = (super::state(ctx), super::caller(ctx));
        Ok(reference::update_category(state, caller, CategoryId(id), input.version, ch).await?.into())
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
            active: input.active,
        };
        let (state, caller) = (super::state(ctx), super::caller(ctx));
        Ok(reference::update_territory(state, caller, TerritoryId(id), input.version, ch).await?.into())
    }

    /// Merges a recipient into another (a reorganisation): its appeals, users, measures,
    /// children and categories' default move there; it stays, inactive, in history.
    async fn merge_recipients(&self, ctx: &Context<'_>, input: MergeInput) -> async_graphql::Result<Merge<Recipient>> {
        let (from, into) = merge_ids(&input)?;
        Ok(reference::merge_recipients(super::state(ctx), super::caller(ctx), RecipientId(from), RecipientId(into))
            .await?
            .into())
    }

    /// Merges a category into one of its level: appeals (and suggestions), roadmaps, polls,
    /// practices and subcategories move there; it stays, inactive, in history.
    async fn merge_categories(&self, ctx: &Context<'_>, input: MergeInput) -> async_graphql::Result<Merge<Category>> {
        let (from, into) = merge_ids(&input)?;
        Ok(reference::merge_categories(super::state(ctx), super::caller(ctx), CategoryId(from), CategoryId(into))
            .await?
            .into())
    }

    /// Merges a territory into another: appeals, users, roadmaps, polls, practices and
    /// child territories move there; it stays, inactive, in history.
    async fn merge_territories(&self, ctx: &Context<'_>, input: MergeInput) -> async_graphql::Result<Merge<Territory>> {
        let (from, into) = merge_ids(&input)?;
        Ok(reference::merge_territories(super::state(ctx), super::caller(ctx), TerritoryId(from), TerritoryId(into))
            .await?
            .into())
    }
}
