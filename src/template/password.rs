//! The `password_hash` filter: SHA-512 and SHA-256 crypt (`$6$`, `$5$`) as ansible-core
//! gives them with passlib — its default rounds (656,000 and 535,000; `rounds=` written
//! unless 5,000), a given salt used as is, else 16 random characters of crypt's alphabet.
//! The hashing is the `sha-crypt` crate's; this file only lays out the result.
//!
//! Owns: the filter's arguments and the crypt string. Must not: log the password.

use minijinja::Error;
use minijinja::value::Kwargs;

const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn fail(msg: String) -> Error {
    Error::new(minijinja::ErrorKind::InvalidOperation, msg)
}

/// Crypt's base64 of three bytes (`n` characters, low bits first).
fn b64_24(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
    for _ in 0..n {
        out.push(char::from(ALPHABET[(w & 0x3f) as usize]));
        w >>= 6;
    }
}

/// The digest's bytes in the order the SHA-crypt specification lays them out.
fn encode(digest: &[u8]) -> String {
    let mut out = String::new();
    if digest.len() == 64 {
        for k in 0..21 {
            let (a, b, c) = (k, k + 21, k + 42);
            let (x, y, z) = match k % 3 {
                0 => (a, b, c),
                1 => (b, c, a),
                _ => (c, a, b),
            };
            b64_24(&mut out, digest[x], digest[y], digest[z], 4);
        }
        b64_24(&mut out, 0, 0, digest[63], 2);
    } else {
        for k in 0..10 {
            let (a, b, c) = (k, k + 10, k + 20);
            let (x, y, z) = match k % 3 {
                0 => (a, b, c),
                1 => (c, a, b),
                _ => (b, c, a),
            };
            b64_24(&mut out, digest[x], digest[y], digest[z], 4);
        }
        b64_24(&mut out, 0, digest[31], digest[30], 3);
    }
    out
}

fn random_salt() -> Result<String, Error> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| fail("password_hash: no random numbers".into()))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 0x3f)]))
        .collect())
}

/// `password | password_hash(hashtype='sha512', salt=None, rounds=None)`.
pub fn password_hash(
    password: String,
    hashtype: Option<String>,
    salt: Option<String>,
    rounds: Option<i64>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let hashtype: String = match kwargs.get::<Option<String>>("hashtype")? {
        Some(h) => h,
        None => hashtype.unwrap_or_else(|| "sha512".into()),
    };
    let salt: Option<String> = kwargs.get::<Option<String>>("salt")?.or(salt);
    let rounds: Option<i64> = kwargs.get::<Option<i64>>("rounds")?.or(rounds);
    for k in ["salt_size", "ident"] {
        if kwargs.has(k) {
            return Err(fail(format!(
                "password_hash: '{k}' is not supported by olympus yet"
            )));
        }
    }
    kwargs.assert_all_used()?;
    let (id, default_rounds) = match hashtype.as_str() {
        "sha512" | "sha512_crypt" => ("6", 656_000),
        "sha256" | "sha256_crypt" => ("5", 535_000),
        other => {
            return Err(fail(format!(
                "password_hash: '{other}' is not supported by olympus yet (sha512, sha256)"
            )));
        }
    };
    let rounds = rounds.unwrap_or(default_rounds);
    let rounds = u32::try_from(rounds)
        .ok()
        .filter(|r| (1_000..=999_999_999).contains(r))
        .ok_or_else(|| {
            fail(format!(
                "password_hash: rounds {rounds} out of range (1000 to 999999999)"
            ))
        })?;
    let salt = match salt {
        Some(s) => {
            if let Some(c) = s
                .chars()
                .find(|c| !ALPHABET.contains(&(*c as u8)) || !c.is_ascii())
            {
                return Err(fail(format!(
                    "password_hash: invalid character {c:?} in salt (crypt salts use ./0-9A-Za-z)"
                )));
            }
            s.chars().take(16).collect::<String>()
        }
        None => random_salt()?,
    };
    let params = sha_crypt::Params::new(rounds).map_err(|e| fail(format!("password_hash: {e}")))?;
    let digest: Vec<u8> = if id == "6" {
        sha_crypt::sha512_crypt(password.as_bytes(), salt.as_bytes(), params).to_vec()
    } else {
        sha_crypt::sha256_crypt(password.as_bytes(), salt.as_bytes(), params).to_vec()
    };
    let rounds_field = if rounds == 5_000 {
        String::new()
    } else {
        format!("rounds={rounds}$")
    };
    Ok(format!("${id}${rounds_field}{salt}${}", encode(&digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pw: &str, t: &str, salt: &str, rounds: Option<i64>) -> String {
        password_hash(
            pw.into(),
            Some(t.into()),
            Some(salt.into()),
            rounds,
            Kwargs::from_iter(std::iter::empty::<(&str, minijinja::Value)>()),
        )
        .unwrap()
    }

    #[test]
    fn ansible_core_and_glibc_give_these() {
        // Recorded from ansible-core 2.19 (passlib) and Python's crypt (glibc).
        assert_eq!(
            h("secret", "sha512", "mysaltmysalt", Some(5000)),
            "$6$mysaltmysalt$2gNz9smi.ezXZQ9bEaKfWa1mqfTFAf7Q9LzVxHgWHy9Kn4.RxJZU6BNnf49APvobSLVyyO4YRRdoWSptiCK1l1"
        );
        assert_eq!(
            h("secret", "sha256", "abc", Some(5000)),
            "$5$abc$qsg6EHbUzHQzF1POlD7zUwBINSELQxypPaeDcZe6vH0"
        );
    }
}
