//! Keys and randomness for the local stand-ins: the dev identity provider's
//! RSA signing key, the FCM service account's RSA key, the APNs and VAPID
//! P-256 keys, and random ids. They come from aws-lc-rs, the crypto library
//! rustls and jsonwebtoken already use here, so no second RSA
//! implementation or random number generator is linked for them.
//!
//! A key is kept as PKCS#8 PEM (`PRIVATE KEY`), as a Google service account
//! file or an Apple `.p8` file holds it. PKCS#1 PEM (`RSA PRIVATE KEY`),
//! what data directories written by earlier versions hold, is read too.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("could not generate a key")]
    Generate(#[source] aws_lc_rs::error::Unspecified),
    #[error("not a PEM private key (PRIVATE KEY or RSA PRIVATE KEY)")]
    NotPem,
    #[error("the PEM body is not base64")]
    Base64(#[from] base64::DecodeError),
    #[error("not a usable RSA private key")]
    Rejected(#[from] aws_lc_rs::error::KeyRejected),
}

/// Fills `bytes` from the system's secure random source.
pub fn fill_random(bytes: &mut [u8]) {
    aws_lc_rs::rand::fill(bytes).expect("the system's random source is available");
}

/// `N` bytes from the system's secure random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill_random(&mut bytes);
    bytes
}

/// A new P-256 key (APNs, VAPID), as PKCS#8 PEM.
pub fn p256_pem() -> Result<String, KeyError> {
    let pair =
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(KeyError::Generate)?;
    let der = pair.to_pkcs8v1().map_err(KeyError::Generate)?;
    Ok(pem("PRIVATE KEY", der.as_ref()))
}

/// A new 2048-bit RSA key, as PKCS#8 PEM.
pub fn rsa_pem() -> Result<String, KeyError> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(KeyError::Generate)?;
    let der = pair.as_der().map_err(KeyError::Generate)?;
    Ok(pem("PRIVATE KEY", der.as_ref()))
}

/// Reads an RSA private key from PKCS#8 or PKCS#1 PEM.
pub fn parse_pem(text: &str) -> Result<KeyPair, KeyError> {
    let (label, der) = unpem(text)?;
    Ok(match label {
        "PRIVATE KEY" => KeyPair::from_pkcs8(&der)?,
        "RSA PRIVATE KEY" => KeyPair::from_der(&der)?,
        _ => return Err(KeyError::NotPem),
    })
}

/// The public key's modulus and exponent, big-endian without leading
/// zeros: a JWK's `n` and `e`.
pub fn public_parts(pair: &KeyPair) -> (Vec<u8>, Vec<u8>) {
    let public = pair.public_key();
    (
        public.modulus().big_endian_without_leading_zero().to_vec(),
        public.exponent().big_endian_without_leading_zero().to_vec(),
    )
}

/// The public key as SubjectPublicKeyInfo PEM (`PUBLIC KEY`).
pub fn public_pem(pair: &KeyPair) -> Result<String, KeyError> {
    let der = pair.public_key().as_der().map_err(KeyError::Generate)?;
    Ok(pem("PUBLIC KEY", der.as_ref()))
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn unpem(text: &str) -> Result<(&str, Vec<u8>), KeyError> {
    let text = text.trim();
    let label = text
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.split_once("-----"))
        .map(|(label, _)| label)
        .ok_or(KeyError::NotPem)?;
    let end = format!("-----END {label}-----");
    let body = text
        .split_once('\n')
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.strip_suffix(end.as_str()))
        .ok_or(KeyError::NotPem)?;
    let body: String = body.split_whitespace().collect();
    Ok((label, STANDARD.decode(body)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_reads_back_and_signs_tokens_that_its_public_key_verifies() {
        let pem = rsa_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        assert!(pem.lines().all(|line| line.len() <= 64));
        let pair = parse_pem(&pem).unwrap();
        let (n, e) = public_parts(&pair);
        assert_eq!(n.len(), 256);
        assert_eq!(e, [1, 0, 1]);

        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        let token = jsonwebtoken::encode(&header, &serde_json::json!({"sub": "a"}), &key).unwrap();
        let public = public_pem(&pair).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
    }

    #[test]
    fn a_pkcs1_key_from_an_earlier_data_directory_still_reads() {
        let pem8 = rsa_pem().unwrap();
        let (_, der) = unpem(&pem8).unwrap();
        // PKCS#8 v1 is SEQUENCE { version, AlgorithmIdentifier { rsaEncryption,
        // NULL }, OCTET STRING { the PKCS#1 RSAPrivateKey } }: the key
        // follows the NULL (05 00) and the octet string's header (04 82 hi lo).
        let at = der
            .windows(4)
            .position(|w| w[..3] == [0x05, 0x00, 0x04] && w[3] == 0x82)
            .expect("rsaEncryption's NULL, then the key's octet string");
        let pkcs1 = &der[at + 6..];
        assert_eq!(
            pkcs1.len(),
            usize::from(der[at + 4]) << 8 | usize::from(der[at + 5])
        );
        let pair1 = parse_pem(&pem("RSA PRIVATE KEY", pkcs1)).unwrap();
        assert_eq!(
            public_parts(&pair1),
            public_parts(&parse_pem(&pem8).unwrap())
        );
        // jsonwebtoken signs with either form.
        jsonwebtoken::EncodingKey::from_rsa_pem(pem("RSA PRIVATE KEY", pkcs1).as_bytes()).unwrap();
    }

    #[test]
    fn a_new_p256_key_reads_as_one_and_random_bytes_differ() {
        use p256::pkcs8::DecodePrivateKey as _;
        let pem = p256_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        let key = p256::SecretKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(key.public_key().to_sec1_bytes().len(), 65);
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
    }

    #[test]
    fn what_is_not_a_pem_private_key_is_refused() {
        assert!(matches!(parse_pem("hello"), Err(KeyError::NotPem)));
        assert!(matches!(
            parse_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
            Err(KeyError::NotPem)
        ));
        assert!(matches!(
            parse_pem("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----"),
            Err(KeyError::Base64(_))
        ));
        assert!(matches!(
            parse_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            Err(KeyError::Rejected(_))
        ));
    }
}
