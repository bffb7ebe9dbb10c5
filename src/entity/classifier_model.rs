//! `classifier_models`: the trained topic classifier, so a restart does not retrain.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "classifier_models")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Identifies the training data (count and last id of categorised appeals).
    pub fingerprint: i64,
    pub documents: i32,
    pub top1: Option<f64>,
    pub top3: Option<f64>,
    /// The model as JSON.
    pub model: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
