//! Where the sessions live ([`RedisTarget`]), and Redis addresses with their passwords
//! redacted or put where the `redis` crate reads them.

use core::fmt;
use std::str::FromStr;

use redis::RedisError;

use crate::Error;

/// Where the sessions live: one Redis, or a Redis Cluster.
///
/// `Display` and `Debug` show the addresses with their passwords replaced by `***`
/// (`redis://user:***@host:port/db`, `redis+unix:///path?pass=***`), so a target can be
/// logged.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis server (`redis://HOST:PORT[/DB]`, with `redis://:PASSWORD@HOST:PORT` for
    /// authentication, or `unix:///path/to/redis.sock`).
    Single(String),
    /// A Redis Cluster, through any of its nodes (`redis://HOST:PORT` each); the client finds
    /// the others and follows slot moves.
    Cluster(Vec<String>),
}

impl FromStr for RedisTarget {
    type Err = Error;

    /// `redis://HOST:PORT` (or `unix://PATH`) is one Redis;
    /// `redis+cluster://HOST:PORT[,HOST:PORT...]` is a cluster reached through those nodes.
    fn from_str(s: &str) -> Result<Self, Error> {
        let target = match s.strip_prefix("redis+cluster://") {
            Some(nodes) => Self::Cluster(
                nodes
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| format!("redis://{n}"))
                    .collect(),
            ),
            None => Self::Single(s.to_string()),
        };
        target.validate()?;
        Ok(target)
    }
}

impl fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Single(url) => f.write_str(&redacted(url)),
            Self::Cluster(nodes) => {
                f.write_str("redis+cluster://")?;
                for (i, node) in nodes.iter().enumerate() {
                    let node = redacted(node);
                    let node = node.strip_prefix("redis://").unwrap_or(&node);
                    write!(f, "{}{node}", if i == 0 { "" } else { "," })?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Single(url) => f.debug_tuple("Single").field(&redacted(url)).finish(),
            Self::Cluster(nodes) => f
                .debug_tuple("Cluster")
                .field(&nodes.iter().map(|n| redacted(n)).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// `url` with the password of its user information, and a `pass` or `password` query
/// parameter (the forms the `redis` crate reads), replaced by `***`. Hand-written rather
/// than with a URL parser so that an address that does not parse is redacted too.
fn redacted(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    if let Some(i) = url.find("://") {
        out.push_str(&url[..i + 3]);
        rest = &url[i + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str("***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &rest[authority_end..];
    }
    match rest.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                match pair.split_once('=') {
                    Some((name, _))
                        if name.eq_ignore_ascii_case("pass")
                            || name.eq_ignore_ascii_case("password") =>
                    {
                        out.push_str(name);
                        out.push_str("=***");
                    }
                    _ => out.push_str(pair),
                }
            }
        }
        None => out.push_str(rest),
    }
    out
}

/// `url` with `password` in the form the `redis` crate reads: percent-encoded in the user
/// information of a TCP address (replacing any password there), or as the `pass` query
/// parameter of a Unix socket address (replacing any `pass` or `password` parameter).
fn url_with_password(url: &str, password: &str) -> String {
    let encoded: String = password
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let Some(i) = url.find("://") else {
        return url.to_owned();
    };
    let (scheme, rest) = (&url[..i], &url[i + 3..]);
    if scheme.ends_with("unix") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut params: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let name = p.split('=').next().unwrap_or_default();
                !name.eq_ignore_ascii_case("pass") && !name.eq_ignore_ascii_case("password")
            })
            .collect();
        let pass = format!("pass={encoded}");
        params.push(&pass);
        return format!("{scheme}://{path}?{}", params.join("&"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (user, host) = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            (user, &authority[at + 1..])
        }
        None => ("", authority),
    };
    format!("{scheme}://{user}:{encoded}@{host}{tail}")
}

impl RedisTarget {
    /// Whether an address carries a password (in its user information, or a `pass` or
    /// `password` query parameter): one given on a command line is visible in `ps`.
    pub fn has_password(&self) -> bool {
        self.urls().any(|url| redacted(url) != *url)
    }

    /// The same target authenticating with `password` (replacing any in the addresses), so
    /// that it can come from a file or the environment rather than the address.
    pub fn with_password(&self, password: &str) -> Result<Self, Error> {
        let target = match self {
            Self::Single(url) => Self::Single(url_with_password(url, password)),
            Self::Cluster(nodes) => Self::Cluster(
                nodes
                    .iter()
                    .map(|url| url_with_password(url, password))
                    .collect(),
            ),
        };
        target.validate()?;
        Ok(target)
    }

    fn urls(&self) -> impl Iterator<Item = &String> {
        match self {
            Self::Single(url) => std::slice::from_ref(url).iter(),
            Self::Cluster(nodes) => nodes.iter(),
        }
    }

    pub(super) fn validate(&self) -> Result<(), Error> {
        let bad = |url: &str, e: RedisError| {
            Error::Config(format!("Redis address {}: {e}", redacted(url)))
        };
        match self {
            Self::Single(url) => redis::Client::open(url.as_str())
                .map(drop)
                .map_err(|e| bad(url, e)),
            Self::Cluster(nodes) if nodes.is_empty() => Err(Error::Config(
                "a Redis Cluster address needs at least one node".into(),
            )),
            Self::Cluster(nodes) => nodes.iter().try_for_each(|url| {
                redis::Client::open(url.as_str())
                    .map(drop)
                    .map_err(|e| bad(url, e))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_from_elsewhere_go_where_the_redis_crate_reads_them() {
        let cases = [
            ("redis://h:1/2", "redis://:p%40ss%20w@h:1/2"),
            ("redis://u@h:1", "redis://u:p%40ss%20w@h:1"),
            (
                "redis://u:old@h:1?protocol=resp3",
                "redis://u:p%40ss%20w@h:1?protocol=resp3",
            ),
            ("unix:///run/r.sock", "unix:///run/r.sock?pass=p%40ss%20w"),
            (
                "unix:///run/r.sock?db=1&pass=old",
                "unix:///run/r.sock?db=1&pass=p%40ss%20w",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(url_with_password(url, "p@ss w"), expected, "{url}");
            let target: RedisTarget = url.parse().unwrap();
            let with = target.with_password("p@ss w").unwrap();
            assert!(with.has_password());
            assert!(!with.to_string().contains("p%40ss"), "{with}");
        }
        assert!(!"redis://h:1".parse::<RedisTarget>().unwrap().has_password());
        let cluster: RedisTarget = "redis+cluster://a:1,b:2".parse().unwrap();
        assert_eq!(
            cluster.with_password("x").unwrap(),
            RedisTarget::Cluster(vec!["redis://:x@a:1".into(), "redis://:x@b:2".into()])
        );
    }

    #[test]
    fn targets_parse_and_print() {
        let single: RedisTarget = "redis://127.0.0.1:6379".parse().unwrap();
        assert_eq!(single, RedisTarget::Single("redis://127.0.0.1:6379".into()));
        let cluster: RedisTarget = "redis+cluster://127.0.0.1:7000, 127.0.0.1:7001"
            .parse()
            .unwrap();
        assert_eq!(
            cluster,
            RedisTarget::Cluster(vec![
                "redis://127.0.0.1:7000".into(),
                "redis://127.0.0.1:7001".into()
            ])
        );
        assert_eq!(
            cluster.to_string(),
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"
        );
        assert!("memory".parse::<RedisTarget>().is_err());
        let secret: RedisTarget = "redis://u:pw@127.0.0.1:6379/2?pass=pw2".parse().unwrap();
        assert_eq!(
            secret.to_string(),
            "redis://u:***@127.0.0.1:6379/2?pass=***"
        );
        assert!(!format!("{secret:?}").contains("pw"));
        assert_eq!(redacted("redis://user@host:1"), "redis://user@host:1");
        assert_eq!(redacted("redis://:a@b@host:1/0"), "redis://:***@host:1/0");
        assert!("redis+cluster://".parse::<RedisTarget>().is_err());
    }
}
