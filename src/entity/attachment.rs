//! `attachments`: a file attached to an appeal, a roadmap, a meeting or a ЦУР request.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// A [`crate::domain::attachments::TargetKind`].
    pub target_kind: String,
    pub target_id: i64,
    /// A [`crate::domain::attachments::AttachmentRole`].
    pub role: String,
    /// The original name, as the uploader's system gave it (without its path).
    pub file_name: String,
    /// The media type told by the content.
    pub content_type: String,
    /// Bytes stored (after metadata was stripped from a picture).
    pub size: i64,
    /// Where the bytes are in the file storage.
    #[sea_orm(unique)]
    pub object_key: String,
    /// The thumbnail of a picture, in the file storage.
    pub thumbnail_key: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
