//! `poll_codes`: one-time codes sent to a citizen's contact for a ballot in an OPEN poll with
//! `CONTACT_CODE` verification; the contact and the code are stored only as SHA-256 hashes.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "poll_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub poll_id: i64,
    /// The poll-scoped hash of the normalised contact (also the ballot's respondent hash).
    pub contact_hash: String,
    pub code_hash: String,
    /// Wrong codes tried against it.
    pub attempts: i32,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
