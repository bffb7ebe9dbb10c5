//! Analytics as plain values: who may read them and how far (the pure half of the access
//! rule; `service::analytics` applies it to every call), and the figures they compute (what
//! the service returns, GraphQL shows and the memo's text reads).

use super::access::{Access, ApiScope, Denied, Principal, Role};
use super::appeal::RecipientId;
use super::rating::rate;
use crate::error::{AppError, AppResult};

/// People who read analytics (an EXECUTOR only of its own recipient).
pub const READERS: &[Role] = &[Role::Curator, Role::Coordinator, Role::Head, Role::Executor];

/// Who may read analytics at all: [`READERS`] and tokens with ANALYTICS_READ. The rule of
/// `Query.analytics` and of the memo exports.
pub const READ: Access = Access::RolesOrScopes(READERS, &[ApiScope::AnalyticsRead]);

/// How far one caller's analytics reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// A person limited to a territory counts only the appeals of its subtree.
    pub territory: Option<i64>,
    /// An EXECUTOR who holds none of the other reading roles counts only its recipient.
    pub recipient: Option<i64>,
    /// Whether appeals may be named (problem point samples, the memo's overdue list): people
    /// only, and then within their appeal scope; never tokens.
    pub names_appeals: bool,
}

/// The reach of a caller, or why it may not read analytics at all.
///
/// # Errors
/// `UNAUTHENTICATED` for an anonymous caller; `FORBIDDEN` for one outside [`READ`] and for
/// an executor-only person without a recipient. The server's own [`Principal::System`] (the
/// weekly memo job, writing the city-wide memo for the Head) reaches everything.
pub fn reach(who: &Principal) -> AppResult<Reach> {
    if matches!(who, Principal::System) {
        return Ok(Reach { territory: None, recipient: None, names_appeals: true });
    }
    match READ.check(who) {
        Ok(()) => {}
        Err(Denied::Unauthenticated) => return Err(AppError::Unauthenticated("sign in to use this operation".into())),
        Err(Denied::Forbidden) => return Err(AppError::Forbidden("you are not allowed to use this operation".into())),
    }
    let Principal::User(u) = who else { return Ok(Reach::default()) };
    let executor_only = u.has(Role::Executor) && !u.has_any(&[Role::Curator, Role::Coordinator, Role::Head]);
    let recipient = if executor_only {
        Some(u.recipient_id.ok_or_else(|| AppError::Forbidden("this executor has no recipient".into()))?)
    } else {
        None
    };
    Ok(Reach { territory: u.territory_id, recipient, names_appeals: true })
}

impl Reach {
    /// The recipients a call may count when it asks for `asked` (empty: all it may).
    ///
    /// # Errors
    /// `FORBIDDEN` when a caller limited to its recipient asks for another one.
    pub fn recipients(&self, asked: &[RecipientId]) -> AppResult<Vec<RecipientId>> {
        match self.recipient {
            None => Ok(asked.to_vec()),
            Some(own) if asked.iter().all(|r| r.0 == own) => Ok(vec![RecipientId(own)]),
            Some(_) => Err(AppError::Forbidden("an executor sees analytics of its own recipient only".into())),
        }
    }
}

/// A count under a key with a Russian label.
#[derive(Debug, Clone, PartialEq)]
pub struct CountBy {
    pub key: String,
    pub label: String,
    pub count: i64,
}

/// Summary KPIs of a period.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub total: i64,
    pub by_channel: Vec<CountBy>,
    pub by_kind: Vec<CountBy>,
    pub by_status: Vec<CountBy>,
    pub answered: i64,
    pub answered_on_time: i64,
    pub overdue_now: i64,
    pub due_soon_now: i64,
    pub median_response_hours: Option<f64>,
    pub satisfied: i64,
    pub rated: i64,
    pub full: i64,
    pub assessed: i64,
    pub reopened: i64,
    /// Incidents first reacted to (with the reaction as a fact), of `total`.
    pub reacted: i64,
    /// Of `reacted`: reacted to by the reaction term.
    pub reacted_on_time: i64,
    /// Median working hours from receipt to the first reaction.
    pub median_reaction_hours: Option<f64>,
}

impl Summary {
    /// answeredOnTime / answered.
    pub fn on_time_rate(&self) -> Option<f64> {
        rate(self.answered_on_time, self.answered)
    }
    /// reactedOnTime / reacted.
    pub fn reaction_on_time_rate(&self) -> Option<f64> {
        rate(self.reacted_on_time, self.reacted)
    }
    /// satisfied / rated.
    pub fn satisfied_rate(&self) -> Option<f64> {
        rate(self.satisfied, self.rated)
    }
    /// FULL / assessed.
    pub fn full_answer_rate(&self) -> Option<f64> {
        rate(self.full, self.assessed)
    }
    /// reopened at least once / total.
    pub fn reopened_rate(&self) -> Option<f64> {
        rate(self.reopened, self.total)
    }
}

/// Growth of one group over its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthItem {
    pub key: String,
    pub label: String,
    pub count: i64,
    pub baseline: f64,
    pub growth: f64,
    pub significant: bool,
    pub drivers: Vec<CountBy>,
}

/// Something shown by its name (a recipient in the rating).
pub trait Named {
    /// The name as people read it.
    fn name(&self) -> &str;
}

impl Named for String {
    fn name(&self) -> &str {
        self
    }
}

/// One recipient's line of the rating. `R` is the recipient as the caller holds it: the
/// service its stored row, a unit test just a name.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingRow<R> {
    pub recipient: R,
    pub rank: Option<i32>,
    pub total: i64,
    /// Whether anything was received for it in the period; without, every rate and the
    /// score are `None`.
    pub has_volume: bool,
    pub on_time_rate: Option<f64>,
    pub full_answer_rate: Option<f64>,
    pub satisfied_rate: Option<f64>,
    /// Reopened at least once ÷ total: the reopenings counted against the recipient.
    pub reopened_rate: Option<f64>,
    /// Incidents: first reactions by their term ÷ first reactions.
    pub reaction_on_time_rate: Option<f64>,
    /// Incidents: median working hours to the first reaction.
    pub median_reaction_hours: Option<f64>,
    pub median_response_hours: Option<f64>,
    pub score: Option<f64>,
    pub enough_data: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::{TokenPrincipal, UserPrincipal};

    fn person(roles: &[Role], recipient_id: Option<i64>, territory_id: Option<i64>) -> Principal {
        Principal::User(UserPrincipal {
            id: 1,
            email: "u@mcu.test".into(),
            roles: roles.to_vec(),
            channels: Vec::new(),
            recipient_id,
            territory_id,
        })
    }

    fn token(scopes: &[ApiScope]) -> Principal {
        Principal::Token(TokenPrincipal { id: 1, name: "bi".into(), scopes: scopes.to_vec() })
    }

    fn code(r: AppResult<Reach>) -> &'static str {
        r.err().map_or("OK", |e| e.code())
    }

    #[test]
    fn who_is_refused() {
        assert_eq!(code(reach(&Principal::Anonymous)), "UNAUTHENTICATED");
        assert_eq!(code(reach(&Principal::System)), "OK", "the weekly memo job");
        assert_eq!(code(reach(&person(&[Role::Admin], None, None))), "FORBIDDEN");
        assert_eq!(code(reach(&person(&[], None, None))), "FORBIDDEN");
        assert_eq!(code(reach(&token(&[ApiScope::AppealsIngest, ApiScope::AppealsRead]))), "FORBIDDEN");
        assert_eq!(code(reach(&person(&[Role::Executor], None, None))), "FORBIDDEN", "an executor without a recipient");
        assert_eq!(code(reach(&person(&[Role::Executor, Role::Admin], None, None))), "FORBIDDEN");
    }

    #[test]
    fn how_far_the_others_reach() {
        let all_people = Reach { names_appeals: true, ..Reach::default() };
        for role in [Role::Curator, Role::Coordinator, Role::Head] {
            assert_eq!(reach(&person(&[role], None, None)).ok(), Some(all_people.clone()), "{role}");
            let both = person(&[role, Role::Executor], Some(4), None);
            assert_eq!(
                reach(&both).ok(),
                Some(all_people.clone()),
                "{role} with EXECUTOR is not limited to a recipient"
            );
        }
        assert_eq!(
            reach(&person(&[Role::Executor], Some(4), Some(9))).ok(),
            Some(Reach { territory: Some(9), recipient: Some(4), names_appeals: true })
        );
        assert_eq!(reach(&person(&[Role::Head], None, Some(9))).ok().and_then(|r| r.territory), Some(9));
        assert_eq!(reach(&token(&[ApiScope::AnalyticsRead])).ok(), Some(Reach::default()), "tokens name no appeals");
    }

    #[test]
    fn an_executor_asks_only_for_its_own_recipient() {
        let own = Reach { recipient: Some(4), ..Reach::default() };
        let r = RecipientId;
        assert_eq!(own.recipients(&[]).ok(), Some(vec![r(4)]));
        assert_eq!(own.recipients(&[r(4), r(4)]).ok(), Some(vec![r(4)]));
        assert_eq!(own.recipients(&[r(4), r(5)]).err().map(|e| e.code()), Some("FORBIDDEN"));
        assert_eq!(Reach::default().recipients(&[r(5), r(6)]).ok(), Some(vec![r(5), r(6)]));
    }

    #[test]
    fn read_is_the_rule_of_query_analytics() {
        assert_eq!(READ.check(&person(&[Role::Head], None, None)), Ok(()));
        assert_eq!(READ.check(&token(&[ApiScope::AnalyticsRead])), Ok(()));
        assert_eq!(READ.check(&person(&[Role::Admin], None, None)), Err(Denied::Forbidden));
    }
}
