//! Front-door authentication: verifies JWT bearer tokens and AWS SigV4 signatures and turns
//! them into a [`warden_core::Principal`] whose tenant comes only from the credential.
//!
//! Synchronous and free of network IO: JWKS documents fetched from a URL are handed in by the
//! server through [`JwtVerifier::install_jwks`].

mod error;
mod jwt;
mod sigv4;

pub use error::AuthError;
pub use jwt::{issue_hs256, JwtVerifier};
pub use sigv4::{
    sign_for_tests as sigv4_sign_for_tests, SigV4Request, SigV4Verifier, SIGV4_ALGORITHM,
};

use warden_config::AuthConfig;
use warden_core::Principal;

/// Both verifiers, built once from config.
#[derive(Debug)]
pub struct Authenticator {
    pub jwt: JwtVerifier,
    pub sigv4: SigV4Verifier,
}

impl Authenticator {
    /// Builds the verifiers; every unusable key is reported.
    pub fn from_config(cfg: &AuthConfig) -> Result<Self, Vec<String>> {
        let jwt = JwtVerifier::from_config(cfg)?;
        let sigv4 = SigV4Verifier::from_config(cfg);
        Ok(Authenticator { jwt, sigv4 })
    }

    /// Authenticates a request from its `Authorization` header (and, for SigV4, the rest of
    /// the request, including the body). `req.now` is seconds since the Unix epoch.
    pub fn authenticate(&self, req: &SigV4Request<'_>) -> Result<Principal, AuthError> {
        let Some(header) = req.headers.get(http::header::AUTHORIZATION) else {
            return Err(AuthError::Missing);
        };
        let header = header
            .to_str()
            .map_err(|_| AuthError::Malformed("authorization header is not ASCII".into()))?;
        if let Some(token) = strip_prefix_ci(header, "Bearer ") {
            self.jwt.verify(token.trim())
        } else if header.starts_with(SIGV4_ALGORITHM) {
            self.sigv4.verify(req)
        } else {
            Err(AuthError::UnsupportedScheme)
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    {
        s.get(prefix.len()..)
    } else {
        None
    }
}
