//! Attachments: the `Attachment` object, `addAttachment` (GraphQL multipart request spec) and
//! `deleteAttachment`, and the `attachments` lists of appeals, roadmaps, meetings and ЦУР
//! requests (one statement per kind of object for a whole page).

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::{caller, parse_id, state};
use crate::domain::attachments::{AttachmentRole, TargetKind};
use crate::entity::attachment;
use crate::error::{AppError, AppResult};
use crate::service::attachments as svc;

/// A file attached to an appeal, a roadmap, a meeting or a request of the regional centre.
pub struct Attachment(pub attachment::Model);

#[Object]
impl Attachment {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The original name (without the uploader's path).
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }
    /// The media type, told by the file's content (never by its name).
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }
    /// Bytes stored (a picture's after its metadata was removed).
    async fn size(&self) -> i32 {
        i32::try_from(self.0.size).unwrap_or(i32::MAX)
    }
    /// Where to download it (`GET`, with the same Bearer header as the API).
    async fn url(&self) -> String {
        format!("/files/{}", self.0.id)
    }
    /// A JPEG of at most 256 pixels a side, for pictures the server could read.
    async fn thumbnail_url(&self) -> Option<String> {
        self.0.thumbnail_key.as_ref().map(|_| format!("/files/{}/thumbnail", self.0.id))
    }
    /// Whose file it is: an appeal's author's or its answer's (AUTHOR for other objects).
    async fn role(&self) -> AppResult<AttachmentRole> {
        AttachmentRole::parse(&self.0.role).ok_or_else(|| AppError::Internal("unknown attachment role".into()))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The attachments of one object for the viewer: none when the viewer may not read the files
/// of such objects.
pub async fn of(ctx: &Context<'_>, kind: TargetKind, id: i64) -> AppResult<Vec<Attachment>> {
    if !svc::may_list(&caller(ctx).principal, kind) {
        return Ok(Vec::new());
    }
    of_with(ctx.data_unchecked::<super::loaders::Loaders>(), kind, id).await
}

/// The attachments of one object through these loaders.
pub async fn of_with(loaders: &super::loaders::Loaders, kind: TargetKind, id: i64) -> AppResult<Vec<Attachment>> {
    let rows =
        loaders.attachments().load_one((kind, id)).await.map_err(std::sync::Arc::unwrap_or_clone)?.unwrap_or_default();
    Ok(rows.into_iter().map(Attachment).collect())
}

#[derive(Default)]
pub struct AttachmentMutation;

#[Object]
impl AttachmentMutation {
    /// Attaches a file (GraphQL multipart request spec) to `appeal:ID`, `roadmap:ID`,
    /// `meeting:ID` or `curRequest:ID`. Accepted by content: JPEG, PNG, WebP, HEIC, PDF, DOCX,
    /// XLSX, ODT; pictures lose their EXIF/XMP metadata (with GPS) and get a thumbnail. An
    /// appeal's author's files (`role: AUTHOR`, the default) are attached by those who route
    /// the appeal, its answer's (`ANSWER`) by those who may answer it; a roadmap's and a ЦУР
    /// request's by curators and coordinators, a meeting's by curators and the Head.
    async fn add_attachment(
        &self,
        ctx: &Context<'_>,
        target: ID,
        file: async_graphql::Upload,
        role: Option<AttachmentRole>,
    ) -> AppResult<Attachment> {
        // The multipart layer spooled the upload to a temporary file: it is read from there.
        let upload = file.value(ctx).map_err(|_| AppError::bad("file", "the upload could not be read"))?;
        let incoming = svc::Incoming { file_name: upload.filename, content: upload.content };
        let row = svc::add(state(ctx), caller(ctx), &target, role.unwrap_or(AttachmentRole::Author), incoming).await?;
        Ok(Attachment(row))
    }

    /// Deletes an attachment and its stored files, under the rule of attaching it.
    async fn delete_attachment(&self, ctx: &Context<'_>, id: ID) -> AppResult<bool> {
        let id = parse_id("id", &id)?;
        svc::delete(state(ctx), caller(ctx), id).await?;
        Ok(true)
    }
}
