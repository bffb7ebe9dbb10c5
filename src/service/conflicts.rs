//! Communication conflicts (issue 18, item 10; decree 1.2б, 1.2в): the flags of
//! `domain::conflicts` computed for many appeals in one statement. The author's contact is
//! read here only to compare it and never leaves this module.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use migration::m20270103_000001_author_repeat_index::folded_contact;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, TransactionTrait, Value};

use crate::domain::access::Channel;
use crate::domain::conflicts::{
    ConflictFlag, Earlier, Facts, REPEAT_WINDOW_DAYS, REPEATED_REOPENINGS, author_key, escalation_stems, flags,
    is_social,
};
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
    /// Received in `[from, to)` and routed to a recipient: to `recipient` only when given, in
    /// `territories` only when given (the analytics' row scope, applied in the statement so
    /// that appeals out of it are not read).
    Received { from: DateTime<Utc>, to: DateTime<Utc>, recipient: Option<i64>, territories: Option<&'a HashSet<i64>> },
}

/// The flags of the chosen appeals in ONE statement, for the appeals that may carry one (an
/// appeal left out has none). Each appeal comes with the receipt of the nearest strictly
/// earlier appeal of the same category whose contact matches after folding spaces and case
/// in SQL (one backward probe of `ix_appeals_author_repeat`): if that one is not within the
/// window, no earlier one is, so the domain rule, given it, flags exactly as given all of
/// them. Only candidates leave the database: reopened at least twice, with such an earlier
/// appeal, or a social post whose stored stems (`search_text`, a superset of the text's own
/// tokens) hold a word of escalation; the rule then decides on each. The text is read for
/// those social posts only, the one place the rule looks at it. (A week of a million-row
/// year is 18,000 appeals, of which a few hundred are candidates.)
///
/// # Errors
/// On a database failure or an unknown channel name in a row.
pub async fn flagged(conn: &DatabaseConnection, which: Which<'_>) -> AppResult<Vec<Flagged>> {
    let backend = conn.get_database_backend();
    let mut values: Vec<Value> = Vec::new();
    let mut ph = |v: Value| {
        values.push(v);
        match backend {
            DatabaseBackend::Postgres => format!("${}", values.len()),
            _ => "?".to_owned(),
        }
    };
    // A word of escalation is a token of the text, so a stem of it stands between spaces in
    // the stored stems. Made first: on SQLite the placeholders are numbered in the order they
    // are written, and these come first in the select list.
    let stems: Vec<String> = escalation_stems()
        .into_iter()
        .map(|stem| format!("(' ' || a.search_text || ' ') LIKE {}", ph(Value::from(format!("% {stem} %")))))
        .collect();
    let period = matches!(which, Which::Received { .. });
    // For a period, an earlier appeal before the window of the period's first cannot flag
    // any of its appeals: the probe stops there.
    let (cond, earliest) = match which {
        Which::Ids(ids) => {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let list: Vec<String> = ids.iter().map(|id| ph(Value::from(*id))).collect();
            (format!("a.id IN ({})", list.join(", ")), String::new())
        }
        Which::Received { from, to, recipient, territories } => {
            // Made before the conditions: the probe (in the select list) comes before them.
            let earliest =
                format!("AND b.received_at >= {} ", ph(Value::from(from - Duration::days(REPEAT_WINDOW_DAYS))));
            let mut cond = vec![
                format!("a.received_at >= {}", ph(Value::from(from))),
                format!("a.received_at < {}", ph(Value::from(to))),
                "a.recipient_id IS NOT NULL".to_owned(),
            ];
            if let Some(r) = recipient {
                cond.push(format!("a.recipient_id = {}", ph(Value::from(r))));
            }
            if let Some(ts) = territories {
                if ts.is_empty() {
                    return Ok(Vec::new());
                }
                let mut ts: Vec<i64> = ts.iter().copied().collect();
                ts.sort_unstable();
                let list: Vec<String> = ts.into_iter().map(|t| ph(Value::from(t))).collect();
                cond.push(format!("a.territory_id IN ({})", list.join(", ")));
            }
            let cond = cond.join(" AND ");
            (cond, earliest)
        }
    };
    let social: Vec<String> =
        Channel::ALL.iter().filter(|c| is_social(**c)).map(|c| format!("'{}'", c.as_str())).collect();
    let sql = format!(
        "SELECT * FROM (SELECT a.id, a.recipient_id, a.territory_id, a.channel, a.reopen_count, a.received_at, \
         a.author_contact, a.category_id, CASE WHEN a.channel IN ({social}) THEN a.text END AS text, \
         CASE WHEN a.channel IN ({social}) AND ({stems}) THEN 1 ELSE 0 END AS escalation_candidate, \
         (SELECT b.received_at FROM appeals b WHERE a.author_contact IS NOT NULL AND b.author_contact IS NOT NULL \
         AND b.category_id = a.category_id AND {} = {} AND b.received_at < a.received_at {earliest}\
         ORDER BY b.received_at DESC LIMIT 1) AS b_received \
         FROM appeals a WHERE {cond}) c \
         WHERE c.reopen_count >= {REPEATED_REOPENINGS} OR c.b_received IS NOT NULL OR c.escalation_candidate = 1",
        folded_contact("b.author_contact", backend),
        folded_contact("a.author_contact", backend),
        social = social.join(", "),
        stems = stems.join(" OR "),
    );
    let statement = Statement::from_sql_and_values(backend, sql, values);
    let rows = if backend == DatabaseBackend::Postgres && period {
        // The planner prices a period's probes (one per appeal) high enough to compile the
        // statement (JIT), which costs more than it saves (about 30 of 110 ms for a week of
        // 18,000 appeals). A page's hundred probes stay below that threshold.
        let txn = conn.begin().await?;
        txn.execute_unprepared("SET LOCAL jit = off").await?;
        let rows = txn.query_all_raw(statement).await?;
        txn.commit().await?;
        rows
    } else {
        conn.query_all_raw(statement).await?
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let channel: String = r.try_get("", "channel")?;
        let contact: Option<String> = r.try_get("", "author_contact")?;
        let text: Option<String> = r.try_get("", "text")?;
        let received_at: DateTime<Utc> = r.try_get("", "received_at")?;
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
            channel: channel.parse().map_err(crate::error::AppError::internal)?,
            reopen_count: r.try_get("", "reopen_count")?,
            text: text.as_deref().unwrap_or_default(),
            received_at,
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
