//! Bearer tokens and roles. Tokens are kept only as SHA-256 digests: a
//! token is long and random, so a fast digest protects it as well as a slow
//! password hash would, and checking one costs microseconds per request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

use super::{ApiError, ApiState};
use crate::config::TokenConfig;

/// What a token may do; each role includes the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// A configured token.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    role: Role,
    digest: [u8; 32],
}

/// The tokens allowed in.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

/// A token entry that cannot work, naming it.
#[derive(Debug, thiserror::Error)]
#[error("api.tokens[{index}] ({name}): {message}")]
pub struct TokenError {
    pub index: usize,
    pub name: String,
    pub message: String,
}

impl Tokens {
    /// # Errors
    /// [`TokenError`] for an unknown role, a digest that is not 64 hex
    /// digits, or a name used twice.
    pub fn new(config: &[TokenConfig]) -> Result<Tokens, TokenError> {
        let mut entries: Vec<Entry> = Vec::with_capacity(config.len());
        for (index, t) in config.iter().enumerate() {
            let bad = |message: String| TokenError {
                index,
                name: t.name.clone(),
                message,
            };
            let role =
                Role::parse(&t.role).ok_or_else(|| bad(format!("role '{}': use viewer, operator or admin", t.role)))?;
            let digest = parse_hex32(&t.sha256)
                .ok_or_else(|| bad("sha256 must be the token's SHA-256 as 64 hex digits".into()))?;
            if t.name.trim().is_empty() {
                return Err(bad("name is empty".into()));
            }
            if entries.iter().any(|e| e.name == t.name) {
                return Err(bad("the name is used by another token".into()));
            }
            entries.push(Entry {
                name: t.name.clone(),
                role,
                digest,
            });
        }
        Ok(Tokens { entries })
    }

    /// The name and role of a presented token.
    pub fn check(&self, token: &str) -> Option<(&str, Role)> {
        let d = sha256(token);
        // Compare every entry fully: the time taken says nothing about
        // which digest came close.
        let mut found = None;
        for e in &self.entries {
            let same = e.digest.iter().zip(&d).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
            if same {
                found = Some((e.name.as_str(), e.role));
            }
        }
        found
    }
}

pub fn sha256(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A new random token (32 bytes, hex) and its configuration entry.
pub fn new_token(name: &str, role: Role) -> (String, TokenConfig) {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    let token = format!("lp_{}", hex(&bytes));
    let entry = TokenConfig {
        name: name.into(),
        role: role.name().into(),
        sha256: hex(&sha256(&token)),
    };
    (token, entry)
}

/// The caller of a request, from its `Authorization: Bearer` header.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// # Errors
    /// 403 when the caller's role is below `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "token '{}' has role {}; this needs {} or above",
                self.name,
                self.role.name(),
                role.name()
            )))
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("missing 'Authorization: Bearer <token>' header".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be 'Bearer <token>'".into()))?;
        let (name, role) = state
            .tokens
            .check(token)
            .ok_or_else(|| ApiError::Unauthorized("unknown token".into()))?;
        Ok(Caller {
            name: name.to_string(),
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_checks_with_its_role_and_others_do_not() {
        let (token, entry) = new_token("wall", Role::Operator);
        let tokens = Tokens::new(&[entry]).unwrap();
        assert_eq!(tokens.check(&token), Some(("wall", Role::Operator)));
        assert_eq!(tokens.check("lp_nope"), None);
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
    }

    #[test]
    fn bad_entries_are_refused_by_name() {
        let entry = |role: &str, sha: &str| TokenConfig {
            name: "x".into(),
            role: role.into(),
            sha256: sha.into(),
        };
        let e = Tokens::new(&[entry("boss", &"a".repeat(64))]).unwrap_err();
        assert!(e.to_string().contains("role 'boss'"), "{e}");
        let e = Tokens::new(&[entry("viewer", "abc")]).unwrap_err();
        assert!(e.to_string().contains("64 hex digits"), "{e}");
        let e = Tokens::new(&[entry("viewer", &"a".repeat(64)), entry("admin", &"b".repeat(64))]).unwrap_err();
        assert!(e.to_string().contains("api.tokens[1]"), "{e}");
    }
}
