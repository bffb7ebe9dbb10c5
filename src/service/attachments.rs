//! Files attached to appeals, roadmaps, meetings and requests of the regional centre: upload
//! (type told by content, size limits, metadata stripped from pictures, a thumbnail), listing,
//! download access, deletion and the sweep of stored files left without a row.
//!
//! Order of writes: the bytes are stored first, then the row is written in one transaction
//! with its audit entry; when that transaction fails the stored bytes are deleted at once, and
//! when the process dies in between, [`sweep`] deletes them later. Deleting a row deletes its
//! files after the commit (a failure there is also left to the sweep).

use std::io::{Read, Seek};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::scope::AppealScope;
use super::{Caller, audit};
use crate::domain::access::{Denied, Principal};
use crate::domain::appeal::AppealId;
use crate::domain::attachments::{self as rules, AttachmentRole, FileType, Sniffed, TargetKind};
use crate::entity::{attachment, attachment_fetch, cur_request, meeting, roadmap};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Where every attached file's key starts in the storage (the sweep lists this prefix only).
pub const KEY_PREFIX: &str = "attachments";

/// The suffix of a picture's thumbnail key.
const THUMBNAIL_SUFFIX: &str = ".thumb";

/// Longest side of a thumbnail in pixels.
pub const THUMBNAIL_SIDE: u32 = 256;

/// Largest picture decoded for a thumbnail, in pixels on a side and bytes of memory.
const MAX_DECODED_SIDE: u32 = 12_000;
const MAX_DECODED_BYTES: u64 = 256 * 1024 * 1024;

/// A file received for attaching: its name as given and the temporary file it was spooled to.
pub struct Incoming {
    pub file_name: String,
    pub content: std::fs::File,
}

fn refused(d: Denied) -> AppError {
    match d {
        Denied::Unauthenticated => AppError::Unauthenticated("sign in to use this operation".into()),
        Denied::Forbidden => AppError::Forbidden("you may not change the files of this object".into()),
    }
}

/// Checks that `caller` may attach (or remove) a file of `role` on the object: who may change
/// the object. An appeal: the author's files by those who route it (register, assign…), the
/// answer's by those who may answer it (its executor, its coordinator, the curator); others:
/// [`TargetKind::write_rule`]. An object the caller cannot see is `NOT_FOUND`.
async fn check_write(
    state: &AppState,
    conn: &impl ConnectionTrait,
    caller: &Caller,
    kind: TargetKind,
    id: i64,
    role: AttachmentRole,
) -> AppResult<()> {
    kind.write_rule().check(&caller.principal).map_err(refused)?;
    if kind != TargetKind::Appeal && role != AttachmentRole::Author {
        return Err(AppError::bad("role", "only an appeal's files have the role ANSWER"));
    }
    match kind {
        TargetKind::Appeal => {
            let scope = AppealScope::of(state, &caller.principal).await?;
            let a = super::appeals::load_visible(conn, &scope, AppealId(id)).await?;
            let allowed = match role {
                AttachmentRole::Author => scope.routes(&a),
                AttachmentRole::Answer => scope.answers(&a),
            };
            if !allowed {
                return Err(AppError::Forbidden(match role {
                    AttachmentRole::Author => "the author's files are attached by those who route the appeal".into(),
                    AttachmentRole::Answer => {
                        "the answer's files are attached by those who may answer the appeal".into()
                    }
                }));
            }
        }
        TargetKind::Roadmap | TargetKind::Meeting | TargetKind::CurRequest => exists(conn, kind, id).await?,
    }
    Ok(())
}

/// `NOT_FOUND` unless a roadmap, meeting or request with this id exists.
async fn exists(conn: &impl ConnectionTrait, kind: TargetKind, id: i64) -> AppResult<()> {
    let found = match kind {
        TargetKind::Roadmap => roadmap::Entity::find_by_id(id).one(conn).await?.is_some(),
        TargetKind::Meeting => meeting::Entity::find_by_id(id).one(conn).await?.is_some(),
        TargetKind::CurRequest => cur_request::Entity::find_by_id(id).one(conn).await?.is_some(),
        TargetKind::Appeal => true,
    };
    if found { Ok(()) } else { Err(AppError::NotFound(kind.prefix().into())) }
}

/// Checks that `caller` may list and download the files of the object: an appeal's by those
/// who handle it (they are personal data: the HEAD and tokens are refused), others by
/// [`TargetKind::read_rule`].
///
/// # Errors
/// `UNAUTHENTICATED`, `FORBIDDEN`, or `NOT_FOUND` for an appeal the caller cannot see.
pub async fn check_read(state: &AppState, caller: &Caller, kind: TargetKind, id: i64) -> AppResult<()> {
    kind.read_rule().check(&caller.principal).map_err(|d| match d {
        Denied::Unauthenticated => AppError::Unauthenticated("sign in to use this operation".into()),
        Denied::Forbidden => AppError::Forbidden("you may not read the files of this object".into()),
    })?;
    if kind == TargetKind::Appeal {
        let scope = AppealScope::of(state, &caller.principal).await?;
        let a = super::appeals::load_visible(&state.db, &scope, AppealId(id)).await?;
        if !scope.handles(&a) {
            return Err(AppError::Forbidden("an appeal's files are read by those who handle it".into()));
        }
    }
    Ok(())
}

/// The type of a spooled file, told by its content; `BAD_USER_INPUT` on `file` otherwise.
fn file_type(file: &mut std::fs::File) -> AppResult<FileType> {
    let refuse = || AppError::bad("file", "is not an accepted type (JPEG, PNG, WebP, PDF, DOCX, XLSX, ODT)");
    let mut head = [0u8; rules::SNIFF_BYTES];
    let mut got = 0;
    file.rewind().map_err(AppError::internal)?;
    while got < head.len() {
        let n = file.read(&mut head[got..]).map_err(AppError::internal)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let kind = match rules::sniff(&head[..got]) {
        // No crate here strips a HEIC photo's metadata, and its location is personal data.
        Sniffed::Known(FileType::Heic) => {
            return Err(AppError::bad(
                "file",
                "HEIC photos are not accepted: their location and camera data cannot be removed; send it as JPEG",
            ));
        }
        Sniffed::Known(t) => t,
        Sniffed::Zip => {
            file.rewind().map_err(AppError::internal)?;
            rules::zip_kind(std::io::BufReader::new(&mut *file)).ok_or_else(refuse)?
        }
        Sniffed::Refused => return Err(refuse()),
    };
    file.rewind().map_err(AppError::internal)?;
    Ok(kind)
}

/// A picture without its metadata, and its thumbnail if it could be drawn.
pub struct CleanPicture {
    pub bytes: Vec<u8>,
    pub thumbnail: Option<Vec<u8>>,
}

/// Removes EXIF (with GPS), XMP, IPTC, comments and text chunks from a JPEG, PNG or WebP
/// without decoding the picture (its pixels and quality stay as they were; the colour profile
/// is kept), and draws a JPEG thumbnail of at most [`THUMBNAIL_SIDE`] pixels a side.
///
/// # Errors
/// `BAD_USER_INPUT` on `file` when the container cannot be read.
pub fn clean_picture(kind: FileType, bytes: Vec<u8>) -> AppResult<CleanPicture> {
    use img_parts::{ImageEXIF, jpeg, png, webp};
    let unreadable = || AppError::bad("file", "is not a readable picture");
    let bytes = img_parts::Bytes::from(bytes);
    let cleaned: Vec<u8> = match kind {
        FileType::Jpeg => {
            let mut j = jpeg::Jpeg::from_bytes(bytes).map_err(|_| unreadable())?;
            // APP1: EXIF and XMP; APP13: Photoshop/IPTC; COM: comments.
            for marker in [jpeg::markers::APP1, jpeg::markers::APP13, jpeg::markers::COM] {
                j.remove_segments_by_marker(marker);
            }
            j.encoder().bytes().to_vec()
        }
        FileType::Png => {
            let mut p = png::Png::from_bytes(bytes).map_err(|_| unreadable())?;
            for chunk in [*b"eXIf", *b"tEXt", *b"zTXt", *b"iTXt", *b"tIME"] {
                p.remove_chunks_by_type(chunk);
            }
            p.encoder().bytes().to_vec()
        }
        FileType::Webp => {
            let mut w = webp::WebP::from_bytes(bytes).map_err(|_| unreadable())?;
            w.set_exif(None);
            w.remove_chunks_by_id(*b"XMP ");
            w.encoder().bytes().to_vec()
        }
        _ => return Err(unreadable()),
    };
    let thumbnail = thumbnail(&cleaned);
    Ok(CleanPicture { bytes: cleaned, thumbnail })
}

/// A JPEG thumbnail of a picture, or `None` when it cannot be decoded within the limits.
fn thumbnail(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let picture = reader.decode().ok()?;
    let small = picture.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&small).ok()?;
    Some(out.into_inner())
}

/// Attaches a file to `appeal:ID`, `roadmap:ID`, `meeting:ID` or `curRequest:ID`.
///
/// # Errors
/// `BAD_USER_INPUT` on `target`, `role` or `file` (empty, too large, not an accepted type, an
/// object whose files would pass the per-object limit); `FORBIDDEN` / `NOT_FOUND` as
/// [`check_write`]; `INTERNAL` when the storage fails (nothing is left then).
pub async fn add(
    state: &AppState,
    caller: &Caller,
    target: &str,
    role: AttachmentRole,
    incoming: Incoming,
) -> AppResult<attachment::Model> {
    let (kind, target_id) = rules::parse_target(target).map_err(|why| AppError::bad("target", why))?;
    check_write(state, &state.db, caller, kind, target_id, role).await?;
    store(state, caller, kind, target_id, role, incoming, true).await
}

/// Stores a file and writes its row; `checked`: the caller's access is checked again in the
/// row's transaction (the server's own fetches of ingested links are not held to a person's
/// rule).
async fn store(
    state: &AppState,
    caller: &Caller,
    kind: TargetKind,
    target_id: i64,
    role: AttachmentRole,
    incoming: Incoming,
    checked: bool,
) -> AppResult<attachment::Model> {
    let settings = &state.settings;
    let Incoming { file_name, mut content } = incoming;
    let file_name = rules::clean_name(&file_name);
    let size = content.metadata().map_err(AppError::internal)?.len();
    if size == 0 {
        return Err(AppError::bad("file", "is empty"));
    }
    if size > settings.attachment_max_bytes {
        return Err(AppError::bad("file", format!("is larger than {} bytes", settings.attachment_max_bytes)));
    }
    let (file_type, content) = tokio::task::spawn_blocking(move || file_type(&mut content).map(|t| (t, content)))
        .await
        .map_err(AppError::internal)??;
    let key = format!("{KEY_PREFIX}/{}", uuid::Uuid::new_v4().simple());
    let mut thumbnail_key = None;
    let stored_size = if file_type.is_readable_image() {
        let picture = tokio::task::spawn_blocking(move || {
            let mut content = content;
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            content.read_to_end(&mut bytes).map_err(AppError::internal)?;
            clean_picture(file_type, bytes)
        })
        .await
        .map_err(AppError::internal)??;
        let stored = picture.bytes.len() as u64;
        state.storage.put_bytes(&key, picture.bytes).await?;
        if let Some(thumb) = picture.thumbnail {
            let tkey = format!("{key}{THUMBNAIL_SUFFIX}");
            if let Err(e) = state.storage.put_bytes(&tkey, thumb).await {
                remove_objects(state, &key, None).await;
                return Err(e);
            }
            thumbnail_key = Some(tkey);
        }
        stored
    } else {
        state.storage.put_file(&key, content).await?;
        size
    };
    let row = async {
        let now = state.clock.now();
        let txn = crate::db::begin_write(&state.writer).await?;
        // Checked again in the transaction that writes the row: the object may have changed
        // (or gone) while the file was stored.
        if checked {
            check_write(state, &txn, caller, kind, target_id, role).await?;
        }
        let used = used_bytes(&txn, kind, target_id).await?;
        if used + stored_size > settings.attachment_max_object_bytes {
            return Err(AppError::bad(
                "file",
                format!(
                    "the files of this object would exceed {} bytes ({used} bytes attached already)",
                    settings.attachment_max_object_bytes
                ),
            ));
        }
        let row = attachment::ActiveModel {
            target_kind: Set(kind.as_str().to_string()),
            target_id: Set(target_id),
            role: Set(role.as_str().to_string()),
            file_name: Set(file_name.clone()),
            content_type: Set(file_type.media_type().to_string()),
            size: Set(stored_size as i64),
            object_key: Set(key.clone()),
            thumbnail_key: Set(thumbnail_key.clone()),
            created_by: Set(caller.principal.label()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let data = serde_json::json!({
            "attachmentId": row.id,
            "role": role,
            "contentType": row.content_type,
            "size": row.size,
        });
        let target = format!("{}:{target_id}", kind.prefix());
        audit::record(&txn, caller, now, "addAttachment", Some(target), Some(data)).await?;
        txn.commit().await?;
        Ok(row)
    }
    .await;
    if row.is_err() {
        remove_objects(state, &key, thumbnail_key.as_deref()).await;
    }
    row
}

/// Bytes attached to one object so far.
async fn used_bytes(conn: &impl ConnectionTrait, kind: TargetKind, id: i64) -> AppResult<u64> {
    // An object holds a handful of files: their sizes are added here, the same on both backends.
    let sizes: Vec<i64> = attachment::Entity::find()
        .select_only()
        .column(attachment::Column::Size)
        .filter(attachment::Column::TargetKind.eq(kind.as_str()))
        .filter(attachment::Column::TargetId.eq(id))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(sizes.into_iter().map(|v| u64::try_from(v).unwrap_or(0)).sum())
}

/// Deletes stored objects now; a failure is logged and left to the sweep.
async fn remove_objects(state: &AppState, key: &str, thumbnail: Option<&str>) {
    for k in std::iter::once(key).chain(thumbnail) {
        if let Err(e) = state.storage.delete(k).await {
            tracing::warn!(key = k, error = %e.message(), "could not delete a stored file; the sweep will");
        }
    }
}

fn target_of(row: &attachment::Model) -> AppResult<(TargetKind, AttachmentRole)> {
    let kind = TargetKind::parse(&row.target_kind)
        .ok_or_else(|| AppError::Internal(format!("unknown attachment target kind {}", row.target_kind)))?;
    let role = AttachmentRole::parse(&row.role)
        .ok_or_else(|| AppError::Internal(format!("unknown attachment role {}", row.role)))?;
    Ok((kind, role))
}

/// Deletes an attachment and its files, under the rule of attaching it.
///
/// # Errors
/// `NOT_FOUND` when there is no such attachment or its object is hidden from the caller;
/// `FORBIDDEN` as [`check_write`].
pub async fn delete(state: &AppState, caller: &Caller, id: i64) -> AppResult<()> {
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let row =
        attachment::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::NotFound("attachment".into()))?;
    let (kind, role) = target_of(&row)?;
    check_write(state, &txn, caller, kind, row.target_id, role).await?;
    attachment::Entity::delete_by_id(id).exec(&txn).await?;
    let data = serde_json::json!({ "attachmentId": id, "role": role, "size": row.size });
    let target = format!("{}:{}", kind.prefix(), row.target_id);
    audit::record(&txn, caller, now, "deleteAttachment", Some(target), Some(data)).await?;
    txn.commit().await?;
    remove_objects(state, &row.object_key, row.thumbnail_key.as_deref()).await;
    Ok(())
}

/// Deletes every attachment of an object and their files, in the caller's transaction for
/// the rows; the files are deleted by [`remove_files`] after it commits (for the deletion or
/// anonymisation of the owning object).
///
/// # Errors
/// A database error.
pub async fn delete_rows_of(
    conn: &impl ConnectionTrait,
    kind: TargetKind,
    id: i64,
) -> AppResult<Vec<attachment::Model>> {
    let rows = attachment::Entity::find()
        .filter(attachment::Column::TargetKind.eq(kind.as_str()))
        .filter(attachment::Column::TargetId.eq(id))
        .all(conn)
        .await?;
    attachment::Entity::delete_many()
        .filter(attachment::Column::TargetKind.eq(kind.as_str()))
        .filter(attachment::Column::TargetId.eq(id))
        .exec(conn)
        .await?;
    Ok(rows)
}

/// Deletes the files of rows deleted by [`delete_rows_of`] (after the commit).
pub async fn remove_files(state: &AppState, rows: &[attachment::Model]) {
    for r in rows {
        remove_objects(state, &r.object_key, r.thumbnail_key.as_deref()).await;
    }
}

/// An attachment the caller may download, with the appeal it belongs to when it is an
/// appeal's (such a read is of personal data and audited).
///
/// # Errors
/// `NOT_FOUND` for no such attachment or a hidden appeal; `UNAUTHENTICATED` / `FORBIDDEN` as
/// [`check_read`].
pub async fn readable(state: &AppState, caller: &Caller, id: i64) -> AppResult<attachment::Model> {
    let row = attachment::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound("attachment".into()))?;
    let (kind, _) = target_of(&row)?;
    check_read(state, caller, kind, row.target_id).await?;
    Ok(row)
}

/// The attachments of many objects of one kind, oldest first, in one statement.
///
/// # Errors
/// A database error.
pub async fn of_targets(
    conn: &impl ConnectionTrait,
    kind: TargetKind,
    ids: &[i64],
) -> AppResult<Vec<attachment::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(attachment::Entity::find()
        .filter(attachment::Column::TargetKind.eq(kind.as_str()))
        .filter(attachment::Column::TargetId.is_in(ids.iter().copied()))
        .order_by_asc(attachment::Column::Id)
        .all(conn)
        .await?)
}

/// Deletes stored files under [`KEY_PREFIX`] that no attachment row names and that were
/// written before `now - grace` (younger ones may belong to an upload in progress). Safe on
/// several processes at once: deleting is idempotent. Returns how many were deleted.
///
/// # Errors
/// When the storage or the database fails.
pub async fn sweep(state: &AppState, now: DateTime<Utc>) -> AppResult<usize> {
    let grace = chrono::Duration::from_std(state.settings.attachment_sweep_grace).unwrap_or(chrono::Duration::MAX);
    let before = now.checked_sub_signed(grace).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let keys = state.storage.keys_older_than(KEY_PREFIX, before).await?;
    let mut deleted = 0;
    for chunk in keys.chunks(500) {
        let named: Vec<(String, Option<String>)> = attachment::Entity::find()
            .select_only()
            .column(attachment::Column::ObjectKey)
            .column(attachment::Column::ThumbnailKey)
            .filter(
                Condition::any()
                    .add(attachment::Column::ObjectKey.is_in(chunk.iter().cloned()))
                    .add(attachment::Column::ThumbnailKey.is_in(chunk.iter().cloned())),
            )
            .into_tuple()
            .all(&state.db)
            .await?;
        let known: std::collections::HashSet<&str> =
            named.iter().flat_map(|(k, t)| std::iter::once(k.as_str()).chain(t.as_deref())).collect();
        for key in chunk.iter().filter(|k| !known.contains(k.as_str())) {
            state.storage.delete(key).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Whether `principal` may read the files of objects of `kind` at all (for lists: an object
/// whose files the viewer may not read shows none).
pub fn may_list(principal: &Principal, kind: TargetKind) -> bool {
    kind.read_rule().check(principal).is_ok()
}

/// Status of a link waiting to be fetched.
const PENDING: &str = "PENDING";

/// Records links to files given with ingested appeals, in the appeals' transaction.
///
/// # Errors
/// A database error.
pub async fn record_links(conn: &impl ConnectionTrait, links: &[(i64, &str)], now: DateTime<Utc>) -> AppResult<()> {
    if links.is_empty() {
        return Ok(());
    }
    let rows = links.iter().map(|(appeal_id, url)| attachment_fetch::ActiveModel {
        appeal_id: Set(*appeal_id),
        url: Set((*url).to_string()),
        status: Set(PENDING.into()),
        attempts: Set(0),
        error: Set(None),
        attachment_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    });
    attachment_fetch::Entity::insert_many(rows).exec(conn).await?;
    Ok(())
}

/// Fetches links recorded by [`record_links`] into the appeals' attachments (role AUTHOR):
/// up to 20 per call, each claimed first so that two processes never fetch one link. A link
/// that fails (refused address, too large, not an accepted type, unreachable) is marked
/// FAILED with the reason; one that was being fetched when its process stopped stays
/// FETCHING. Returns how many were fetched.
///
/// # Errors
/// A database error.
pub async fn fetch_pending(state: &AppState) -> AppResult<usize> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let rows = attachment_fetch::Entity::find()
        .filter(attachment_fetch::Column::Status.eq(PENDING))
        .order_by_asc(attachment_fetch::Column::Id)
        .limit(20)
        .all(&state.db)
        .await?;
    let system = Caller { principal: Principal::System, ..Caller::default() };
    let mut done = 0;
    for r in rows {
        let claimed = attachment_fetch::Entity::update_many()
            .col_expr(attachment_fetch::Column::Status, Expr::value("FETCHING"))
            .col_expr(attachment_fetch::Column::Attempts, Expr::col(attachment_fetch::Column::Attempts).add(1))
            .col_expr(attachment_fetch::Column::UpdatedAt, Expr::value(state.clock.now()))
            .filter(attachment_fetch::Column::Id.eq(r.id))
            .filter(attachment_fetch::Column::Status.eq(PENDING))
            .exec(&state.writer)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let outcome = match state.webhooks.fetch(&r.url, state.settings.attachment_max_bytes).await {
            Ok(fetched) => {
                let incoming = Incoming { file_name: fetched.name, content: fetched.file };
                store(state, &system, TargetKind::Appeal, r.appeal_id, AttachmentRole::Author, incoming, false)
                    .await
                    .map_err(|e| e.message())
            }
            Err(why) => Err(why),
        };
        let (status, error, attachment_id) = match outcome {
            Ok(row) => {
                done += 1;
                ("DONE", None, Some(row.id))
            }
            Err(why) => ("FAILED", Some(why), None),
        };
        attachment_fetch::Entity::update_many()
            .col_expr(attachment_fetch::Column::Status, Expr::value(status))
            .col_expr(attachment_fetch::Column::Error, Expr::value(error))
            .col_expr(attachment_fetch::Column::AttachmentId, Expr::value(attachment_id))
            .col_expr(attachment_fetch::Column::UpdatedAt, Expr::value(state.clock.now()))
            .filter(attachment_fetch::Column::Id.eq(r.id))
            .exec(&state.writer)
            .await?;
    }
    Ok(done)
}
