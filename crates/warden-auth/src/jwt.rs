//! JWT bearer verification: static HS256/RS256/ES256/EdDSA keys and JWKS key sets.
//!
//! Each key is bound to exactly one algorithm, so a token can only be verified with the
//! algorithm its key was configured for: `alg: none`, HS256-signed-with-the-RSA-public-key
//! and other algorithm-confusion tricks fail before any signature check.

use crate::AuthError;
use arc_swap::ArcSwap;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use warden_config::{AuthConfig, KeySource, PublicKeyAlg};
use warden_core::{AuthMethod, Principal, TenantId};

struct Key {
    kid: Option<String>,
    alg: Algorithm,
    decoding: DecodingKey,
    validation: Validation,
}

/// The claim checks every key applies: clock skew, issuer, audience, required `exp`.
struct KeyRules {
    leeway: u64,
    issuer: Option<String>,
    audience: Option<String>,
}

impl KeyRules {
    fn key(&self, kid: Option<String>, alg: Algorithm, decoding: DecodingKey) -> Arc<Key> {
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp"]);
        match &self.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Arc::new(Key {
            kid,
            alg,
            decoding,
            validation,
        })
    }
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    unnamed: Vec<Arc<Key>>,
}

/// Verifies bearer tokens against the configured keys.
pub struct JwtVerifier {
    static_keys: Vec<Arc<Key>>,
    /// Keys fetched from each `jwks_url`, by URL; replaced whole on refresh.
    remote: ArcSwap<HashMap<String, Vec<Arc<Key>>>>,
    keys: ArcSwap<KeySet>,
    tenant_claim: String,
    subject_claim: String,
    rules: KeyRules,
    max_token_bytes: usize,
    jwks_urls: Vec<String>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("static_keys", &self.static_keys.len())
            .field("jwks_urls", &self.jwks_urls)
            .field("tenant_claim", &self.tenant_claim)
            .finish_non_exhaustive()
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}

impl JwtVerifier {
    /// Builds the verifier, parsing every static key and JWKS file; reports every bad key.
    pub fn from_config(cfg: &AuthConfig) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut static_keys = Vec::new();
        let mut jwks_urls = Vec::new();
        let rules = KeyRules {
            leeway: cfg.leeway_secs,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
        };
        let make = |kid, alg, decoding| rules.key(kid, alg, decoding);
        for (i, source) in cfg.keys.iter().enumerate() {
            match source {
                KeySource::Hs256 { kid, secret } => {
                    static_keys.push(make(
                        kid.clone(),
                        Algorithm::HS256,
                        DecodingKey::from_secret(secret.expose()),
                    ));
                }
                KeySource::PublicKey {
                    kid,
                    alg,
                    pem,
                    origin,
                } => {
                    let parsed = match alg {
                        PublicKeyAlg::Rs256 => {
                            DecodingKey::from_rsa_pem(pem).map(|k| (Algorithm::RS256, k))
                        }
                        PublicKeyAlg::Es256 => {
                            DecodingKey::from_ec_pem(pem).map(|k| (Algorithm::ES256, k))
                        }
                        PublicKeyAlg::EdDsa => {
                            DecodingKey::from_ed_pem(pem).map(|k| (Algorithm::EdDSA, k))
                        }
                    };
                    match parsed {
                        Ok((alg, key)) => static_keys.push(make(kid.clone(), alg, key)),
                        Err(e) => errors.push(format!(
                            "auth.keys[{i}]: `{origin}` is not a usable PEM public key: {e}"
                        )),
                    }
                }
                KeySource::JwksFile { path } => {
                    let parsed = std::fs::read(path)
                        .map_err(|e| e.to_string())
                        .and_then(|bytes| parse_jwks(&bytes).map_err(|e| e.to_string()));
                    match parsed {
                        Ok(keys) => {
                            for (kid, alg, key) in keys {
                                static_keys.push(make(kid, alg, key));
                            }
                        }
                        Err(e) => errors.push(format!(
                            "auth.keys[{i}]: JWKS file `{}`: {e}",
                            path.display()
                        )),
                    }
                }
                KeySource::JwksUrl { url } => jwks_urls.push(url.clone()),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let verifier = JwtVerifier {
            static_keys,
            remote: ArcSwap::from_pointee(HashMap::new()),
            keys: ArcSwap::from_pointee(KeySet::default()),
            tenant_claim: cfg.tenant_claim.clone(),
            subject_claim: cfg.subject_claim.clone(),
            rules,
            max_token_bytes: cfg.max_token_bytes,
            jwks_urls,
        };
        verifier.rebuild();
        Ok(verifier)
    }

    /// The JWKS URLs the server must fetch and install.
    pub fn jwks_urls(&self) -> &[String] {
        &self.jwks_urls
    }

    /// Replaces the keys of one JWKS URL with a freshly fetched document. On a parse error
    /// the previous keys stay in place.
    pub fn install_jwks(&self, url: &str, document: &[u8]) -> Result<usize, String> {
        let keys = parse_jwks(document)?;
        let count = keys.len();
        let built: Vec<Arc<Key>> = keys
            .into_iter()
            .map(|(kid, alg, decoding)| self.rules.key(kid, alg, decoding))
            .collect();
        let mut remote = HashMap::clone(&self.remote.load());
        remote.insert(url.to_string(), built);
        self.remote.store(Arc::new(remote));
        self.rebuild();
        Ok(count)
    }

    fn rebuild(&self) {
        let mut set = KeySet::default();
        let remote = self.remote.load();
        for key in self.static_keys.iter().chain(remote.values().flatten()) {
            match &key.kid {
                Some(kid) => {
                    set.by_kid.insert(kid.clone(), key.clone());
                }
                None => set.unnamed.push(key.clone()),
            }
        }
        self.keys.store(Arc::new(set));
    }

    /// Verifies a compact JWS and returns the principal it names.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > self.max_token_bytes {
            return Err(AuthError::TooLarge {
                max: self.max_token_bytes,
            });
        }
        let (alg, kid) = peek_header(token)?;
        let keys = self.keys.load();
        let candidates: Vec<&Arc<Key>> = match &kid {
            Some(kid) => vec![keys
                .by_kid
                .get(kid)
                .ok_or_else(|| AuthError::UnknownKid(truncate(kid)))?],
            None => keys.unnamed.iter().filter(|k| k.alg == alg).collect(),
        };
        if candidates.is_empty() {
            return Err(AuthError::NoKeyForAlg(alg_name(alg).into()));
        }
        let mut last = AuthError::BadSignature;
        for key in candidates {
            if key.alg != alg {
                return Err(AuthError::AlgorithmMismatch {
                    token: alg_name(alg).into(),
                    key: alg_name(key.alg).into(),
                });
            }
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &key.validation)
            {
                Ok(data) => return self.principal(data.claims, key.kid.clone(), alg),
                Err(e) => {
                    last = map_error(e);
                    if last != AuthError::BadSignature {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    fn principal(
        &self,
        claims: Map<String, Value>,
        kid: Option<String>,
        alg: Algorithm,
    ) -> Result<Principal, AuthError> {
        let tenant = match claims.get(&self.tenant_claim) {
            Some(Value::String(t)) => {
                TenantId::new(t.as_str()).map_err(|e| AuthError::BadTenant {
                    claim: self.tenant_claim.clone(),
                    reason: e.to_string(),
                })?
            }
            Some(_) => {
                return Err(AuthError::BadTenant {
                    claim: self.tenant_claim.clone(),
                    reason: "not a string".into(),
                })
            }
            None => return Err(AuthError::MissingClaim(self.tenant_claim.clone())),
        };
        let subject = match claims.get(&self.subject_claim) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        Ok(Principal {
            tenant,
            subject,
            method: AuthMethod::Jwt {
                kid,
                alg: alg_name(alg).into(),
            },
            claims,
        })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Reads the JOSE header without trusting it, to pick a key and refuse bad algorithms with a
/// precise error.
fn peek_header(token: &str) -> Result<(Algorithm, Option<String>), AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed("header is not base64url".into()))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("header is not JSON".into()))?;
    let alg = match value.get("alg") {
        Some(Value::String(a)) => a.as_str(),
        _ => return Err(AuthError::Malformed("header has no `alg`".into())),
    };
    let alg = match alg {
        "HS256" => Algorithm::HS256,
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        a if a.eq_ignore_ascii_case("none") => return Err(AuthError::AlgNone),
        other => return Err(AuthError::UnsupportedAlg(truncate(other))),
    };
    let kid = match value.get("kid") {
        Some(Value::String(k)) => Some(k.clone()),
        None | Some(Value::Null) => None,
        Some(_) => return Err(AuthError::Malformed("header `kid` is not a string".into())),
    };
    Ok((alg, kid))
}

fn map_error(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => AuthError::BadSignature,
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidIssuer => AuthError::WrongIssuer,
        K::InvalidAudience => AuthError::WrongAudience,
        K::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
        K::InvalidAlgorithm => AuthError::AlgorithmMismatch {
            token: "?".into(),
            key: "?".into(),
        },
        K::Base64(_) => AuthError::Malformed("a part is not base64url".into()),
        K::Json(_) => AuthError::Malformed("claims are not a JSON object".into()),
        K::Utf8(_) => AuthError::Malformed("claims are not UTF-8".into()),
        _ => AuthError::Malformed("token could not be decoded".into()),
    }
}

/// Parses a JWKS document into (kid, algorithm, key) triples. Keys whose algorithm cannot be
/// determined or is not supported are skipped; a document with no usable key is an error.
fn parse_jwks(bytes: &[u8]) -> Result<Vec<(Option<String>, Algorithm, DecodingKey)>, String> {
    let set: JwkSet =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut out = Vec::new();
    for jwk in &set.keys {
        let alg = match (&jwk.common.key_algorithm, &jwk.algorithm) {
            (Some(ka), _) => match ka {
                jsonwebtoken::jwk::KeyAlgorithm::RS256 => Some(Algorithm::RS256),
                jsonwebtoken::jwk::KeyAlgorithm::ES256 => Some(Algorithm::ES256),
                jsonwebtoken::jwk::KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
                _ => None,
            },
            (None, AlgorithmParameters::RSA(_)) => Some(Algorithm::RS256),
            (None, AlgorithmParameters::EllipticCurve(p)) if p.curve == EllipticCurve::P256 => {
                Some(Algorithm::ES256)
            }
            (None, AlgorithmParameters::OctetKeyPair(_)) => Some(Algorithm::EdDSA),
            _ => None,
        };
        // Symmetric keys are never accepted from a JWKS: a key set is public material.
        let (Some(alg), false) = (
            alg,
            matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)),
        ) else {
            continue;
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("bad key: {e}"))?;
        out.push((jwk.common.key_id.clone(), alg, key));
    }
    if out.is_empty() {
        return Err("no usable RS256, ES256 or EdDSA key in the set".into());
    }
    Ok(out)
}

/// Issues a development token signed with an HS256 key (`warden token`).
pub fn issue_hs256(
    secret: &[u8],
    kid: Option<&str>,
    claims: &Map<String, Value>,
) -> Result<String, String> {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret))
        .map_err(|e| e.to_string())
}
