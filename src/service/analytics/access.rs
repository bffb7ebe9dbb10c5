//! The access rule applied. Every public function of the analytics service starts with
//! [`Scoped::of`], the only way to get what the counting functions take, so no caller counts
//! more than the principal may read, whoever the caller is.

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{Filter, VisibleAppeal};
use crate::domain::access::Principal;
use crate::domain::analytics::reach;
use crate::entity::appeal;
use crate::error::AppResult;
use crate::service::scope::AppealScope;
use crate::state::AppState;

/// One call's filter narrowed to the caller's reach, with the caller's territory subtree
/// loaded once for all the queries of the call.
#[derive(Debug)]
pub(super) struct Scoped {
    filter: Filter,
    territories: Option<HashSet<i64>>,
    recipient: Option<i64>,
    appeals: Option<AppealScope>,
}

impl Scoped {
    /// Checks that `who` may read analytics and narrows `filter` to what it may count.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` or `FORBIDDEN` as [`reach`] decides; `FORBIDDEN` when an executor
    /// asks for another recipient.
    pub(super) async fn of(state: &AppState, who: &Principal, filter: &Filter) -> AppResult<Self> {
        let reach = reach(who)?;
        let recipient_id = reach.recipients(&filter.recipient_id)?;
        let territories = match reach.territory {
            Some(root) => Some(
                crate::service::reference::snapshot_with(state, None, None, Some(root)).await?.territory_subtree(root),
            ),
            None => None,
        };
        let appeals = match who {
            Principal::User(u) if reach.names_appeals => Some(AppealScope::for_user(u, territories.clone())),
            _ => None,
        };
        Ok(Self { filter: Filter { recipient_id, ..filter.clone() }, territories, recipient: reach.recipient, appeals })
    }

    /// The caller's filter, its recipients narrowed to the caller's own when it is limited.
    pub(super) fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The caller's territory subtree, when it is limited to one.
    pub(super) fn territories(&self) -> Option<&HashSet<i64>> {
        self.territories.as_ref()
    }

    /// The recipient the caller is limited to (an executor), if any.
    pub(super) fn recipient(&self) -> Option<i64> {
        self.recipient
    }

    /// Which appeals the caller may be shown by number; `None` when none (tokens).
    pub(super) fn appeals(&self) -> Option<&AppealScope> {
        self.appeals.as_ref()
    }

    /// Whether the caller may be shown appeals at all (not a token).
    pub(super) fn shows_appeals(&self) -> bool {
        self.appeals.is_some()
    }

    /// Those of the appeals `ids` the caller may be shown, by id (none for tokens).
    pub(super) async fn shown(
        &self,
        conn: &impl ConnectionTrait,
        ids: Vec<i64>,
    ) -> AppResult<HashMap<i64, VisibleAppeal>> {
        let Some(scope) = &self.appeals else { return Ok(HashMap::new()) };
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = appeal::Entity::find().filter(appeal::Column::Id.is_in(ids)).all(conn).await?;
        let mut shown = HashMap::new();
        for row in rows.into_iter().filter(|a| scope.sees(a)) {
            let a = crate::domain::appeal::Appeal::try_from(row)?;
            shown.insert(a.id.0, VisibleAppeal { handles: scope.handles(&a), model: a });
        }
        Ok(shown)
    }
}
