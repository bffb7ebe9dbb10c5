//! Near-duplicate detection for appeals: word shingles over stems, exact
//! Jaccard similarity, `MinHash` signatures that can be stored next to each
//! appeal, and the great-circle distance used to require that duplicates are
//! also close on the map.
//!
//! Shingles are the union of single stems (k = 1) and adjacent stem pairs
//! (k = 2). Citizens re-send the same complaint with sentences shuffled and a
//! few words changed: unigrams do not care about order, so a reordered text
//! keeps almost all of them; bigrams add phrase information, so two unrelated
//! texts that merely share common words («дом», «двор», «улица») score lower
//! than with unigrams alone. Because stop words are removed before pairing,
//! inserting «не», «уже», «пожалуйста» does not break bigrams.
//!
//! All hashing is a fixed FNV-1a + `SplitMix64` finaliser with constant seeds,
//! so shingles and signatures are identical across processes, restarts and
//! machines and can be persisted.

use std::collections::HashSet;
use std::fmt;
use std::hash::BuildHasher;

use serde::{Deserialize, Serialize};

use super::text::tokens;

/// Number of hash functions (and `u64` values) in a [`MinHash`] signature.
/// 64 gives a standard error of about 0.06 on the Jaccard estimate.
pub const SIGNATURE_LEN: usize = 64;

/// Byte length of [`MinHash::to_bytes`].
pub const SIGNATURE_BYTES: usize = SIGNATURE_LEN * 8;

/// Default largest shingle size: unigrams plus bigrams.
pub const DEFAULT_SHINGLE_SIZE: usize = 2;

const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// `SplitMix64` finaliser: spreads FNV's weak low bits over the whole word.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Deterministic 64-bit hash of a byte string (FNV-1a, then mixed). Stable
/// across runs, unlike `std`'s randomly seeded `DefaultHasher`.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    mix64(fnv1a(FNV_OFFSET, bytes))
}

/// Hash of one n-gram. The n-gram length seeds the hash and `0xFF` (never
/// present in UTF-8) separates words, so «аб в» and «а бв» or a unigram and
/// a bigram never collide by construction.
fn ngram_hash(words: &[String]) -> u64 {
    let mut h = fnv1a(FNV_OFFSET, &(words.len() as u64).to_le_bytes());
    for w in words {
        h = fnv1a(h, w.as_bytes());
        h = fnv1a(h, &[0xFF]);
    }
    mix64(h)
}

/// Shingles of already tokenised text: hashes of every n-gram of `stems`
/// for n in `1..=k` (`k = 0` is treated as 1).
pub fn shingles_from_tokens(stems: &[String], k: usize) -> HashSet<u64> {
    let mut set = HashSet::new();
    for n in 1..=k.max(1) {
        for window in stems.windows(n) {
            set.insert(ngram_hash(window));
        }
    }
    set
}

/// Shingles of `text`: the hashed 1-, 2-, …, `k`-grams of its stems (see the
/// module docs for why a mix of sizes). Use [`DEFAULT_SHINGLE_SIZE`] unless
/// there is a reason not to.
pub fn shingles(text: &str, k: usize) -> HashSet<u64> {
    shingles_from_tokens(&tokens(text), k)
}

/// Exact Jaccard similarity |A ∩ B| / |A ∪ B|. Two empty sets give 0.0: texts
/// without content are never reported as duplicates.
pub fn jaccard<S: BuildHasher>(a: &HashSet<u64, S>, b: &HashSet<u64, S>) -> f64 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let inter = small.iter().filter(|x| large.contains(x)).count();
    let union = a.len() + b.len() - inter;
    if union == 0 { 0.0 } else { inter as f64 / union as f64 }
}

/// Why bytes or a hex string could not be decoded into a [`MinHash`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// Input length differs from [`SIGNATURE_BYTES`] (bytes) or twice that (hex).
    Length(usize),
    /// A character that is not a hexadecimal digit.
    NotHex,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length(n) => write!(f, "MinHash signature has wrong length {n}"),
            Self::NotHex => f.write_str("MinHash signature is not a hex string"),
        }
    }
}

impl std::error::Error for SignatureError {}

/// A `MinHash` signature: for each of [`SIGNATURE_LEN`] fixed hash functions,
/// the minimum hash over the text's shingles. The fraction of positions where
/// two signatures agree estimates the Jaccard similarity of the shingle sets,
/// so candidates can be compared without the original texts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MinHash {
    values: Vec<u64>,
}

impl MinHash {
    /// Signature of a shingle set. An empty set gives the "empty" signature
    /// (all `u64::MAX`), which is similar to nothing.
    pub fn from_shingles<S: BuildHasher>(shingles: &HashSet<u64, S>) -> Self {
        // Hash function i: mix the shingle with a fixed per-index seed.
        let seeds: Vec<u64> =
            (1..=SIGNATURE_LEN as u64).map(|i| mix64(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))).collect();
        let mut values = vec![u64::MAX; SIGNATURE_LEN];
        for &s in shingles {
            for (v, seed) in values.iter_mut().zip(&seeds) {
                *v = (*v).min(mix64(s ^ seed));
            }
        }
        Self { values }
    }

    /// Signature of `text` with [`DEFAULT_SHINGLE_SIZE`].
    pub fn from_text(text: &str) -> Self {
        Self::from_shingles(&shingles(text, DEFAULT_SHINGLE_SIZE))
    }

    /// Whether the signature came from a text without any tokens.
    pub fn is_empty(&self) -> bool {
        self.values.iter().all(|&v| v == u64::MAX)
    }

    /// The raw signature values.
    pub fn values(&self) -> &[u64] {
        &self.values
    }

    /// Estimated Jaccard similarity in `0.0..=1.0`; 0.0 if either side is
    /// empty. Call as `a.similarity(&b)` or `MinHash::similarity(&a, &b)`.
    pub fn similarity(&self, other: &Self) -> f64 {
        if self.is_empty() || other.is_empty() {
            return 0.0;
        }
        let equal = self.values.iter().zip(&other.values).filter(|(a, b)| a == b).count();
        equal as f64 / self.values.len().max(other.values.len()) as f64
    }

    /// Locality-sensitive hashing keys: the signature cut into `bands` equal
    /// bands, each hashed to one `u64` (tagged with its band number). Two
    /// texts with Jaccard `s` share at least one key with probability
    /// `1 − (1 − s^r)^bands`, `r = 64 / bands`; storing the keys in an indexed
    /// column finds duplicate candidates without a full scan. 16 bands catch
    /// pairs above roughly 0.5 similarity. `bands` is clamped to `1..=64`;
    /// trailing values that do not fill a band are ignored.
    pub fn band_keys(&self, bands: usize) -> Vec<u64> {
        let bands = bands.clamp(1, SIGNATURE_LEN);
        let rows = self.values.len() / bands;
        if rows == 0 {
            return Vec::new();
        }
        self.values
            .chunks_exact(rows)
            .take(bands)
            .enumerate()
            .map(|(band, chunk)| {
                let mut h = fnv1a(FNV_OFFSET, &(band as u64).to_le_bytes());
                for v in chunk {
                    h = fnv1a(h, &v.to_le_bytes());
                }
                mix64(h)
            })
            .collect()
    }

    /// Serialises to [`SIGNATURE_BYTES`] little-endian bytes (for a `bytea`).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Parses the output of [`MinHash::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        if bytes.len() != SIGNATURE_BYTES {
            return Err(SignatureError::Length(bytes.len()));
        }
        let values = bytes
            .chunks_exact(8)
            .map(|c| {
                let mut word = [0_u8; 8];
                word.copy_from_slice(c);
                u64::from_le_bytes(word)
            })
            .collect();
        Ok(Self { values })
    }

    /// Lower-case hex of [`MinHash::to_bytes`] (for a text column or JSON).
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(SIGNATURE_BYTES * 2);
        for b in self.to_bytes() {
            s.push(char::from(DIGITS[usize::from(b >> 4)]));
            s.push(char::from(DIGITS[usize::from(b & 0x0F)]));
        }
        s
    }

    /// Parses the output of [`MinHash::to_hex`] (either case).
    pub fn from_hex(hex: &str) -> Result<Self, SignatureError> {
        if hex.len() != SIGNATURE_BYTES * 2 {
            return Err(SignatureError::Length(hex.len()));
        }
        let digit = |c: u8| -> Result<u8, SignatureError> {
            (c as char).to_digit(16).map(|d| d as u8).ok_or(SignatureError::NotHex)
        };
        let bytes = hex
            .as_bytes()
            .chunks_exact(2)
            .map(|p| Ok((digit(p[0])? << 4) | digit(p[1])?))
            .collect::<Result<Vec<u8>, SignatureError>>()?;
        Self::from_bytes(&bytes)
    }
}

/// Mean Earth radius in metres (IUGG), used by [`haversine_m`].
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two WGS-84 points given in
/// degrees, by the haversine formula on a sphere (error below 0.5 %, plenty
/// for "is this the same yard").
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let d_phi = (lat2 - lat1).to_radians();
    let d_lambda = (lon2 - lon1).to_radians();
    let a = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const ORIGINAL: &str = "Во дворе дома 15 по улице Ленина уже неделю не вывозят мусор, \
        контейнеры переполнены, запах на весь подъезд";
    const REORDERED: &str = "Уже неделю не вывозят мусор во дворе дома 15 по улице Ленина! \
        Контейнеры переполнены, запах на весь подъезд.";
    const EDITED: &str = "Здравствуйте! Во дворе дома №15 по улице Ленина целую неделю не \
        вывозят мусор, все контейнеры переполнены, запах на весь подъезд.";
    /// Three of thirteen content words changed: still clearly related.
    const HEAVILY_EDITED: &str = "Во дворе дома №15 по ул. Ленина целую неделю не \
        вывозят мусор, все контейнеры переполнены, запах стоит на весь подъезд";
    const UNRELATED: &str = "Автобус маршрута 12 не пришёл по расписанию, \
        ждали на остановке больше часа";
    const UNRELATED2: &str = "Огромная яма на проезжей части возле школы, \
        асфальт разрушен после зимы";

    #[test]
    fn hash_is_stable() {
        // Pinned values: a change here would invalidate stored signatures.
        assert_eq!(stable_hash(b""), mix64(FNV_OFFSET));
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xAF63_DC4C_8601_EC8C);
        assert_ne!(stable_hash(b"ab"), stable_hash(b"ba"));
        let s = shingles("мусор контейнер", 2);
        assert_eq!(s.len(), 3);
        assert_eq!(s, shingles("Мусор, контейнеры!", 2));
    }

    #[test]
    fn ngram_boundaries_do_not_collide() {
        let a = vec!["аб".to_owned(), "в".to_owned()];
        let b = vec!["а".to_owned(), "бв".to_owned()];
        assert_ne!(ngram_hash(&a), ngram_hash(&b));
        assert_ne!(ngram_hash(&a[..1]), ngram_hash(&[a[0].clone(), String::new()]));
    }

    #[test]
    fn near_duplicates_score_high() {
        let a = shingles(ORIGINAL, 2);
        for other in [REORDERED, EDITED] {
            let b = shingles(other, 2);
            let exact = jaccard(&a, &b);
            let est = MinHash::from_text(ORIGINAL).similarity(&MinHash::from_text(other));
            assert!(exact > 0.5, "exact {exact} for {other}");
            assert!(est > 0.5, "estimate {est} for {other}");
            assert!((exact - est).abs() < 0.25, "{exact} vs {est}");
        }
        let heavy = jaccard(&a, &shingles(HEAVILY_EDITED, 2));
        assert!(heavy > 0.5, "{heavy}");
        let same = MinHash::from_text(ORIGINAL);
        assert!((MinHash::similarity(&same, &same.clone()) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn unrelated_texts_score_low() {
        for (x, y) in [(ORIGINAL, UNRELATED), (ORIGINAL, UNRELATED2), (UNRELATED, UNRELATED2)] {
            let exact = jaccard(&shingles(x, 2), &shingles(y, 2));
            let est = MinHash::from_text(x).similarity(&MinHash::from_text(y));
            assert!(exact < 0.2, "exact {exact}");
            assert!(est < 0.2, "estimate {est}");
        }
    }

    #[test]
    fn empty_texts_are_similar_to_nothing() {
        let empty = MinHash::from_text("и в на");
        assert!(empty.is_empty());
        assert!(empty.similarity(&empty).abs() < 1e-12);
        assert!(jaccard(&HashSet::new(), &HashSet::new()).abs() < 1e-12);
    }

    #[test]
    fn jaccard_exact_values() {
        let a: HashSet<u64> = [1, 2, 3, 4].into_iter().collect();
        let b: HashSet<u64> = [3, 4, 5].into_iter().collect();
        assert!((jaccard(&a, &b) - 0.4).abs() < 1e-12);
        assert!((jaccard(&a, &a) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn signature_round_trips() {
        let m = MinHash::from_text(ORIGINAL);
        let bytes = m.to_bytes();
        assert_eq!(bytes.len(), SIGNATURE_BYTES);
        assert_eq!(MinHash::from_bytes(&bytes).unwrap(), m);
        let hex = m.to_hex();
        assert_eq!(hex.len(), SIGNATURE_BYTES * 2);
        assert_eq!(MinHash::from_hex(&hex).unwrap(), m);
        assert_eq!(MinHash::from_hex(&hex.to_uppercase()).unwrap(), m);
        assert_eq!(MinHash::from_bytes(&bytes[1..]), Err(SignatureError::Length(SIGNATURE_BYTES - 1)));
        let bad = format!("zz{}", &hex[2..]);
        assert_eq!(MinHash::from_hex(&bad), Err(SignatureError::NotHex));
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<MinHash>(&json).unwrap(), m);
        // Deterministic across calls (and therefore across restarts).
        assert_eq!(MinHash::from_text(ORIGINAL).to_hex(), hex);
    }

    #[test]
    fn band_keys_match_for_duplicates() {
        let a = MinHash::from_text(ORIGINAL).band_keys(16);
        let b = MinHash::from_text(REORDERED).band_keys(16);
        let c = MinHash::from_text(UNRELATED).band_keys(16);
        assert_eq!(a.len(), 16);
        assert!(a.iter().zip(&b).any(|(x, y)| x == y));
        assert!(!a.iter().zip(&c).any(|(x, y)| x == y));
        assert_eq!(MinHash::from_text(ORIGINAL).band_keys(0).len(), 1);
    }

    #[test]
    fn haversine_known_distances() {
        let one_degree = haversine_m(55.0, 37.0, 56.0, 37.0);
        assert!((one_degree - 111_195.0).abs() < 10.0, "{one_degree}");
        assert!(haversine_m(55.75, 37.62, 55.75, 37.62).abs() < 1e-9);
        // 150 m north and 150 m east in Moscow.
        let dlat = 150.0 / 111_195.08;
        let dlon = dlat / 55.75_f64.to_radians().cos();
        let north = haversine_m(55.75, 37.62, 55.75 + dlat, 37.62);
        let east = haversine_m(55.75, 37.62, 55.75, 37.62 + dlon);
        assert!((north - 150.0).abs() < 0.1, "{north}");
        assert!((east - 150.0).abs() < 0.5, "{east}");
        // Symmetric; antipodes are half the circumference.
        assert!((haversine_m(1.0, 2.0, 3.0, 4.0) - haversine_m(3.0, 4.0, 1.0, 2.0)).abs() < 1e-6);
        let half = haversine_m(0.0, 0.0, 0.0, 180.0);
        assert!((half - std::f64::consts::PI * EARTH_RADIUS_M).abs() < 1e-3);
    }
}
