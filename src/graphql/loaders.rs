//! One DataLoader per relation, created per request, so a page costs a constant number of
//! statements whatever its size.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::entity::{appeal, appeal_event, category, recipient, territory, user};
use crate::error::AppError;

macro_rules! by_id_loader {
    ($name:ident, $entity:ident) => {
        /// Loads rows by primary key in one statement per batch.
        pub struct $name(pub DatabaseConnection);

        impl Loader<i64> for $name {
            type Value = $entity::Model;
            type Error = Arc<AppError>;

            async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
                let rows = $entity::Entity::find()
                    .filter($entity::Column::Id.is_in(keys.iter().copied()))
                    .all(&self.0)
                    .await
                    .map_err(|e| Arc::new(AppError::from(e)))?;
                Ok(rows.into_iter().map(|r| (r.id, r)).collect())
            }
        }
    };
}

by_id_loader!(RecipientLoader, recipient);
by_id_loader!(TerritoryLoader, territory);
by_id_loader!(CategoryLoader, category);
by_id_loader!(UserLoader, user);
by_id_loader!(AppealLoader, appeal);

/// Loads the subcategories of many categories in one statement.
pub struct CategoryChildrenLoader(pub DatabaseConnection);

impl Loader<i64> for CategoryChildrenLoader {
    type Value = Vec<category::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = category::Entity::find()
            .filter(category::Column::ParentId.is_in(keys.iter().copied()))
            .order_by_asc(category::Column::Name)
            .all(&self.0)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut out: HashMap<i64, Self::Value> = HashMap::new();
        for r in rows {
            if let Some(p) = r.parent_id {
                out.entry(p).or_default().push(r);
            }
        }
        Ok(out)
    }
}

/// Loads the history of many appeals in one statement.
pub struct AppealEventsLoader(pub DatabaseConnection);

impl Loader<i64> for AppealEventsLoader {
    type Value = Vec<appeal_event::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = appeal_event::Entity::find()
            .filter(appeal_event::Column::AppealId.is_in(keys.iter().copied()))
            .order_by_asc(appeal_event::Column::Id)
            .all(&self.0)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut out: HashMap<i64, Self::Value> = HashMap::new();
        for r in rows {
            out.entry(r.appeal_id).or_default().push(r);
        }
        Ok(out)
    }
}

/// The loaders of one request.
pub struct Loaders {
    /// Reference rows are cached for the request, so that a page read with its references
    /// joined ([`crate::service::appeal_query::list`]) can feed them in.
    pub recipients: DataLoader<RecipientLoader, HashMapCache>,
    pub territories: DataLoader<TerritoryLoader, HashMapCache>,
    pub categories: DataLoader<CategoryLoader, HashMapCache>,
    pub users: DataLoader<UserLoader>,
    pub category_children: DataLoader<CategoryChildrenLoader>,
    pub appeals: DataLoader<AppealLoader>,
    pub appeal_events: DataLoader<AppealEventsLoader>,
}

impl Loaders {
    /// Fresh loaders (no cache shared between requests or callers).
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            recipients: DataLoader::with_cache(RecipientLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            territories: DataLoader::with_cache(TerritoryLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            categories: DataLoader::with_cache(CategoryLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            users: DataLoader::new(UserLoader(db.clone()), tokio::spawn),
            category_children: DataLoader::new(CategoryChildrenLoader(db.clone()), tokio::spawn),
            appeals: DataLoader::new(AppealLoader(db.clone()), tokio::spawn),
            appeal_events: DataLoader::new(AppealEventsLoader(db.clone()), tokio::spawn),
        }
    }
}
