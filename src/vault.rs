//! Ansible Vault: files and `!vault` values encrypted with `ansible-vault` (format 1.1 and
//! 1.2 with a vault id, AES256), read with the passwords the command line gives
//! (`--vault-password-file`, `--vault-id`, `--ask-vault-pass`, ansible.cfg
//! `vault_password_file`, `ANSIBLE_VAULT_PASSWORD_FILE`).
//!
//! The cipher is ansible-core's: PBKDF2-HMAC-SHA256 (10,000 rounds) of the password and a
//! 32-byte salt gives an AES-256 key, an HMAC-SHA256 key and a CTR counter; the HMAC of the
//! ciphertext is checked (in constant time) before anything is decrypted, so a wrong
//! password or a damaged file is an error, never garbage.
//!
//! Owns: the format, the passwords of the process (set once by the command line, read by the
//! YAML loader and controller files wherever vaulted content turns up). Must not: print or
//! log a password or a decrypted value.

use std::num::NonZeroU32;
use std::sync::RwLock;

use aes::cipher::{KeyIvInit, StreamCipher};

/// The first bytes of every vault.
pub const HEADER: &str = "$ANSIBLE_VAULT;";

const ROUNDS: u32 = 10_000;

type Ctr = ctr::Ctr128BE<aes::Aes256>;

/// One password, with the vault id it was given for (`--vault-id prod@file`).
#[derive(Clone)]
pub struct Password {
    pub id: Option<String>,
    secret: Vec<u8>,
}

impl Password {
    pub fn new(id: Option<String>, secret: impl Into<Vec<u8>>) -> Self {
        Password {
            id,
            secret: secret.into(),
        }
    }
}

impl Password {
    /// The password a vault password file holds: its text without surrounding blanks, or
    /// what it prints when it is executable (as ansible-core reads both).
    pub fn from_file(id: Option<String>, path: &std::path::Path) -> Result<Password, VaultError> {
        use std::os::unix::fs::PermissionsExt;
        let bad = |what: String| VaultError::PasswordFile(format!("{}: {what}", path.display()));
        let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
        let secret = if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            let out = std::process::Command::new(path)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| bad(format!("cannot run it: {e}")))?;
            if !out.status.success() {
                return Err(bad(format!(
                    "the script failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let mut b = out.stdout;
            while b.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
                b.pop();
            }
            b
        } else {
            let text = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            text.trim_ascii().to_vec()
        };
        if secret.is_empty() {
            return Err(bad("the password is empty".into()));
        }
        Ok(Password::new(id, secret))
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Password({:?}, <hidden>)", self.id)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VaultError {
    #[error(
        "this is vault-encrypted content, but no vault password was given (use --vault-password-file FILE, --vault-id, --ask-vault-pass, or vault_password_file in ansible.cfg)"
    )]
    NoPassword,
    #[error(
        "no vault password given decrypts this content (a wrong password, or the file was changed)"
    )]
    WrongPassword,
    #[error("not a vault: {0}")]
    Format(String),
    #[error("vault password file {0}")]
    PasswordFile(String),
}

static PASSWORDS: RwLock<Vec<Password>> = RwLock::new(Vec::new());

/// Sets the passwords of this process (the command line does, once).
pub fn set_passwords(passwords: Vec<Password>) {
    if let Ok(mut p) = PASSWORDS.write() {
        *p = passwords;
    }
}

/// True when `text` is vault-encrypted content.
pub fn is_vault(text: &[u8]) -> bool {
    text.starts_with(HEADER.as_bytes())
}

/// Decrypts vault `text` with the process's passwords (those for its vault id first).
pub fn decrypt(text: &str) -> Result<Vec<u8>, VaultError> {
    let passwords = PASSWORDS.read().map(|p| p.clone()).unwrap_or_default();
    decrypt_with(text, &passwords)
}

/// Decrypts vault `text` with one of `passwords`.
pub fn decrypt_with(text: &str, passwords: &[Password]) -> Result<Vec<u8>, VaultError> {
    let text = text.trim_start();
    let (header, body) = text.split_once('\n').unwrap_or((text, ""));
    let fields: Vec<&str> = header.trim().split(';').collect();
    let id = match fields.as_slice() {
        ["$ANSIBLE_VAULT", "1.1", cipher] => {
            check_cipher(cipher)?;
            None
        }
        ["$ANSIBLE_VAULT", "1.2", cipher, id] => {
            check_cipher(cipher)?;
            Some(id.trim().to_string())
        }
        _ => {
            return Err(VaultError::Format(format!(
                "unknown header '{}'",
                header.chars().take(60).collect::<String>()
            )));
        }
    };
    let hex: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let inner = unhex(&hex)?;
    let inner =
        String::from_utf8(inner).map_err(|_| VaultError::Format("body is not text".into()))?;
    let mut parts = inner.split('\n');
    let (Some(salt), Some(mac), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(VaultError::Format("body has fewer than three parts".into()));
    };
    let (salt, mac, data) = (unhex(salt)?, unhex(mac)?, unhex(data)?);
    if passwords.is_empty() {
        return Err(VaultError::NoPassword);
    }
    // The passwords given for this vault id first, then the others (as ansible-core tries).
    let mut order: Vec<&Password> = passwords
        .iter()
        .filter(|p| id.is_some() && p.id == id)
        .collect();
    order.extend(passwords.iter().filter(|p| id.is_none() || p.id != id));
    for p in order {
        let (key, hmac_key, iv) = derive(&p.secret, &salt);
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &hmac_key);
        if ring::hmac::verify(&k, &data, &mac).is_err() {
            continue;
        }
        let mut out = data.clone();
        let mut c = Ctr::new_from_slices(&key, &iv)
            .map_err(|_| VaultError::Format("bad key length".into()))?;
        c.apply_keystream(&mut out);
        return unpad(out);
    }
    Err(VaultError::WrongPassword)
}

/// Encrypts `plain` as `ansible-vault encrypt` does (format 1.1, or 1.2 with `id`).
pub fn encrypt(plain: &[u8], password: &Password) -> Result<String, VaultError> {
    use ring::rand::SecureRandom;
    let mut salt = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| VaultError::Format("no random numbers".into()))?;
    let (key, hmac_key, iv) = derive(&password.secret, &salt);
    let pad = 16 - plain.len() % 16;
    let mut data = plain.to_vec();
    data.extend(std::iter::repeat_n(u8::try_from(pad).unwrap_or(16), pad));
    let mut c =
        Ctr::new_from_slices(&key, &iv).map_err(|_| VaultError::Format("bad key length".into()))?;
    c.apply_keystream(&mut data);
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &hmac_key);
    let mac = ring::hmac::sign(&k, &data);
    let hex = data_encoding::HEXLOWER;
    let inner = format!(
        "{}\n{}\n{}",
        hex.encode(&salt),
        hex.encode(mac.as_ref()),
        hex.encode(&data)
    );
    let body = hex.encode(inner.as_bytes());
    let mut out = match &password.id {
        Some(id) => format!("{HEADER}1.2;AES256;{id}\n"),
        None => format!("{HEADER}1.1;AES256\n"),
    };
    for chunk in body.as_bytes().chunks(80) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    Ok(out)
}

fn check_cipher(c: &str) -> Result<(), VaultError> {
    if c.trim() == "AES256" {
        Ok(())
    } else {
        Err(VaultError::Format(format!(
            "cipher '{c}' is not supported (ansible-vault writes AES256)"
        )))
    }
}

fn unhex(s: &str) -> Result<Vec<u8>, VaultError> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(s.trim().as_bytes())
        .map_err(|_| VaultError::Format("body is not hexadecimal".into()))
}

/// The AES key, the HMAC key and the counter's first value.
fn derive(secret: &[u8], salt: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut out = [0u8; 80];
    let rounds = NonZeroU32::new(ROUNDS).unwrap_or(NonZeroU32::MIN);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        secret,
        &mut out,
    );
    (out[..32].to_vec(), out[32..64].to_vec(), out[64..].to_vec())
}

fn unpad(mut data: Vec<u8>) -> Result<Vec<u8>, VaultError> {
    let n = usize::from(*data.last().unwrap_or(&0));
    if n == 0 || n > 16 || n > data.len() {
        return Err(VaultError::Format("bad padding".into()));
    }
    data.truncate(data.len() - n);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let p = Password::new(None, "s3cret");
        let v = encrypt(b"db_password: hunter2\n", &p).unwrap();
        assert!(v.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
        assert_eq!(
            decrypt_with(&v, std::slice::from_ref(&p)).unwrap(),
            b"db_password: hunter2\n"
        );
        let wrong = Password::new(None, "nope");
        assert_eq!(decrypt_with(&v, &[wrong]), Err(VaultError::WrongPassword));
        assert_eq!(decrypt_with(&v, &[]), Err(VaultError::NoPassword));
    }

    #[test]
    fn vault_ids_pick_their_password_first() {
        let prod = Password::new(Some("prod".into()), "p");
        let v = encrypt(b"x", &prod).unwrap();
        assert!(v.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
        let dev = Password::new(Some("dev".into()), "d");
        assert_eq!(decrypt_with(&v, &[dev, prod]).unwrap(), b"x");
    }

    #[test]
    fn password_files_and_scripts() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "  secret \n").unwrap();
        assert_eq!(Password::from_file(None, &f).unwrap().secret, b"secret");
        let script = dir.path().join("pw.sh");
        std::fs::write(&script, "#!/bin/sh\necho ' from script'\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            Password::from_file(None, &script).unwrap().secret,
            b" from script"
        );
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(Password::from_file(None, &empty).is_err());
    }

    #[test]
    fn damaged_vaults_are_refused() {
        let p = Password::new(None, "k");
        let mut v = encrypt(b"hello", &p).unwrap();
        // Flip one hex digit of the body.
        let i = v.len() - 3;
        let c = if &v[i..=i] == "0" { "1" } else { "0" };
        v.replace_range(i..=i, c);
        assert!(decrypt_with(&v, std::slice::from_ref(&p)).is_err());
        assert!(matches!(
            decrypt_with("$ANSIBLE_VAULT;9.9;AES256\n00", &[p]),
            Err(VaultError::Format(_))
        ));
    }
}
