//! Bearer tokens and API keys: random secrets of which only a SHA-256 is stored.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random secret with a readable prefix, e.g. `cgt_3f9a…` (tokens) or
/// `cgk_…` (API keys): 32 random bytes, hex-encoded.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// The SHA-256 of a secret, as stored in the database.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = new_secret("cgt");
        let b = new_secret("cgt");
        assert!(a.starts_with("cgt_") && a.len() == 4 + 64);
        assert_ne!(a, b);
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert_ne!(secret_hash(&a), secret_hash(&b));
        assert_eq!(secret_hash(&a).len(), 32);
    }
}
