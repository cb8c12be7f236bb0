//! Which address a request comes from. The socket peer, unless the peer is a configured
//! trusted proxy: then `X-Forwarded-For` is read right to left, skipping trusted proxies, and the
//! first other address is the client. A client cannot spoof its address by sending the header
//! itself: entries it adds are to the left of the ones our proxies append.

use super::rules::canonical;
use ipnet::IpNet;
use std::net::IpAddr;

/// The client address of a request from `peer`.
pub fn resolve(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut last = peer;
    for part in header.rsplit(',') {
        let Ok(ip) = part.trim().parse::<IpAddr>().map(canonical) else {
            // Garbage in the chain: stop at the last address we could trust.
            return last;
        };
        if !is_trusted(&ip) {
            return ip;
        }
        last = ip;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        // Untrusted peer: the header is ignored.
        assert_eq!(
            resolve(ip("203.0.113.5"), Some("198.51.100.1"), &trusted),
            ip("203.0.113.5")
        );
        // Trusted peer: the right-most untrusted entry.
        assert_eq!(
            resolve(ip("10.0.0.2"), Some("198.51.100.1"), &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            resolve(
                ip("10.0.0.2"),
                Some("1.1.1.1, 198.51.100.1, 10.0.0.9"),
                &trusted
            ),
            ip("198.51.100.1"),
            "a spoofed left entry is not believed"
        );
        // IPv6 proxy, IPv4-mapped client.
        assert_eq!(
            resolve(ip("::1"), Some("::ffff:192.0.2.8"), &trusted),
            ip("192.0.2.8")
        );
        // No header, or garbage: the proxy itself.
        assert_eq!(resolve(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
        assert_eq!(
            resolve(ip("10.0.0.2"), Some("not-an-ip"), &trusted),
            ip("10.0.0.2")
        );
        // Nothing trusted: always the peer.
        assert_eq!(
            resolve(ip("10.0.0.2"), Some("198.51.100.1"), &[]),
            ip("10.0.0.2")
        );
    }
}
