//! Name normalisation and the phonetic key, used the same way at index and at query time.
//!
//! TODO(matching): switch [`normalize`] to the `matching` crate's normaliser (with its Khmer
//! romanisation) when that crate lands on this branch, so registry matching and search agree
//! on what counts as the same name. Until then this is a small stand-in: NFKC, Khmer script
//! romanised ([`crate::khmer`]), diacritics stripped, lower case, punctuation as spaces.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::khmer;

/// Normalises a name (or any free text) into lower-case ASCII-ish words separated by single
/// spaces. Idempotent: `normalize(normalize(x)) == normalize(x)`.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut khmer_run = String::new();
    let composed: String = text.nfkc().collect();
    for symbol in composed.chars() {
        if khmer::is_khmer(symbol) {
            khmer_run.push(symbol);
            continue;
        }
        if !khmer_run.is_empty() {
            separate(&mut out);
            khmer::romanise(&khmer_run, &mut out);
            separate(&mut out);
            khmer_run.clear();
        }
        // Apostrophes join (O'Brien, N'kole); every other non-letter separates words.
        if matches!(symbol, '\'' | '’' | 'ʼ' | '`') {
            continue;
        }
        for part in std::iter::once(symbol).nfkd() {
            if is_combining_mark(part) {
                continue;
            }
            if part.is_alphanumeric() {
                out.extend(part.to_lowercase());
            } else {
                separate(&mut out);
            }
        }
    }
    if !khmer_run.is_empty() {
        separate(&mut out);
        khmer::romanise(&khmer_run, &mut out);
    }
    let trimmed = out.trim_end();
    trimmed.to_owned()
}

/// Ends the current word with one space (never two, never at the start).
fn separate(out: &mut String) {
    if !out.is_empty() && !out.ends_with(' ') {
        out.push(' ');
    }
}

/// The normalised words of `text`.
pub fn words(text: &str) -> Vec<String> {
    normalize(text)
        .split(' ')
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A phonetic key for one normalised name word: the consonant skeleton after folding the
/// spellings that romanisations of Luganda, Acholi, Swahili and Khmer names use for the same
/// sound (ph/f, kh/k/c/q, th/t, sh/s, ch/j, v/w/b-less vowels, doubled letters). Vowels after
/// the first letter are dropped: clerks disagree on them most (Sophea/Sopheap/Sophia,
/// Chanthou/Chanthu). Empty for words without letters.
pub fn phonetic_key(word: &str) -> String {
    let letters: Vec<char> = word.chars().filter(char::is_ascii_alphabetic).collect();
    let mut folded = String::with_capacity(letters.len());
    let mut index = 0;
    while index < letters.len() {
        let here = letters[index];
        let next = letters.get(index + 1).copied();
        let (sound, used) = match (here, next) {
            ('p', Some('h')) => ('f', 2),
            ('k' | 'g' | 'b' | 'd' | 't' | 's', Some('h')) => (fold(here), 2),
            ('c', Some('h')) => ('j', 2),
            ('n', Some('g')) => ('n', 2),
            ('c' | 'q', _) => ('k', 1),
            ('x', _) => ('s', 1),
            ('z', _) => ('s', 1),
            ('h', _) => ('h', 1),
            _ => (fold(here), 1),
        };
        folded.push(sound);
        index += used;
    }
    let mut key = String::with_capacity(folded.len());
    let mut previous = None;
    for (position, sound) in folded.chars().enumerate() {
        let vowel = matches!(sound, 'a' | 'e' | 'i' | 'o' | 'u' | 'y' | 'w' | 'h');
        if position == 0 {
            // Keep the first sound; all leading vowels read as one.
            key.push(if vowel { 'a' } else { sound });
        } else if !vowel && previous != Some(sound) {
            key.push(sound);
        }
        previous = Some(sound);
    }
    key
}

fn fold(letter: char) -> char {
    match letter {
        'v' => 'b',
        'g' => 'k',
        'd' => 't',
        'l' => 'r',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_diacritics_and_punctuation() {
        assert_eq!(normalize("  Halíma  AGUTI-Nakato "), "halima aguti nakato");
        assert_eq!(normalize("O'Brien"), "obrien");
        assert_eq!(normalize("Ｈａｌｉｍａ"), "halima");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn romanises_khmer_script() {
        assert_eq!(normalize("សុខ ដារ៉ា"), "sok dara");
        assert_eq!(normalize("សុខដារ៉ា"), "sok dara");
        assert_eq!(normalize("Sok ដារ៉ា"), "sok dara");
    }

    #[test]
    fn normalisation_is_idempotent() {
        for text in [
            "Halíma Aguti",
            "សុខ ដារ៉ា",
            "O'Brien-Smith",
            "ÉMILE  zoë",
            "ស្រីមុំ",
        ] {
            let once = normalize(text);
            assert_eq!(normalize(&once), once, "{text}");
        }
    }

    #[test]
    fn phonetic_keys_join_common_respellings() {
        let same = [
            ("sok", "sokh"),
            ("chhim", "chim"),
            ("vuthy", "vuthi"),
            ("pisey", "pisei"),
            ("okello", "okelo"),
            ("kato", "cato"),
            ("srey", "srei"),
        ];
        for (a, b) in same {
            assert_eq!(phonetic_key(a), phonetic_key(b), "{a} / {b}");
        }
        assert_ne!(phonetic_key("halima"), phonetic_key("okello"));
        assert_eq!(phonetic_key("anna"), "an");
    }
}
