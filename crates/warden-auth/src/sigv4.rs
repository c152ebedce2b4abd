//! AWS Signature Version 4 verification for requests from AWS SDK clients.
//!
//! The canonical request is rebuilt from exactly the headers the client declared in
//! `SignedHeaders`, as the AWS spec requires of a verifier; HMAC-SHA256 comes from the
//! `hmac`/`sha2` crates and the final comparison is constant-time.

use crate::AuthError;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use warden_config::{AuthConfig, AwsKey};
use warden_core::{AuthMethod, Principal};

/// The only SigV4 algorithm AWS SDKs use for these services.
pub const SIGV4_ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The allowed difference between the request's `X-Amz-Date` and the server clock.
const MAX_SKEW_SECS: u64 = 15 * 60;

/// Everything of a request that a signature covers.
#[derive(Debug)]
pub struct SigV4Request<'a> {
    pub method: &'a str,
    /// The path exactly as received, still percent-encoded.
    pub path: &'a str,
    /// The raw query string without `?`.
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    /// Seconds since the Unix epoch.
    pub now: u64,
}

/// Verifies SigV4 signatures made with configured access keys.
pub struct SigV4Verifier {
    keys: HashMap<String, AwsKey>,
}

impl fmt::Debug for SigV4Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Verifier")
            .field("access_keys", &self.keys.len())
            .finish()
    }
}

/// Unreserved characters per RFC 3986 stay as they are; everything else is encoded.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const PATH: &AsciiSet = &STRICT.remove(b'/');

struct Parsed<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: Vec<u8>,
}

fn malformed(msg: &str) -> AuthError {
    AuthError::SigV4Malformed(msg.to_string())
}

fn parse_authorization(value: &str) -> Result<Parsed<'_>, AuthError> {
    let rest = value
        .strip_prefix(SIGV4_ALGORITHM)
        .ok_or_else(|| malformed("expected `AWS4-HMAC-SHA256`"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        } else {
            return Err(malformed("unexpected component"));
        }
    }
    let credential = credential.ok_or_else(|| malformed("missing `Credential`"))?;
    let signed = signed.ok_or_else(|| malformed("missing `SignedHeaders`"))?;
    let signature = signature.ok_or_else(|| malformed("missing `Signature`"))?;
    let mut scope = credential.split('/');
    let (Some(access_key), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(malformed(
            "credential scope is not `KEY/DATE/REGION/SERVICE/aws4_request`",
        ));
    };
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("credential date is not YYYYMMDD"));
    }
    let signed_headers: Vec<&str> = signed.split(';').collect();
    if signed_headers
        .iter()
        .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(malformed(
            "signed header names must be lowercase and non-empty",
        ));
    }
    if !signed_headers.windows(2).all(|w| w[0] < w[1]) {
        return Err(malformed("signed header names must be sorted and unique"));
    }
    if !signed_headers.contains(&"host") {
        return Err(malformed("the `host` header must be signed"));
    }
    let signature = hex::decode(signature).map_err(|_| malformed("signature is not hex"))?;
    if signature.len() != 32 {
        return Err(malformed("signature is not 32 bytes"));
    }
    Ok(Parsed {
        access_key,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// Parses `YYYYMMDDTHHMMSSZ` into seconds since the Unix epoch.
fn parse_amz_date(s: &str) -> Option<u64> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let dt = time::PrimitiveDateTime::parse(s, &format).ok()?;
    u64::try_from(dt.assume_utc().unix_timestamp()).ok()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_decode_str(&s.replace('+', "%20"))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (
                utf8_percent_encode(&dec(k), STRICT).to_string(),
                utf8_percent_encode(&dec(v), STRICT).to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

impl SigV4Verifier {
    pub fn from_config(cfg: &AuthConfig) -> Self {
        SigV4Verifier {
            keys: cfg
                .aws_keys
                .iter()
                .map(|k| (k.access_key_id.clone(), k.clone()))
                .collect(),
        }
    }

    /// Verifies the request's SigV4 `Authorization` header.
    pub fn verify(&self, req: &SigV4Request<'_>) -> Result<Principal, AuthError> {
        let auth = req
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::Missing)?;
        let parsed = parse_authorization(auth)?;
        let key = self
            .keys
            .get(parsed.access_key)
            .ok_or(AuthError::UnknownAccessKey)?;
        let amz_date = req
            .headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| malformed("missing `X-Amz-Date` header"))?;
        let at = parse_amz_date(amz_date)
            .ok_or_else(|| malformed("`X-Amz-Date` is not YYYYMMDDTHHMMSSZ"))?;
        if !amz_date.starts_with(parsed.date) {
            return Err(malformed("credential date does not match `X-Amz-Date`"));
        }
        if at.abs_diff(req.now) > MAX_SKEW_SECS {
            return Err(AuthError::SigV4Skew);
        }
        let body_hash = hex::encode(Sha256::digest(req.body));
        let payload_hash = match req.headers.get("x-amz-content-sha256") {
            Some(v) => {
                let v = v
                    .to_str()
                    .map_err(|_| malformed("bad `X-Amz-Content-Sha256`"))?;
                if v != body_hash {
                    return Err(AuthError::SigV4Mismatch);
                }
                v.to_string()
            }
            None => body_hash,
        };
        let mut canonical_headers = String::new();
        for name in &parsed.signed_headers {
            let values: Vec<String> = req
                .headers
                .get_all(*name)
                .iter()
                .map(|v| {
                    let v = String::from_utf8_lossy(v.as_bytes());
                    v.split_whitespace().collect::<Vec<_>>().join(" ")
                })
                .collect();
            if values.is_empty() {
                return Err(malformed("a signed header is missing from the request"));
            }
            canonical_headers.push_str(name);
            canonical_headers.push(':');
            canonical_headers.push_str(&values.join(","));
            canonical_headers.push('\n');
        }
        let path = if req.path.is_empty() { "/" } else { req.path };
        let canonical_request = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            req.method,
            utf8_percent_encode(path, PATH),
            canonical_query(req.query),
            canonical_headers,
            parsed.signed_headers.join(";"),
            payload_hash
        );
        let scope = format!(
            "{}/{}/{}/aws4_request",
            parsed.date, parsed.region, parsed.service
        );
        let string_to_sign = format!(
            "{SIGV4_ALGORITHM}\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let k_date = hmac(
            format!("AWS4{}", key.secret.expose()).as_bytes(),
            parsed.date.as_bytes(),
        );
        let k_region = hmac(&k_date, parsed.region.as_bytes());
        let k_service = hmac(&k_region, parsed.service.as_bytes());
        let k_signing = hmac(&k_service, b"aws4_request");
        let mut mac = Hmac::<Sha256>::new_from_slice(&k_signing).expect("HMAC accepts any key");
        mac.update(string_to_sign.as_bytes());
        mac.verify_slice(&parsed.signature)
            .map_err(|_| AuthError::SigV4Mismatch)?;
        Ok(Principal {
            tenant: key.tenant.clone(),
            subject: key.access_key_id.clone(),
            method: AuthMethod::SigV4 {
                access_key_id: key.access_key_id.clone(),
            },
            claims: serde_json::Map::new(),
        })
    }
}

/// Signs a request the way AWS SDKs do, for tests and benchmarks of the verifier.
#[doc(hidden)]
pub fn sign_for_tests(
    access_key: &str,
    secret: &str,
    method: &str,
    path: &str,
    headers: &mut http::HeaderMap,
    body: &[u8],
    amz_date: &str,
) {
    headers.insert("x-amz-date", amz_date.parse().expect("ascii date"));
    let mut names: Vec<String> = headers.keys().map(|k| k.as_str().to_string()).collect();
    names.sort();
    names.dedup();
    let canonical_headers: String = names
        .iter()
        .map(|n| {
            format!(
                "{n}:{}\n",
                headers[n.as_str()].to_str().unwrap_or("").trim()
            )
        })
        .collect();
    let canonical_request = format!(
        "{method}\n{}\n\n{canonical_headers}\n{}\n{}",
        utf8_percent_encode(path, PATH),
        names.join(";"),
        hex::encode(Sha256::digest(body))
    );
    let date = &amz_date[..8];
    let scope = format!("{date}/us-east-1/bedrock/aws4_request");
    let sts = format!(
        "{SIGV4_ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, b"us-east-1");
    let k = hmac(&k, b"bedrock");
    let k = hmac(&k, b"aws4_request");
    let sig = hex::encode(hmac(&k, sts.as_bytes()));
    let value = format!(
        "{SIGV4_ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={}, Signature={sig}",
        names.join(";")
    );
    headers.insert(
        http::header::AUTHORIZATION,
        value.parse().expect("ascii header"),
    );
}
