//! The web UI in a real browser: headless Chromium driven through WebDriver (chromedriver)
//! against the real binary running the README's demo. `scripts/ensure-chromium.sh` installs
//! Debian's `chromium` and `chromium-driver` when missing; without them this test fails, it
//! never skips. Screenshots of each page go to `target/tmp/browser-screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const BINARY: &str = env!("CARGO_BIN_EXE_child-registry");

/// A process killed when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The demo as a new user starts it, with the credentials it printed.
struct Demo {
    _process: Process,
    _data: tempfile::TempDir,
    url: String,
    passwords: std::collections::HashMap<String, String>,
    keys: std::collections::HashMap<String, String>,
}

fn start_demo() -> Demo {
    let data = tempfile::tempdir().unwrap();
    let mut process = Command::new(BINARY)
        .args(["demo", "--listen", "127.0.0.1:0", "--records", "800"])
        .arg("--data-dir")
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(process.stdout.take().unwrap());
    let mut url = None;
    let mut passwords = std::collections::HashMap::new();
    let mut keys = std::collections::HashMap::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Web", "UI:", address, ..] => {
                url = Some(address.trim_end_matches('/').to_owned());
            }
            ["person", _role, username, password] => {
                passwords.insert((*username).to_owned(), (*password).to_owned());
            }
            ["agency", agency, key] => {
                keys.insert((*agency).to_owned(), (*key).to_owned());
            }
            ["national_official", "-", key] => {
                keys.insert("official".to_owned(), (*key).to_owned());
            }
            ["API", "description:", ..] => break,
            _ => {}
        }
    }
    Demo {
        _process: Process(process),
        _data: data,
        url: url.expect("the demo prints the web UI's address"),
        passwords,
        keys,
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn chromedriver_path() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned())
}

/// Starts chromedriver and a headless Chromium session at the given window width.
async fn browser(width: u32) -> (Process, Client) {
    let port = free_port();
    let driver = Command::new(chromedriver_path())
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "chromedriver not found ({error}): run scripts/ensure-chromium.sh (the test suite \
                 does) or set CHROMEDRIVER"
            )
        });
    let driver = Process(driver);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                format!("--window-size={width},1000"),
                "--lang=en-GB",
            ],
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
        }),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let connected = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match connected {
            Ok(client) => return (driver, client),
            Err(error) if Instant::now() > deadline => panic!("no WebDriver session: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.len() > 1000, "an empty screenshot of {name}");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// Polls until the condition holds (pages and searches settle asynchronously).
async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(client: &Client, css: &str) -> String {
    match client.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn log_in(client: &Client, demo: &Demo, username: &str) {
    client.goto(&format!("{}/login", demo.url)).await.unwrap();
    client
        .find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    let password = client.find(Locator::Id("password")).await.unwrap();
    password.send_keys(&demo.passwords[username]).await.unwrap();
    password
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    eventually("the first page after login", || async {
        !client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/login")
    })
    .await;
}

async fn log_out(client: &Client) {
    client
        .find(Locator::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the login page", || async {
        client.current_url().await.unwrap().path() == "/login"
    })
    .await;
}

/// Registers one generated child twice, as a school record and as a police record with a
/// restricted police event, and returns its child ID and names.
async fn register_child_known_to_school_and_police(demo: &Demo) -> (String, String, String) {
    let dataset = synthetic::generate(&synthetic::GeneratorConfig {
        seed: 4242,
        records: 40,
        ..synthetic::GeneratorConfig::default()
    });
    let record = dataset
        .records
        .iter()
        .find(|record| {
            let body = record.api_body();
            body["child"]["given_name"].is_string()
                && body["child"]["family_name"]
                    .as_str()
                    .is_some_and(|name| name.len() >= 5 && name.is_ascii())
                && body["child"]["date_of_birth"].is_string()
        })
        .expect("a generated child with a Latin-script name and a birth date");
    let http = reqwest::Client::new();
    let mut child_id = None;
    for (agency, event) in [
        (
            "school-ug",
            json!({"type": "school.enrolled", "date": "2024-02-05", "sensitivity": "normal",
                   "details": {"grade": "P3"}}),
        ),
        (
            "police-ug",
            json!({"type": "police.case_opened", "date": "2024-06-11", "sensitivity": "restricted",
                   "details": {"station": "Central"}}),
        ),
    ] {
        let mut body = record.api_body();
        body["source_system"] = json!(agency);
        body["source_record_id"] = json!(format!("BROWSER-{agency}"));
        body["events"] = json!([event]);
        let response = http
            .post(format!("{}/v1/records", demo.url))
            .bearer_auth(&demo.keys[agency])
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let registration: Value = response.json().await.unwrap();
        let id = registration["child_id"].as_str().unwrap().to_owned();
        if let Some(first) = &child_id {
            assert_eq!(
                &id, first,
                "the police record links to the school's child: {registration}"
            );
        }
        child_id = Some(id);
    }
    let body = record.api_body();
    (
        child_id.unwrap(),
        body["child"]["given_name"].as_str().unwrap().to_owned(),
        body["child"]["family_name"].as_str().unwrap().to_owned(),
    )
}

/// A typo an official might make: two neighbouring letters swapped in the middle.
fn with_typo(name: &str) -> String {
    let mut letters: Vec<char> = name.chars().collect();
    let middle = letters.len() / 2;
    letters.swap(middle - 1, middle);
    letters.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officials_stewards_and_schools_use_the_web_ui() {
    let demo = start_demo();
    let (child_id, given, family) = register_child_known_to_school_and_police(&demo).await;
    let (_driver, client) = browser(1440).await;

    // Login page, then a national official searches with a typo and opens the child.
    client.goto(&format!("{}/", demo.url)).await.unwrap();
    eventually("the login form", || async {
        client.find(Locator::Id("username")).await.is_ok()
    })
    .await;
    screenshot(&client, "01-login").await;
    log_in(&client, &demo, "official").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/search");

    // `/` focuses the search box; results come as the query is typed.
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("/")
        .await
        .unwrap();
    let search_box = client.active_element().await.unwrap();
    assert_eq!(search_box.attr("id").await.unwrap().as_deref(), Some("q"));
    let query = format!("{} {}", given, with_typo(&family));
    search_box.send_keys(&query).await.unwrap();
    eventually("the child among the results as typed", || async {
        text_of(&client, "#results").await.contains(&child_id)
    })
    .await;
    screenshot(&client, "02-search").await;
    // Arrow down to the first hit… until the focus is on our child, then Enter opens it.
    let mut opened = false;
    for _ in 0..10 {
        search_box
            .send_keys(&char::from(Key::Down).to_string())
            .await
            .ok();
        let focused = client.active_element().await.unwrap();
        if focused.text().await.unwrap_or_default().contains(&child_id) {
            focused
                .send_keys(&char::from(Key::Enter).to_string())
                .await
                .unwrap();
            opened = true;
            break;
        }
    }
    assert!(opened, "the keyboard reaches the child's hit");
    eventually("the child's page", || async {
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/children/")
    })
    .await;
    assert_eq!(text_of(&client, "#child-id").await, child_id);

    // The timeline holds both agencies' events, with provenance.
    let timeline = text_of(&client, ".timeline").await;
    assert!(timeline.contains("school enrolled"), "{timeline}");
    assert!(timeline.contains("police case opened"), "{timeline}");
    assert!(timeline.contains("BROWSER-police-ug"), "{timeline}");
    screenshot(&client, "03-child").await;

    // A child ID pasted as a search jumps straight to the child.
    client
        .goto(&format!(
            "{}/search?q={}",
            demo.url,
            child_id.replace('-', "")
        ))
        .await
        .unwrap();
    eventually("the jump to the child", || async {
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/children/")
    })
    .await;

    // The dashboard, then Khmer: the switch changes every label.
    client
        .goto(&format!("{}/dashboard", demo.url))
        .await
        .unwrap();
    assert!(text_of(&client, "h1").await.contains("Dashboard"));
    screenshot(&client, "04-dashboard").await;
    client
        .find(Locator::Css("a[data-lang='km']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("Khmer labels", || async {
        text_of(&client, "h1").await.contains("ផ្ទាំងសង្ខេប")
    })
    .await;
    let navigation = text_of(&client, "header nav").await;
    assert!(navigation.contains("ស្វែងរក"), "{navigation}");
    screenshot(&client, "05-dashboard-km").await;
    client
        .find(Locator::Css("a[data-lang='en']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("English again", || async {
        text_of(&client, "h1").await.contains("Dashboard")
    })
    .await;
    log_out(&client).await;

    // A data steward resolves the oldest review candidate with the keyboard.
    log_in(&client, &demo, "steward").await;
    client.goto(&format!("{}/review", demo.url)).await.unwrap();
    screenshot(&client, "06-review-queue").await;
    client
        .find(Locator::Css(".queue .hit-link"))
        .await
        .expect("the demo data leaves candidates to review")
        .click()
        .await
        .unwrap();
    eventually("a candidate", || async {
        client.find(Locator::Css("svg.waterfall")).await.is_ok()
    })
    .await;
    let candidate_path = client.current_url().await.unwrap().path().to_owned();
    assert!(
        client
            .find(Locator::Css("table.compare tbody tr"))
            .await
            .is_ok(),
        "both sides side by side"
    );
    screenshot(&client, "07-candidate").await;
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("n")
        .await
        .unwrap();
    let reason = client.active_element().await.unwrap();
    assert_eq!(reason.attr("id").await.unwrap().as_deref(), Some("reason"));
    reason
        .send_keys("different mothers and villages")
        .await
        .unwrap();
    reason
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    eventually("the queue after the decision", || async {
        client.current_url().await.unwrap().path() == "/review"
    })
    .await;
    assert!(text_of(&client, ".notice").await.contains("not a match"));
    client
        .goto(&format!("{}{candidate_path}", demo.url))
        .await
        .unwrap();
    let history = text_of(&client, "main").await;
    assert!(
        history.contains("different mothers and villages"),
        "{history}"
    );
    assert!(client.find(Locator::Id("decision-form")).await.is_err());
    log_out(&client).await;

    // A school's staff member sees the school's record and event, never the police event.
    log_in(&client, &demo, "teacher").await;
    client
        .goto(&format!("{}/children/{child_id}", demo.url))
        .await
        .unwrap();
    let page = text_of(&client, "main").await;
    assert!(page.contains("school enrolled"), "{page}");
    assert!(
        !page.contains("police"),
        "a school sees no police event: {page}"
    );
    screenshot(&client, "08-child-as-school").await;
    log_out(&client).await;

    // The administrator's page, and the whole UI on a 375 px phone.
    log_in(&client, &demo, "admin").await;
    client.goto(&format!("{}/admin", demo.url)).await.unwrap();
    assert!(text_of(&client, "main").await.contains("teacher"));
    screenshot(&client, "09-admin").await;
    client.close().await.unwrap();

    let (_phone_driver, phone) = browser(375).await;
    log_in(&phone, &demo, "official").await;
    phone
        .goto(&format!("{}/children/{child_id}", demo.url))
        .await
        .unwrap();
    let overflow = phone
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    screenshot(&phone, "10-child-375px").await;
    assert_eq!(overflow, json!(false), "no sideways scrolling at 375 px");
    phone.close().await.unwrap();
}
