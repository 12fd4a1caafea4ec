//! Who is on the other end: the client's address (for the login throttle) and whether it
//! reached us over HTTPS (for the session cookie's `Secure` flag).
//!
//! The server speaks plain HTTP; HTTPS ends at a reverse proxy. Only with
//! `doorstep serve --trust-proxy` are the proxy's `X-Forwarded-For` (its last entry: the
//! address the proxy saw) and `X-Forwarded-Proto` believed; otherwise anyone could send them
//! to pose as another address or to drop the cookie's flag. `--trusted-proxy ADDR` narrows
//! that to connections from the proxy's own address: a client that reaches the server
//! directly cannot choose the address the login throttle counts.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::AppState;

/// The client as the server sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The client's address (an IPv6 one cut to its /64: one subscriber's whole network).
    pub addr: Option<IpAddr>,
    /// Whether the client reached us over HTTPS (through a trusted proxy).
    pub https: bool,
}

/// An address as the throttle counts it: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by /64.
pub fn throttle_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl FromRequestParts<AppState> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let socket = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip());
        let from_proxy = state.trusted_proxies.is_empty()
            || socket.is_some_and(|s| state.trusted_proxies.contains(&s.to_canonical()));
        if !state.trust_proxy || !from_proxy {
            return Ok(Peer {
                addr: socket.map(throttle_key),
                https: false,
            });
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|a| a.trim().parse::<IpAddr>().ok());
        let https = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Ok(Peer {
            addr: forwarded.or(socket).map(throttle_key),
            https,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(throttle_key(a), throttle_key(b));
        assert_ne!(throttle_key(a), throttle_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(throttle_key(mapped), "10.0.0.7".parse::<IpAddr>().unwrap());
    }
}
