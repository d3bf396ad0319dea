//! Ugandan names: Christian/English and Muslim given names, and local (clan, birth-order,
//! birth-circumstance) names per language area, written by hand from common naming patterns.
//!
//! Format of each line: `roman|sex|variants|nicknames` (see [`super::parse_table`]); tables
//! are in rough frequency order, most common first.

use std::sync::OnceLock;

use rand::Rng;

use super::{parse_table, Name, NameEntry, SexedTable};
use crate::model::Sex;
use crate::sample::{chance, pick, pick_copy, Rand};

/// Language/naming areas of Uganda; every district belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Area {
    /// Baganda (Luganda): clan names, `Na-` female names.
    Central,
    /// Basoga (Lusoga).
    Busoga,
    /// Bagisu / Bamasaba (Lumasaba), Bugwere, Samia.
    Bugisu,
    /// Iteso (Ateso).
    Teso,
    /// Acholi and Langi (Luo): `O-` male and `A-` female birth-circumstance names.
    Luo,
    /// Lugbara, Aringa, Madi.
    WestNile,
    /// Banyankole and Bakiga: sentence names (Tumusiime, Ahimbisibwe...).
    Ankole,
    /// Banyoro and Batooro: their names plus an *empaako* pet name.
    Tooro,
    /// Karimojong.
    Karamoja,
}

const ENGLISH_FEMALE: &str = "
Sarah|f|Sara|Sally
Mary|f|Marry,Mery|
Grace|f|Gracious|
Esther|f|Ester,Esta|
Joan|f|Jone,Joanne|
Florence|f|Florance,Flolence|Flo
Agnes|f|Agness,Agines|
Christine|f|Christin,Cristine,Kristine|Tina,Chris
Brenda|f|Brender|
Sharon|f|Sharron,Sharoni|
Patience|f|Pasience,Patiance|
Faith|f|Feith|
Mercy|f|Mercey|
Gloria|f|Glorah,Glolia|
Diana|f|Dianah,Daina|
Proscovia|f|Prosscovia,Proscovier|Prossy,Prossie
Immaculate|f|Imaculate,Immaculata|Imma,Macu
Juliet|f|Juliette,Julliet|Julie
Rebecca|f|Rebeca,Rebbecca|Becky
Ruth|f|Rooth|
Martha|f|Matha,Marther|
Harriet|f|Hariet,Harriette|
Winnie|f|Winny,Winifred|
Annet|f|Annette,Anett|
Scovia|f|Scovier,Skovia|
Catherine|f|Katherine,Catharine,Cathrine|Cathy,Kate
Margaret|f|Magret,Margret|Maggie
Rose|f|Rosey,Loze|
Jane|f|Jean|
Lydia|f|Lidia,Lydiah|
Eunice|f|Unice,Eunise|
Judith|f|Judit,Juditha|Judy
Rachel|f|Racheal,Rachael|
Irene|f|Irine,Ireen|
Pauline|f|Paulina,Poline|
Josephine|f|Josphine,Jossephine|Josie
Vivian|f|Vivien,Viviane|Vivi
Precious|f|Presious|
Blessing|f|Blesing|
Peace|f|Pease|
Joy|f|Joyce|
Hope|f||
Charity|f|Charitey|
Susan|f|Suzan,Susanne|Sue
Dorcas|f|Dorkas|
Edith|f|Edit|
Evelyn|f|Evelin,Eveline|Eve
Jackline|f|Jacqueline,Jacklyn|Jackie
Lillian|f|Lilian,Liliane|Lily
Olivia|f|Olivier|Livi
Priscilla|f|Prisca,Priscila|Prisca
Shamim|f|Shamimu|
Sylvia|f|Silvia,Sylivia|
Angella|f|Angela,Anjella|Angie
Betty|f|Bety|
Caroline|f|Carolyne,Karoline|Carol
Doreen|f|Dorine|
Hellen|f|Helen,Heleen|
Janet|f|Jannet,Jenet|
Monica|f|Monika|
Norah|f|Nora|
Phiona|f|Fiona,Phionah|
Stella|f|Stela|
Teddy|f|Tedy|
Viola|f|Violah|
Agatha|f|Agata|
Beatrice|f|Beatrace,Beatrix|Bea
Claire|f|Clare|
Damalie|f|Damali,Damaris|
Eva|f|Evah|
Gertrude|f|Getrude,Gertrud|Gety
Hadijah|f|Hadija,Khadija|
Lucy|f|Lusy|
Miriam|f|Mirium,Meriam|
Naomi|f|Naome|
Resty|f|Restie|
Rita|f|Reta|
Sandra|f|Sandrah|
Tracy|f|Tracey,Trace|
Maureen|f|Maurine,Moreen|
Barbara|f|Babra,Barbra|Babs
Anna|f|Ana,Annah|
Deborah|f|Debora,Debra|Debby
Elizabeth|f|Elisabeth|Liz,Betty
Esther|f|Esta|
Pamela|f|Pamella|Pam
Penlope|f|Penelope|Penny
Yvonne|f|Ivone,Yvone|
";

const ENGLISH_MALE: &str = "
John|m|Jon|
Joseph|m|Josef,Jozeph|Joe
Peter|m|Piter,Petero|
Emmanuel|m|Emanuel,Immanuel|Emma,Manuel
David|m|Davis,Daudi|Dave
Moses|m|Mosses,Musa|
Isaac|m|Isaack,Isack|
Samuel|m|Samwel,Samuell|Sam
Daniel|m|Danial,Danieli|Dan
Brian|m|Bryan,Brain|
Ivan|m|Evan,Ivann|
Ronald|m|Ronnald,Ronard|Ron
Denis|m|Dennis,Denish|
Joshua|m|Joshuah,Joshwa|Josh
Solomon|m|Soloman,Salomon|Solo
Richard|m|Richad,Rickard|Rich
Robert|m|Robbert,Rober|Bob,Robby
Patrick|m|Patric,Patrik|Pato
Francis|m|Frances,Fransis|Frank
Charles|m|Charlse,Chalres|Charlie
James|m|Jemes,Jamez|Jim
George|m|Gorge,Geroge|
Henry|m|Henery,Henri|
Julius|m|Julious,Julias|
Godfrey|m|Geoffrey,Godfery,Jeffrey|Geof
Innocent|m|Inocent,Innosent|
Elijah|m|Eliya,Elija|Eli
Allan|m|Alan,Allen|
Alex|m|Alexander,Alec|Alex
Arthur|m|Arthar,Artur|
Timothy|m|Timoth,Timonthy|Tim
Jonathan|m|Johnathan,Jonathon|Jona
Mark|m|Marc|
Andrew|m|Andrea,Andru|Andy
Simon|m|Symon,Simion|
Stephen|m|Steven,Stephan|Steve
Vincent|m|Vicent,Vinsent|Vince
Kenneth|m|Kenneth,Keneth|Ken
Collins|m|Colins,Collin|
Benjamin|m|Benjamen,Benjamine|Ben
Bosco|m|Bosko|
Nicholas|m|Nicolas,Nickolas|Nick
Gerald|m|Jerald,Geral|Gerry
Hillary|m|Hilary,Hillery|
Edward|m|Edwad,Edwards|Eddie
Fred|m|Fredrick,Frederick|Freddie
Geoffrey|m|Jeffrey,Geofrey|Geof
Herbert|m|Hebert,Herbet|Herbie
Lawrence|m|Laurence,Lawrance|Larry
Martin|m|Martine,Matin|
Michael|m|Micheal,Michel|Mike
Paul|m|Pol|
Raymond|m|Reymond,Raymon|Ray
Rogers|m|Roger,Rodgers|
Tonny|m|Tony,Anthony|
Wilson|m|Willson|Will
Amos|m|Amosi|
Abel|m|Abeli|
Aaron|m|Aron,Arone|
Caleb|m|Kaleb|
Derrick|m|Derick,Derek|
Enock|m|Enoch,Enoc|
Felix|m|Feliks|
Gideon|m|Gedion,Gidion|
Hudson|m|Hadson|
Jacob|m|Jakob,Yakobo|Jake
Lazarus|m|Lazaro|
Nathan|m|Nathen,Natan|Nate
Oscar|m|Oska|
Reagan|m|Regan,Raegan|
Silas|m|Sylas|
Titus|m|Tito|
Wycliffe|m|Wycliff,Wyclef|
Emmanuel|m|Emanuel|Emma
";

const MUSLIM_FEMALE: &str = "
Aisha|f|Ayesha,Aishah|
Fatuma|f|Fatima,Fatumah|Fati
Mariam|f|Mariamu,Maryam|
Zainab|f|Zaina,Zainabu|
Hadijah|f|Hadija,Khadija|
Rehema|f|Rahma,Rehemah|
Shakira|f|Shakirah|
Sumaya|f|Sumaiya,Sumayah|
Zuhura|f|Zuhra|
Asha|f|Ashah|
Halima|f|Halimah|
Nuru|f|Nurah|
Swabra|f|Sabra|
Amina|f|Aminah|
Rukia|f|Ruqayya,Rukiya|
";

const MUSLIM_MALE: &str = "
Ismail|m|Ismael,Isimail|
Hassan|m|Hasan,Hasani|
Hussein|m|Husein,Husseini|
Abdul|m|Abdu,Abudul|Abdu
Ali|m|Aly|
Yusuf|m|Yusufu,Yosef|
Musa|m|Moses,Mussa|
Ibrahim|m|Ibrahimu,Ibrahiim|Ibra
Shafik|m|Shafiq,Shafiki|
Twaha|m|Taha|
Swaibu|m|Swaib,Shuaib|
Rashid|m|Rashidi,Rasheed|
Hamza|m|Hamuza|
Muhammad|m|Mohammed,Mohamed,Muhamadi|Mo
Sharif|m|Sharifu|
Umar|m|Omar,Umaru|
Sulaiman|m|Suleiman,Sulayman|
Jamal|m|Jamali|
";

/// Luganda clan and personal names; twin names are kept separately in [`TWINS`].
const CENTRAL: &str = "
Nakato|f|Nakatto|
Namubiru|f|Namubilu,Nambiru|
Ssemakula|m|Semakula,Ssemakulla|
Mukasa|m|Mukassa|
Nansubuga|f|Nsubuga,Nansubugga|
Kato|m|Katto|
Nalwoga|f|Nalwooga,Nalwogga|
Ssebunya|m|Sebunya|
Lubega|m|Lubbega|
Nakimera|f|Nakimela|
Kiggundu|m|Kigundu|
Namutebi|f|Namuttebi,Namutebbi|
Ssekitoleko|m|Sekitoleko|
Nabukenya|f|Nabukeenya|
Kasule|m|Kassule|
Nakalema|f|Nakalemma|
Mayanja|m|Mayanjja|
Nalubega|f|Nalubbega|
Ssali|m|Sali|
Nakiganda|f|Nakigganda|
Mugerwa|m|Mugelwa|
Nabatanzi|f|Nabatanzzi|
Kizza|m|Kiza|
Nakayiza|f|Nakaiza|
Lutaaya|m|Lutaya|
Nassali|f|Nasali|
Wasswa|m|Waswa|
Namaganda|f|Namagganda|
Kaweesi|m|Kawesi|
Nantongo|f|Nantonggo|
Ssempala|m|Sempala|
Namayanja|f|Namayanjja|
Kyeyune|m|Kyeyunne|
Nakanwagi|f|Nakanwaggi|
Ssentongo|m|Sentongo|
Nankya|f|Nakya|
Bukenya|m|Bukeenya|
Nalukwago|f|Nalukwaggo|
Musoke|m|Mussoke|
Nakawesi|f|Nakawessi|
Ssenyonga|m|Senyonga|
Nambi|f|Nnambi|
Kiwanuka|m|Kiwanuuka|
Nabirye|f|Nabiriye|
Lwanga|m|Lwannga|
Namukasa|f|Namukassa|
";

const BUSOGA: &str = "
Waiswa|m|Waiswah,Waisswa|
Naigaga|f|Naigagga|
Isabirye|m|Isabiriye|
Nabirye|f|Nabiriye|
Mwase|m|Mwasse|
Kirunda|m|Kilunda|
Namukose|f|Namukosse|
Mugoya|m|Mugoyah|
Nangobi|f|Nangobbi|
Balidawa|m|Baridawa|
Kisambira|m|Kisambila|
Naikoba|f|Naikobba|
Tibenderana|m|Tibendelana|
Kagoda|m|Kagodda|
Nakisige|f|Nakisigge|
";

const BUGISU: &str = "
Wanyama|m|Wanyamah|
Nandutu|f|Nanduttu|
Wamala|m|Wamalla|
Nabwire|f|Nabwiire|
Wekesa|m|Wekessa|
Mafabi|m|Mafaabi|
Namataka|f|Namattaka|
Wabwire|m|Wabwiire|
Nambozo|f|Nambozzo|
Masaba|m|Massaba|
Khaukha|m|Kaukha|
Nakhumitsa|f|Nakumitsa|
Wandera|m|Wandela|
Nekesa|f|Nekessa|
Mutonyi|f|Mutonnyi|
";

const TESO: &str = "
Okurut|m|Okurutt|
Akurut|f|Akurutt|
Opolot|m|Opollot|
Apolot|f|Apollot|
Okiror|m|Okirror|
Akiror|f|Akirror|
Emong|m|Emongo|
Amongin|f|Among,Amongini|
Ekwaro|m|Ekwarro|
Ariong|f|Ariongo|
Etyang|m|Etiang|
Ikiring|f|Ikirring|
Okello|m|Okelo|
Akello|f|Akelo|
Oluka|m|Olukka|
Asio|f|Assio|
Eriau|m|Eriaw|
Aturo|f|Atturo|
Omoding|m|Omodding|
Adongo|f|Adongoh|
";

const LUO: &str = "
Okello|m|Okelo,Okkello|
Akello|f|Akelo,Akkello|
Opio|m|Opiyo|
Apio|f|Apiyo|
Ocen|m|Ochen,Ocheng|
Acen|f|Achen|
Ojok|m|Ojjok,Ojoki|
Ajok|f|Ajjok|
Odongo|m|Odong,Odongoh|
Adong|f|Adongo|
Oryem|m|Oryemu|
Aryemo|f|Aryem|
Ocan|m|Ochan|
Acan|f|Achan|
Okot|m|Okott|
Akot|f|Akott|
Otim|m|Otiim|
Atim|f|Atiim|
Aguti|f|Agutti,Akuti|
Oketch|m|Okech,Okec|
Auma|f|Awuma|
Owor|m|Oworr|
Lamwaka|f|Lamwakka|
Komakech|m|Komakec,Komakeci|
Aber|f|Abber|
Olweny|m|Olwenyi|
Aciro|f|Achiro|
Obwona|m|Obwonna|
Ayaa|f|Aya|
Onen|m|Onnen|
Anena|f|Annena|
Otto|m|Oto|
Lakica|f|Lakicha|
Okumu|m|Okkumu|
Akumu|f|Akkumu|
Ogwang|m|Ogwangi|
Alobo|f|Alobbo|
Ebong|m|Ebongo|
Atoo|f|Ato|
";

const WEST_NILE: &str = "
Drani|m|Draani|
Ayikoru|f|Ayikorru,Ayiko|
Candiru|f|Chandiru|
Anguzu|m|Angguzu|
Adiru|f|Addiru|
Ondoga|m|Ondogga|
Onzima|m|Onzzima|
Asiku|m|Assiku|
Letaru|f|Lettaru|
Draru|f|Drarru|
Aluma|m|Alumma|
Ezati|f|Ezzati|
Bayo|m|Bayyo|
Amandu|m|Amanndu|
Avako|f|Avvako|
Ocaya|m|Ochaya|
Afema|f|Afemma|
Dradria|m|Dradriya|
Andezu|f|Andezzu|
Feta|m|Fetta|
";

const ANKOLE: &str = "
Mugisha|u|Mugisa,Mugishah|
Tumusiime|u|Tumusime,Tumusiimme|
Ahimbisibwe|u|Ahimbisibe,Ahimbisibwa|
Atuhaire|u|Atuhaile,Atuhayire|
Ainembabazi|f|Ainebabazi,Ainembabaazi|
Kyomuhendo|f|Kyomuhenndo|
Twinomujuni|m|Twinomujunni|
Byaruhanga|m|Byaruhangga|
Niwagaba|m|Niwaggaba|
Ninsiima|f|Ninsiimma,Nisiima|
Turyahabwe|m|Turyahabwa|
Kemigisha|f|Kemigisa|
Arinaitwe|u|Arinaitwe,Arinayitwe|
Natukunda|f|Natukunnda|
Tumwesigye|m|Tumwesige|
Asiimwe|u|Asimwe|
Kansiime|f|Kansime|
Agaba|m|Agabba|
Kyarikunda|f|Kyarikunnda|
Muhumuza|m|Muhumuuza|
Nuwagaba|m|Nuwaggaba|
Komugisha|f|Komugisa|
Bainomugisha|u|Bainomugisa|
Akankwasa|u|Akankwassa|
Tusiime|u|Tusime|
";

const TOORO: &str = "
Kabagambe|m|Kabaggambe|
Kobusinge|f|Kobusingye|
Baguma|m|Bagumma|
Kemigisa|f|Kemigisha|
Mwesige|m|Mwesigye|
Kugonza|u|Kugonzza|
Tibamwenda|m|Tibamwennda|
Kabasinguzi|f|Kabasinguuzi|
Byakatonda|m|Byakatonnda|
Karungi|f|Karunngi|
Isingoma|m|Isinngoma|
Kyalisiima|f|Kyalisima|
Balikuddembe|m|Balikudembe|
Businge|u|Busingye|
";

/// Empaako pet names of the Banyoro and Batooro (unisex, very frequent as other names).
const EMPAAKO: &str = "
Amooti|u|Amoti|
Akiiki|u|Akiki|
Atwooki|u|Atwoki|
Abwooli|u|Abwoli|
Adyeri|u|Adyeeri|
Araali|u|Arali|
Acaali|u|Achaali,Acali|
Apuuli|u|Apuli|
Ateenyi|u|Atenyi|
Abooki|u|Aboki|
Okaali|u|Okali|
";

const KARAMOJA: &str = "
Lokiru|m|Lokirru|
Nakiru|f|Nakirru|
Loput|m|Loputt|
Nachap|f|Nachapp|
Lochoro|m|Lochorro|
Lomongin|m|Lomongiin|
Nakut|f|Nakutt|
Lomuria|m|Lomurriya|
Napeyok|f|Napeyyok|
Longole|m|Longolle|
Achia|f|Achiya|
Lokwang|m|Lokwangg|
Napio|f|Napiyo|
";

/// Traditional twin names: (area, sex, first-born, second-born).
pub(crate) const TWINS: &[(Area, Sex, &str, &str)] = &[
    (Area::Central, Sex::Female, "Babirye", "Nakato"),
    (Area::Central, Sex::Male, "Waswa", "Kato"),
    (Area::Busoga, Sex::Female, "Nabirye", "Nakato"),
    (Area::Busoga, Sex::Male, "Waiswa", "Kato"),
    (Area::Luo, Sex::Female, "Apio", "Acen"),
    (Area::Luo, Sex::Male, "Opio", "Ocen"),
    (Area::Teso, Sex::Female, "Apio", "Acen"),
    (Area::Teso, Sex::Male, "Opio", "Ocen"),
];

pub(crate) struct UgandaNames {
    english: SexedTable,
    muslim: SexedTable,
    areas: Vec<(Area, SexedTable)>,
    empaako: &'static [NameEntry],
}

static TABLES: OnceLock<UgandaNames> = OnceLock::new();

fn leak(text: &'static str) -> &'static [NameEntry] {
    // Parsed once per process and kept for its lifetime.
    Box::leak(parse_table(text).into_boxed_slice())
}

pub(crate) fn tables() -> &'static UgandaNames {
    TABLES.get_or_init(|| {
        let mut english = leak(ENGLISH_FEMALE).to_vec();
        english.extend_from_slice(leak(ENGLISH_MALE));
        let mut muslim = leak(MUSLIM_FEMALE).to_vec();
        muslim.extend_from_slice(leak(MUSLIM_MALE));
        let areas = [
            (Area::Central, CENTRAL),
            (Area::Busoga, BUSOGA),
            (Area::Bugisu, BUGISU),
            (Area::Teso, TESO),
            (Area::Luo, LUO),
            (Area::WestNile, WEST_NILE),
            (Area::Ankole, ANKOLE),
            (Area::Tooro, TOORO),
            (Area::Karamoja, KARAMOJA),
        ]
        .into_iter()
        .map(|(area, text)| (area, SexedTable::new(leak(text), 0.9)))
        .collect();
        UgandaNames {
            english: SexedTable::new(Box::leak(english.into_boxed_slice()), 1.0),
            muslim: SexedTable::new(Box::leak(muslim.into_boxed_slice()), 1.0),
            areas,
            empaako: leak(EMPAAKO),
        }
    })
}

/// How likely a given name is Muslim in each area (Busoga, West Nile and Central have large
/// Muslim communities).
fn muslim_share(area: Area) -> f64 {
    match area {
        Area::WestNile => 0.30,
        Area::Busoga | Area::Central => 0.18,
        Area::Bugisu => 0.12,
        _ => 0.05,
    }
}

impl UgandaNames {
    fn area_table(&self, area: Area) -> &SexedTable {
        self.areas
            .iter()
            .find(|(a, _)| *a == area)
            .map(|(_, t)| t)
            .unwrap_or(&self.areas[0].1)
    }

    /// A Christian/English or Muslim given name (occasionally a local name used as given name).
    pub(crate) fn given(&self, rng: &mut Rand, area: Area, sex: Sex) -> Name {
        if chance(rng, 0.08) {
            return self.local(rng, area, sex);
        }
        if chance(rng, muslim_share(area)) {
            Name::from_entry(self.muslim.draw(rng, sex))
        } else {
            Name::from_entry(self.english.draw(rng, sex))
        }
    }

    /// A local (clan / birth-circumstance / sentence) name of the area; 10% from another area
    /// (mixed marriages, migration), 12% a syllable-generated rare name.
    pub(crate) fn local(&self, rng: &mut Rand, area: Area, sex: Sex) -> Name {
        let area = if chance(rng, 0.10) {
            pick_copy(rng, &ALL_AREAS)
        } else {
            area
        };
        if chance(rng, 0.12) {
            return Name::generated(rare_local(rng, area, sex), None);
        }
        Name::from_entry(self.area_table(area).draw(rng, sex))
    }

    /// A second name for `other_names`: empaako in Tooro, else a second Christian name
    /// ("John Bosco") or a local name.
    pub(crate) fn other_name(&self, rng: &mut Rand, area: Area, sex: Sex) -> Name {
        if area == Area::Tooro && chance(rng, 0.7) {
            return Name::from_entry(pick(rng, self.empaako));
        }
        if chance(rng, 0.35) {
            Name::from_entry(self.english.draw(rng, sex))
        } else {
            self.local(rng, area, sex)
        }
    }

    /// A given name of the same sex starting with the same letter, or any name if none fits.
    pub(crate) fn similar_given(&self, rng: &mut Rand, like: &str, sex: Sex) -> Name {
        let first = like.chars().next();
        let candidates: Vec<&'static NameEntry> = self
            .english
            .of(sex)
            .iter()
            .filter(|e| e.roman.chars().next() == first && e.roman != like)
            .copied()
            .collect();
        if candidates.is_empty() {
            Name::from_entry(self.english.draw(rng, sex))
        } else {
            Name::from_entry(pick_copy(rng, &candidates))
        }
    }
}

const ALL_AREAS: [Area; 9] = [
    Area::Central,
    Area::Busoga,
    Area::Bugisu,
    Area::Teso,
    Area::Luo,
    Area::WestNile,
    Area::Ankole,
    Area::Tooro,
    Area::Karamoja,
];

fn syllables(rng: &mut Rand, parts: &[&str], count: usize, out: &mut String) {
    for _ in 0..count {
        out.push_str(pick_copy(rng, parts));
    }
}

/// A rare name built from the area's typical syllables (the long tail of the distribution).
pub(crate) fn rare_local(rng: &mut Rand, area: Area, sex: Sex) -> String {
    let mut name = String::new();
    let female = sex == Sex::Female;
    match area {
        Area::Central | Area::Busoga | Area::Bugisu => {
            const SYL: &[&str] = &[
                "ba", "bi", "bu", "ge", "gga", "ka", "ki", "ku", "la", "le", "lu", "ma", "mbe",
                "mbi", "nda", "nge", "nsa", "nyi", "si", "su", "twe", "wa", "we", "ya", "za", "zi",
                "ko", "mu", "tu",
            ];
            name.push_str(if female {
                pick_copy(rng, &["Na", "Nna", "Nnaka", "Nam"])
            } else {
                pick_copy(rng, &["Sse", "Ka", "Mu", "Lu", "Ki", "Wa", "Bu"])
            });
            let count = rng.gen_range(2..=3);
            syllables(rng, SYL, count, &mut name);
        }
        Area::Luo | Area::Teso | Area::Karamoja => {
            const MID: &[&str] = &[
                "ke", "jo", "do", "rye", "ca", "la", "pi", "bo", "ka", "lo", "ko", "ku", "te",
                "wi", "ye", "mo", "ro", "ne", "ma", "ki", "pa",
            ];
            const END: &[&str] = &[
                "llo", "k", "ngo", "m", "n", "t", "r", "ng", "ya", "la", "ro", "ch", "ny",
            ];
            name.push_str(match (area, female) {
                (Area::Karamoja, true) => "Na",
                (Area::Karamoja, false) => "Lo",
                (_, true) => pick_copy(rng, &["A", "La"]),
                (_, false) => pick_copy(rng, &["O", "E", "Ko"]),
            });
            syllables(rng, MID, 1, &mut name);
            syllables(rng, END, 1, &mut name);
        }
        Area::WestNile => {
            const FIRST: &[&str] = &["A", "Dra", "O", "Ayi", "E", "Le", "Ba", "Ca", "Ma", "Ti"];
            const MID: &[&str] = &[
                "ndi", "ko", "zi", "ga", "dra", "nzi", "vu", "ku", "ta", "bua",
            ];
            name.push_str(pick_copy(rng, FIRST));
            syllables(rng, MID, 1, &mut name);
            name.push_str(if female {
                pick_copy(rng, &["ru", "ko", "a"])
            } else {
                pick_copy(rng, &["", "ma", "ni", "zu"])
            });
        }
        Area::Ankole | Area::Tooro => {
            const FIRST: &[&str] = &[
                "Tumu", "Twino", "Ahi", "Aine", "Atu", "Nu", "Beine", "Ni", "Aka", "Bya", "Tu",
                "Kyo", "Ari", "Ko",
            ];
            const STEM: &[&str] = &[
                "siime",
                "haire",
                "mujuni",
                "mbisibwe",
                "mbabazi",
                "gaba",
                "hendo",
                "ruhanga",
                "gumisiriza",
                "kunda",
                "ramya",
                "heirwe",
                "sasira",
                "hwezi",
                "tegyeka",
            ];
            name.push_str(pick_copy(rng, FIRST));
            syllables(rng, STEM, 1, &mut name);
        }
    }
    name
}
