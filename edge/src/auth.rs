//! Tokens (spec §7.1, §7.5): the gateway's handshake check and the push service's `GenToken` /
//! `VerifyToken`. HS256 only (the algorithm is pinned: a token signed with anything else, `none`
//! included, is refused), `AccessSecret` first and then `PrevAccessSecret` so secrets can be
//! rotated without dropping clients, an optional `Bearer ` prefix, `exp` checked when present
//! with no leeway (as go-zero does).
//!
//! ```
//! use zero_edge::auth::JwtAuth;
//! let auth = JwtAuth::new("s3cret", "", 3600);
//! let t = auth.issue("u1", [("deptCode", "D1")], 1_700_000_000).unwrap();
//! assert_eq!((t.access_expire, t.refresh_after), (1_700_003_600, 1_700_001_800));
//! let claims = auth.verify(&format!("Bearer {}", t.access_token), 1_700_000_001).unwrap();
//! assert_eq!(claims["user-id"], "u1");
//! let meta = JwtAuth::metadata(&claims, &["deptCode".to_string(), "uid".to_string()]);
//! assert_eq!(meta, [("deptCode".to_string(), "D1".to_string())]);
//! ```

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

/// The claims of a token.
pub type Claims = Map<String, Value>;

/// Claims `GenToken` sets itself; payload keys with these names are dropped.
pub const RESERVED: [&str; 8] = ["aud", "exp", "jti", "iat", "iss", "nbf", "sub", "user-id"];

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token where one is required.
    #[error("token missing")]
    Missing,
    /// No `AccessSecret` is configured: tokens can be neither issued nor verified.
    #[error("no AccessSecret configured")]
    NoSecret,
    /// `GenToken` without a uid.
    #[error("uid is required")]
    NoUid,
    /// The token is past its `exp`.
    #[error("token expired")]
    Expired,
    /// Neither secret verifies it, or it is no HS256 JWT.
    #[error("token invalid: {0}")]
    Invalid(jsonwebtoken::errors::Error),
}

/// A minted token (`GenTokenRes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The JWT.
    pub access_token: String,
    /// Its `exp`, unix seconds.
    pub access_expire: i64,
    /// When to get a new one: half way, unix seconds.
    pub refresh_after: i64,
}

/// The `JwtAuth` section of a configuration (go-zero's keys): `AccessSecret` (HS256; empty: no
/// token checks), `PrevAccessSecret` (still verifies during a key rotation), `AccessExpire`
/// (seconds, of the tokens this service issues).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct JwtAuthConf {
    /// HS256 secret; empty: no token checks.
    pub access_secret: String,
    /// The previous secret, still accepted.
    pub prev_access_secret: String,
    /// Lifetime of issued tokens (s).
    pub access_expire: i64,
}

impl JwtAuthConf {
    /// The issuer and checker of these keys.
    pub fn build(&self) -> JwtAuth {
        JwtAuth::new(&self.access_secret, &self.prev_access_secret, self.access_expire)
    }
}

/// The `JwtAuth` section: secrets and token lifetime.
#[derive(Clone)]
pub struct JwtAuth {
    current: Option<(EncodingKey, DecodingKey)>,
    previous: Option<DecodingKey>,
    expire_secs: i64,
    /// Which secrets these are, for the verified-token cache (a clone keeps it: same secrets).
    keys_id: u64,
}

/// Tokens this thread has verified, kept per thread past this many (emptied all at once).
const VERIFIED_KEPT: usize = 1024;

/// Longer tokens are verified every time, never kept.
const VERIFIED_MAX_LEN: usize = 4096;

/// A token whose signature and form were verified: its claims and its `exp`.
struct Verified {
    keys_id: u64,
    claims: Claims,
    exp: Option<f64>,
}

thread_local! {
    /// Verified tokens by their exact text: a client sends the same token on every request, and
    /// decoding it (two base64 parts, two JSON documents, the HMAC) was most of the edge's cost
    /// per request. Only the time check (`exp`) is made again on a hit; a token that failed is
    /// never kept.
    static VERIFIED: std::cell::RefCell<std::collections::HashMap<Box<str>, Verified>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

static KEYS_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuth")
            .field("enabled", &self.current.is_some())
            .field("previous", &self.previous.is_some())
            .field("expire_secs", &self.expire_secs)
            .finish()
    }
}

impl JwtAuth {
    /// `AccessSecret`, `PrevAccessSecret` (empty: none) and `AccessExpire` in seconds. An empty
    /// `AccessSecret` turns checking off (every handshake is accepted, as upstream).
    pub fn new(access_secret: &str, prev_access_secret: &str, access_expire_secs: i64) -> JwtAuth {
        fn key(s: &str) -> Option<&[u8]> {
            (!s.is_empty()).then_some(s.as_bytes())
        }
        JwtAuth {
            current: key(access_secret).map(|k| (EncodingKey::from_secret(k), DecodingKey::from_secret(k))),
            previous: key(prev_access_secret).map(DecodingKey::from_secret),
            expire_secs: access_expire_secs,
            keys_id: KEYS_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Whether tokens are checked at all.
    pub fn enabled(&self) -> bool {
        self.current.is_some()
    }

    fn validation() -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        v.leeway = 0;
        v.validate_exp = false; // checked below against the `now` passed in
        v.validate_aud = false;
        v
    }

    /// The claims of `token` (an optional `Bearer ` prefix is stripped) at unix time `now`.
    ///
    /// # Errors
    /// [`AuthError::Missing`] for an empty token, [`AuthError::NoSecret`] when checking is off,
    /// [`AuthError::Expired`], [`AuthError::Invalid`] when neither secret verifies it as HS256.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let Some((_, current)) = &self.current else { return Err(AuthError::NoSecret) };
        let kept = VERIFIED
            .with_borrow(|m| m.get(token).filter(|v| v.keys_id == self.keys_id).map(|v| (v.exp, v.claims.clone())));
        let (exp, claims) = match kept {
            Some(k) => k,
            None => {
                let v = JwtAuth::validation();
                let claims = match jsonwebtoken::decode::<Claims>(token, current, &v) {
                    Ok(d) => d.claims,
                    Err(first) => match &self.previous {
                        Some(prev) => {
                            jsonwebtoken::decode::<Claims>(token, prev, &v)
                                .map_err(|_| AuthError::Invalid(first))?
                                .claims
                        }
                        None => return Err(AuthError::Invalid(first)),
                    },
                };
                let exp = match claims.get("exp") {
                    None => None,
                    Some(e) => Some(e.as_f64().ok_or_else(|| {
                        AuthError::Invalid(jsonwebtoken::errors::ErrorKind::InvalidClaimFormat("exp".into()).into())
                    })?),
                };
                if token.len() <= VERIFIED_MAX_LEN {
                    VERIFIED.with_borrow_mut(|m| {
                        if m.len() >= VERIFIED_KEPT {
                            m.clear();
                        }
                        m.insert(token.into(), Verified { keys_id: self.keys_id, claims: claims.clone(), exp });
                    });
                }
                (exp, claims)
            }
        };
        if exp.is_some_and(|e| e <= now as f64) {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }

    /// The session metadata of `claims`: the `keys` (`SocketMetaData`) whose values are
    /// non-empty strings, in `keys` order.
    pub fn metadata(claims: &Claims, keys: &[String]) -> Vec<(String, String)> {
        keys.iter()
            .filter_map(|k| match claims.get(k) {
                Some(Value::String(v)) if !v.is_empty() => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect()
    }

    /// `GenToken`: an HS256 JWT for `uid` with `exp = now + AccessExpire`, `iat = now`,
    /// `user-id = uid` and the `payload` claims except [`RESERVED`] ones.
    ///
    /// # Errors
    /// [`AuthError::NoUid`]; [`AuthError::NoSecret`].
    pub fn issue<'a>(
        &self,
        uid: &str,
        payload: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: i64,
    ) -> Result<Token, AuthError> {
        if uid.is_empty() {
            return Err(AuthError::NoUid);
        }
        let Some((key, _)) = &self.current else { return Err(AuthError::NoSecret) };
        let mut claims = Claims::new();
        for (k, v) in payload {
            if !RESERVED.contains(&k) {
                claims.insert(k.to_owned(), Value::String(v.to_owned()));
            }
        }
        let exp = now + self.expire_secs;
        claims.insert("exp".into(), exp.into());
        claims.insert("iat".into(), now.into());
        claims.insert("user-id".into(), Value::String(uid.to_owned()));
        let access_token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key).map_err(AuthError::Invalid)?;
        Ok(Token { access_token, access_expire: exp, refresh_after: now + self.expire_secs / 2 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn rotation_prefix_expiry_and_pinned_algorithm() {
        let old = JwtAuth::new("old", "", 60);
        let t_old = old.issue("u", [], NOW).unwrap().access_token;
        let rotated = JwtAuth::new("new", "old", 60);
        assert_eq!(rotated.verify(&t_old, NOW).unwrap()["user-id"], "u", "the previous secret still verifies");
        let t_new = rotated.issue("u", [], NOW).unwrap().access_token;
        assert!(matches!(old.verify(&t_new, NOW), Err(AuthError::Invalid(_))), "a wrong secret is refused");
        assert!(rotated.verify(&format!("Bearer {t_new}"), NOW).is_ok());
        assert!(matches!(rotated.verify(&t_new, NOW + 60), Err(AuthError::Expired)), "exp is exclusive, no leeway");
        assert!(matches!(rotated.verify("", NOW), Err(AuthError::Missing)));
        assert!(matches!(rotated.verify("a.b.c", NOW), Err(AuthError::Invalid(_))));
        // the same claims signed with HS512 and with `none` are refused
        let claims: Claims = serde_json::from_str(r#"{"user-id":"u"}"#).unwrap();
        let hs512 =
            jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(b"new")).unwrap();
        assert!(matches!(rotated.verify(&hs512, NOW), Err(AuthError::Invalid(_))));
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", b64(r#"{"user-id":"u"}"#));
        assert!(matches!(rotated.verify(&none, NOW), Err(AuthError::Invalid(_))));
        // a token without exp is accepted (go-zero checks exp only when present)
        let no_exp =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(b"new")).unwrap();
        assert!(rotated.verify(&no_exp, NOW).is_ok());
    }

    /// A token verified once is kept for this thread: later checks still see its expiry, a
    /// token that differs in any byte is verified afresh (and refused), and other secrets on the
    /// same thread do not take it from the cache.
    #[test]
    fn verified_tokens_are_kept_per_secret_with_expiry_checked() {
        let auth = JwtAuth::new("s1", "", 60);
        let t = auth.issue("u", [("role", "admin")], NOW).unwrap().access_token;
        assert_eq!(auth.verify(&t, NOW).unwrap()["role"], "admin");
        assert_eq!(auth.verify(&t, NOW + 1).unwrap()["role"], "admin", "from the cache");
        assert!(matches!(auth.verify(&t, NOW + 60), Err(AuthError::Expired)), "exp checked on a hit");
        let other = JwtAuth::new("s2", "", 60);
        assert!(matches!(other.verify(&t, NOW), Err(AuthError::Invalid(_))), "another secret verifies afresh");
        let mut bytes = t.clone().into_bytes();
        // a byte of the claims part: the signature no longer matches
        let at = t.find('.').unwrap() + 2;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(matches!(auth.verify(&tampered, NOW), Err(AuthError::Invalid(_))));
        // past the kept count the cache is emptied and the token verified again
        for i in 0..(VERIFIED_KEPT + 5) {
            let ti = auth.issue(&format!("u{i}"), [], NOW).unwrap().access_token;
            assert!(auth.verify(&ti, NOW).is_ok());
        }
        assert_eq!(auth.verify(&t, NOW).unwrap()["user-id"], "u");
        assert!(VERIFIED.with_borrow(|m| m.len() <= VERIFIED_KEPT));
    }

    fn b64(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn issued_claims_drop_reserved_keys() {
        let a = JwtAuth::new("k", "", 31_536_000);
        let t = a.issue("u9", [("exp", "1"), ("sub", "x"), ("user-id", "evil"), ("dept_code", "D")], NOW).unwrap();
        let c = a.verify(&t.access_token, NOW).unwrap();
        assert_eq!(c["user-id"], "u9");
        assert_eq!(c["exp"], NOW + 31_536_000);
        assert_eq!(c["iat"], NOW);
        assert_eq!(c["dept_code"], "D");
        assert!(c.get("sub").is_none());
        assert!(matches!(a.issue("", [], NOW), Err(AuthError::NoUid)));
        assert!(matches!(JwtAuth::new("", "", 1).issue("u", [], NOW), Err(AuthError::NoSecret)));
        assert!(matches!(JwtAuth::new("", "", 1).verify("t", NOW), Err(AuthError::NoSecret)));
        assert!(!JwtAuth::new("", "", 1).enabled());
    }

    #[test]
    fn metadata_keeps_non_empty_strings_only() {
        let c: Claims = serde_json::from_str(r#"{"uid":"7","deviceId":"","dept_id":12,"user_name":"张三"}"#).unwrap();
        let keys: Vec<String> = ["uid", "deviceId", "dept_id", "user_name", "absent"].map(String::from).to_vec();
        assert_eq!(JwtAuth::metadata(&c, &keys), [("uid".into(), "7".into()), ("user_name".into(), "张三".into())]);
    }
}
