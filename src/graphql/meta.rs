//! What a client needs to know about the server itself.

use async_graphql::{Context, Object, SimpleObject};

use crate::graphql::state;

/// The server a client talks to.
#[derive(SimpleObject)]
pub struct ServerInfo {
    /// The municipality's IANA time zone (`MCU_TIMEZONE`): deadlines, dates and working days
    /// are counted in it, and a UI shows instants in it.
    pub time_zone: String,
    /// The server's version.
    pub version: String,
}

#[derive(Default)]
pub struct MetaQuery;

#[Object]
impl MetaQuery {
    /// The server's time zone and version (public).
    async fn server_info(&self, ctx: &Context<'_>) -> ServerInfo {
        ServerInfo {
            time_zone: state(ctx).settings.timezone.name().to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}
