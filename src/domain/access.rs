//! Who is calling and what they may do: roles, channels, API scopes and access rules.

use std::fmt;
use std::str::FromStr;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $s:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, async_graphql::Enum)]
        $(#[$m])*
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// The stored and GraphQL name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($s => Ok(Self::$variant),)+ other => Err(format!("unknown {} '{}'", stringify!($name), other)) }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }

        /// As its stored name (in the JSON of history entries).
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use string_enum;

string_enum!(
    /// A staff role. One person may hold several.
    Role {
        /// Manages users, tokens and reference data.
        Admin => "ADMIN",
        /// Runs the centre (куратор МЦУ): sees everything in its territory, approves roadmaps.
        Curator => "CURATOR",
        /// Responsible for channels (ИМ / ПОС / Госпаблики): triages, routes, checks answers.
        Coordinator => "COORDINATOR",
        /// Answers appeals assigned to its recipient.
        Executor => "EXECUTOR",
        /// Head of the city: reads analytics and memos.
        Head => "HEAD",
    }
);

string_enum!(
    /// What an integration token may do.
    ApiScope {
        /// Read aggregated analytics (no personal data).
        AnalyticsRead => "ANALYTICS_READ",
        /// Push appeals and incidents.
        AppealsIngest => "APPEALS_INGEST",
        /// Read appeals with personal data masked.
        AppealsRead => "APPEALS_READ",
        /// The regional centre (ЦУР): send requests and read them with the materials sent in
        /// answer.
        CurRequests => "CUR_REQUESTS",
    }
);

string_enum!(
    /// Where an appeal came from.
    Channel {
        /// Платформа обратной связи (Госуслуги).
        Pos => "POS",
        /// «Инцидент менеджмент» (social networks).
        Incident => "INCIDENT",
        /// The administration's official social-network pages.
        Gospabliki => "GOSPABLIKI",
        Email => "EMAIL",
        Post => "POST",
        /// Personal reception.
        Personal => "PERSONAL",
        Phone => "PHONE",
        Website => "WEBSITE",
        Other => "OTHER",
    }
);

/// Parses a comma-separated list of enum names as stored in the database.
pub fn parse_list<T: FromStr>(s: &str) -> Vec<T> {
    s.split(',').filter(|p| !p.is_empty()).filter_map(|p| p.trim().parse().ok()).collect()
}

/// Formats a list of enum values for storage.
pub fn format_list<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrincipal {
    pub id: i64,
    pub email: String,
    pub roles: Vec<Role>,
    pub channels: Vec<Channel>,
    pub recipient_id: Option<i64>,
    pub territory_id: Option<i64>,
}

impl UserPrincipal {
    /// Whether the person holds the role.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the person holds any of the roles.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.has(*r))
    }
}

/// An integration calling with an API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPrincipal {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<ApiScope>,
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Principal {
    #[default]
    Anonymous,
    User(UserPrincipal),
    Token(TokenPrincipal),
    /// The server itself or an operator at the command line (never an HTTP caller).
    System,
}

impl Principal {
    /// The person, if the caller is one.
    pub fn user(&self) -> Option<&UserPrincipal> {
        match self {
            Self::User(u) => Some(u),
            _ => None,
        }
    }

    /// A short label for logs and the audit trail: `user:7 <a@b>` or `token:3 (name)`.
    pub fn label(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".into(),
            Self::User(u) => format!("user:{} <{}>", u.id, u.email),
            Self::Token(t) => format!("token:{} ({})", t.id, t.name),
            Self::System => "system".into(),
        }
    }
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, including anonymous citizens.
    Public,
    /// Any signed-in person (not an integration token).
    AnyUser,
    /// People holding at least one of the roles.
    Roles(&'static [Role]),
    /// People holding one of the roles, or tokens holding one of the scopes.
    RolesOrScopes(&'static [Role], &'static [ApiScope]),
}

/// Why a caller was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No (valid) credentials: sign in first.
    Unauthenticated,
    /// Signed in, but not allowed.
    Forbidden,
}

impl Access {
    /// Decides whether `who` may call an operation governed by this rule.
    ///
    /// A token never passes a rule that names only roles, and a person never passes on scopes.
    pub fn check(self, who: &Principal) -> Result<(), Denied> {
        match (self, who) {
            (Self::Public, _) => Ok(()),
            (_, Principal::Anonymous) => Err(Denied::Unauthenticated),
            (Self::AnyUser, Principal::User(_)) => Ok(()),
            (Self::Roles(roles) | Self::RolesOrScopes(roles, _), Principal::User(u)) if u.has_any(roles) => Ok(()),
            (Self::RolesOrScopes(_, scopes), Principal::Token(t)) if scopes.iter().any(|s| t.scopes.contains(s)) => {
                Ok(())
            }
            _ => Err(Denied::Forbidden),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(roles: &[Role]) -> Principal {
        Principal::User(UserPrincipal {
            id: 1,
            email: "a@b.c".into(),
            roles: roles.to_vec(),
            channels: vec![],
            recipient_id: None,
            territory_id: None,
        })
    }

    fn token(scopes: &[ApiScope]) -> Principal {
        Principal::Token(TokenPrincipal { id: 1, name: "t".into(), scopes: scopes.to_vec() })
    }

    #[test]
    fn anonymous_is_unauthenticated_everywhere_but_public() {
        assert_eq!(Access::Public.check(&Principal::Anonymous), Ok(()));
        assert_eq!(Access::AnyUser.check(&Principal::Anonymous), Err(Denied::Unauthenticated));
        assert_eq!(Access::Roles(&[Role::Admin]).check(&Principal::Anonymous), Err(Denied::Unauthenticated));
    }

    #[test]
    fn tokens_never_pass_role_rules_and_people_never_pass_scope_rules() {
        let all_scopes = token(ApiScope::ALL);
        assert_eq!(Access::Roles(Role::ALL).check(&all_scopes), Err(Denied::Forbidden));
        assert_eq!(Access::AnyUser.check(&all_scopes), Err(Denied::Forbidden));
        let rule = Access::RolesOrScopes(&[Role::Curator], &[ApiScope::AnalyticsRead]);
        assert_eq!(rule.check(&token(&[ApiScope::AnalyticsRead])), Ok(()));
        assert_eq!(rule.check(&token(&[ApiScope::AppealsIngest])), Err(Denied::Forbidden));
        assert_eq!(rule.check(&user(&[Role::Curator])), Ok(()));
        assert_eq!(rule.check(&user(&[Role::Executor])), Err(Denied::Forbidden));
    }

    #[test]
    fn lists_round_trip() {
        let roles = vec![Role::Curator, Role::Head];
        assert_eq!(parse_list::<Role>(&format_list(&roles)), roles);
        assert!(parse_list::<Role>("").is_empty());
    }
}
