//! What a Redis reader learns from the fleet's session store (issue #16, item 7): values are
//! encrypted (neither the resumption secret nor the client's certificate chain can be read,
//! nothing rustls can decode), bound to their key, and values of the earlier unencrypted
//! format are misses; and the Redis password never shows in the target's Display or Debug.

#![allow(clippy::unwrap_used, missing_docs)]

use qtls_test_support::redis as redis_support;
mod support;

use qtls::sessions::{FleetSecret, RedisSessionStore, RedisTarget, SessionStore};
use rustls::internal::msgs::codec::Codec;
use rustls::internal::msgs::persist::ServerSessionValue;
use rustls::server::StoresServerSessions;
use support::fleet::{connect_then_reconnect, fleet_secret, pki, Node};

/// Every stored session: (Redis key, value).
fn stored_sessions(redis: &redis_support::RedisServer) -> Vec<(String, Vec<u8>)> {
    let mut conn = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", RedisSessionStore::DEFAULT_KEY_PREFIX))
        .query(&mut conn)
        .unwrap();
    keys.into_iter()
        .map(|key| {
            let value: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
            (key, value)
        })
        .collect()
}

/// The session rustls decodes from `bytes`, if any, and if it was made in the last day.
fn decoded_session(bytes: &[u8]) -> Option<ServerSessionValue> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    ServerSessionValue::read_bytes(bytes)
        .ok()
        .filter(|session| now.abs_diff(session.creation_time_sec) < 24 * 3600)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_redis_reader_sees_neither_the_session_nor_the_client_certificate() {
    // A Redis of our own, so that every key in it is this test's.
    let Some(redis) = redis_support::RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "composite");
    let secret_file = fleet_secret(dir.path(), 0x3c);
    let node = Node::with_redis(
        &pki,
        &redis.url(),
        &secret_file,
        &["--tickets", "off", "--require-client-cert"],
        "qtls server on Redis",
    );
    // An mTLS handshake stores its sessions (with the client's chain); the reconnection
    // takes one, so at least one is left to look at.
    let both = connect_then_reconnect(&pki, &node.addr, &node.addr, &[]);
    assert_eq!(both["second"]["resumed"], true, "{both}");
    let sessions = stored_sessions(&redis);
    assert!(!sessions.is_empty(), "no session left in Redis");

    let client_chain = qtls::read_certificates(&pki.join("client-chain.pem")).unwrap();
    let client_der = client_chain[0].as_ref();
    for (key, value) in &sessions {
        assert!(
            !contains(value, client_der),
            "{key}: the client's certificate is readable in Redis"
        );
        // Not even a piece of it (the subject, the public key, the signature).
        for piece in client_der.chunks(64).filter(|piece| piece.len() == 64) {
            assert!(
                !contains(value, piece),
                "{key}: part of the client's certificate is readable"
            );
        }
        // At no offset does a session come out: rustls's decoding is lenient enough that a
        // few of thousands of random suffixes parse, so a session also needs a creation time
        // of today, as every session of this test has.
        for start in 0..value.len() {
            assert!(
                decoded_session(&value[start..]).is_none(),
                "{key}: rustls decodes a session at byte {start} of the value"
            );
        }
    }

    // The store of a node with the fleet secret resumes the value under its own key only,
    // and only unaltered.
    let store = RedisSessionStore::builder(
        redis.url().parse().unwrap(),
        FleetSecret::from_file(&secret_file).unwrap(),
    )
    .build()
    .unwrap();
    let (key, value) = &sessions[0];
    let id = hex::decode(
        key.strip_prefix(RedisSessionStore::DEFAULT_KEY_PREFIX)
            .unwrap(),
    )
    .unwrap();
    let session = store.get(&id).expect("the node's own value opens");
    assert!(decoded_session(&session).is_some());

    let mut conn = redis.connection();
    let other_id = [0xee; 32];
    let () = redis::cmd("SET")
        .arg(store.redis_key(&other_id))
        .arg(value)
        .query(&mut conn)
        .unwrap();
    assert_eq!(
        store.get(&other_id),
        None,
        "a value copied to another key opened"
    );
    for bit in [0, 8 * 13 + 3, 8 * value.len() - 1] {
        let mut flipped = value.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let () = redis::cmd("SET")
            .arg(key)
            .arg(&flipped)
            .query(&mut conn)
            .unwrap();
        assert_eq!(
            store.take(&id),
            None,
            "a value with bit {bit} flipped opened"
        );
    }
    let stats = store.stats();
    assert_eq!((stats.hits, stats.misses_corrupt), (1, 4), "{stats:?}");
}

#[test]
fn values_of_the_unencrypted_format_are_misses_and_counted() {
    let Some(redis) = redis_support::RedisServer::shared_or_start() else {
        return;
    };
    let secret = [0x42; 32];
    let store = RedisSessionStore::builder(
        redis.url().parse().unwrap(),
        FleetSecret::from_bytes(&secret).unwrap(),
    )
    .key_prefix("qtls:secrecy-test:")
    .build()
    .unwrap();
    let id = b"an old session".to_vec();
    let key = store.redis_key(&id);
    // The earlier format: version 1, HMAC-SHA256 over (version, key length, key, session)
    // under HKDF-SHA256(secret, "qtls session store mac v1"), then the session in the clear.
    let session = b"an old session in the clear";
    let mut mac_key = [0u8; 32];
    struct Len;
    impl aws_lc_rs::hkdf::KeyType for Len {
        fn len(&self) -> usize {
            32
        }
    }
    aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, &[])
        .extract(&secret)
        .expand(&[b"qtls session store mac v1"], Len)
        .unwrap()
        .fill(&mut mac_key)
        .unwrap();
    let mut mac = aws_lc_rs::hmac::Context::with_key(&aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        &mac_key,
    ));
    mac.update(&[1]);
    mac.update(&(key.len() as u64).to_be_bytes());
    mac.update(key.as_bytes());
    mac.update(session);
    let value = [&[1u8][..], mac.sign().as_ref(), session].concat();
    let () = redis::cmd("SET")
        .arg(&key)
        .arg(&value)
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(store.take(&id), None);
    let stats = store.stats();
    assert_eq!(
        (stats.misses_corrupt, stats.misses_old_format, stats.hits),
        (1, 1, 0),
        "{stats:?}"
    );
}

#[test]
fn the_redis_password_never_shows() {
    for (url, shown) in [
        (
            "redis://qtls:hunter2-secret@127.0.0.1:6379/3",
            "redis://qtls:***@127.0.0.1:6379/3",
        ),
        (
            "redis://:hunter2-secret@127.0.0.1:6379",
            "redis://:***@127.0.0.1:6379",
        ),
        (
            "redis+unix:///run/redis.sock?db=2&pass=hunter2-secret",
            "redis+unix:///run/redis.sock?db=2&pass=***",
        ),
        (
            "redis+cluster://:hunter2-secret@127.0.0.1:7000,:hunter2-secret@127.0.0.1:7001",
            "redis+cluster://:***@127.0.0.1:7000,:***@127.0.0.1:7001",
        ),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
    ] {
        let target: RedisTarget = url.parse().unwrap();
        assert_eq!(target.to_string(), shown);
        let debug = format!("{target:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        let store = RedisSessionStore::builder(target, FleetSecret::from_bytes(&[7; 32]).unwrap())
            .build()
            .unwrap();
        let debug = format!("{store:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
    // Addresses that are refused are refused without repeating the password.
    for url in [
        "redis://:hunter2-secret@127.0.0.1:notaport",
        "rediss://default:hunter2-secret@127.0.0.1:6380",
    ] {
        if let Err(error) = url.parse::<RedisTarget>() {
            let error = error.to_string();
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
