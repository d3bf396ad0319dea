//! Where a webhook may be sent. By default only to public addresses over HTTPS: never to
//! loopback, private, link-local (the cloud metadata service), unique-local, multicast or
//! otherwise reserved addresses. Operators allow internal targets by name with
//! `serve --webhook-allow-hosts`; an allowed host may also use plain HTTP.
//!
//! A name is resolved and *every* address it resolves to is checked; the HTTP client then
//! connects only to the addresses checked (the [`GuardedResolver`] is its resolver), so a DNS
//! answer that changes between the check and the connection (rebinding) cannot reach an
//! internal address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Hosts (names or IP addresses) a webhook may target although they are internal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    hosts: Vec<String>,
}

impl AllowList {
    pub fn new(hosts: impl IntoIterator<Item = String>) -> Self {
        AllowList {
            hosts: hosts
                .into_iter()
                .map(|host| normalise_host(host.trim()))
                .filter(|host| !host.is_empty())
                .collect(),
        }
    }

    pub fn allows_host(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.hosts.contains(&host)
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        self.hosts
            .iter()
            .any(|allowed| allowed.parse::<IpAddr>().is_ok_and(|allowed| allowed == ip))
    }

    /// An address a request may connect to for `host`.
    fn permits(&self, host: &str, ip: IpAddr) -> bool {
        self.allows_host(host) || self.allows_ip(ip) || is_public(ip)
    }
}

/// Lower case, without the brackets of an IPv6 literal or a trailing dot.
fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the URL is malformed: {0}")]
    Malformed(String),
    #[error("the URL must use https (http only for hosts the operator allowed)")]
    HttpsRequired,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("{host} is an internal address ({ip}); only hosts the operator allowed may be")]
    Internal { host: String, ip: IpAddr },
    #[error("{0} does not resolve to any address")]
    Unresolvable(String),
}

/// Checks a URL's form: http(s), a host, no credentials, https unless the host is allowed,
/// and an IP literal must be public unless allowed. Names are checked by [`check_target`].
pub fn parse_target(url: &str, allow: &AllowList) -> Result<Url, TargetError> {
    let parsed = Url::parse(url).map_err(|error| TargetError::Malformed(error.to_string()))?;
    let host = parsed
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| TargetError::Malformed("it has no host".to_owned()))?
        .to_owned();
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(TargetError::Credentials);
    }
    let allowed = allow.allows_host(&host);
    match parsed.scheme() {
        "https" => {}
        "http" if allowed => {}
        "http" => return Err(TargetError::HttpsRequired),
        other => {
            return Err(TargetError::Malformed(format!(
                "the scheme must be https, not '{other}'"
            )))
        }
    }
    if let Ok(ip) = normalise_host(&host).parse::<IpAddr>() {
        if !allow.permits(&host, ip) {
            return Err(TargetError::Internal { host, ip });
        }
    }
    Ok(parsed)
}

/// [`parse_target`], then resolves a host name and checks every address it resolves to.
pub async fn check_target(url: &str, allow: &AllowList) -> Result<Url, TargetError> {
    let parsed = parse_target(url, allow)?;
    if let Some(host) = parsed.host_str() {
        let host = normalise_host(host);
        if host.parse::<IpAddr>().is_err() {
            resolve_checked(&host, allow).await?;
        }
    }
    Ok(parsed)
}

/// Resolves `host` and returns its addresses if every one is permitted.
async fn resolve_checked(host: &str, allow: &AllowList) -> Result<Vec<SocketAddr>, TargetError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| TargetError::Unresolvable(host.to_owned()))?
        .collect();
    if addresses.is_empty() {
        return Err(TargetError::Unresolvable(host.to_owned()));
    }
    if let Some(internal) = addresses
        .iter()
        .find(|address| !allow.permits(host, address.ip()))
    {
        return Err(TargetError::Internal {
            host: host.to_owned(),
            ip: internal.ip(),
        });
    }
    Ok(addresses)
}

/// The webhook HTTP client's resolver: the addresses it returns are the ones checked.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub allow: Arc<AllowList>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = Arc::clone(&self.allow);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match resolve_checked(&host, &allow).await {
                Ok(addresses) => {
                    let addresses: Addrs = Box::new(addresses.into_iter());
                    Ok(addresses)
                }
                Err(refused) => Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

/// A globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Carrier-grade NAT (100.64.0.0/10).
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments (192.0.0.0/24).
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking (198.18.0.0/15).
        || (a == 198 && (b == 18 || b == 19))
        // Reserved (240.0.0.0/4).
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [_, _, _, _, _, _, high, low] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local (fc00::/7), link-local (fe80::/10), site-local (fec0::/10).
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0
        // IPv4-compatible (::/96, deprecated) and documentation (2001:db8::/32).
        || segments[..6] == [0, 0, 0, 0, 0, 0]
        || (segments[0] == 0x2001 && segments[1] == 0x0db8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "8.8.8.8",
            "196.43.128.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_lookup() {
        let none = AllowList::default();
        assert_eq!(
            parse_target("http://example.org/hook", &none),
            Err(TargetError::HttpsRequired)
        );
        assert!(matches!(
            parse_target("https://169.254.169.254/latest/meta-data", &none),
            Err(TargetError::Internal { .. })
        ));
        assert!(matches!(
            parse_target("https://[::1]:8443/", &none),
            Err(TargetError::Internal { .. })
        ));
        assert_eq!(
            parse_target("https://user:pw@example.org/", &none),
            Err(TargetError::Credentials)
        );
        assert!(parse_target("ftp://example.org/", &none).is_err());
        assert!(parse_target("https://example.org/hook", &none).is_ok());
        let local = AllowList::new(["127.0.0.1".to_owned()]);
        assert!(parse_target("http://127.0.0.1:9000/hook", &local).is_ok());
        assert!(parse_target("http://10.0.0.1/hook", &local).is_err());
    }
}
