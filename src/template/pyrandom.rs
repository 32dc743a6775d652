//! Python's `random.Random(seed)` where a template asks for a seeded choice
//! (`random(seed=inventory_hostname)`, `shuffle(seed=...)`): the same Mersenne Twister (the
//! `rand_mt` crate), seeded as CPython seeds it from a string or an integer, and drawing as
//! CPython draws (`_randbelow` by rejection from `getrandbits`), so a seeded result is the
//! one ansible-core gives. Without a seed the system's randomness is used.
//!
//! Owns: seeding and drawing. Must not: be used for secrets (passwords use `ring`).

use rand_mt::Mt;
use serde_json::Value;

pub struct PyRandom(Mt);

impl PyRandom {
    /// `random.Random(seed)` for a string or an integer seed (others as their text).
    pub fn seeded(seed: &Value) -> PyRandom {
        let be: Vec<u8> = match seed {
            Value::Number(n) if n.as_i64().is_some() || n.as_u64().is_some() => {
                let v: u128 = n
                    .as_i64()
                    .map(|i| u128::from(i.unsigned_abs()))
                    .or_else(|| n.as_u64().map(u128::from))
                    .unwrap_or(0);
                v.to_be_bytes().to_vec()
            }
            other => {
                let text = match other {
                    Value::String(s) => s.clone(),
                    v => crate::pyrepr::str_of(v),
                };
                // CPython (version 2 seeding): the text's bytes followed by their SHA-512,
                // read as one big-endian integer.
                let mut b = text.as_bytes().to_vec();
                b.extend_from_slice(
                    ring::digest::digest(&ring::digest::SHA512, text.as_bytes()).as_ref(),
                );
                b
            }
        };
        // The integer's 32-bit words, least significant first, as init_by_array takes them.
        let start = be.iter().position(|b| *b != 0).unwrap_or(be.len());
        let mut le: Vec<u8> = be[start..].iter().rev().copied().collect();
        while !le.len().is_multiple_of(4) {
            le.push(0);
        }
        let mut key: Vec<u32> = le
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if key.is_empty() {
            key.push(0);
        }
        PyRandom(Mt::new_with_key(key))
    }

    /// Seeded from the system (no seed given).
    pub fn unseeded() -> PyRandom {
        use ring::rand::SecureRandom;
        let mut b = [0u8; 16];
        let _ = ring::rand::SystemRandom::new().fill(&mut b);
        let key: Vec<u32> = b
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        PyRandom(Mt::new_with_key(key))
    }

    fn getrandbits(&mut self, k: u32) -> u64 {
        if k <= 32 {
            return u64::from(self.0.next_u32() >> (32 - k));
        }
        // Words least significant first, the last one shortened (k up to 64 here).
        let lo = u64::from(self.0.next_u32());
        let hi = u64::from(self.0.next_u32() >> (64 - k));
        lo | (hi << 32)
    }

    /// CPython's `_randbelow`: uniform in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `random.shuffle`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}
