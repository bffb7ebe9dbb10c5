//! Row scope for appeals: who sees which appeals, who handles them (sees personal data) and
//! who may act on them. The same rules exist as a SQL condition (lists) and as checks on one
//! loaded appeal (single reads and mutations), so they cannot disagree.

use std::collections::HashSet;

use sea_orm::Condition;
use sea_orm::sea_query::Expr;

use crate::db::literal_in;
use crate::domain::access::{ApiScope, Channel, Principal, Role, UserPrincipal};
use crate::domain::appeal::Placed;
use crate::entity::appeal;
use crate::error::AppResult;
use crate::state::AppState;

/// What one caller may see and do with appeals.
#[derive(Debug, Clone, Default)]
pub struct AppealScope {
    /// Sees every appeal (a token with APPEALS_READ).
    all: bool,
    /// Territories the user is limited to (the subtree of its territory), if limited.
    territories: Option<HashSet<i64>>,
    /// CURATOR: every appeal of its territory.
    curator: bool,
    /// HEAD: reads every appeal of its territory, with personal data masked.
    head: bool,
    /// COORDINATOR: appeals of these channels.
    channels: Vec<Channel>,
    /// EXECUTOR: appeals assigned to this recipient.
    recipient: Option<i64>,
}

impl AppealScope {
    /// The scope of a caller; a user limited to a territory is limited to its subtree, taken
    /// from the reference data in memory (no statement unless that data is stale).
    pub async fn of(state: &AppState, who: &Principal) -> AppResult<Self> {
        match who {
            Principal::Token(t) => Ok(Self { all: t.scopes.contains(&ApiScope::AppealsRead), ..Self::default() }),
            Principal::User(u) => {
                let territories = match u.territory_id {
                    Some(root) => Some(
                        super::reference::snapshot_with(state, None, None, Some(root)).await?.territory_subtree(root),
                    ),
                    None => None,
                };
                Ok(Self::for_user(u, territories))
            }
            Principal::Anonymous | Principal::System => Ok(Self::default()),
        }
    }

    /// Sees every appeal (for checks the system makes on its own behalf).
    pub fn for_token_reading_all() -> Self {
        Self { all: true, ..Self::default() }
    }

    /// The scope of a person whose territory subtree is already known.
    pub fn for_user(u: &UserPrincipal, territories: Option<HashSet<i64>>) -> Self {
        Self {
            all: false,
            territories,
            curator: u.has(Role::Curator),
            head: u.has(Role::Head),
            channels: if u.has(Role::Coordinator) { u.channels.clone() } else { Vec::new() },
            recipient: if u.has(Role::Executor) { u.recipient_id } else { None },
        }
    }

    fn in_territory(&self, a: &impl Placed) -> bool {
        match &self.territories {
            None => true,
            Some(set) => a.territory_id().is_some_and(|t| set.contains(&t)),
        }
    }

    fn coordinates(&self, a: &impl Placed) -> bool {
        self.in_territory(a) && a.channel().is_some_and(|c| self.channels.contains(&c))
    }

    fn executes(&self, a: &impl Placed) -> bool {
        self.recipient.is_some() && a.recipient_id() == self.recipient
    }

    /// Whether the caller may read the appeal at all (others get NOT_FOUND).
    pub fn sees(&self, a: &impl Placed) -> bool {
        self.all || ((self.curator || self.head) && self.in_territory(a)) || self.coordinates(a) || self.executes(a)
    }

    /// Whether the caller handles the appeal and so sees the author's personal data.
    pub fn handles(&self, a: &impl Placed) -> bool {
        (self.curator && self.in_territory(a)) || self.coordinates(a) || self.executes(a)
    }

    /// Whether the caller handles every appeal it may see (and so reads their personal data):
    /// not a token reading every appeal, not the Head (unless it is also the curator of the
    /// same territory).
    pub fn handles_all_it_sees(&self) -> bool {
        !self.all && (!self.head || self.curator)
    }

    /// Whether the caller may route it: register, assign, redirect, extend, assess, close…
    pub fn routes(&self, a: &impl Placed) -> bool {
        (self.curator && self.in_territory(a)) || self.coordinates(a)
    }

    /// Whether the caller may work on it and answer it.
    pub fn answers(&self, a: &impl Placed) -> bool {
        self.routes(a) || self.executes(a)
    }

    /// Whether the caller may create an appeal in this channel (curators any, coordinators theirs).
    pub fn creates_in(&self, channel: Channel) -> bool {
        self.curator || self.channels.contains(&channel)
    }

    /// The same visibility as [`Self::sees`], as a SQL condition.
    pub fn condition(&self) -> Condition {
        if self.all {
            return Condition::all();
        }
        let territory = || match &self.territories {
            None => Condition::all(),
            Some(set) => Condition::all().add(literal_in(appeal::Column::TerritoryId, set.iter().copied())),
        };
        let mut any = Condition::any();
        let mut empty = true;
        if self.curator || self.head {
            any = any.add(territory());
            empty = false;
        }
        if !self.channels.is_empty() {
            any =
                any.add(territory().add(literal_in(appeal::Column::Channel, self.channels.iter().map(|c| c.as_str()))));
            empty = false;
        }
        if let Some(r) = self.recipient {
            any = any.add(literal_in(appeal::Column::RecipientId, [r]));
            empty = false;
        }
        if empty { Condition::all().add(Expr::cust("1 = 0")) } else { any }
    }
}
