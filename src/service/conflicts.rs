//! Communication conflicts (issue 18, item 10; decree 1.2б, 1.2в): the flags of
//! `domain::conflicts` computed for many appeals in one statement. The author's contact is
//! read here only to compare it and never leaves this module.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

use crate::domain::access::Channel;
use crate::domain::conflicts::{ConflictFlag, Earlier, Facts, REPEAT_WINDOW_DAYS, author_key, flags};
use crate::error::AppResult;

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
    /// Received in `[from, to)`.
    Received(DateTime<Utc>, DateTime<Utc>),
}

/// The flags of the chosen appeals in ONE statement: each appeal left-joined to the earlier
/// appeals of the same category whose contact matches after folding spaces and ASCII case
/// (a prefilter; the domain rule compares the exact key and the 30-day window).
///
/// # Errors
/// On a database failure or an unknown channel name in a row.
pub async fn flagged(conn: &impl ConnectionTrait, which: Which<'_>) -> AppResult<Vec<Flagged>> {
    let backend = conn.get_database_backend();
    let mut values: Vec<Value> = Vec::new();
    let mut ph = |v: Value| {
        values.push(v);
        match backend {
            DatabaseBackend::Postgres => format!("${}", values.len()),
            _ => "?".to_owned(),
        }
    };
    // The earlier appeals joined: only those up to the window before the period's first
    // (`flags` checks each appeal's own window), so the join reads the period and a month
    // before it, not every appeal ever received.
    let (cond, earlier) = match which {
        Which::Ids(ids) => {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let list: Vec<String> = ids.iter().map(|id| ph(Value::from(*id))).collect();
            (format!("a.id IN ({})", list.join(", ")), String::new())
        }
        Which::Received(from, to) => {
            let earliest = ph(Value::from(from - Duration::days(REPEAT_WINDOW_DAYS)));
            let before = ph(Value::from(to));
            let earlier = format!("AND b.received_at >= {earliest} AND b.received_at < {before} ");
            let f = ph(Value::from(from));
            let t = ph(Value::from(to));
            (format!("a.received_at >= {f} AND a.received_at < {t}"), earlier)
        }
    };
    let fold = |c: &str| format!("LOWER(REPLACE({c}, ' ', ''))");
    let sql = format!(
        "SELECT a.id, a.recipient_id, a.territory_id, a.channel, a.reopen_count, a.text, a.received_at, a.author_contact, \
         a.category_id, b.author_contact AS b_contact, b.received_at AS b_received \
         FROM appeals a LEFT JOIN appeals b ON a.author_contact IS NOT NULL AND b.category_id = a.category_id \
         AND b.received_at < a.received_at {earlier}AND b.author_contact IS NOT NULL AND {} = {} \
         WHERE {cond} ORDER BY a.id",
        fold("b.author_contact"),
        fold("a.author_contact"),
    );
    let rows = conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    // Group the joined rows per appeal, keeping the appeal's facts once.
    struct Row {
        recipient_id: Option<i64>,
        territory_id: Option<i64>,
        channel: Channel,
        reopen_count: i32,
        text: String,
        received_at: DateTime<Utc>,
        author: Option<String>,
        category_id: Option<i64>,
        earlier: Vec<Earlier>,
    }
    let mut order: Vec<i64> = Vec::new();
    let mut by_id: HashMap<i64, Row> = HashMap::new();
    for r in rows {
        let id: i64 = r.try_get("", "id")?;
        if let std::collections::hash_map::Entry::Vacant(slot) = by_id.entry(id) {
            let channel: String = r.try_get("", "channel")?;
            let contact: Option<String> = r.try_get("", "author_contact")?;
            slot.insert(Row {
                recipient_id: r.try_get("", "recipient_id")?,
                territory_id: r.try_get("", "territory_id")?,
                channel: channel.parse().map_err(crate::error::AppError::internal)?,
                reopen_count: r.try_get("", "reopen_count")?,
                text: r.try_get("", "text")?,
                received_at: r.try_get("", "received_at")?,
                author: author_key(contact.as_deref()),
                category_id: r.try_get("", "category_id")?,
                earlier: Vec::new(),
            });
            order.push(id);
        }
        let b_contact: Option<String> = r.try_get("", "b_contact")?;
        let b_received: Option<DateTime<Utc>> = r.try_get("", "b_received")?;
        if let (Some(key), Some(at), Some(row)) = (author_key(b_contact.as_deref()), b_received, by_id.get_mut(&id))
            && let Some(cat) = row.category_id
        {
            row.earlier.push(Earlier { author: key, category_id: cat, received_at: at });
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|id| by_id.remove(&id).map(|row| (id, row)))
        .map(|(id, row)| {
            let facts = Facts {
                channel: row.channel,
                reopen_count: row.reopen_count,
                text: &row.text,
                received_at: row.received_at,
                author: row.author.as_deref(),
                category_id: row.category_id,
            };
            Flagged {
                appeal_id: id,
                recipient_id: row.recipient_id,
                territory_id: row.territory_id,
                flags: flags(&facts, &row.earlier),
            }
        })
        .collect())
}
