//! Requests the server makes to addresses its users name: the MCP
//! endpoint's uploads by URL and the status callbacks. A user must not be
//! able to make the server reach into its operator's network (SSRF), so a
//! name is resolved here, every address it resolves to is checked, and the
//! request goes to exactly those addresses, with no redirects.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A URL that passed the checks, with the addresses to connect to.
#[derive(Debug, Clone)]
pub struct Destination {
    pub url: url::Url,
    /// The host as named, lowercased.
    pub host: String,
    pub addresses: Vec<SocketAddr>,
}

/// Why a URL is not used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("is not a URL: {0}")]
    NotUrl(String),
    #[error("must be http or https")]
    Scheme,
    #[error("has no host")]
    NoHost,
    #[error("`{host}` does not resolve: {error}")]
    Unresolvable { host: String, error: String },
    #[error("`{host}` resolves to {ip}, not a public address")]
    Private { host: String, ip: IpAddr },
}

/// The URL and its host (lowercased; an IPv6 address without brackets).
pub fn parse(raw: &str) -> Result<(url::Url, String), Refusal> {
    let url = url::Url::parse(raw).map_err(|e| Refusal::NotUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme);
    }
    let host = match url.host() {
        Some(url::Host::Domain(name)) => name.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(Refusal::NoHost),
    };
    Ok((url, host))
}

/// Resolves the URL's host; unless `private_allowed`, every address must be
/// public.
pub async fn resolve(
    url: url::Url,
    host: String,
    private_allowed: bool,
) -> Result<Destination, Refusal> {
    let port = url.port_or_known_default().unwrap_or(80);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| Refusal::Unresolvable {
            host: crate::admission::truncated(&host, 64),
            error: e.to_string(),
        })?
        .collect();
    if !private_allowed {
        if let Some(private) = addresses.iter().find(|a| !is_public(a.ip())) {
            return Err(Refusal::Private {
                host: crate::admission::truncated(&host, 64),
                ip: private.ip(),
            });
        }
    }
    Ok(Destination {
        url,
        host,
        addresses,
    })
}

/// Whether `host` (as [`parse`] gives it) is one of `hosts` (names or
/// addresses, IPv6 with or without brackets).
pub fn host_listed(hosts: &[String], host: &str) -> bool {
    hosts.iter().any(|h| {
        h.trim_matches(|c| c == '[' || c == ']')
            .eq_ignore_ascii_case(host)
    })
}

/// A client that connects only to the destination's checked addresses and
/// follows no redirects (which could lead anywhere).
pub fn client(destination: &Destination, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(&destination.host, &destination.addresses)
        .timeout(timeout)
        .build()
}

/// Whether `ip` is a public unicast address: not loopback, private,
/// link-local, shared (CGNAT), documentation, benchmarking, multicast,
/// reserved or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}
