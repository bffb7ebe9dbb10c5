//! Notifications: the dispatcher's fan-out of announced deadline alerts to the people the
//! escalation rule names (honouring each one's settings and appeal scope), a person's list,
//! marking read, and the settings per kind.

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::domain::access::{Channel, Role, UserPrincipal, parse_list};
use crate::domain::deadlines::AppealKind;
use crate::domain::escalation::{
    Addressee, Alert, MailDelivery, NotificationKind, Person, Preference, Term, Transition, audience, notification_text,
};
use crate::domain::events::Topic;
use crate::domain::notices::{self, CHANNEL_DIGEST, CHANNEL_MAIL, Envelope, Template};
use crate::entity::{appeal, notification, notification_setting, outbox, territory, user};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;
use crate::store::deliveries::{self, NewMail};
use crate::store::notifications::{self as store, NewNotification};

use super::meetings::AssignmentAlert;
use super::scope::AppealScope;
use super::{Caller, audit};

/// Most ids `markNotificationsRead` takes at once.
pub const MAX_MARK: usize = 1000;

/// The roles that hold notifications: those the escalation rule can name, and the Head (told
/// of the weekly memo).
const NOTIFIED: &[Role] = &[Role::Executor, Role::Coordinator, Role::Curator, Role::Head];

/// A member of staff as the fan-out needs it: for the rule, for the appeal scope check, and
/// the address its e-mail goes to.
struct Member {
    person: Person,
    scope: AppealScope,
    email: String,
}

/// Active staff who may be notified, with their territory subtrees (all territories read once).
async fn notifiable_staff(conn: &impl ConnectionTrait) -> AppResult<Vec<Member>> {
    let users = user::Entity::find().filter(user::Column::Active.eq(true)).all(conn).await?;
    let users: Vec<user::Model> =
        users.into_iter().filter(|u| parse_list::<Role>(&u.roles).iter().any(|r| NOTIFIED.contains(r))).collect();
    let subtrees = if users.iter().any(|u| u.territory_id.is_some()) { subtrees(conn).await? } else { HashMap::new() };
    Ok(users
        .into_iter()
        .map(|u| {
            let territories = u.territory_id.map(|t| subtrees.get(&t).cloned().unwrap_or_else(|| HashSet::from([t])));
            let principal = UserPrincipal {
                id: u.id,
                email: u.email.clone(),
                roles: parse_list(&u.roles),
                channels: parse_list::<Channel>(&u.channels),
                recipient_id: u.recipient_id,
                territory_id: u.territory_id,
            };
            let scope = AppealScope::for_user(&principal, territories.clone());
            let person = Person {
                id: u.id,
                roles: principal.roles,
                channels: principal.channels,
                recipient_id: u.recipient_id,
                territories,
            };
            Member { person, scope, email: u.email.clone() }
        })
        .collect())
}

/// Every territory's subtree (itself included), from one read of the table.
async fn subtrees(conn: &impl ConnectionTrait) -> AppResult<HashMap<i64, HashSet<i64>>> {
    let all = territory::Entity::find().all(conn).await?;
    let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
    for t in &all {
        if let Some(p) = t.parent_id {
            children.entry(p).or_default().push(t.id);
        }
    }
    Ok(all
        .iter()
        .map(|root| {
            let mut out = HashSet::new();
            let mut stack = vec![root.id];
            while let Some(id) = stack.pop() {
                if out.insert(id) {
                    stack.extend(children.get(&id).into_iter().flatten().copied());
                }
            }
            (root.id, out)
        })
        .collect())
}

fn preference_of(kind: NotificationKind, row: Option<&notification_setting::Model>) -> Preference {
    row.map_or_else(
        || kind.default_preference(),
        |r| Preference { in_app: r.in_app, email: r.email.parse().unwrap_or(MailDelivery::None) },
    )
}

/// The alert an outbox row carries, or (for a row written by other code) the one its appeal
/// implies now.
fn alert_of(row: &outbox::Model, kind: NotificationKind, a: &appeal::Model) -> Alert {
    serde_json::from_str::<Alert>(&row.payload).unwrap_or_else(|_| {
        let appeal_kind = a.kind.parse().unwrap_or(AppealKind::Appeal);
        Alert {
            appeal_id: a.id,
            number: a.number.clone(),
            kind: a.kind.clone(),
            channel: a.channel.clone(),
            transition: kind.transition().unwrap_or(Transition::Overdue).as_str().to_owned(),
            term: Term::of(appeal_kind, a.registered_at.is_some(), a.reacted_at.is_some()).as_str().to_owned(),
            due_at: a.due_at,
            escalation_at: None,
        }
    })
}

/// What one notification of one person also needs besides the in-app row: e-mail at once or
/// in the digest.
struct Told<'a> {
    member: &'a Member,
    kind: NotificationKind,
    row: &'a outbox::Model,
    appeal_id: Option<i64>,
    text: String,
    /// The subject line of a single e-mail (after «МЦУ: »).
    headline: String,
    /// The «Открыть:» line of a single e-mail.
    link: String,
}

/// Collects the in-app row, the e-mail or the digest item of one person's notification, as
/// its settings say. E-mail is queued only when this process can send it (`MCU_SMTP_URL`).
fn tell(
    told: Told<'_>,
    pref: Preference,
    mail: bool,
    (in_app, single, digest): (&mut Vec<NewNotification>, &mut Vec<NewMail>, &mut Vec<NewMail>),
) {
    let Told { member, kind, row, appeal_id, text, headline, link } = told;
    let id = member.person.id;
    let address = notices::email_address(Some(&member.email));
    match (pref.email, address) {
        (MailDelivery::Immediate, Some(to)) if mail => {
            let m =
                notices::render(Template::Notification, &[("headline", &headline), ("text", &text), ("link", &link)]);
            single.push(NewMail {
                target: format!("user:{id}"),
                outbox_id: row.id,
                topic: row.topic.clone(),
                key: format!("mail:{}:user:{id}", row.id),
                envelope: Envelope { to, subject: m.subject, body: m.body },
            });
        }
        (MailDelivery::DailyDigest, Some(to)) if mail => digest.push(NewMail {
            target: format!("user:{id}"),
            outbox_id: row.id,
            topic: row.topic.clone(),
            key: format!("digest-item:{}:user:{id}", row.id),
            envelope: Envelope { to, subject: headline, body: format!("{text}\n{link}") },
        }),
        _ => {}
    }
    if pref.in_app {
        in_app.push(NewNotification {
            user_id: id,
            kind: kind.as_str().to_owned(),
            appeal_id,
            outbox_id: Some(row.id),
            text,
            created_at: row.created_at,
        });
    }
}

/// Who is told of an assignment's deadline: the executors of its recipient; when it is
/// overdue, also the curators and the Head (whom the meeting answers to).
fn assignment_audience(kind: NotificationKind, p: &Person, recipient_id: i64) -> bool {
    let executor = p.roles.contains(&Role::Executor) && p.recipient_id == Some(recipient_id);
    let chair = p.roles.iter().any(|r| matches!(r, Role::Curator | Role::Head));
    executor || (kind == NotificationKind::AssignmentOverdue && chair)
}

/// The text of an assignment's notification.
fn assignment_text(a: &AssignmentAlert, kind: NotificationKind) -> String {
    let due = a.due_date.format("%d.%m.%Y");
    if kind == NotificationKind::AssignmentOverdue {
        format!("Просрочено поручение совещания (срок {due}): {}", a.text)
    } else {
        format!("Истекает срок поручения совещания ({due}): {}", a.text)
    }
}

/// The links of a stored memo's documents: absolute with `MCU_PUBLIC_URL`, else the paths on
/// this server.
pub fn memo_links(public_url: Option<&str>, memo_id: i64) -> (String, String) {
    let base = public_url.unwrap_or("").trim_end_matches('/');
    (format!("{base}/exports/memos/{memo_id}.docx"), format!("{base}/exports/memos/{memo_id}.xlsx"))
}

/// The fan-out step of the outbox dispatcher, in its transaction: for every claimed row that
/// tells of a deadline alert, a notification for each person the escalation rule names who
/// may see the appeal; for a stored weekly memo (`MEMO_READY`), one for every active Head.
/// Each person's settings say whether it is shown in the application and whether it goes by
/// e-mail at once (a `MAIL` delivery) or in the daily digest (a `DIGEST` item); e-mail is
/// queued in this same transaction, so it is sent at least once and never for a row that
/// stays pending. Returns how many in-app notifications were written. Rows of other topics
/// cost nothing.
///
/// # Errors
/// On a database failure (the dispatcher's transaction then rolls back and the rows stay
/// pending).
pub async fn fan_out(conn: &impl ConnectionTrait, state: &AppState, rows: &[outbox::Model]) -> AppResult<u64> {
    let told: Vec<(&outbox::Model, NotificationKind)> =
        rows.iter().filter_map(|r| Some((r, NotificationKind::of_topic(r.topic.parse::<Topic>().ok()?)?))).collect();
    if told.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = told
        .iter()
        .filter(|(r, k)| r.subject_type == "appeal" && k.transition().is_some())
        .filter_map(|(r, _)| r.subject_id)
        .collect();
    let mut appeals: HashMap<i64, appeal::Model> = HashMap::new();
    for list in crate::db::in_lists(&ids, 128) {
        let rows = appeal::Entity::find().filter(appeal::Column::Id.is_in(list)).all(conn).await?;
        appeals.extend(rows.into_iter().map(|a| (a.id, a)));
    }
    let staff = notifiable_staff(conn).await?;
    let ids: Vec<i64> = staff.iter().map(|m| m.person.id).collect();
    let settings = store::settings(conn, &ids).await?;
    let people: Vec<Person> = staff.iter().map(|m| m.person.clone()).collect();
    let by_id: HashMap<i64, &Member> = staff.iter().map(|m| (m.person.id, m)).collect();
    let policy = &state.settings.escalation;
    let mail = state.mailer.is_some();
    let pref = |id: i64, kind: NotificationKind| preference_of(kind, settings.get(&(id, kind.as_str().to_owned())));
    let (mut out, mut single, mut digest) = (Vec::new(), Vec::new(), Vec::new());
    for (row, kind) in told {
        if kind == NotificationKind::MemoReady {
            let Some(memo_id) = row.subject_id.filter(|_| row.subject_type == "memo") else { continue };
            let week = serde_json::from_str::<serde_json::Value>(&row.payload)
                .ok()
                .and_then(|p| p["weekStart"].as_str().and_then(|d| d.parse::<chrono::NaiveDate>().ok()));
            let week = week.map_or_else(String::new, |d| format!(" за неделю с {}", d.format("%d.%m.%Y")));
            let text = format!("Еженедельная аналитическая записка{week} готова");
            let (docx, xlsx) = memo_links(state.settings.public_url.as_deref(), memo_id);
            let link = format!("{docx} (DOCX), {xlsx} (XLSX)");
            for m in staff.iter().filter(|m| m.person.roles.contains(&Role::Head)) {
                let t = Told {
                    member: m,
                    kind,
                    row,
                    appeal_id: None,
                    text: text.clone(),
                    headline: kind.headline(""),
                    link: link.clone(),
                };
                tell(t, pref(m.person.id, kind), mail, (&mut out, &mut single, &mut digest));
            }
            continue;
        }
        if matches!(kind, NotificationKind::AssignmentDueSoon | NotificationKind::AssignmentOverdue) {
            let Ok(alert) = serde_json::from_str::<AssignmentAlert>(&row.payload) else { continue };
            let text = assignment_text(&alert, kind);
            let base = state.settings.public_url.as_deref().unwrap_or("").trim_end_matches('/');
            let link = format!("{base}/exports/meetings/{}-minutes.docx", alert.meeting_id);
            for m in staff.iter().filter(|m| assignment_audience(kind, &m.person, alert.recipient_id)) {
                let t = Told {
                    member: m,
                    kind,
                    row,
                    appeal_id: None,
                    text: text.clone(),
                    headline: kind.headline(""),
                    link: link.clone(),
                };
                tell(t, pref(m.person.id, kind), mail, (&mut out, &mut single, &mut digest));
            }
            continue;
        }
        let (Some(transition), Some(appeal_id)) = (kind.transition(), row.subject_id) else { continue };
        let Some(a) = appeals.get(&appeal_id) else { continue };
        let alert = alert_of(row, kind, a);
        let grace = policy.grace_words(a.kind.parse().unwrap_or(AppealKind::Appeal));
        let text = notification_text(&alert, state.settings.timezone, &grace);
        let addressee =
            Addressee { channel: a.channel.parse().ok(), recipient_id: a.recipient_id, territory_id: a.territory_id };
        for id in audience(policy.groups(transition), &addressee, &people) {
            let Some(member) = by_id.get(&id) else { continue };
            // The rule and the scope agree by construction; the scope has the last word, so
            // nobody is ever told of an appeal it may not see.
            if !member.scope.sees(a) {
                continue;
            }
            let t = Told {
                member,
                kind,
                row,
                appeal_id: Some(a.id),
                text: text.clone(),
                headline: kind.headline(&a.number),
                link: format!("раздел «Обращения» МЦУ, обращение № {}", a.number),
            };
            tell(t, pref(id, kind), mail, (&mut out, &mut single, &mut digest));
        }
    }
    let now = state.clock.now();
    deliveries::queue_mail(conn, CHANNEL_MAIL, single, now).await?;
    deliveries::queue_mail(conn, CHANNEL_DIGEST, digest, now).await?;
    store::insert(conn, out).await
}

fn person(caller: &Caller) -> AppResult<&UserPrincipal> {
    caller.principal.user().ok_or_else(|| AppError::Forbidden("notifications are for people, not tokens".into()))
}

/// A page of a person's notifications.
pub struct Page {
    pub rows: Vec<notification::Model>,
    pub offset: u64,
    pub total: u64,
}

/// The caller's notifications, newest first (unread ones only when asked).
///
/// # Errors
/// `FORBIDDEN` for a caller that is not a person; a database failure.
pub async fn list(state: &AppState, caller: &Caller, offset: u64, limit: u64, unread_only: bool) -> AppResult<Page> {
    let me = person(caller)?;
    let (rows, total) = store::page(&state.db, me.id, unread_only, offset, limit).await?;
    Ok(Page { rows, offset, total })
}

/// The caller's notification made from an outbox row (what a subscription pushes).
///
/// # Errors
/// On a database failure.
pub async fn from_outbox(state: &AppState, user_id: i64, outbox_id: i64) -> AppResult<Option<notification::Model>> {
    store::from_outbox(&state.db, user_id, outbox_id).await
}

/// Marks the caller's notifications among `ids` read; returns how many were unread. Ids of
/// other people's notifications are ignored (never revealed). Audited.
///
/// # Errors
/// `BAD_USER_INPUT` on `ids` for more than [`MAX_MARK`] ids; `FORBIDDEN` for a token.
pub async fn mark_read(state: &AppState, caller: &Caller, ids: &[i64]) -> AppResult<u64> {
    let me = person(caller)?;
    if ids.len() > MAX_MARK {
        return Err(AppError::bad("ids", format!("at most {MAX_MARK} ids at once")));
    }
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let marked = store::mark_read(&txn, me.id, ids, now).await?;
    audit::record(
        &txn,
        caller,
        now,
        "markNotificationsRead",
        Some(format!("user:{}", me.id)),
        Some(serde_json::json!({ "asked": ids.len(), "marked": marked })),
    )
    .await?;
    txn.commit().await?;
    Ok(marked)
}

/// Every kind with the caller's setting (the default where it chose nothing).
///
/// # Errors
/// `FORBIDDEN` for a token; a database failure.
pub async fn settings(state: &AppState, caller: &Caller) -> AppResult<Vec<(NotificationKind, Preference)>> {
    let me = person(caller)?;
    current(&state.db, me.id).await
}

async fn current(conn: &impl ConnectionTrait, user_id: i64) -> AppResult<Vec<(NotificationKind, Preference)>> {
    let stored = store::settings(conn, &[user_id]).await?;
    Ok(NotificationKind::ALL
        .iter()
        .map(|k| (*k, preference_of(*k, stored.get(&(user_id, k.as_str().to_owned())))))
        .collect())
}

/// A change of one kind's setting; what is absent stays as it is.
#[derive(Debug, Clone)]
pub struct SettingChange {
    pub kind: NotificationKind,
    pub in_app: Option<bool>,
    pub email: Option<MailDelivery>,
}

/// Changes the caller's settings and returns all of them. Audited.
///
/// # Errors
/// `BAD_USER_INPUT` on `input.N.kind` for a kind given twice; `FORBIDDEN` for a token.
pub async fn update_settings(
    state: &AppState,
    caller: &Caller,
    changes: &[SettingChange],
) -> AppResult<Vec<(NotificationKind, Preference)>> {
    let me = person(caller)?;
    let mut seen = HashSet::new();
    let errors: Vec<FieldError> = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| !seen.insert(c.kind))
        .map(|(i, _)| FieldError { path: format!("input.{i}.kind"), message: "is given more than once".into() })
        .collect();
    if !errors.is_empty() {
        return Err(AppError::BadInput(errors));
    }
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let before: HashMap<NotificationKind, Preference> = current(&txn, me.id).await?.into_iter().collect();
    for c in changes {
        let old = before.get(&c.kind).copied().unwrap_or_else(|| c.kind.default_preference());
        let new = Preference { in_app: c.in_app.unwrap_or(old.in_app), email: c.email.unwrap_or(old.email) };
        store::save_setting(&txn, me.id, c.kind.as_str(), new.in_app, new.email.as_str(), now).await?;
    }
    let after = current(&txn, me.id).await?;
    let data: serde_json::Map<String, serde_json::Value> = after
        .iter()
        .map(|(k, p)| (k.as_str().to_owned(), serde_json::json!({ "inApp": p.in_app, "email": p.email.as_str() })))
        .collect();
    audit::record(
        &txn,
        caller,
        now,
        "updateNotificationSettings",
        Some(format!("user:{}", me.id)),
        Some(serde_json::Value::Object(data)),
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// The appeal `id` if the scope sees it.
///
/// # Errors
/// On a database failure.
pub async fn visible_appeal(
    conn: &impl ConnectionTrait,
    scope: &AppealScope,
    id: i64,
) -> AppResult<Option<appeal::Model>> {
    Ok(appeal::Entity::find_by_id(id).one(conn).await?.filter(|a| scope.sees(a)))
}
