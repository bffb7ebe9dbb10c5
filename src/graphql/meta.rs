//! What a client needs to know about the server itself.

use async_graphql::{Context, Object, SimpleObject};

use crate::graphql::{caller, state};
use crate::service::mail;

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

#[derive(Default)]
pub struct MetaMutation;

#[Object]
impl MetaMutation {
    /// ADMIN: sends a test e-mail to `to` through `MCU_SMTP_URL` to check the mail settings;
    /// true when the mail server took it (CONFLICT when e-mail is not configured or the
    /// server refused; the reason is in the server log).
    #[graphql(complexity = 100)]
    async fn send_test_email(&self, ctx: &Context<'_>, to: String) -> async_graphql::Result<bool> {
        mail::send_test(state(ctx), caller(ctx), &to).await?;
        Ok(true)
    }
}
