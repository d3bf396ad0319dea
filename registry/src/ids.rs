//! Child IDs: 60 random bits written as 12 Crockford base32 symbols plus one check symbol.
//!
//! The check symbol is the 60-bit value modulo 37, written with Crockford's extended check
//! alphabet. Because 37 is prime and larger than every symbol value, any single substitution
//! and any adjacent transposition changes the value modulo 37, so a mistyped ID never resolves
//! to another child.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ENCODE: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CHECK: &[u8; 37] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";
const DATA_SYMBOLS: usize = 12;
const ID_BITS: u32 = 60;

/// A child's permanent identifier, e.g. `7KQ2-M9XA-04TB-S`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildId(u64);

/// Why a string is not a child ID; the message is meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChildIdError {
    #[error("a child ID has 12 characters and a check character (e.g. 7KQ2-M9XA-04TB-S); this one has {0}")]
    Length(usize),
    #[error("'{0}' is not a character used in child IDs")]
    Symbol(char),
    #[error("the check character does not match: the child ID was probably mistyped")]
    Check,
}

impl ChildId {
    /// The largest ID, the last in child ID order.
    pub const MAX: ChildId = ChildId((1 << ID_BITS) - 1);
    /// Characters of an ID without its hyphens, the check character included.
    pub const SYMBOLS: usize = DATA_SYMBOLS + 1;

    /// A fresh random ID from the operating system's CSPRNG (never derived from personal data).
    pub fn random() -> Self {
        let bits = rand::rngs::OsRng.next_u64() >> (64 - ID_BITS);
        ChildId(bits)
    }

    /// The 60-bit value; exposed for tests and storage only.
    pub fn value(self) -> u64 {
        self.0
    }

    pub fn from_value(value: u64) -> Option<Self> {
        (value >> ID_BITS == 0).then_some(ChildId(value))
    }

    /// The ID without its check symbol, hyphenated: `7KQ2-M9XA-04TB`. For places that allow
    /// only letters, digits, `-` and `.` (a FHIR resource id), since the check symbol may be
    /// one of `*~$=`.
    pub fn without_check(self) -> String {
        let compact = self.compact();
        format!("{}-{}-{}", &compact[0..4], &compact[4..8], &compact[8..12])
    }

    /// Reads the form of [`ChildId::without_check`] (any case, hyphens optional).
    pub fn parse_without_check(input: &str) -> Result<Self, ChildIdError> {
        let symbols: Vec<char> = input
            .trim()
            .chars()
            .filter(|symbol| *symbol != '-' && *symbol != ' ')
            .collect();
        if symbols.len() != DATA_SYMBOLS {
            return Err(ChildIdError::Length(symbols.len()));
        }
        let mut value = 0u64;
        for &symbol in &symbols {
            let digit = data_symbol_value(symbol).ok_or(ChildIdError::Symbol(symbol))?;
            value = (value << 5) | digit;
        }
        Ok(ChildId(value))
    }

    /// The 13 symbols without hyphens, e.g. `7KQ2M9XA04TBS`.
    pub fn compact(self) -> String {
        let mut out = String::with_capacity(DATA_SYMBOLS + 1);
        for position in (0..DATA_SYMBOLS).rev() {
            let symbol = (self.0 >> (position * 5)) & 0x1f;
            out.push(ENCODE[symbol as usize] as char);
        }
        out.push(CHECK[(self.0 % 37) as usize] as char);
        out
    }
}

/// Reads a data symbol the forgiving Crockford way: any case, I/L as 1, O as 0.
fn data_symbol_value(symbol: char) -> Option<u64> {
    let upper = match symbol.to_ascii_uppercase() {
        'I' | 'L' => '1',
        'O' => '0',
        other => other,
    };
    ENCODE
        .iter()
        .position(|&candidate| candidate as char == upper)
        .map(|index| index as u64)
}

fn check_symbol_value(symbol: char) -> Option<u64> {
    if symbol.eq_ignore_ascii_case(&'u') {
        return Some(36);
    }
    if let Some(value) = data_symbol_value(symbol) {
        return Some(value);
    }
    CHECK[32..]
        .iter()
        .position(|&candidate| candidate as char == symbol)
        .map(|index| 32 + index as u64)
}

impl FromStr for ChildId {
    type Err = ChildIdError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let symbols: Vec<char> = input
            .trim()
            .chars()
            .filter(|symbol| *symbol != '-' && *symbol != ' ')
            .collect();
        if symbols.len() != DATA_SYMBOLS + 1 {
            return Err(ChildIdError::Length(symbols.len()));
        }
        let mut value = 0u64;
        for &symbol in &symbols[..DATA_SYMBOLS] {
            let digit = data_symbol_value(symbol).ok_or(ChildIdError::Symbol(symbol))?;
            value = (value << 5) | digit;
        }
        let check_symbol = symbols[DATA_SYMBOLS];
        let check = check_symbol_value(check_symbol).ok_or(ChildIdError::Symbol(check_symbol))?;
        if value % 37 != check {
            return Err(ChildIdError::Check);
        }
        Ok(ChildId(value))
    }
}

impl fmt::Display for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let compact = self.compact();
        write!(
            f,
            "{}-{}-{}-{}",
            &compact[0..4],
            &compact[4..8],
            &compact[8..12],
            &compact[12..]
        )
    }
}

impl fmt::Debug for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChildId({self})")
    }
}

impl Serialize for ChildId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ChildId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for ChildId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Child ID: 12 Crockford base32 symbols and a check symbol, grouped XXXX-XXXX-XXXX-C",
            ))
            .examples([serde_json::json!("7KQ2-M9XA-04TB-S")])
            .into()
    }
}

impl utoipa::ToSchema for ChildId {}

/// The child IDs `after < id <= through` in their order (an ID's written form sorts as its
/// value does); `None` leaves that end open. Bulk reads split the whole span into ranges read
/// side by side: IDs are uniformly random, so equal spans hold about equal numbers of
/// children.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildIdRange {
    pub after: Option<ChildId>,
    pub through: Option<ChildId>,
}

impl ChildIdRange {
    /// Every child ID.
    pub const ALL: ChildIdRange = ChildIdRange {
        after: None,
        through: None,
    };

    pub fn contains(&self, id: ChildId) -> bool {
        self.after.is_none_or(|after| id > after)
            && self.through.is_none_or(|through| id <= through)
    }

    /// At most `parts` ranges of about equal width, in order, that together hold exactly the
    /// IDs of this one (fewer when it holds fewer IDs than `parts`; none when it is empty).
    pub fn split(self, parts: usize) -> Vec<ChildIdRange> {
        let first = match self.after {
            Some(after) => u128::from(after.0) + 1,
            None => 0,
        };
        let last = self
            .through
            .map_or(u128::from(ChildId::MAX.0), |through| u128::from(through.0));
        if first > last || parts == 0 {
            return Vec::new();
        }
        let width = last - first + 1;
        let parts = (parts as u128).min(width);
        let mut ranges = Vec::with_capacity(parts as usize);
        let mut after = self.after;
        for part in 1..parts {
            // Below 2^60, so the value always fits.
            let through = ChildId((first + width * part / parts - 1) as u64);
            ranges.push(ChildIdRange {
                after,
                through: Some(through),
            });
            after = Some(through);
        }
        ranges.push(ChildIdRange {
            after,
            through: self.through,
        });
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_id() -> impl Strategy<Value = ChildId> {
        (0u64..(1 << ID_BITS)).prop_map(ChildId)
    }

    proptest! {
        #[test]
        fn without_check_round_trips_and_stays_alphanumeric(id in any_id()) {
            let text = id.without_check();
            prop_assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            prop_assert_eq!(ChildId::parse_without_check(&text), Ok(id));
            prop_assert!(id.to_string().starts_with(&text));
        }

        #[test]
        fn display_round_trips(id in any_id()) {
            prop_assert_eq!(id.to_string().parse::<ChildId>(), Ok(id));
            prop_assert_eq!(id.compact().parse::<ChildId>(), Ok(id));
            prop_assert_eq!(id.to_string().to_lowercase().parse::<ChildId>(), Ok(id));
        }

        #[test]
        fn every_single_substitution_is_detected(id in any_id(), position in 0usize..13, replacement in 0usize..37) {
            let mut symbols: Vec<char> = id.compact().chars().collect();
            let alphabet = if position < DATA_SYMBOLS { &ENCODE[..] } else { &CHECK[..] };
            let replacement = alphabet[replacement % alphabet.len()] as char;
            prop_assume!(symbols[position] != replacement);
            symbols[position] = replacement;
            let typed: String = symbols.into_iter().collect();
            prop_assert!(typed.parse::<ChildId>().is_err(), "{} accepted", typed);
        }

        #[test]
        fn every_adjacent_transposition_is_detected(id in any_id(), position in 0usize..12) {
            let mut symbols: Vec<char> = id.compact().chars().collect();
            prop_assume!(symbols[position] != symbols[position + 1]);
            symbols.swap(position, position + 1);
            let typed: String = symbols.into_iter().collect();
            prop_assert!(typed.parse::<ChildId>().is_err(), "{} accepted", typed);
        }
    }

    proptest! {
        #[test]
        fn split_ranges_cover_each_id_once(
            bounds in (0u64..(1 << ID_BITS), 0u64..(1 << ID_BITS)),
            open in (any::<bool>(), any::<bool>()),
            parts in 0usize..9,
            probes in prop::collection::vec(any_id(), 32),
        ) {
            let (low, high) = (bounds.0.min(bounds.1), bounds.0.max(bounds.1));
            let range = ChildIdRange {
                after: (!open.0).then_some(ChildId(low)),
                through: (!open.1).then_some(ChildId(high)),
            };
            let split = range.split(parts);
            prop_assert!(split.len() <= parts);
            for pair in split.windows(2) {
                prop_assert_eq!(pair[0].through, pair[1].after);
            }
            let edges = [range.after, range.through].into_iter().flatten();
            let near_edges = edges.flat_map(|id| {
                [id.0.saturating_sub(1), id.0, (id.0 + 1).min((1 << ID_BITS) - 1)]
            });
            for id in probes.into_iter().chain(near_edges.map(ChildId)) {
                let holding = split.iter().filter(|part| part.contains(id)).count();
                let expected = if parts == 0 { 0 } else { usize::from(range.contains(id)) };
                prop_assert_eq!(holding, expected, "{:?} in {:?}", id, split);
            }
        }
    }

    #[test]
    fn ranges_split_into_even_parts() {
        let halves = ChildIdRange::ALL.split(2);
        assert_eq!(halves.len(), 2);
        assert_eq!(halves[0].after, None);
        assert_eq!(halves[0].through, Some(ChildId((1 << (ID_BITS - 1)) - 1)));
        assert_eq!(halves[1].after, halves[0].through);
        assert_eq!(halves[1].through, None);
        let narrow = ChildIdRange {
            after: Some(ChildId(10)),
            through: Some(ChildId(12)),
        };
        assert_eq!(narrow.split(5).len(), 2, "only IDs 11 and 12");
        assert!(ChildIdRange {
            after: Some(ChildId(12)),
            through: Some(ChildId(12)),
        }
        .split(3)
        .is_empty());
    }

    #[test]
    fn exhaustive_substitutions_and_transpositions_for_sample_ids() {
        for id in [
            ChildId(0),
            ChildId((1 << ID_BITS) - 1),
            ChildId(0x0012_3456_789a_bcde),
        ] {
            let symbols: Vec<char> = id.compact().chars().collect();
            for position in 0..symbols.len() {
                let alphabet = if position < DATA_SYMBOLS {
                    &ENCODE[..]
                } else {
                    &CHECK[..]
                };
                for &replacement in alphabet {
                    let mut typed = symbols.clone();
                    if typed[position] == replacement as char {
                        continue;
                    }
                    typed[position] = replacement as char;
                    let typed: String = typed.into_iter().collect();
                    assert!(typed.parse::<ChildId>().is_err(), "{typed} accepted");
                }
            }
        }
    }

    #[test]
    fn forgiving_reading() {
        let id = ChildId(0x0012_3456_789a_bcde);
        let typed = id
            .to_string()
            .replace('1', "l")
            .replace('0', "o")
            .to_lowercase();
        assert_eq!(typed.parse::<ChildId>(), Ok(id));
    }

    #[test]
    fn clear_errors() {
        assert_eq!("ABC".parse::<ChildId>(), Err(ChildIdError::Length(3)));
        assert_eq!(
            "7KQ2-M9XA-04TB-!".parse::<ChildId>(),
            Err(ChildIdError::Symbol('!'))
        );
        let id = ChildId(12345);
        let mut wrong = id.compact();
        let check = wrong.pop().unwrap_or('0');
        wrong.push(if check == '0' { '1' } else { '0' });
        assert_eq!(wrong.parse::<ChildId>(), Err(ChildIdError::Check));
    }

    #[test]
    fn random_ids_fit_sixty_bits() {
        for _ in 0..1000 {
            assert!(ChildId::random().value() < 1 << ID_BITS);
        }
    }
}
