//! The HTTP client of outgoing webhooks: it posts a signed body and reports what happened,
//! and it refuses targets on private or local addresses (SSRF) unless
//! `MCU_WEBHOOK_ALLOW_PRIVATE` is set.
//!
//! The address check sits in the client's resolver, so the addresses checked are the very
//! addresses the connection is made to: a host name that resolves to a public address when
//! checked and to a private one a moment later (DNS rebinding) cannot slip through. Literal
//! IP addresses in a URL are never resolved, so they are checked before the request. Redirects
//! are not followed, system proxies are not used, and no more of the answer than
//! [`BODY_PREVIEW`] bytes is read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::Settings;
use crate::domain::webhooks::refused_address;

/// Bytes of a receiver's answer kept for the delivery log (the rest is not read).
pub const BODY_PREVIEW: usize = 512;
/// How long resolving a host name may take when a webhook is created.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a target is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The host name does not resolve.
    #[error("the host name cannot be resolved")]
    Unresolvable,
    /// It resolves to (or is) an address that webhooks may not reach.
    #[error("points to {0}; webhooks may not reach private or local networks (MCU_WEBHOOK_ALLOW_PRIVATE)")]
    Refused(&'static str),
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why it failed, for the delivery log (the receiver's status and the start of its answer,
    /// or what went wrong before one).
    pub error: Option<String>,
    pub duration: Duration,
}

/// A file fetched from a link: spooled to a temporary file, with the last segment of the
/// link's path as its name.
pub struct Fetched {
    pub file: std::fs::File,
    pub name: String,
}

/// The resolver that refuses addresses webhooks may not reach.
struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve(&host, allow_private).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Resolves `host` and checks every address it has (the port is the connector's business).
async fn resolve(host: &str, allow_private: bool) -> Result<Vec<SocketAddr>, TargetError> {
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host, 0)).await.map_err(|_| TargetError::Unresolvable)?.collect();
    if addrs.is_empty() {
        return Err(TargetError::Unresolvable);
    }
    if !allow_private && let Some(why) = addrs.iter().find_map(|a| refused_address(a.ip())) {
        return Err(TargetError::Refused(why));
    }
    Ok(addrs)
}

/// Sends webhook requests.
pub struct WebhookClient {
    client: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
}

impl WebhookClient {
    /// The client of the settings (`MCU_WEBHOOK_TIMEOUT_MS`, `MCU_WEBHOOK_ALLOW_PRIVATE`).
    ///
    /// # Errors
    /// When the TLS configuration cannot be built.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let allow_private = settings.webhook_allow_private;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.webhook_timeout)
            .connect_timeout(settings.webhook_timeout)
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .user_agent(concat!("mcu-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(2)
            .build()
            .map_err(|e| format!("the webhook client cannot be built: {e}"))?;
        Ok(Self { client, allow_private, timeout: settings.webhook_timeout })
    }

    /// Checks where a URL (already checked for its form) points: a literal address directly,
    /// a host name by resolving it.
    ///
    /// # Errors
    /// [`TargetError`] when the host does not resolve or points where webhooks may not go.
    pub async fn check_target(&self, url: &url::Url) -> Result<(), TargetError> {
        match url.host() {
            None => Err(TargetError::Unresolvable),
            Some(url::Host::Ipv4(ip)) => self.check_literal(ip.into()),
            Some(url::Host::Ipv6(ip)) => self.check_literal(ip.into()),
            Some(url::Host::Domain(name)) => {
                tokio::time::timeout(RESOLVE_TIMEOUT, resolve(name, self.allow_private))
                    .await
                    .map_err(|_| TargetError::Unresolvable)??;
                Ok(())
            }
        }
    }

    fn check_literal(&self, ip: std::net::IpAddr) -> Result<(), TargetError> {
        match refused_address(ip) {
            Some(why) if !self.allow_private => Err(TargetError::Refused(why)),
            _ => Ok(()),
        }
    }

    /// Posts `body` (JSON) to `url` with `headers`; a 2xx answer is a success, anything else
    /// (a redirect included) a failure with its reason.
    pub async fn post(&self, url: &str, headers: &[(&'static str, String)], body: String) -> Outcome {
        let started = Instant::now();
        let fail = |error: String| Outcome { status: None, error: Some(error), duration: started.elapsed() };
        let Ok(parsed) = url::Url::parse(url) else {
            return fail("the webhook's URL cannot be read".into());
        };
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::from(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::from(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && let Err(e) = self.check_literal(ip)
        {
            return fail(format!("refused: the URL {e}"));
        }
        let mut request = self.client.post(parsed).header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.body(body).send().await {
            Ok(r) => r,
            Err(e) => return fail(self.describe(&e.without_url())),
        };
        let status = response.status().as_u16();
        if crate::domain::webhooks::is_success(status) {
            return Outcome { status: Some(status), error: None, duration: started.elapsed() };
        }
        let mut preview = Vec::new();
        while preview.len() < BODY_PREVIEW {
            match response.chunk().await {
                Ok(Some(chunk)) => preview.extend_from_slice(&chunk[..chunk.len().min(BODY_PREVIEW - preview.len())]),
                _ => break,
            }
        }
        drop(response);
        let text: String = String::from_utf8_lossy(&preview)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_string();
        let mut error = format!("HTTP {status}");
        if (300..400).contains(&status) {
            error.push_str(" (redirects are not followed)");
        }
        if !text.is_empty() {
            error.push_str(": ");
            error.push_str(&text);
        }
        Outcome { status: Some(status), error: Some(error), duration: started.elapsed() }
    }

    /// Fetches a file from a link given with an ingested item (`GET`), under the same address
    /// rules as deliveries (no private or local addresses unless `MCU_WEBHOOK_ALLOW_PRIVATE`,
    /// no redirects, no proxies, `MCU_WEBHOOK_TIMEOUT_MS`), into a temporary file, reading at
    /// most `max_bytes`.
    ///
    /// # Errors
    /// Why it could not be fetched, for the fetch's record (never the URL).
    pub async fn fetch(&self, url: &str, max_bytes: u64) -> Result<Fetched, String> {
        use tokio::io::AsyncWriteExt;
        let parsed = url::Url::parse(url).map_err(|_| "the link cannot be read".to_string())?;
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::from(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::from(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            self.check_literal(ip).map_err(|e| format!("refused: the URL {e}"))?;
        }
        let name = parsed
            .path_segments()
            .and_then(|mut s| s.next_back())
            .map(|s| url::form_urlencoded::parse(s.as_bytes()).map(|(k, _)| k.into_owned()).collect::<String>())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "file".into());
        let mut response = self.client.get(parsed).send().await.map_err(|e| self.describe(&e.without_url()))?;
        let status = response.status().as_u16();
        if !crate::domain::webhooks::is_success(status) {
            return Err(format!("HTTP {status}"));
        }
        let too_large = || format!("the file is larger than {max_bytes} bytes");
        if response.content_length().is_some_and(|l| l > max_bytes) {
            return Err(too_large());
        }
        let file = tempfile::tempfile().map_err(|e| format!("no temporary file: {e}"))?;
        let mut out = tokio::fs::File::from_std(file);
        let mut total = 0u64;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    total += chunk.len() as u64;
                    if total > max_bytes {
                        return Err(too_large());
                    }
                    out.write_all(&chunk).await.map_err(|e| format!("cannot spool the file: {e}"))?;
                }
                Ok(None) => break,
                Err(e) => return Err(self.describe(&e.without_url())),
            }
        }
        out.flush().await.map_err(|e| format!("cannot spool the file: {e}"))?;
        Ok(Fetched { file: out.into_std().await, name })
    }

    /// A reason for the log from a request error: the refusal of the resolver, a timeout, or
    /// the innermost cause (never the URL, which may hold a token).
    fn describe(&self, e: &reqwest::Error) -> String {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let mut innermost = String::new();
        while let Some(s) = source {
            if let Some(t) = s.downcast_ref::<TargetError>() {
                return format!("refused: the host {t}");
            }
            innermost = s.to_string();
            source = s.source();
        }
        if e.is_timeout() {
            return format!("no answer within {} ms", self.timeout.as_millis());
        }
        if e.is_connect() {
            return format!("cannot connect: {innermost}");
        }
        format!("the request failed: {innermost}")
    }
}
