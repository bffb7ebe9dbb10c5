//! Reading the audit trail: its filters (actor, action, target, local period), a page of it
//! and its export as a workbook. Writing it is `service::audit`.

use chrono::NaiveDate;
use rust_xlsxwriter::{Format, XlsxError};

use super::exports::{EXPORT_BATCH, TableWorkbook, excel_time};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::audit_log;
use crate::error::{AppError, AppResult};

/// At most this many actions in one filter.
pub const MAX_ACTIONS: usize = 50;
/// At most this many characters in an action, a target or a target prefix of a filter.
pub const MAX_FILTER_TEXT: usize = 200;

/// Who acted, as a filter names them: `user:7` or `token:3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorRef {
    User(i64),
    Token(i64),
}

impl ActorRef {
    /// `user:<id>` or `token:<id>` (the start of the entry's `actor` label).
    ///
    /// # Errors
    /// `BAD_USER_INPUT` at `path` for anything else.
    pub fn parse(path: &str, s: &str) -> AppResult<Self> {
        let bad = || AppError::bad(path, "is not 'user:<id>' or 'token:<id>'");
        let (kind, id) = s.trim().split_once(':').ok_or_else(bad)?;
        let id = id.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(bad)?;
        match kind {
            "user" => Ok(Self::User(id)),
            "token" => Ok(Self::Token(id)),
            _ => Err(bad()),
        }
    }
}

/// Which audit entries to show; every part narrows (AND); empty means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<ActorRef>,
    /// Any of these actions (e.g. `changeRoles`, `read.personalData`).
    pub action: Vec<String>,
    /// Exactly this target (e.g. `appeal:123`).
    pub target: Option<String>,
    /// Targets starting with this (e.g. `appeal:`), compared case-sensitively.
    pub target_prefix: Option<String>,
    /// First local date (inclusive), in the municipality's zone.
    pub from: Option<NaiveDate>,
    /// Last local date (inclusive).
    pub to: Option<NaiveDate>,
}

impl AuditFilter {
    /// Checks caps and consistency; paths are under `filter.`.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` with the field path of the first fault.
    pub fn validate(&self) -> AppResult<()> {
        if self.action.len() > MAX_ACTIONS {
            return Err(AppError::bad("filter.action", format!("at most {MAX_ACTIONS} actions")));
        }
        for (i, a) in self.action.iter().enumerate() {
            if a.trim().is_empty() || a.chars().count() > MAX_FILTER_TEXT {
                return Err(AppError::bad(
                    format!("filter.action.{i}"),
                    format!("must be 1 to {MAX_FILTER_TEXT} characters"),
                ));
            }
        }
        for (path, v) in [("filter.target", &self.target), ("filter.targetPrefix", &self.target_prefix)] {
            if let Some(v) = v
                && (v.is_empty() || v.chars().count() > MAX_FILTER_TEXT)
            {
                return Err(AppError::bad(path, format!("must be 1 to {MAX_FILTER_TEXT} characters")));
            }
        }
        if self.target.is_some() && self.target_prefix.is_some() {
            return Err(AppError::bad("filter.targetPrefix", "give either target or targetPrefix"));
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(AppError::bad("filter.to", "must not be before from"));
        }
        Ok(())
    }

    /// The SQL condition, days bounded by local midnights of `tz`.
    fn condition(&self, tz: chrono_tz::Tz) -> Condition {
        use audit_log::Column as C;
        let mut c = Condition::all();
        match self.actor {
            Some(ActorRef::User(id)) => c = c.add(C::ActorUserId.eq(id)),
            Some(ActorRef::Token(id)) => c = c.add(C::ActorTokenId.eq(id)),
            None => {}
        }
        if !self.action.is_empty() {
            c = c.add(C::Action.is_in(self.action.iter().map(|a| a.trim().to_string())));
        }
        if let Some(t) = &self.target {
            c = c.add(C::Target.eq(t.clone()));
        }
        if let Some(p) = &self.target_prefix {
            // `substr` rather than LIKE: no wildcards to escape, and case-sensitive on both
            // backends (SQLite's LIKE is not).
            // `int4` arguments: PostgreSQL has no `substr(text, bigint, bigint)`.
            let len = i32::try_from(p.chars().count()).unwrap_or(i32::MAX);
            c = c.add(Expr::expr(Func::cust("substr").arg(Expr::col(C::Target)).arg(1_i32).arg(len)).eq(p.clone()));
        }
        if let Some(d) = self.from {
            c = c.add(C::At.gte(super::appeal_query::local_midnight(tz, d)));
        }
        if let Some(d) = self.to {
            let next = d.succ_opt().unwrap_or(d);
            c = c.add(C::At.lt(super::appeal_query::local_midnight(tz, next)));
        }
        c
    }
}

/// A page of the audit trail matching `filter`, newest first, and the filtered count.
///
/// # Errors
/// `BAD_USER_INPUT` for a filter out of bounds; database errors.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &AuditFilter,
    tz: chrono_tz::Tz,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<audit_log::Model>, u64)> {
    filter.validate()?;
    let q = audit_log::Entity::find().filter(filter.condition(tz));
    let total = q.clone().count(conn).await?;
    let rows = q.order_by_desc(audit_log::Column::Id).offset(offset).limit(limit).all(conn).await?;
    Ok((rows, total))
}

/// Columns of the audit export.
const AUDIT_HEAD: [&str; 8] = ["№", "Время", "Кто", "Действие", "Объект", "IP-адрес", "Запрос", "Подробности"];

/// An audit export: the workbook in an anonymous temporary file and how many entries it holds.
pub struct AuditExport {
    pub file: std::fs::File,
    pub rows: u64,
}

/// Widths of the columns of [`AUDIT_HEAD`].
const AUDIT_WIDTHS: [f64; 8] = [10.0, 18.0, 32.0, 24.0, 24.0, 16.0, 20.0, 60.0];

/// The entries matching `filter`, newest first, as a workbook: read in keyset batches by id
/// and written row by row to temporary files, so memory does not grow with the log. Every
/// text is written as a string cell, never as a formula (an actor label or a target that
/// starts with `=` stays text).
///
/// # Errors
/// `BAD_USER_INPUT` for a filter out of bounds; database errors; `INTERNAL` when the
/// temporary files cannot be written.
pub async fn export_xlsx(
    conn: &impl ConnectionTrait,
    filter: &AuditFilter,
    tz: chrono_tz::Tz,
    sheet_rows: u32,
) -> AppResult<AuditExport> {
    filter.validate()?;
    let xl = |e: XlsxError| AppError::internal(e);
    let mut book = TableWorkbook::new("Журнал", &AUDIT_HEAD, &AUDIT_WIDTHS, sheet_rows)?;
    let time_format = Format::new().set_num_format("dd.mm.yyyy hh:mm:ss");
    let mut before = i64::MAX;
    let condition = filter.condition(tz);
    loop {
        let batch = audit_log::Entity::find()
            .filter(condition.clone())
            .filter(audit_log::Column::Id.lt(before))
            .order_by_desc(audit_log::Column::Id)
            .limit(EXPORT_BATCH)
            .all(conn)
            .await?;
        let Some(last) = batch.last() else { break };
        before = last.id;
        for e in batch {
            let (ws, row) = book.next_row()?;
            ws.write_number(row, 0, e.id as f64).map_err(xl)?;
            ws.write_datetime_with_format(row, 1, excel_time(e.at, tz).map_err(xl)?, &time_format).map_err(xl)?;
            let texts = [
                Some(e.actor.as_str()),
                Some(e.action.as_str()),
                e.target.as_deref(),
                e.ip.as_deref(),
                e.request_id.as_deref(),
                e.data.as_deref(),
            ];
            for (i, t) in texts.into_iter().enumerate() {
                if let Some(t) = t {
                    ws.write_string(row, (i + 2) as u16, super::exports::excel_text(t)).map_err(xl)?;
                }
            }
        }
    }
    let rows = book.rows;
    let file = book.finish().await?;
    Ok(AuditExport { file, rows })
}

#[cfg(test)]
mod tests {
    use super::{ActorRef, AuditFilter};

    #[test]
    fn actor_refs_parse_and_bad_ones_are_refused() {
        assert_eq!(ActorRef::parse("a", "user:7").ok(), Some(ActorRef::User(7)));
        assert_eq!(ActorRef::parse("a", "token:3").ok(), Some(ActorRef::Token(3)));
        for bad in ["user", "user:0", "user:-1", "admin:1", "token:x", ""] {
            assert!(ActorRef::parse("a", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_out_of_bounds_are_refused_with_their_path() {
        let path = |f: AuditFilter| match f.validate() {
            Err(crate::error::AppError::BadInput(v)) => v[0].path.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(path(AuditFilter { action: vec!["a".into(); 51], ..Default::default() }), "filter.action");
        assert_eq!(path(AuditFilter { action: vec!["a".into(), " ".into()], ..Default::default() }), "filter.action.1");
        assert_eq!(path(AuditFilter { target: Some("x".repeat(201)), ..Default::default() }), "filter.target");
        assert_eq!(
            path(AuditFilter { target: Some("a".into()), target_prefix: Some("a".into()), ..Default::default() }),
            "filter.targetPrefix"
        );
        let d = |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert_eq!(path(AuditFilter { from: d("2026-12-02"), to: d("2026-12-01"), ..Default::default() }), "filter.to");
        assert!(AuditFilter { from: d("2026-12-01"), to: d("2026-12-01"), ..Default::default() }.validate().is_ok());
    }
}
