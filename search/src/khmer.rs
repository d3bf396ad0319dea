//! Khmer script to Latin letters, for names only.
//!
//! Two layers: a table of common Khmer name words with the Latin spelling clerks use most
//! (matched longest first, so `ស្រីមុំ` reads as "sreymom" rather than sign by sign), and a
//! sign-by-sign transliteration for every other word. The sign-by-sign output is not a
//! standard romanisation; it only has to land within fuzzy or phonetic reach of how a clerk
//! would spell the name in Latin letters.

/// Common name words: Khmer spelling and the usual Latin spelling, sorted by Khmer spelling.
const WORDS: &[(&str, &str)] = &[
    ("កញ្ញា", "kanha"),
    ("កាកា", "kaka"),
    ("កុលាប", "kolab"),
    ("កុសល", "kosal"),
    ("កែវ", "keo"),
    ("ខៀវ", "khieu"),
    ("គង់", "kong"),
    ("គន្ធា", "kunthea"),
    ("គឹម", "kim"),
    ("គឹមសាន", "kimsan"),
    ("គឹមហេង", "kimheng"),
    ("គឹមឡេង", "kimleng"),
    ("គុយ", "kuy"),
    ("ឃីម", "khim"),
    ("ងួន", "nguon"),
    ("ង៉ែត", "nget"),
    ("ចន្ទា", "chanda"),
    ("ចន្ទ្រា", "chantrea"),
    ("ចន្ធី", "chanthy"),
    ("ចាន់", "chan"),
    ("ចាន់ណារី", "channary"),
    ("ចិន្តា", "chenda"),
    ("ចេត្រា", "chetra"),
    ("ចំរើន", "chamroeun"),
    ("ឆាយ", "chhay"),
    ("ជា", "chea"),
    ("ជុំ", "chum"),
    ("ឈឹម", "chhim"),
    ("ឈុន", "chhun"),
    ("ឈឿន", "chhoeun"),
    ("ញ៉ែម", "nhem"),
    ("ដានី", "dany"),
    ("ដារ៉ា", "dara"),
    ("ដាវី", "davy"),
    ("ឌី", "dy"),
    ("ណារិទ្ធ", "narith"),
    ("តាន់", "tan"),
    ("តុលា", "tola"),
    ("តូច", "toch"),
    ("ថាច់", "thach"),
    ("ទិត្យ", "tith"),
    ("ទូច", "touch"),
    ("ទេព", "tep"),
    ("ធារិទ្ធ", "thearith"),
    ("ធារី", "theary"),
    ("ធីតា", "thida"),
    ("ធំ", "thom"),
    ("នារី", "nary"),
    ("នីច", "nich"),
    ("នីតា", "nita"),
    ("នូវ", "nov"),
    ("នួន", "nuon"),
    ("បញ្ញា", "panha"),
    ("បុប្ផា", "bopha"),
    ("បូរ៉ា", "bora"),
    ("ប៉ែន", "pen"),
    ("ប្រាក់", "prak"),
    ("ផល", "phal"),
    ("ផល្លា", "phalla"),
    ("ផាន់", "phan"),
    ("ពិសិដ្ឋ", "piseth"),
    ("ពិសី", "pisey"),
    ("ពេជ្រ", "pich"),
    ("ពៅ", "pov"),
    ("ព្រំ", "prum"),
    ("ភក្ដី", "pheakdey"),
    ("ភិរុណ", "phirun"),
    ("ភេង", "pheng"),
    ("មករា", "makara"),
    ("មាន", "mean"),
    ("មាលា", "mealea"),
    ("មាស", "meas"),
    ("មុនី", "mony"),
    ("មុនីរ័ត្ន", "monyroth"),
    ("មុំ", "mom"),
    ("ម៉ាប់", "mab"),
    ("ម៉េង", "meng"),
    ("ម៉ៅ", "mao"),
    ("ម្លិះ", "malis"),
    ("យឹម", "yim"),
    ("យូ", "you"),
    ("រក្សា", "reaksa"),
    ("រចនា", "rachana"),
    ("រដ្ឋា", "rotha"),
    ("រតនា", "ratana"),
    ("រស់", "ros"),
    ("រស្មី", "raksmey"),
    ("រិទ្ធី", "rithy"),
    ("រិន", "rin"),
    ("រីណា", "rina"),
    ("លក្ខិណា", "leakhena"),
    ("លី", "ly"),
    ("លីដា", "lida"),
    ("លីន", "lin"),
    ("លឹម", "lim"),
    ("វង្ស", "vong"),
    ("វណ្ណា", "vanna"),
    ("វណ្ណៈ", "vannak"),
    ("វាសនា", "veasna"),
    ("វិចិត្រ", "vichet"),
    ("វិជ្ជកា", "vicheka"),
    ("វិបុល", "vibol"),
    ("វិសាល", "visal"),
    ("វីរៈ", "virak"),
    ("វុទ្ធី", "vuthy"),
    ("ស", "sar"),
    ("សន", "sorn"),
    ("សម្បត្តិ", "sambath"),
    ("សាត", "sath"),
    ("សីហា", "seyha"),
    ("សុខ", "sok"),
    ("សុខា", "sokha"),
    ("សុខុម", "sokhom"),
    ("សុគន្ធា", "sokunthea"),
    ("សុធា", "sothea"),
    ("សុធី", "sothy"),
    ("សុផល", "sophal"),
    ("សុភា", "sophea"),
    ("សុភាព", "sopheap"),
    ("សុភ័ក្រ", "sopheak"),
    ("សុវណ្ណ", "sovann"),
    ("សេង", "seng"),
    ("សោម", "som"),
    ("សៅ", "sao"),
    ("សំ", "sam"),
    ("សំណាង", "samnang"),
    ("ស៊ីម", "sim"),
    ("ស៊ុន", "sun"),
    ("ស្រី", "srey"),
    ("ស្រីនាង", "srey neang"),
    ("ស្រីពេជ្រ", "srey pich"),
    ("ស្រីពៅ", "srey pov"),
    ("ស្រីមុំ", "srey mom"),
    ("ស្រីម៉ៅ", "srey mao"),
    ("ស្រីរ័ត្ន", "sreyroth"),
    ("ស្រីលក្ខ", "srey leak"),
    ("ស្វាយ", "svay"),
    ("ហួត", "hout"),
    ("ហេង", "heng"),
    ("ហែម", "hem"),
    ("ហ៊ុន", "hun"),
    ("ហ៊ុយ", "huy"),
    ("ឡុង", "long"),
    ("ឡេង", "leng"),
    ("អូន", "oun"),
    ("អេង", "eng"),
    ("អ៊ុក", "ouk"),
    ("អ៊ុង", "ung"),
    ("អ៊ុំ", "oum"),
    ("ឧត្តម", "oudom"),
    ("ឯក", "ek"),
];

/// Latin letters for one Khmer sign; signs that only shift the vowel register or mark
/// silence map to nothing.
fn sign(symbol: char) -> &'static str {
    match symbol {
        // Consonants.
        'ក' | 'គ' => "k",
        'ខ' | 'ឃ' => "kh",
        'ង' => "ng",
        'ច' | 'ជ' => "ch",
        'ឆ' | 'ឈ' => "chh",
        'ញ' => "nh",
        'ដ' | 'ឌ' => "d",
        'ឋ' | 'ឍ' | 'ថ' | 'ធ' => "th",
        'ណ' | 'ន' => "n",
        'ត' | 'ទ' => "t",
        'ប' => "b",
        'ផ' | 'ភ' => "ph",
        'ព' => "p",
        'ម' => "m",
        'យ' => "y",
        'រ' => "r",
        'ល' | 'ឡ' => "l",
        'វ' => "v",
        'ឝ' | 'ឞ' | 'ស' => "s",
        'ហ' => "h",
        'អ' => "",
        // Independent vowels.
        'ឥ' => "e",
        'ឦ' => "ei",
        'ឧ' => "o",
        'ឨ' | 'ឩ' => "ou",
        'ឪ' => "ov",
        'ឫ' | 'ឬ' => "rue",
        'ឭ' | 'ឮ' => "lue",
        'ឯ' => "ae",
        'ឰ' => "ai",
        'ឱ' | 'ឲ' => "ao",
        'ឳ' => "au",
        // Dependent vowels and final signs.
        'ា' => "a",
        'ិ' => "i",
        'ី' => "ei",
        'ឹ' => "oe",
        'ឺ' => "eu",
        'ុ' => "o",
        'ូ' => "ou",
        'ួ' => "uo",
        'ើ' => "aeu",
        'ឿ' => "oea",
        'ៀ' => "ie",
        'េ' => "e",
        'ែ' => "ae",
        'ៃ' => "ai",
        'ោ' => "ao",
        'ៅ' => "au",
        'ំ' => "m",
        'ះ' => "h",
        'ៈ' => "a",
        // Khmer digits read as digits.
        '០'..='៩' => {
            const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
            DIGITS[(symbol as u32 - '០' as u32) as usize]
        }
        // Coeng, bantoc, register shifters and other diacritics.
        _ => "",
    }
}

pub(crate) fn is_khmer(symbol: char) -> bool {
    ('\u{1780}'..='\u{17FF}').contains(&symbol) || ('\u{19E0}'..='\u{19FF}').contains(&symbol)
}

/// Romanises one run of Khmer script (no spaces inside): known name words from the table,
/// longest first, the rest sign by sign. Words found in the table come out separated by
/// spaces, so a name written without spaces ("family given") still gives two tokens.
pub(crate) fn romanise(run: &str, out: &mut String) {
    let mut rest = run;
    let mut last_was_word = false;
    while let Some(first) = rest.chars().next() {
        let word = WORDS
            .iter()
            .filter(|(khmer, _)| rest.starts_with(khmer))
            .max_by_key(|(khmer, _)| khmer.len());
        match word {
            Some((khmer, latin)) => {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
                out.push_str(latin);
                rest = &rest[khmer.len()..];
                last_was_word = true;
            }
            None => {
                if last_was_word {
                    out.push(' ');
                    last_was_word = false;
                }
                out.push_str(sign(first));
                rest = &rest[first.len_utf8()..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roman(text: &str) -> String {
        let mut out = String::new();
        romanise(text, &mut out);
        out
    }

    #[test]
    fn table_words_win_and_split() {
        assert_eq!(roman("សុខ"), "sok");
        assert_eq!(roman("សុខដារ៉ា"), "sok dara");
        assert_eq!(roman("ស្រីមុំ"), "srey mom");
    }

    #[test]
    fn unknown_words_are_transliterated_sign_by_sign() {
        // Not in the table: ចាន់ is, so use a made-up word.
        assert_eq!(roman("បាត"), "bat");
    }

    #[test]
    fn table_is_sorted() {
        assert!(WORDS.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }
}
