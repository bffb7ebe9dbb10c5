//! One DataLoader per relation read from the database (reference data is in memory),
//! created per request, so a page costs a constant number of statements whatever its size.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::DatabaseConnection;

use crate::domain::attachments::TargetKind;
use crate::domain::conflicts::ConflictFlag;
use crate::entity::{
    appeal, appeal_answer, appeal_event, appeal_task, attachment, cur_request_material, poll_comment, practice, user,
};
use crate::error::AppError;
use crate::store::batch;

macro_rules! by_id_loader {
    ($name:ident, $entity:ident, $read:ident) => {
        /// Loads rows by primary key in one statement per batch.
        pub struct $name(pub DatabaseConnection);

        impl Loader<i64> for $name {
            type Value = $entity::Model;
            type Error = Arc<AppError>;

            async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
                let rows = batch::$read(&self.0, keys).await.map_err(Arc::new)?;
                Ok(rows.into_iter().map(|r| (r.id, r)).collect())
            }
        }
    };
}

by_id_loader!(UserLoader, user, users);
by_id_loader!(AppealLoader, appeal, appeals);

/// Loads the history of many appeals in one statement.
pub struct AppealEventsLoader(pub DatabaseConnection);

impl Loader<i64> for AppealEventsLoader {
    type Value = Vec<appeal_event::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = batch::appeal_events(&self.0, keys).await.map_err(Arc::new)?;
        let mut out: HashMap<i64, Self::Value> = HashMap::new();
        for r in rows {
            out.entry(r.appeal_id).or_default().push(r);
        }
        Ok(out)
    }
}

/// Groups rows under their parent's key, keeping their order.
fn grouped<V>(rows: impl IntoIterator<Item = (i64, V)>) -> HashMap<i64, Vec<V>> {
    let mut out: HashMap<i64, Vec<V>> = HashMap::new();
    for (key, row) in rows {
        out.entry(key).or_default().push(row);
    }
    out
}

/// Loads the tasks of many appeals in one statement.
pub struct AppealTasksLoader(pub DatabaseConnection);

impl Loader<i64> for AppealTasksLoader {
    type Value = Vec<appeal_task::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = crate::store::tasks::of_appeals(&self.0, keys).await.map_err(Arc::new)?;
        Ok(grouped(rows.into_iter().map(|r| (r.appeal_id, r))))
    }
}

/// Loads the practices linked to many roadmaps in two statements.
pub struct RoadmapPracticesLoader(pub DatabaseConnection);

impl Loader<i64> for RoadmapPracticesLoader {
    type Value = Vec<practice::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = crate::service::practices::of_roadmaps(&self.0, keys).await.map_err(Arc::new)?;
        Ok(grouped(rows))
    }
}

/// Loads the discussion comments of many polls (hidden ones included), oldest first, in one
/// statement; the resolver leaves hidden ones out for those who may not see them.
pub struct PollCommentsLoader(pub DatabaseConnection);

impl Loader<i64> for PollCommentsLoader {
    type Value = Vec<poll_comment::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = crate::service::polls::comments_of(&self.0, keys).await.map_err(Arc::new)?;
        Ok(grouped(rows.into_iter().map(|c| (c.poll_id, c))))
    }
}

/// Loads the materials of many ЦУР requests in one statement.
pub struct CurMaterialsLoader(pub DatabaseConnection);

impl Loader<i64> for CurMaterialsLoader {
    type Value = Vec<cur_request_material::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = crate::service::cur_requests::materials_of(&self.0, keys).await.map_err(Arc::new)?;
        Ok(grouped(rows.into_iter().map(|r| (r.request_id, r))))
    }
}

/// Loads the answers of many appeals in one statement.
pub struct AppealAnswersLoader(pub DatabaseConnection);

impl Loader<i64> for AppealAnswersLoader {
    type Value = Vec<appeal_answer::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = batch::appeal_answers(&self.0, keys).await.map_err(Arc::new)?;
        let mut out: HashMap<i64, Self::Value> = HashMap::new();
        for r in rows {
            out.entry(r.appeal_id).or_default().push(r);
        }
        Ok(out)
    }
}

/// Loads the communication-conflict flags of many appeals in one statement.
pub struct ConflictFlagsLoader(pub DatabaseConnection);

impl Loader<i64> for ConflictFlagsLoader {
    type Value = Vec<ConflictFlag>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = crate::service::conflicts::flagged(&self.0, crate::service::conflicts::Which::Ids(keys))
            .await
            .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (r.appeal_id, r.flags)).collect())
    }
}

/// Loads the attachments of many objects in one statement per kind of object.
pub struct AttachmentsLoader(pub DatabaseConnection);

impl Loader<(TargetKind, i64)> for AttachmentsLoader {
    type Value = Vec<attachment::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[(TargetKind, i64)]) -> Result<HashMap<(TargetKind, i64), Self::Value>, Self::Error> {
        let mut by_kind: HashMap<TargetKind, Vec<i64>> = HashMap::new();
        for (kind, id) in keys {
            by_kind.entry(*kind).or_default().push(*id);
        }
        let mut out: HashMap<(TargetKind, i64), Self::Value> = HashMap::new();
        for (kind, ids) in by_kind {
            let rows = crate::service::attachments::of_targets(&self.0, kind, &ids).await.map_err(Arc::new)?;
            for r in rows {
                out.entry((kind, r.target_id)).or_default().push(r);
            }
        }
        Ok(out)
    }
}

macro_rules! loaders {
    ($($field:ident: $loader:ident),* $(,)?) => {
        /// The loaders of one request. Recipients, categories and territories come from the
        /// reference data in memory (`service::reference::snapshot`), not from loaders.
        ///
        /// Each loader is made when a field first asks for it: most requests use none or one,
        /// and making all ten for every request cost twenty allocations and as many reference
        /// counts.
        pub struct Loaders {
            db: DatabaseConnection,
            $($field: OnceLock<DataLoader<$loader>>,)*
        }

        impl Loaders {
            /// Fresh loaders (no cache shared between requests or callers).
            pub fn new(db: &DatabaseConnection) -> Self {
                Self { db: db.clone(), $($field: OnceLock::new(),)* }
            }

            $(
                #[doc = concat!("The request's `", stringify!($loader), "`.")]
                pub fn $field(&self) -> &DataLoader<$loader> {
                    self.$field.get_or_init(|| DataLoader::new($loader(self.db.clone()), tokio::spawn))
                }
            )*
        }
    };
}

loaders!(
    users: UserLoader,
    appeals: AppealLoader,
    appeal_events: AppealEventsLoader,
    appeal_tasks: AppealTasksLoader,
    roadmap_practices: RoadmapPracticesLoader,
    cur_materials: CurMaterialsLoader,
    appeal_answers: AppealAnswersLoader,
    conflict_flags: ConflictFlagsLoader,
    poll_comments: PollCommentsLoader,
    attachments: AttachmentsLoader,
);
