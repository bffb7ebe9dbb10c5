//! Outgoing webhooks as pure rules: which URLs and addresses may be targets, what a delivery
//! sends (the Standard Webhooks body, <https://www.standardwebhooks.com>), and what happens
//! after each attempt (exponential backoff, then the dead letter).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::access::string_enum;

/// Longest webhook URL.
pub const MAX_URL: usize = 2048;
/// Longest description of a webhook.
pub const MAX_DESCRIPTION: usize = 1000;
/// The channel name of webhook deliveries.
pub const CHANNEL_WEBHOOK: &str = "WEBHOOK";

string_enum!(
    /// Where a delivery stands.
    DeliveryStatus {
        /// Not delivered yet: due at `nextAttemptAt`.
        Pending => "PENDING",
        /// The receiver answered 2xx.
        Delivered => "DELIVERED",
        /// Every attempt failed (the dead letter); an administrator may send it again.
        Dead => "DEAD",
    }
);

/// Checks the form of a webhook URL: `http` or `https`, a host, at most [`MAX_URL`]
/// characters, no user name or password (it would be shown in lists) and no fragment.
/// Where the host points is checked separately, against [`refused_address`].
///
/// # Errors
/// Why the URL cannot be a target, for the client.
pub fn check_url(raw: &str) -> Result<url::Url, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    if raw.chars().count() > MAX_URL {
        return Err(format!("must be at most {MAX_URL} characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    if url.host().is_none() {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password; put a token in the path or query instead".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment (#…)".into());
    }
    Ok(url)
}

/// Why `ip` may not be a webhook target (a request to it could reach the server's own
/// network: SSRF), or `None` when it may. Refused: unspecified, loopback, private (RFC 1918),
/// shared (carrier-grade NAT), link-local (cloud metadata at 169.254.169.254), unique-local,
/// site-local, multicast, broadcast, reserved, documentation and benchmarking ranges, and IPv6
/// forms that embed a refused IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) or
/// hide one (Teredo).
pub fn refused_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "an unspecified address"),
        ([10, 0, 0, 0], 8, "a private address"),
        ([100, 64, 0, 0], 10, "a shared (carrier-grade NAT) address"),
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([169, 254, 0, 0], 16, "a link-local address"),
        ([172, 16, 0, 0], 12, "a private address"),
        ([192, 0, 0, 0], 24, "a reserved address"),
        ([192, 0, 2, 0], 24, "a documentation address"),
        ([192, 88, 99, 0], 24, "a reserved address"),
        ([192, 168, 0, 0], 16, "a private address"),
        ([198, 18, 0, 0], 15, "a benchmarking address"),
        ([198, 51, 100, 0], 24, "a documentation address"),
        ([203, 0, 113, 0], 24, "a documentation address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([240, 0, 0, 0], 4, "a reserved or broadcast address"),
    ];
    RANGES.iter().find(|(net, prefix, _)| in_v4(ip, *net, *prefix)).map(|(_, _, why)| *why)
}

fn in_v6(ip: Ipv6Addr, net: u128, prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    u128::from(ip) & mask == net & mask
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    let low_v4 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), 64:ff9b::a.b.c.d (NAT64): the IPv4
    // address inside decides.
    if in_v6(ip, 0xffff_0000_0000, 96) || in_v6(ip, 0, 96) || in_v6(ip, 0x0064_ff9b << 96, 96) {
        return refused_v4(low_v4);
    }
    // 6to4: 2002:AABB:CCDD::/48 carries a.b.c.d in bits 16–48.
    if in_v6(ip, 0x2002 << 112, 16) {
        return refused_v4(Ipv4Addr::from((bits >> 80) as u32));
    }
    const RANGES: &[(u128, u32, &str)] = &[
        (0x0064_ff9b_0001 << 80, 48, "a local NAT64 address"),
        (0x0100 << 112, 64, "a discard address"),
        (0x2001 << 112, 32, "a Teredo address"),
        (0x2001_0db8 << 96, 32, "a documentation address"),
        (0x3fff << 112, 20, "a documentation address"),
        (0xfc00 << 112, 7, "a unique-local address"),
        (0xfe80 << 112, 10, "a link-local address"),
        (0xfec0 << 112, 10, "a site-local address"),
        (0xff00 << 112, 8, "a multicast address"),
    ];
    RANGES.iter().find(|(net, prefix, _)| in_v6(ip, *net, *prefix)).map(|(_, _, why)| *why)
}

/// The delay before the next attempt after `failed` failed attempts in a row (1 or more):
/// `base × 2^(failed − 1)`, at most `cap`.
pub fn retry_delay(failed: u32, base: Duration, cap: Duration) -> Duration {
    let exp = failed.saturating_sub(1).min(30);
    base.saturating_mul(1u32 << exp).min(cap)
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// That was the last attempt.
    Dead,
}

/// What follows attempt number `made` of at most `max`, which did or did not succeed.
pub fn after_attempt(succeeded: bool, made: u32, max: u32, base: Duration, cap: Duration) -> AfterAttempt {
    if succeeded {
        AfterAttempt::Delivered
    } else if made >= max {
        AfterAttempt::Dead
    } else {
        AfterAttempt::Retry(retry_delay(made, base, cap))
    }
}

/// Whether an HTTP status means the receiver took the delivery (2xx).
pub fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The idempotency key of the delivery of outbox row `outbox_id` to webhook `webhook_id`: the
/// `webhook-id` the receiver sees, the same on every attempt, so it can drop repeats.
pub fn message_id(outbox_id: i64, webhook_id: i64) -> String {
    format!("msg_{outbox_id}_{webhook_id}")
}

/// The body of an event: `{"type": <event>, "timestamp": <when it happened>, "data": …}`.
pub fn event_body(topic: &str, at: DateTime<Utc>, data: &serde_json::Value) -> String {
    serde_json::json!({
        "type": topic,
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        refused_address(s.parse().unwrap()).is_some()
    }

    #[test]
    fn private_and_local_addresses_are_refused_public_ones_pass() {
        for bad in [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2001:db8::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(refused(bad), "{bad} should be refused");
        }
        for good in ["8.8.8.8", "93.184.216.34", "172.32.0.1", "2a00:1450:4010::64", "::ffff:8.8.8.8", "2002:808:808::"]
        {
            assert!(!refused(good), "{good} should pass");
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_no_credentials() {
        assert!(check_url("https://portal.city.ru/hooks/mcu?token=abc").is_ok());
        assert!(check_url(" http://203.0.113.5:8080/x ").is_ok());
        for bad in [
            "",
            "ftp://x.ru/",
            "file:///etc/passwd",
            "https://user:pass@x.ru/",
            "https://x.ru/#frag",
            "not a url",
            "http://",
            "javascript:alert(1)",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("https://x.ru/{}", "a".repeat(MAX_URL));
        assert!(check_url(&long).is_err());
        // Numeric hosts are read the way a client would connect.
        let url = check_url("http://2130706433/").unwrap();
        assert_eq!(url.host_str(), Some("127.0.0.1"));
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap_then_the_last_attempt_is_dead() {
        let base = Duration::from_mins(1);
        let cap = Duration::from_hours(6);
        let delays: Vec<u64> = (1..=11).map(|n| retry_delay(n, base, cap).as_secs() / 60).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 360, 360]);
        assert_eq!(retry_delay(400, base, cap), cap);
        assert_eq!(after_attempt(true, 12, 12, base, cap), AfterAttempt::Delivered);
        assert_eq!(after_attempt(false, 1, 12, base, cap), AfterAttempt::Retry(base));
        assert_eq!(after_attempt(false, 12, 12, base, cap), AfterAttempt::Dead);
        assert!(is_success(204) && !is_success(302) && !is_success(500));
    }

    #[test]
    fn the_body_has_type_timestamp_and_data() {
        let at = DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z").unwrap().with_timezone(&Utc);
        let body: serde_json::Value =
            serde_json::from_str(&event_body("ROADMAP_CHANGED", at, &serde_json::json!({"id": "7"}))).unwrap();
        assert_eq!(body["type"], "ROADMAP_CHANGED");
        assert_eq!(body["timestamp"], "2026-12-04T10:00:00.000Z");
        assert_eq!(body["data"]["id"], "7");
        assert_eq!(message_id(12, 3), "msg_12_3");
    }
}
