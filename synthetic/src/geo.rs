//! Administrative geography: Uganda district → sub-county → village, Cambodia district
//! (srok/khan) → commune (khum/sangkat) → village (phum).
//!
//! District, sub-county and commune names are public geographic names. Villages are drawn
//! from per-area pools of common village names with a fixed seed, so the geography is the
//! same for every generator seed, and a village name often occurs in several districts (as
//! in reality).

use std::sync::OnceLock;

use rand::{Rng, SeedableRng};

use crate::model::Location;
use crate::names::uganda::Area;
use crate::sample::{pick, pick_copy, Rand, Zipf};

/// `District|area|sub-county, sub-county, ...` (Kampala: divisions).
const UGANDA: &str = "
Kampala|central|Central Division,Kawempe,Makindye,Nakawa,Rubaga
Wakiso|central|Nansana,Kira,Nangabo,Busukuma,Kakiri,Masulita,Namayumba,Ssisa,Kyengera
Mukono|central|Goma,Nama,Kyampisi,Ntenjeru,Nakisunga,Mukono Central
Masaka|central|Kyanamukaaka,Buwunga,Mukungwe,Kabonera,Kimaanya
Mpigi|central|Kammengo,Buwama,Kituntu,Muduuma,Nkozi
Luwero|central|Bombo,Kikyusa,Zirobwe,Butuntumula,Katikamu
Mityana|central|Busimbi,Bulera,Kalangaalo,Maanyi,Sekanyonyi
Jinja|busoga|Budondo,Butagaya,Buwenge,Mafubira,Busedde
Iganga|busoga|Nakigo,Nambale,Nawandala,Nakalama,Bulamagi
Kamuli|busoga|Balawoli,Bugulumbya,Kitayunjwa,Namwendwa,Nabwigulu
Mayuge|busoga|Baitambogwe,Imanyiro,Kigandalo,Malongo,Bukabooli
Mbale|bugisu|Bungokho,Bufumbo,Busoba,Wanale,Nakaloke
Tororo|bugisu|Mulanda,Nagongera,Kwapa,Molo,Rubongi
Busia|bugisu|Dabani,Buhehe,Lumino,Masafu,Masaba
Soroti|teso|Arapai,Gweri,Asuret,Kamuda,Tubur
Kumi|teso|Atutur,Kanyum,Mukongoro,Ongino,Kumi Town Council
Katakwi|teso|Magoro,Ngariam,Omodoi,Toroma,Usuk
Gulu|luo|Bungatira,Paicho,Awach,Unyama,Bobi,Lakwana
Lira|luo|Adekokwok,Amach,Barr,Ogur,Aromo,Agweng
Kitgum|luo|Mucwini,Lagoro,Orom,Namokora,Akwang
Apac|luo|Akokoro,Chegere,Ibuje,Apac Town Council,Inomo
Pader|luo|Atanga,Laguti,Pajule,Puranga,Lapul
Arua|westnile|Adumi,Ajia,Aroi,Manibe,Pajulu,Oluko
Yumbe|westnile|Kululu,Romogi,Drajini,Odravu,Kuru
Adjumani|westnile|Dzaipi,Pakelle,Ofua,Ciforo,Itirikwa
Nebbi|westnile|Nyaravur,Kucwiny,Parombo,Panyango,Erussi
Mbarara|ankole|Kakiika,Rubaya,Bubaare,Rubindi,Bukiro,Kashare
Kabale|ankole|Kitumba,Kamuganguzi,Buhara,Maziba,Kyanamira
Bushenyi|ankole|Bumbaire,Kakanju,Kyeizooba,Nyabubare,Ruhumuro
Ntungamo|ankole|Itojo,Ngoma,Rubaare,Rweikiniro,Kayonza
Kabarole|tooro|Karambi,Kichwamba,Busoro,Hakibaale,Bukuku
Kasese|tooro|Bwera,Karusandara,Maliba,Kilembe,Nyakiyumbu
Hoima|tooro|Kitoba,Buhanika,Kigorobya,Bugambe,Kyabigambire
Masindi|tooro|Budongo,Pakanyi,Miirya,Bwijanga,Karujubu
Kiryandongo|tooro|Kigumba,Mutunda,Kiryandongo,Masindi Port
Moroto|karamoja|Katikekile,Nadunget,Rupa,Tapac
Kotido|karamoja|Rengen,Nakapelimoru,Kacheri,Panyangara
Napak|karamoja|Lopeei,Lokopo,Iriiri,Matany,Ngoleriet
";

/// Village name pools per language area (common village names, used in many districts).
fn uganda_villages(area: Area) -> &'static [&'static str] {
    match area {
        Area::Central | Area::Busoga | Area::Bugisu => &[
            "Kisenyi",
            "Kasubi",
            "Kanyogoga",
            "Bukoto",
            "Kawempe",
            "Kikoni",
            "Namungoona",
            "Kazo",
            "Kitebi",
            "Ndeeba",
            "Kyebando",
            "Kiteezi",
            "Namasuba",
            "Bulenga",
            "Kigoowa",
            "Nalumunye",
            "Buwaate",
            "Kasengejje",
            "Mpererwe",
            "Kyaliwajjala",
            "Namawojjolo",
            "Bukasa",
            "Busega",
            "Kibuli",
            "Katwe",
            "Kalerwe",
            "Nakulabye",
            "Kiwenda",
            "Bweyogerere",
            "Kireka",
            "Seeta",
            "Naalya",
            "Kasana",
            "Luteete",
            "Kigunga",
            "Bugembe",
            "Masese",
            "Walukuba",
            "Wairaka",
            "Namulesa",
            "Budumba",
            "Bubulo",
            "Namatala",
            "Nkoma",
            "Mooni",
            "Busamaga",
        ],
        Area::Teso | Area::Karamoja => &[
            "Akisim",
            "Aloet",
            "Amen",
            "Odudui",
            "Opiyai",
            "Kamuda",
            "Olwelai",
            "Awoja",
            "Omagoro",
            "Aputon",
            "Akoboi",
            "Okunguro",
            "Kapir",
            "Ojetenyang",
            "Naitakwae",
            "Nakiloro",
            "Lokitelaebu",
            "Kanawat",
            "Nadunget",
            "Loputuk",
            "Lokiding",
        ],
        Area::Luo => &[
            "Pece",
            "Layibi",
            "Laroo",
            "Kasubi",
            "Bar-dege",
            "Kanyagoga",
            "Kirombe",
            "Pageya",
            "Te-Okutu",
            "Lukwor",
            "Labworomor",
            "Oding",
            "Ajulu",
            "Ayago",
            "Coo-Pe",
            "Lagwai",
            "Pagak",
            "Opit",
            "Angany",
            "Abwoch",
            "Adyel",
            "Ojwina",
            "Railway",
            "Agweng",
            "Amuca",
            "Boroboro",
            "Te-Obia",
            "Apala",
        ],
        Area::WestNile => &[
            "Oli",
            "Mvara",
            "Awindiri",
            "Tanganyika",
            "Ediofe",
            "Ombaci",
            "Bazaar",
            "Pajulu",
            "Odravu",
            "Kochi",
            "Lodonga",
            "Bidibidi",
            "Ariwa",
            "Nyaravur",
            "Mungula",
            "Boroli",
            "Olua",
            "Pakelle",
            "Ayilo",
            "Agojo",
        ],
        Area::Ankole | Area::Tooro => &[
            "Katete",
            "Nyamitanga",
            "Kakoba",
            "Ruharo",
            "Ruti",
            "Kamukuzi",
            "Rwentondo",
            "Nyakayojo",
            "Rwebikona",
            "Kashaka",
            "Rushoroza",
            "Kigongi",
            "Nyabikoni",
            "Rwakaraba",
            "Kagote",
            "Mpanga",
            "Nyakagongo",
            "Kahinju",
            "Buhinga",
            "Rwengoma",
            "Kasenda",
            "Kinyamaseke",
            "Bulembia",
            "Nyamwamba",
            "Kijura",
            "Kyakaboga",
            "Kitongozi",
            "Buhimba",
            "Kijunjubwa",
            "Kibanda",
            "Kyamugenyi",
        ],
    }
}

/// `Province|District|commune, commune, ...`.
const CAMBODIA: &str = "
Phnom Penh|Chamkar Mon|Tonle Basak,Boeng Keng Kang Muoy,Tuol Svay Prey Muoy,Tumnob Tuek
Phnom Penh|Daun Penh|Phsar Thmei Muoy,Chakto Mukh,Voat Phnom,Srah Chak
Phnom Penh|Tuol Kouk|Boeng Kak Muoy,Phsar Depou Muoy,Tuek L'ak Muoy,Boeng Salang
Phnom Penh|Mean Chey|Stueng Mean Chey,Chak Angrae Leu,Boeng Tumpun
Phnom Penh|Saensokh|Phnom Penh Thmei,Tuek Thla,Khmuonh
Phnom Penh|Russey Keo|Toul Sangke,Kilomaetr Lekh Prammuoy,Chrang Chamreh Muoy
Kandal|Ta Khmau|Ta Khmau,Prek Ruessey,Daeum Mien,Kampong Samnanh
Kandal|Kien Svay|Kokir,Banteay Daek,Chheu Teal,Samraong Thom
Kandal|Sa'ang|Prek Koy,Svay Rolum,Khpob,Roka Khpos
Kandal|Ponhea Lueu|Vihear Luong,Preaek Pnov,Kampong Luong,Ponhea Lueu
Battambang|Battambang|Svay Por,Rattanak,Tuol Ta Aek,Prek Preah Sdach,Chamkar Samraong
Battambang|Sangkae|Anlong Vil,Ou Dambang Muoy,Kampong Preah,Reang Kesei
Battambang|Thma Koul|Ta Pung,Chrey,Bansay Traeng,Ou Ta Ki
Battambang|Moung Ruessei|Moung,Kakaoh,Prey Svay,Ruessei Krang
Siem Reap|Siem Reap|Svay Dankum,Sala Kamraeuk,Sla Kram,Kouk Chak,Chreav
Siem Reap|Puok|Puok,Keo Poar,Roluos,Samraong Yea
Siem Reap|Prasat Bakong|Bakong,Kandaek,Meanchey,Roluos
Siem Reap|Soutr Nikom|Dam Daek,Kampong Khleang,Popel,Ta Yaek
Kampong Cham|Kampong Cham|Veal Vong,Boeng Kok,Sambuor Meas,Kampong Cham
Kampong Cham|Kampong Siem|Ampil,Hanchey,Kokor,Krala
Kampong Cham|Prey Chhor|Baray,Chrey Vien,Mien,Prey Chhor
Takeo|Doun Kaev|Roka Knong,Baray,Takeo,Rokar Krau
Takeo|Bati|Chambak,Trapeang Sab,Kandoeng,Tnaot
Takeo|Tram Kak|Angk Ta Saom,Cheang Tong,Nheng Nhang,Tram Kak
Prey Veng|Prey Veng|Cheung Tuek,Kampong Leav,Ta Kao,Baray
Prey Veng|Peam Ro|Neak Loeang,Preaek Khsay Ka,Roka,Anlong Trea
Svay Rieng|Svay Rieng|Svay Rieng,Prey Chhlak,Kampong Chamlang,Chek
Svay Rieng|Chantrea|Chantrea,Chres,Me Sar Thngak,Prasoutr
Kampot|Kampot|Kampong Kraeng,Treuy Koh,Andoung Khmer,Kampong Bay
Kampot|Tuek Chhou|Boeng Tuk,Kaoh Touch,Prey Khmum,Trapeang Thum
Banteay Meanchey|Serei Saophoan|Kampong Svay,Preah Ponlea,Tuek Thla,Phsar Kandal
Banteay Meanchey|Poipet|Poipet,Nimitt,Phsar Kandal,Paoy Paet
Pursat|Pursat|Phteah Prey,Svay At,Lolok Sa,Roleab
Kampong Speu|Chbar Mon|Chbar Mon,Roka Thum,Peanich Kam,Sopoar Tep
Kampong Thom|Stueng Saen|Kampong Thom,Achar Leak,Damrei Choan Khla,Prey Kuy
Kratie|Kracheh|Kracheh,O Ruessei,Roka Kandal,Kaoh Trong
Preah Sihanouk|Mittakpheap|Muoy,Pir,Bei,Buon
Koh Kong|Khemara Phoumin|Smach Mean Chey,Dang Tong,Stueng Veaeng
";

/// Common Cambodian village (phum) names; many recur across communes.
const CAMBODIA_VILLAGES: &[&str] = &[
    "Phum Thmei",
    "Phum Chas",
    "Phum Kandal",
    "Prey Veng",
    "Trapeang Veng",
    "Ta Prohm",
    "Kouk Chambak",
    "Chrey",
    "Svay",
    "Tuol Prasat",
    "Trapeang Chhuk",
    "Boeng",
    "Ou Ampil",
    "Krang",
    "Roka",
    "Angk",
    "Prey Tuol",
    "Thnal Bambek",
    "Samraong",
    "Chamkar Leu",
    "Preaek Leap",
    "Kampong Tuol",
    "Doung",
    "Chak",
    "Russey",
    "Tnaot",
    "Spean Thma",
    "Kbal Spean",
    "Ampil Tuek",
    "Trapeang Sla",
    "Veal",
    "Doun Penh",
    "Phnom Touch",
    "Kok Trach",
    "Lvea",
    "Daeum Chan",
    "Sla",
    "Kien",
    "Anlong Chrey",
    "Tuol Tnaot",
];

/// One district with its sub-counties (communes) and, per sub-county, its villages.
#[derive(Debug)]
pub(crate) struct District {
    pub(crate) region: &'static str,
    pub(crate) name: &'static str,
    pub(crate) area: Option<Area>,
    pub(crate) subcounties: Vec<(&'static str, Vec<&'static str>)>,
}

/// A country's geography with a Zipf-like population weight per district (capital first).
#[derive(Debug)]
pub(crate) struct Geography {
    pub(crate) districts: Vec<District>,
    weights: Zipf,
}

impl Geography {
    /// A random place: district by population weight, then uniform sub-county and village.
    pub(crate) fn place(&self, rng: &mut Rand) -> (usize, Location) {
        let index = self.weights.sample(rng);
        (index, self.place_in(rng, index))
    }

    pub(crate) fn place_in(&self, rng: &mut Rand, district: usize) -> Location {
        let d = &self.districts[district];
        let (subcounty, villages) = pick(rng, &d.subcounties);
        Location {
            region: d.region.to_string(),
            district: d.name.to_string(),
            subcounty: (*subcounty).to_string(),
            village: (pick_copy(rng, villages)).to_string(),
        }
    }

    pub(crate) fn area_of(&self, district_name: &str) -> Area {
        self.districts
            .iter()
            .find(|d| d.name == district_name)
            .and_then(|d| d.area)
            .unwrap_or(Area::Central)
    }
}

fn area_from(code: &str) -> Area {
    match code {
        "busoga" => Area::Busoga,
        "bugisu" => Area::Bugisu,
        "teso" => Area::Teso,
        "luo" => Area::Luo,
        "westnile" => Area::WestNile,
        "ankole" => Area::Ankole,
        "tooro" => Area::Tooro,
        "karamoja" => Area::Karamoja,
        _ => Area::Central,
    }
}

fn sub_region(area: Area) -> &'static str {
    match area {
        Area::Central => "Buganda",
        Area::Busoga => "Busoga",
        Area::Bugisu => "Bukedi-Bugisu",
        Area::Teso => "Teso",
        Area::Luo => "Acholi-Lango",
        Area::WestNile => "West Nile",
        Area::Ankole => "Ankole-Kigezi",
        Area::Tooro => "Tooro-Bunyoro",
        Area::Karamoja => "Karamoja",
    }
}

/// Fixed seed for the geography: the same villages for every generator seed.
const GEO_SEED: u64 = 0x6765_6f67_7261_7068;

fn villages_for(rng: &mut Rand, pool: &'static [&'static str]) -> Vec<&'static str> {
    let count = rng.gen_range(3..=6);
    let mut chosen: Vec<&'static str> = Vec::with_capacity(count);
    while chosen.len() < count.min(pool.len()) {
        let village = pick_copy(rng, pool);
        if !chosen.contains(&village) {
            chosen.push(village);
        }
    }
    chosen
}

pub(crate) fn uganda() -> &'static Geography {
    static GEO: OnceLock<Geography> = OnceLock::new();
    GEO.get_or_init(|| {
        let mut rng = Rand::seed_from_u64(GEO_SEED);
        let districts: Vec<District> = UGANDA
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let mut fields = line.split('|');
                let name = fields.next().unwrap_or_default();
                let area = area_from(fields.next().unwrap_or_default());
                let subcounties = fields
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(|s| (s, villages_for(&mut rng, uganda_villages(area))))
                    .collect();
                District {
                    region: sub_region(area),
                    name,
                    area: Some(area),
                    subcounties,
                }
            })
            .collect();
        Geography {
            weights: Zipf::new(districts.len(), 0.6, 1.0),
            districts,
        }
    })
}

pub(crate) fn cambodia() -> &'static Geography {
    static GEO: OnceLock<Geography> = OnceLock::new();
    GEO.get_or_init(|| {
        let mut rng = Rand::seed_from_u64(GEO_SEED ^ 0x6b68);
        let districts: Vec<District> = CAMBODIA
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let mut fields = line.split('|');
                let region = fields.next().unwrap_or_default();
                let name = fields.next().unwrap_or_default();
                let subcounties = fields
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(|s| (s, villages_for(&mut rng, CAMBODIA_VILLAGES)))
                    .collect();
                District {
                    region,
                    name,
                    area: None,
                    subcounties,
                }
            })
            .collect();
        Geography {
            weights: Zipf::new(districts.len(), 0.5, 1.0),
            districts,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchies_are_complete() {
        for geo in [uganda(), cambodia()] {
            assert!(geo.districts.len() >= 30);
            for d in &geo.districts {
                assert!(d.subcounties.len() >= 3, "{}", d.name);
                for (_, villages) in &d.subcounties {
                    assert!(villages.len() >= 3);
                }
            }
        }
    }
}
