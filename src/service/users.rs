//! Staff accounts: creation, changes, deactivation, the first-start administrator.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use secrecy::ExposeSecret;

use super::{Caller, audit, auth};
use crate::config::{FIRST_ADMIN_EMAIL, FIRST_ADMIN_NAME};
use crate::domain::access::{Channel, Role, format_list, parse_list};
use crate::entity::user;
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;
use crate::store::outbox;

/// Fields of a new user.
pub struct NewUser {
    pub email: String,
    pub full_name: String,
    pub password: String,
    pub roles: Vec<Role>,
    pub channels: Vec<Channel>,
    pub recipient_id: Option<i64>,
    pub territory_id: Option<i64>,
}

/// Changes to a user; `None` leaves a field as it is.
pub struct UserChanges {
    pub id: i64,
    pub version: i32,
    pub full_name: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub channels: Option<Vec<Channel>>,
    pub recipient_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub active: Option<bool>,
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !email.contains(char::is_whitespace)
        && email.len() <= 254
}

fn check_role_bindings(
    errors: &mut Vec<FieldError>,
    prefix: &str,
    roles: &[Role],
    channels: &[Channel],
    recipient_id: Option<i64>,
) {
    if roles.is_empty() {
        errors.push(FieldError { path: format!("{prefix}.roles"), message: "at least one role is required".into() });
    }
    if roles.contains(&Role::Executor) && recipient_id.is_none() {
        errors.push(FieldError {
            path: format!("{prefix}.recipientId"),
            message: "an EXECUTOR must be bound to a recipient".into(),
        });
    }
    if roles.contains(&Role::Coordinator) && channels.is_empty() {
        errors.push(FieldError {
            path: format!("{prefix}.channels"),
            message: "a COORDINATOR must coordinate at least one channel".into(),
        });
    }
}

/// Creates a user.
///
/// # Errors
/// `BAD_USER_INPUT` listing every invalid field; `CONFLICT` when the e-mail is taken.
pub async fn create(state: &AppState, caller: &Caller, new: NewUser) -> AppResult<user::Model> {
    let email = new.email.trim().to_lowercase();
    let mut errors = Vec::new();
    if !valid_email(&email) {
        errors.push(FieldError { path: "input.email".into(), message: "is not an e-mail address".into() });
    }
    if new.full_name.trim().is_empty() {
        errors.push(FieldError { path: "input.fullName".into(), message: "must not be empty".into() });
    }
    let owner = crate::domain::password::Owner { email: &email, full_name: &new.full_name };
    if let Err(AppError::BadInput(mut e)) = auth::check_password_policy("input.password", &new.password, &owner) {
        errors.append(&mut e);
    }
    check_role_bindings(&mut errors, "input", &new.roles, &new.channels, new.recipient_id);
    super::reference::check_refs(
        &state.db,
        &mut errors,
        super::reference::Refs { recipient_id: new.recipient_id, territory_id: new.territory_id, ..Default::default() },
    )
    .await?;
    if !errors.is_empty() {
        return Err(AppError::BadInput(errors));
    }
    if user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(&state.db).await?.is_some() {
        return Err(AppError::Conflict("a user with this e-mail already exists".into()));
    }
    let hash = auth::hash_password(state, &new.password).await?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let u = user::ActiveModel {
        email: Set(email),
        full_name: Set(new.full_name.trim().to_string()),
        password_hash: Set(hash),
        roles: Set(format_list(&dedup(new.roles))),
        channels: Set(format_list(&dedup(new.channels))),
        recipient_id: Set(new.recipient_id),
        territory_id: Set(new.territory_id),
        active: Set(true),
        session_epoch: Set(0),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        caller,
        now,
        "createUser",
        Some(format!("user:{}", u.id)),
        Some(serde_json::json!({ "email": u.email, "roles": u.roles })),
    )
    .await?;
    record_role_change(&txn, caller, now, u.id, &[], &parse_list(&u.roles)).await?;
    outbox::announce_user(&txn, &u, "createUser", now).await?;
    txn.commit().await?;
    state.announcements.wake_dispatcher();
    Ok(u)
}

/// Audits a change of a user's roles (`changeRoles`, the roles before and after), so that
/// every grant and withdrawal of a role can be found by one action name.
async fn record_role_change(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    now: chrono::DateTime<chrono::Utc>,
    user_id: i64,
    before: &[Role],
    after: &[Role],
) -> AppResult<()> {
    if before == after {
        return Ok(());
    }
    let names = |roles: &[Role]| roles.iter().map(|r| r.as_str()).collect::<Vec<_>>();
    let data = serde_json::json!({ "before": names(before), "after": names(after) });
    audit::record(conn, caller, now, "changeRoles", Some(format!("user:{user_id}")), Some(data)).await
}

fn dedup<T: Ord + Copy>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

/// Changes a user. Deactivation ends all of the user's sessions at once.
///
/// # Errors
/// `NOT_FOUND`, `CONFLICT` on a stale version, `BAD_USER_INPUT` on invalid fields.
pub async fn update(state: &AppState, caller: &Caller, ch: UserChanges) -> AppResult<user::Model> {
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let u = user::Entity::find_by_id(ch.id).one(&txn).await?.ok_or_else(|| AppError::NotFound("user".into()))?;
    if u.version != ch.version {
        return Err(AppError::stale("the user"));
    }
    let roles_before: Vec<Role> = parse_list(&u.roles);
    let channels_before: Vec<Channel> = parse_list(&u.channels);
    let roles = ch.roles.clone().map_or_else(|| roles_before.clone(), dedup);
    let channels = ch.channels.clone().map_or_else(|| channels_before.clone(), dedup);
    let recipient_id = ch.recipient_id.or(u.recipient_id);
    // Nobody widens their own access: roles and what they are bound to (channels, recipient,
    // territory) of one's own account are changed by another administrator.
    let own = caller.principal.user().is_some_and(|me| me.id == u.id);
    let access_changed = roles != roles_before
        || channels != channels_before
        || recipient_id != u.recipient_id
        || ch.territory_id.is_some_and(|t| Some(t) != u.territory_id);
    if own && access_changed {
        return Err(AppError::Forbidden(
            "you cannot change your own roles, channels, recipient or territory; another administrator can".into(),
        ));
    }
    let mut errors = Vec::new();
    if ch.full_name.as_ref().is_some_and(|n| n.trim().is_empty()) {
        errors.push(FieldError { path: "input.fullName".into(), message: "must not be empty".into() });
    }
    check_role_bindings(&mut errors, "input", &roles, &channels, recipient_id);
    super::reference::check_refs(
        &txn,
        &mut errors,
        super::reference::Refs { recipient_id: ch.recipient_id, territory_id: ch.territory_id, ..Default::default() },
    )
    .await?;
    if caller.principal.user().is_some_and(|me| me.id == u.id) && ch.active == Some(false) {
        errors.push(FieldError { path: "input.active".into(), message: "you cannot deactivate yourself".into() });
    }
    if !errors.is_empty() {
        return Err(AppError::BadInput(errors));
    }
    let deactivating = ch.active == Some(false) && u.active;
    let mut am = u.clone().into_active_model();
    if let Some(n) = &ch.full_name {
        am.full_name = Set(n.trim().to_string());
    }
    am.roles = Set(format_list(&roles));
    am.channels = Set(format_list(&channels));
    am.recipient_id = Set(recipient_id);
    if ch.territory_id.is_some() {
        am.territory_id = Set(ch.territory_id);
    }
    if let Some(a) = ch.active {
        am.active = Set(a);
    }
    am.version = Set(u.version + 1);
    am.updated_at = Set(now);
    // The version check and the write are one statement so two concurrent updates cannot both win.
    let res = user::Entity::update_many()
        .set(am)
        .filter(user::Column::Id.eq(u.id))
        .filter(user::Column::Version.eq(ch.version))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("the user"));
    }
    let mut updated =
        user::Entity::find_by_id(u.id).one(&txn).await?.ok_or_else(|| AppError::NotFound("user".into()))?;
    if deactivating {
        updated = auth::end_all_sessions(&txn, &updated, now).await?;
    }
    audit::record(
        &txn,
        caller,
        now,
        "updateUser",
        Some(format!("user:{}", u.id)),
        Some(serde_json::json!({ "roles": updated.roles, "active": updated.active })),
    )
    .await?;
    record_role_change(&txn, caller, now, u.id, &roles_before, &parse_list(&updated.roles)).await?;
    outbox::announce_user(&txn, &updated, "updateUser", now).await?;
    txn.commit().await?;
    auth::sessions_changed(state);
    Ok(updated)
}

/// A page of users ordered by id, and the total.
pub async fn list(conn: &impl ConnectionTrait, offset: u64, limit: u64) -> AppResult<(Vec<user::Model>, u64)> {
    let total = user::Entity::find().count(conn).await?;
    let rows = user::Entity::find().order_by_asc(user::Column::Id).offset(offset).limit(limit).all(conn).await?;
    Ok((rows, total))
}

/// What [`ensure_admin`] did at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOutcome {
    /// The configured administrator was created; the password when it was generated (to be
    /// shown once).
    Created { email: String, generated_password: Option<String> },
    /// An active administrator exists, so nothing was created (the e-mails of up to three).
    ActiveAdminExists { emails: Vec<String> },
    /// No active administrator exists, but the configured e-mail belongs to an account that is
    /// not one (a demo user, a deactivated administrator): it is left as it is.
    EmailTaken { email: String, active: bool, roles: String },
}

/// Creates the administrator named by `MCU_ADMIN_EMAIL` (default `admin@localhost`) with
/// `MCU_ADMIN_PASSWORD` (random when unset) whenever no active user has the role ADMIN; not
/// only on an empty database, so that users created first (`mcu seed-demo`) do not leave the
/// server without an administrator. An existing account with that e-mail is never changed:
/// neither its roles nor its password nor its activity (see [`AdminOutcome::EmailTaken`]).
pub async fn ensure_admin(state: &AppState) -> AppResult<AdminOutcome> {
    // Roles are a comma-separated list; the LIKE narrows, parsing decides.
    let candidates = user::Entity::find()
        .filter(user::Column::Active.eq(true))
        .filter(user::Column::Roles.contains("ADMIN"))
        .order_by_asc(user::Column::Id)
        .all(&state.db)
        .await?;
    let admins: Vec<String> = candidates
        .into_iter()
        .filter(|u| parse_list::<Role>(&u.roles).contains(&Role::Admin))
        .map(|u| u.email)
        .take(3)
        .collect();
    if !admins.is_empty() {
        return Ok(AdminOutcome::ActiveAdminExists { emails: admins });
    }
    let email = state.settings.admin_email.clone().unwrap_or_else(|| FIRST_ADMIN_EMAIL.into());
    if let Some(existing) = find_by_email(&state.db, &email).await? {
        return Ok(AdminOutcome::EmailTaken { email: existing.email, active: existing.active, roles: existing.roles });
    }
    let (password, generated) = match &state.settings.admin_password {
        Some(p) => (p.expose_secret().to_string(), false),
        None => (auth::random_hex(12), true),
    };
    let caller = Caller { request_id: Some("startup".into()), ..Caller::default() };
    let u = create(
        state,
        &caller,
        NewUser {
            email: email.clone(),
            full_name: FIRST_ADMIN_NAME.into(),
            password: password.clone(),
            roles: vec![Role::Admin],
            channels: vec![],
            recipient_id: None,
            territory_id: None,
        },
    )
    .await?;
    Ok(AdminOutcome::Created { email: u.email, generated_password: generated.then_some(password) })
}

/// Logs what [`ensure_admin`] did: info when an administrator was created or one exists,
/// warn when the password was generated or when no active administrator exists and none
/// could be created.
pub fn log_admin_outcome(outcome: &AdminOutcome) {
    match outcome {
        AdminOutcome::Created { email, generated_password: Some(password) } => tracing::warn!(
            %email, %password,
            "created the first administrator with a random password; it is shown only this once"
        ),
        AdminOutcome::Created { email, generated_password: None } => {
            tracing::info!(%email, "created the administrator named by MCU_ADMIN_EMAIL/MCU_ADMIN_PASSWORD");
        }
        AdminOutcome::ActiveAdminExists { emails } => tracing::info!(
            administrators = %emails.join(", "),
            "an active administrator exists; MCU_ADMIN_EMAIL/MCU_ADMIN_PASSWORD are not used"
        ),
        AdminOutcome::EmailTaken { email, active, roles } => tracing::warn!(
            %email, active, %roles,
            "no active administrator exists, but {email} belongs to an account that is not an active              administrator; it is left unchanged and no administrator was created. Set MCU_ADMIN_EMAIL to an              unused address, or create one with `mcu user create --role ADMIN`"
        ),
    }
}

/// Loads a user by id.
pub async fn get(conn: &impl ConnectionTrait, id: i64) -> AppResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id).one(conn).await?)
}

/// Makes sure the e-mail is not used (for the CLI).
pub async fn find_by_email(conn: &impl ConnectionTrait, email: &str) -> AppResult<Option<user::Model>> {
    Ok(user::Entity::find().filter(user::Column::Email.eq(email.trim().to_lowercase())).one(conn).await?)
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn emails() {
        assert!(valid_email("a@b.ru"));
        assert!(valid_email("admin@localhost"));
        assert!(!valid_email("a b@c.ru"));
        assert!(!valid_email("@c.ru"));
        assert!(!valid_email("abc"));
    }
}
