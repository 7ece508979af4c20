//! Reading a JWT's claims. reqtest never verifies signatures: the server
//! that issued the token does that; reqtest only wants `exp` and the claims
//! users assert on.

use base64::Engine as _;
use serde_json::Value as Json;

/// The claims of `token` if it is a JWT, else `None`.
pub fn claims(token: &str) -> Option<Json> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Json = serde_json::from_slice(&bytes).ok()?;
    claims.is_object().then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_payload_of_a_jwt_and_nothing_else() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"u","exp":1700000000,"tenant":"p1"}"#);
        let token = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln");
        let c = claims(&token).unwrap();
        assert_eq!(c["tenant"], "p1");
        assert_eq!(c["exp"], 1700000000);
        assert!(claims("opaque-token").is_none());
        assert!(claims("a.b.c").is_none());
    }
}
