//! Cambodian names with their Khmer-script spellings.
//!
//! Khmer names are written family name first ("Sok Dara": family Sok, given Dara). Latin
//! spellings are romanisations and vary between clerks (Sok/Sokh, Chhim/Chim, Srey/Srei,
//! Vuthy/Vuthi, Pisey/Pisei); the `variants` field holds the usual alternatives. The
//! `khmer` field is the Khmer-script spelling used by agencies that type names in Khmer
//! (school and welfare systems above all). The table was written by hand for this generator
//! with the common spelling of each name word; where several Khmer spellings exist
//! (e.g. ស៊ីម / ស៊ិម), one is chosen.
//!
//! Format of each line: `roman|sex|variants|nicknames|khmer` (see [`super::parse_table`]).

use std::sync::OnceLock;

use rand::Rng;

use super::{parse_table, Name, NameEntry, SexedTable};
use crate::model::Sex;
use crate::sample::{chance, pick, pick_copy, Rand, Zipf};

/// Family names, most common first.
const FAMILY: &str = "
Sok|u|Sokh,Sokk,Sukh||សុខ
Chan|u|Chann,Chhan||ចាន់
Heng|u|Hieng,Hen||ហេង
Kim|u|Kym,Khim||គឹម
Meas|u|Mias,Meah,Mease||មាស
Chhim|u|Chim,Chhem||ឈឹម
Seng|u|Sieng,Sen||សេង
Prak|u|Prakh,Prac||ប្រាក់
Keo|u|Kev,Kaev,Keu||កែវ
Sim|u|Sem,Syme||ស៊ីម
Long|u|Loung,Lung||ឡុង
Ly|u|Li,Lee||លី
Nguon|u|Nguan,Ngoun||ងួន
Pen|u|Penn,Pin||ប៉ែន
Phan|u|Phann,Pan||ផាន់
Oum|u|Um,Oeum||អ៊ុំ
Mao|u|Mau,Maow||ម៉ៅ
Ros|u|Ross,Rous||រស់
Sam|u|Samm,Sarm||សំ
Sorn|u|Son,Sonn||សន
Chea|u|Chia,Jea||ជា
Chhay|u|Chay,Chhai||ឆាយ
Hem|u|Hem,Haem||ហែម
Hun|u|Hunn,Hoon||ហ៊ុន
Kong|u|Kung,Kaong||គង់
Lim|u|Lym,Lem||លឹម
Mom|u|Mum,Mam||មុំ
Nhem|u|Nhim,Nyem||ញ៉ែម
Nov|u|Nou,Nouv||នូវ
Ouk|u|Uk,Ouck||អ៊ុក
Pich|u|Pech,Piech||ពេជ្រ
Prum|u|Prom,Proum||ព្រំ
Sao|u|Sau,Saw||សៅ
Som|u|Saom,Sorm||សោម
Sun|u|Soun,Son||ស៊ុន
Tep|u|Tip,Teb||ទេព
Touch|u|Toch,Tuch||ទូច
Tith|u|Tit,Tyth||ទិត្យ
Vong|u|Voung,Wong||វង្ស
Yim|u|Yem,Yiem||យឹម
You|u|Yu,Yoo||យូ
Chhun|u|Chun,Chhoun||ឈុន
Chum|u|Chhum,Choum||ជុំ
Hout|u|Hut,Houth||ហួត
Leng|u|Lieng,Len||ឡេង
Nget|u|Ngeth,Nget||ង៉ែត
Phal|u|Phall,Pal||ផល
Svay|u|Svai,Svay||ស្វាយ
Tan|u|Tann,Than||តាន់
Ung|u|Oung,Ong||អ៊ុង
Khim|u|Kim,Khem||ឃីម
Thach|u|Thach,Thac||ថាច់
Mean|u|Mien,Mian||មាន
Kuy|u|Kui,Kouy||គុយ
Nuon|u|Nuan,Noun||នួន
Ek|u|Aek,Ekk||ឯក
Chhoeun|u|Chhoen,Choeun||ឈឿន
Dy|u|Di,Dee||ឌី
Eng|u|Ing,Aeng||អេង
Huy|u|Hui,Houy||ហ៊ុយ
Sar|u|Sa,Sarr||ស
Khieu|u|Khiev,Kheu||ខៀវ
Pheng|u|Phing,Peng||ភេង
Rin|u|Rinn,Ren||រិន
Sath|u|Sat,Sathe||សាត
";

/// Given names, most common first; `Srey` (female) and `Kim`/`Sok`/`Chan` compounds included.
const GIVEN: &str = "
Dara|u|Darah,Da Ra,Darra||ដារ៉ា
Sophea|f|Sopheah,Sopha,Sophia|Phea|សុភា
Srey Neang|f|Sreyneang,Srei Neang,Srey-Neang|Neang|ស្រីនាង
Bopha|f|Bupha,Bophar,Bopa||បុប្ផា
Pisey|f|Pisei,Pisay,Piseiy||ពិសី
Vuthy|m|Vuthi,Vutthy,Vuthey||វុទ្ធី
Sokha|u|Sokhar,Sokhaa,Sukha||សុខា
Piseth|m|Piset,Pisith,Piseith||ពិសិដ្ឋ
Srey Pov|f|Sreypov,Srei Pov,Srey Pove|Pov|ស្រីពៅ
Visal|m|Vishal,Visall,Wisal||វិសាល
Rithy|m|Rithi,Rity,Ritthy||រិទ្ធី
Sambath|m|Sambat,Sambath,Sambatt||សម្បត្តិ
Chanthy|f|Chanthi,Chanty,Chanthey||ចន្ធី
Sopheak|u|Sopheakh,Sopeak,Sophiak||សុភ័ក្រ
Vannak|m|Vanak,Vannakh,Wannak||វណ្ណៈ
Srey Mom|f|Sreymom,Srei Mom|Mom|ស្រីមុំ
Kosal|m|Kosall,Kusal||កុសល
Makara|m|Makkara,Makarra||មករា
Rotha|u|Rothar,Ratha||រដ្ឋា
Samnang|m|Somnang,Samnaang||សំណាង
Dany|f|Dani,Daney||ដានី
Sovann|u|Sovan,Sovanna,Sowann||សុវណ្ណ
Kanha|f|Kanhar,Kagna,Kanna||កញ្ញា
Virak|m|Virakh,Veirak||វីរៈ
Leakhena|f|Leakena,Lakhena,Leak Hena|Leak|លក្ខិណា
Vibol|m|Vibul,Wibol||វិបុល
Nary|f|Nari,Naree||នារី
Chamroeun|m|Chamroen,Chamreun,Chamroeurn||ចំរើន
Phalla|f|Phala,Pholla||ផល្លា
Narith|m|Nareth,Naritt||ណារិទ្ធ
Rachana|f|Rachna,Rachanna||រចនា
Phirun|m|Phirum,Pirun||ភិរុណ
Sokunthea|f|Sokuntheary,Sokunthia||សុគន្ធា
Ratana|u|Rattana,Rathana,Ratanak||រតនា
Sophal|u|Sophall,Sopal||សុផល
Veasna|m|Veasnar,Veas Na,Viesna||វាសនា
Theary|f|Theari,Thiary||ធារី
Bora|m|Borra,Borah||បូរ៉ា
Vanna|f|Vana,Wanna||វណ្ណា
Chetra|m|Chettra,Chetra||ចេត្រា
Chenda|f|Chendar,Chinda||ចិន្តា
Panha|u|Panhar,Pagna,Panna||បញ្ញា
Channary|f|Channari,Chan Nary,Chanary||ចាន់ណារី
Tola|m|Tolla,Tula||តុលា
Davy|f|Davi,Davey||ដាវី
Kunthea|f|Kunthia,Kuntheaa||គន្ធា
Srey Leak|f|Sreyleak,Srei Leak|Leak|ស្រីលក្ខ
Lida|f|Lidda,Leda||លីដា
Mealea|f|Mealia,Mealear||មាលា
Raksmey|f|Reaksmey,Raksmei,Raksmy||រស្មី
Sothea|u|Sothia,Sotheara||សុធា
Thida|f|Tida,Thidar||ធីតា
Vicheka|f|Vichheka,Vichika||វិជ្ជកា
Srey Mao|f|Sreymao,Srei Mao|Mao|ស្រីម៉ៅ
Kimheng|m|Kim Heng,Kimhieng||គឹមហេង
Kimsan|u|Kim San,Kimsann||គឹមសាន
Sokhom|m|Sokhum,Sok Hom||សុខុម
Thearith|m|Thearit,Thearith,Thea Rith||ធារិទ្ធ
Meng|m|Mieng,Meng||ម៉េង
Reaksa|u|Reaksar,Raksa||រក្សា
Seyha|m|Seiha,Seyhar,Sayha||សីហា
Oudom|m|Udom,Oudum,Outdom||ឧត្តម
Sothy|u|Sothi,Sotthy||សុធី
Rina|f|Rinna,Reena||រីណា
Srey Pich|f|Sreypich,Srei Pich|Pich|ស្រីពេជ្រ
Mony|u|Moni,Monny||មុនី
Monyroth|m|Mony Roth,Monyrot||មុនីរ័ត្ន
Chanda|u|Chandar,Chanda||ចន្ទា
Kolab|f|Kolap,Kulab||កុលាប
Pheakdey|u|Pheakdei,Pheakdy,Peakdey||ភក្ដី
Malis|f|Malys,Maliss||ម្លិះ
Sreymom|f|Srey Mom,Sreimom|Mom|ស្រីមុំ
Nita|f|Nitta,Neta||នីតា
Sopheap|f|Sopheab,Sopiep||សុភាព
Kimleng|u|Kim Leng,Kimlieng||គឹមឡេង
Vichet|m|Vichit,Vicheth||វិចិត្រ
Rathana|u|Ratana,Rattana||រតនា
Sreyroth|f|Srey Roth,Sreirath||ស្រីរ័ត្ន
Chantrea|f|Chantria,Chan Trea||ចន្ទ្រា
Heng|m|Hieng||ហេង
Pov|u|Pove,Pauv||ពៅ
";

/// Nicknames children go by (school and welfare staff often write them).
const NICKNAMES: &str = "
Pov|u|Pove||ពៅ
Toch|u|Touch,Tauch||តូច
Nich|f|Nith||នីច
Oun|u|Aun,Un||អូន
Mom|f|Mum||មុំ
Lin|u|Linn||លីន
Thom|m|Thum||ធំ
Kaka|u|Ka Ka||កាកា
Mab|u|Map||ម៉ាប់
";

/// Syllables for rare given names: (roman, khmer), combined two at a time.
const RARE_FIRST: &[(&str, &str)] = &[
    ("So", "សុ"),
    ("Sok", "សុខ"),
    ("Chan", "ចាន់"),
    ("Kim", "គឹម"),
    ("Vann", "វណ្ណ"),
    ("Rath", "រ័ត្ន"),
    ("Pich", "ពេជ្រ"),
    ("Mony", "មុនី"),
    ("Sam", "សំ"),
    ("Bun", "ប៊ុន"),
    ("Vi", "វិ"),
    ("Ly", "លី"),
    ("Chea", "ជា"),
];

const RARE_SECOND: &[(&str, &str)] = &[
    ("phal", "ផល"),
    ("thy", "ធី"),
    ("ny", "នី"),
    ("ra", "រ៉ា"),
    ("leak", "លក្ខ"),
    ("heng", "ហេង"),
    ("leng", "ឡេង"),
    ("nita", "នីតា"),
    ("vath", "វឌ្ឍ"),
    ("dy", "ឌី"),
    ("na", "ណា"),
    ("roth", "រ័ត្ន"),
    ("sreng", "ស្រេង"),
    ("tha", "ថា"),
    ("moni", "មុនី"),
];

pub(crate) struct CambodiaNames {
    family: &'static [NameEntry],
    family_zipf: Zipf,
    given: SexedTable,
    nicknames: SexedTable,
}

static TABLES: OnceLock<CambodiaNames> = OnceLock::new();

pub(crate) fn tables() -> &'static CambodiaNames {
    TABLES.get_or_init(|| {
        let family: &'static [NameEntry] = Box::leak(parse_table(FAMILY).into_boxed_slice());
        CambodiaNames {
            family_zipf: Zipf::new(family.len(), 1.1, 1.0),
            family,
            given: SexedTable::new(Box::leak(parse_table(GIVEN).into_boxed_slice()), 0.9),
            nicknames: SexedTable::new(Box::leak(parse_table(NICKNAMES).into_boxed_slice()), 0.5),
        }
    })
}

impl CambodiaNames {
    pub(crate) fn family(&self, rng: &mut Rand) -> Name {
        Name::from_entry(&self.family[self.family_zipf.sample(rng)])
    }

    /// A given name; 10% are rare two-syllable compounds from the long tail.
    pub(crate) fn given(&self, rng: &mut Rand, sex: Sex) -> Name {
        if chance(rng, 0.10) {
            let (r1, k1) = pick(rng, RARE_FIRST);
            let (r2, k2) = pick(rng, RARE_SECOND);
            let (r0, k0) = if sex == Sex::Female && chance(rng, 0.3) {
                ("Srey ", "ស្រី")
            } else {
                ("", "")
            };
            return Name::generated(format!("{r0}{r1}{r2}"), Some(format!("{k0}{k1}{k2}")));
        }
        Name::from_entry(self.given.draw(rng, sex))
    }

    pub(crate) fn nickname(&self, rng: &mut Rand, sex: Sex) -> Name {
        Name::from_entry(self.nicknames.draw(rng, sex))
    }

    /// A twin's name: shares the first word or first letter with `like` when possible.
    pub(crate) fn similar_given(&self, rng: &mut Rand, like: &str, sex: Sex) -> Name {
        let first_word = like.split(' ').next().unwrap_or(like);
        let prefix_len = if rng.gen_bool(0.5) {
            first_word.len().min(3)
        } else {
            1
        };
        let prefix = &like[..prefix_len.min(like.len())];
        let candidates: Vec<&'static NameEntry> = self
            .given
            .of(sex)
            .iter()
            .filter(|e| e.roman.starts_with(prefix) && e.roman != like)
            .copied()
            .collect();
        if candidates.is_empty() {
            self.given(rng, sex)
        } else {
            Name::from_entry(pick_copy(rng, &candidates))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_name_has_khmer_script() {
        let t = tables();
        for entry in t
            .family
            .iter()
            .chain(t.given.female.iter().copied())
            .chain(t.given.male.iter().copied())
        {
            let khmer = entry.khmer.unwrap_or_default();
            assert!(
                khmer
                    .chars()
                    .all(|c| ('\u{1780}'..='\u{17FF}').contains(&c)),
                "{} has no Khmer spelling: {khmer:?}",
                entry.roman
            );
            assert!(!khmer.is_empty(), "{}", entry.roman);
        }
    }
}
