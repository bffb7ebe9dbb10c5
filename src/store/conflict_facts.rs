//! The stored conflict facts of the appeals (issue 18, item 10; issue 20, goal 4):
//! `appeals.author_repeat` (the same author wrote on the same category within 30 days
//! before) and `appeals.escalation` (a social post with words of escalation), which a
//! partial index (`ix_appeals_conflicts`) holds with the appeals reopened twice, so that a
//! period's conflicts read the flagged appeals only.
//!
//! They are derived data, like the rollups, and not columns of the `appeal` model: the
//! write paths of appeals refresh them in the caller's transaction (an arrival, a change of
//! category, contact, receipt, channel or text, a merge of categories, an anonymisation), and
//! [`refresh_all`] recomputes them with the rollups' rebuild. The rule is
//! `domain::conflicts`; [`computed`] applies it with the probes of `ix_appeals_author_repeat`
//! and is what the stored facts must always equal. The author's contact is read here only to
//! compare it and never leaves this module.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use migration::m20270103_000001_author_repeat_index::folded_contact;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, Statement, Value};

use crate::domain::access::Channel;
use crate::domain::conflicts::{
    ConflictFlag, Earlier, Facts, REPEAT_WINDOW_DAYS, REPEATED_REOPENINGS, author_key, escalates, escalation_stems,
    flags, is_social,
};
use crate::error::{AppError, AppResult};

/// The flags of one appeal and its recipient.
#[derive(Debug, Clone)]
pub struct Flagged {
    pub appeal_id: i64,
    pub recipient_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub flags: Vec<ConflictFlag>,
}

/// Which appeals to flag.
pub enum Which<'a> {
    /// These ids (a list page).
    Ids(&'a [i64]),
    /// Ids in `[from, to]` (a rebuild, in chunks).
    IdRange(i64, i64),
    /// Received in `[from, to)` and routed to a recipient: to `recipient` only when given, in
    /// `territories` only when given (the analytics' row scope, applied in the statement so
    /// that appeals out of it are not read).
    Received { from: DateTime<Utc>, to: DateTime<Utc>, recipient: Option<i64>, territories: Option<&'a HashSet<i64>> },
}

/// Placeholders in the order they are written, for either backend.
struct Params {
    backend: DatabaseBackend,
    values: Vec<Value>,
}

impl Params {
    fn new(backend: DatabaseBackend) -> Self {
        Self { backend, values: Vec::new() }
    }

    fn ph(&mut self, v: impl Into<Value>) -> String {
        self.values.push(v.into());
        match self.backend {
            DatabaseBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    fn statement(self, sql: String) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, self.values)
    }
}

/// The `WHERE` of `which` over `appeals a`, or `None` when it selects nothing.
fn condition(p: &mut Params, which: &Which<'_>) -> Option<String> {
    match which {
        Which::Ids(ids) => {
            if ids.is_empty() {
                return None;
            }
            let list: Vec<String> = ids.iter().map(|id| p.ph(*id)).collect();
            Some(format!("a.id IN ({})", list.join(", ")))
        }
        Which::IdRange(from, to) => Some(format!("a.id >= {} AND a.id <= {}", p.ph(*from), p.ph(*to))),
        Which::Received { from, to, recipient, territories } => {
            let mut cond = vec![
                format!("a.received_at >= {}", p.ph(*from)),
                format!("a.received_at < {}", p.ph(*to)),
                "a.recipient_id IS NOT NULL".to_owned(),
            ];
            if let Some(r) = recipient {
                cond.push(format!("a.recipient_id = {}", p.ph(*r)));
            }
            if let Some(ts) = territories {
                if ts.is_empty() {
                    return None;
                }
                let mut ts: Vec<i64> = ts.iter().copied().collect();
                ts.sort_unstable();
                let list: Vec<String> = ts.into_iter().map(|t| p.ph(t)).collect();
                cond.push(format!("a.territory_id IN ({})", list.join(", ")));
            }
            Some(cond.join(" AND "))
        }
    }
}

/// The flags of the chosen appeals as stored, in ONE statement over the appeals that carry
/// one (through `ix_appeals_conflicts` for a period); an appeal left out has none.
///
/// # Errors
/// On a database failure.
pub async fn stored(conn: &impl ConnectionTrait, which: Which<'_>) -> AppResult<Vec<Flagged>> {
    let mut p = Params::new(conn.get_database_backend());
    let Some(cond) = condition(&mut p, &which) else { return Ok(Vec::new()) };
    let sql = format!(
        "SELECT a.id, a.recipient_id, a.territory_id, a.reopen_count, a.author_repeat, a.escalation FROM appeals a \
         WHERE {cond} AND (a.reopen_count >= {REPEATED_REOPENINGS} OR a.author_repeat OR a.escalation)"
    );
    let rows = conn.query_all_raw(p.statement(sql)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut flags = Vec::new();
        if r.try_get::<i32>("", "reopen_count")? >= REPEATED_REOPENINGS {
            flags.push(ConflictFlag::RepeatedReopening);
        }
        if r.try_get::<bool>("", "author_repeat")? {
            flags.push(ConflictFlag::RepeatAuthor);
        }
        if r.try_get::<bool>("", "escalation")? {
            flags.push(ConflictFlag::Escalation);
        }
        out.push(Flagged {
            appeal_id: r.try_get("", "id")?,
            recipient_id: r.try_get("", "recipient_id")?,
            territory_id: r.try_get("", "territory_id")?,
            flags,
        });
    }
    Ok(out)
}

/// The flags of the chosen appeals by the rule, in ONE statement, for the appeals that may
/// carry one (an appeal left out has none): what [`stored`] must equal. Each appeal comes
/// with the receipt of the nearest strictly earlier appeal of the same category whose
/// contact matches after folding spaces and case in SQL (one backward probe of
/// `ix_appeals_author_repeat`): if that one is not within the window, no earlier one is, so
/// the domain rule, given it, flags exactly as given all of them. Only candidates leave the
/// database: reopened at least twice, with such an earlier appeal, or a social post whose
/// stored stems (`search_text`, a superset of the text's own tokens) hold a word of
/// escalation; the rule then decides on each, reading the text of those posts only.
///
/// # Errors
/// On a database failure or an unknown channel name in a row.
pub async fn computed(conn: &impl ConnectionTrait, which: Which<'_>) -> AppResult<Vec<Flagged>> {
    let backend = conn.get_database_backend();
    let mut p = Params::new(backend);
    // A word of escalation is a token of the text, so a stem of it stands between spaces in
    // the stored stems. Made first: on SQLite the placeholders are numbered in the order they
    // are written, and these come first in the select list.
    let stems: Vec<String> = escalation_stems()
        .into_iter()
        .map(|stem| format!("(' ' || a.search_text || ' ') LIKE {}", p.ph(format!("% {stem} %"))))
        .collect();
    let Some(cond) = condition(&mut p, &which) else { return Ok(Vec::new()) };
    let social: Vec<String> =
        Channel::ALL.iter().filter(|c| is_social(**c)).map(|c| format!("'{}'", c.as_str())).collect();
    let sql = format!(
        "SELECT * FROM (SELECT a.id, a.recipient_id, a.territory_id, a.channel, a.reopen_count, a.received_at, \
         a.author_contact, a.category_id, CASE WHEN a.channel IN ({social}) THEN a.text END AS text, \
         CASE WHEN a.channel IN ({social}) AND ({stems}) THEN 1 ELSE 0 END AS escalation_candidate, \
         (SELECT b.received_at FROM appeals b WHERE a.author_contact IS NOT NULL AND b.author_contact IS NOT NULL \
         AND b.category_id = a.category_id AND {} = {} AND b.received_at < a.received_at \
         ORDER BY b.received_at DESC LIMIT 1) AS b_received \
         FROM appeals a WHERE {cond}) c \
         WHERE c.reopen_count >= {REPEATED_REOPENINGS} OR c.b_received IS NOT NULL OR c.escalation_candidate = 1",
        folded_contact("b.author_contact", backend),
        folded_contact("a.author_contact", backend),
        social = social.join(", "),
        stems = stems.join(" OR "),
    );
    let rows = conn.query_all_raw(p.statement(sql)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let channel: String = r.try_get("", "channel")?;
        let contact: Option<String> = r.try_get("", "author_contact")?;
        let text: Option<String> = r.try_get("", "text")?;
        let category_id: Option<i64> = r.try_get("", "category_id")?;
        let author = author_key(contact.as_deref());
        let b_received: Option<DateTime<Utc>> = r.try_get("", "b_received")?;
        // The earlier appeal's contact folds in SQL as this one's: the same author's key.
        let earlier: Vec<Earlier> = match (&author, category_id, b_received) {
            (Some(key), Some(cat), Some(at)) => {
                vec![Earlier { author: key.clone(), category_id: cat, received_at: at }]
            }
            _ => Vec::new(),
        };
        let facts = Facts {
            channel: channel.parse().map_err(AppError::internal)?,
            reopen_count: r.try_get("", "reopen_count")?,
            text: text.as_deref().unwrap_or_default(),
            received_at: r.try_get("", "received_at")?,
            author: author.as_deref(),
            category_id,
        };
        out.push(Flagged {
            appeal_id: r.try_get("", "id")?,
            recipient_id: r.try_get("", "recipient_id")?,
            territory_id: r.try_get("", "territory_id")?,
            flags: flags(&facts, &earlier),
        });
    }
    Ok(out)
}

/// Whether an appeal of `channel` with `text` is flagged as an escalation (the stored
/// `escalation`).
pub fn escalation_of(channel: Channel, text: &str) -> bool {
    is_social(channel) && escalates(text)
}

/// Sets `escalation` of the appeals `ids` to `value` (those that differ).
///
/// # Errors
/// On a database failure.
pub async fn set_escalation(conn: &impl ConnectionTrait, ids: &[i64], value: bool) -> AppResult<()> {
    set(conn, "escalation", ids, value).await
}

async fn set(conn: &impl ConnectionTrait, column: &str, ids: &[i64], value: bool) -> AppResult<()> {
    let backend = conn.get_database_backend();
    let (to, unless) = if value { ("TRUE", format!("NOT {column}")) } else { ("FALSE", column.to_owned()) };
    for list in crate::db::in_lists(ids, 500) {
        let mut p = Params::new(backend);
        let marks: Vec<String> = list.iter().map(|id| p.ph(*id)).collect();
        let sql = format!("UPDATE appeals SET {column} = {to} WHERE id IN ({}) AND {unless}", marks.join(", "));
        conn.execute_raw(p.statement(sql)).await?;
    }
    Ok(())
}

/// Makes the writers that change the groups of authors take turns until their transactions
/// end, so that each decides on what the one before it committed (PostgreSQL; SQLite's write
/// transaction is alone already). Taken before the write's own row locks: a writer waiting
/// here holds none that the one ahead of it needs.
///
/// # Errors
/// When the database refuses the lock.
pub async fn lock(txn: &DatabaseTransaction) -> AppResult<()> {
    crate::db::lock_key(txn, "appeals.author_repeat").await?;
    Ok(())
}

/// An appeal of a touched group, as read for the decision.
struct Member {
    id: i64,
    category_id: i64,
    /// The contact folded in SQL: with the category, the group.
    key: String,
    contact: String,
    received_at: DateTime<Utc>,
    stored: bool,
}

/// The `author_repeat` of each member received at or after `from` is decided from the
/// members (which hold every appeal of their groups from `from` − 30 days on) and written
/// where it differs.
async fn decide(conn: &impl ConnectionTrait, members: Vec<Member>, from: DateTime<Utc>) -> AppResult<()> {
    let mut groups: BTreeMap<(i64, String), Vec<Member>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for m in members {
        if seen.insert(m.id) {
            groups.entry((m.category_id, m.key.clone())).or_default().push(m);
        }
    }
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for ((category_id, _), mut members) in groups {
        members.sort_by_key(|m| (m.received_at, m.id));
        // The receipt of the nearest strictly earlier member, as the walk goes.
        let mut before: Option<DateTime<Utc>> = None;
        let mut current: Option<DateTime<Utc>> = None;
        for m in &members {
            if current != Some(m.received_at) {
                before = current.or(before);
                current = Some(m.received_at);
            }
            if m.received_at < from {
                continue;
            }
            let author = author_key(Some(&m.contact));
            let earlier: Vec<Earlier> = match (&author, before) {
                (Some(key), Some(at)) => vec![Earlier { author: key.clone(), category_id, received_at: at }],
                _ => Vec::new(),
            };
            let facts = Facts {
                channel: Channel::Email,
                reopen_count: 0,
                text: "",
                received_at: m.received_at,
                author: author.as_deref(),
                category_id: Some(category_id),
            };
            let repeat = flags(&facts, &earlier).contains(&ConflictFlag::RepeatAuthor);
            if repeat != m.stored {
                if repeat { on.push(m.id) } else { off.push(m.id) }
            }
        }
    }
    set(conn, "author_repeat", &on, true).await?;
    set(conn, "author_repeat", &off, false).await
}

fn member(r: &sea_orm::QueryResult) -> AppResult<Member> {
    Ok(Member {
        id: r.try_get("", "id")?,
        category_id: r.try_get("", "category_id")?,
        key: r.try_get("", "k")?,
        contact: r.try_get("", "author_contact")?,
        received_at: r.try_get("", "received_at")?,
        stored: r.try_get("", "author_repeat")?,
    })
}

/// The window of appeals a change at `instants` can flag or unflag: from the first instant
/// (the appeals to decide) and from 30 days before it (what decides them) to 30 days after
/// the last.
///
/// The instants are taken at the database's precision (microseconds; PostgreSQL drops the
/// rest of a receipt given in nanoseconds): an appeal read back must not fall before the
/// instant it was written at, or the first appeal to decide is left undecided.
fn window(instants: &[DateTime<Utc>]) -> Option<(DateTime<Utc>, DateTime<Utc>, DateTime<Utc>)> {
    let first = crate::domain::stored_instant(*instants.iter().min()?);
    let last = *instants.iter().max()?;
    let days = Duration::days(REPEAT_WINDOW_DAYS);
    Some((first, first - days, last + days))
}

/// Refreshes `author_repeat` after new appeals with ids in `[first_id, last_id]`, received
/// at `instants`, were inserted in this transaction (after [`lock`]): each new appeal with a category and a
/// contact reads its group around it in one range of `ix_appeals_author_repeat` (other
/// appeals with ids in the range only add groups to decide, which changes nothing).
///
/// # Errors
/// On a database failure.
pub async fn refresh_inserted(
    conn: &impl ConnectionTrait,
    first_id: i64,
    last_id: i64,
    instants: &[DateTime<Utc>],
) -> AppResult<()> {
    let Some((from, lo, hi)) = window(instants) else { return Ok(()) };
    let backend = conn.get_database_backend();
    let mut p = Params::new(backend);
    let sql = format!(
        "SELECT a.id, a.category_id, a.author_contact, a.received_at, a.author_repeat, {fa} AS k \
         FROM appeals x JOIN appeals a ON a.category_id = x.category_id AND a.author_contact IS NOT NULL \
         AND {fa} = {fx} AND a.received_at >= {lo} AND a.received_at <= {hi} \
         WHERE x.id >= {first} AND x.id <= {last} AND x.author_contact IS NOT NULL AND x.category_id IS NOT NULL",
        fa = folded_contact("a.author_contact", backend),
        fx = folded_contact("x.author_contact", backend),
        lo = p.ph(lo),
        hi = p.ph(hi),
        first = p.ph(first_id),
        last = p.ph(last_id),
    );
    let rows = conn.query_all_raw(p.statement(sql)).await?;
    let members = rows.iter().map(member).collect::<AppResult<Vec<_>>>()?;
    decide(conn, members, from).await
}

/// Refreshes `author_repeat` after appeals left or entered the groups `(category, contact)`
/// at `instants` (their receipts before and after the change), in this transaction (after
/// [`lock`]); the
/// appeals in `leaving` belong to no group any more (no category or no contact now) and are
/// unflagged.
///
/// # Errors
/// On a database failure.
pub async fn refresh_groups(
    conn: &impl ConnectionTrait,
    groups: &[(i64, String)],
    instants: &[DateTime<Utc>],
    leaving: &[i64],
) -> AppResult<()> {
    set(conn, "author_repeat", leaving, false).await?;
    let Some((from, lo, hi)) = window(instants) else { return Ok(()) };
    let mut groups: Vec<(i64, String)> = groups.to_vec();
    groups.sort();
    groups.dedup();
    if groups.is_empty() {
        return Ok(());
    }
    let backend = conn.get_database_backend();
    let mut members = Vec::new();
    for list in crate::db::in_lists(&groups, 256) {
        let mut p = Params::new(backend);
        let values: Vec<String> = list.iter().map(|(c, k)| format!("({}, {})", p.ph(*c), p.ph(k.clone()))).collect();
        let sql = format!(
            "WITH g (category_id, contact) AS (VALUES {values}) \
             SELECT a.id, a.category_id, a.author_contact, a.received_at, a.author_repeat, {fa} AS k \
             FROM g JOIN appeals a ON a.category_id = g.category_id AND a.author_contact IS NOT NULL \
             AND {fa} = {fg} AND a.received_at >= {lo} AND a.received_at <= {hi}",
            values = values.join(", "),
            fa = folded_contact("a.author_contact", backend),
            fg = folded_contact("g.contact", backend),
            lo = p.ph(lo),
            hi = p.ph(hi),
        );
        let rows = conn.query_all_raw(p.statement(sql)).await?;
        for r in &rows {
            members.push(member(r)?);
        }
    }
    decide(conn, members, from).await
}

/// Appeals per statement of [`refresh_all`] and [`differences`], in ranges of the ids there
/// are ([`crate::db::appeal_range_end`]: a gap in the ids costs no statement).
const REBUILD_CHUNK: u64 = 50_000;

/// The next chunk `[from, to]` of appeal ids after `after`, `None` past the last appeal.
async fn next_chunk(conn: &impl ConnectionTrait, after: i64) -> AppResult<Option<(i64, i64)>> {
    Ok(crate::db::appeal_range_end(conn, after, REBUILD_CHUNK).await?.map(|to| (after.saturating_add(1), to)))
}

/// Where the stored facts differ from the rule ([`computed`]), every appeal in chunks of
/// ids as [`refresh_all`] reads them: one line per appeal, in id order (empty: they agree).
///
/// # Errors
/// On a database failure.
pub async fn differences(conn: &impl ConnectionTrait) -> AppResult<Vec<String>> {
    // Only the two stored facts: a repeated reopening is read from `reopen_count` by both.
    let of = |rows: Vec<Flagged>| -> BTreeMap<i64, Vec<ConflictFlag>> {
        rows.into_iter()
            .map(|r| {
                let mut f: Vec<ConflictFlag> =
                    r.flags.into_iter().filter(|f| *f != ConflictFlag::RepeatedReopening).collect();
                f.sort_by_key(|f| f.as_str());
                (r.appeal_id, f)
            })
            .filter(|(_, f)| !f.is_empty())
            .collect()
    };
    let mut out = Vec::new();
    let mut after = i64::MIN;
    while let Some((from, to)) = next_chunk(conn, after).await? {
        let expected = of(computed(conn, Which::IdRange(from, to)).await?);
        let actual = of(stored(conn, Which::IdRange(from, to)).await?);
        let mut ids: Vec<&i64> = expected.keys().chain(actual.keys()).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            let (e, a) = (expected.get(id).cloned().unwrap_or_default(), actual.get(id).cloned().unwrap_or_default());
            if e != a {
                out.push(format!("conflict facts of appeal {id}: the rule says {e:?}, the appeal has {a:?}"));
            }
        }
        after = to;
    }
    Ok(out)
}

/// Recomputes both facts of every appeal from the rule ([`computed`]), in chunks of ids so
/// that no statement runs long; returns the appeals flagged.
///
/// # Errors
/// On a database failure.
pub async fn refresh_all(conn: &impl ConnectionTrait) -> AppResult<u64> {
    conn.execute_unprepared("UPDATE appeals SET author_repeat = FALSE WHERE author_repeat").await?;
    conn.execute_unprepared("UPDATE appeals SET escalation = FALSE WHERE escalation").await?;
    let mut flagged = 0;
    let mut after = i64::MIN;
    while let Some((from, to)) = next_chunk(conn, after).await? {
        let rows = computed(conn, Which::IdRange(from, to)).await?;
        let with = |f: ConflictFlag| -> Vec<i64> {
            rows.iter().filter(|r| r.flags.contains(&f)).map(|r| r.appeal_id).collect()
        };
        set(conn, "author_repeat", &with(ConflictFlag::RepeatAuthor), true).await?;
        set(conn, "escalation", &with(ConflictFlag::Escalation), true).await?;
        flagged += rows.iter().filter(|r| !r.flags.is_empty()).count() as u64;
        after = to;
    }
    Ok(flagged)
}
