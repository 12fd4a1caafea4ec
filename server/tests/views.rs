//! The managers' JSON API over a real `doorstep serve` on loopback: login (password and
//! one-time link), every view, comments and answers reaching the agent's phone, the live event
//! stream, the CSV exports, playbooks changing what the views count, the OpenAPI document, and
//! who may not see what.

mod support;

use std::time::{Duration, Instant};

use chrono::{Duration as Span, NaiveDate};
use client_core::model::{NewVisit, Outcome, ProblemStatus, Role};
use client_core::{CustomerId, UserId};
use serde_json::{json, Value};
use support::*;
use tempfile::TempDir;

const PASSWORD: &str = "a long secret";

/// An effective visit (premium collected at the door) a few minutes ago.
fn paid_visit(phone: &Phone) -> NewVisit {
    let now = phone.store.now();
    NewVisit {
        kind: "collection".into(),
        purposes: vec!["premium_collected".into()],
        outcome: Some(Outcome {
            code: "paid".into(),
            amount_cents: Some(680_000),
            date: None,
            detail: None,
        }),
        policies: vec![],
        start: now - Span::minutes(3),
        end: now - Span::minutes(2),
        location: None,
        notes: "Paid at the door.".into(),
    }
}

/// A dashboard client: a session cookie, sent by hand.
struct Browser {
    http: reqwest::Client,
    url: String,
    cookie: String,
}

impl Browser {
    async fn login(url: &str, user: &str, password: &str) -> Result<Browser, (u16, Value)> {
        let http = http();
        let resp = http
            .post(format!("{url}/v1/session"))
            .json(&json!({ "user": user, "password": password }))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let cookie = resp
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string());
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match (status, cookie) {
            (200, Some(c)) => {
                assert!(
                    c.contains("HttpOnly") && c.contains("SameSite=Strict"),
                    "{c}"
                );
                Ok(Browser {
                    http,
                    url: url.to_string(),
                    cookie: c.split(';').next().unwrap().to_string(),
                })
            }
            (s, _) => Err((s, body)),
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A GET with an `Accept-Language` header and, beside the session, a language cookie.
    async fn get_in(
        &self,
        path: &str,
        accept_language: Option<&str>,
        lang_cookie: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(a) = accept_language {
            req = req.header("accept-language", a);
        }
        let cookie = match lang_cookie {
            Some(l) => format!("{}; doorstep_lang={l}", self.cookie),
            None => self.cookie.clone(),
        };
        let resp = req.header("cookie", cookie).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn text(&self, path: &str) -> (u16, String, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ctype, resp.text().await.unwrap())
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post_text(&self, path: &str, body: String) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn put_text(&self, path: &str, body: String) -> (u16, Value) {
        let resp = self
            .http
            .put(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// North (S-01, A-0001, A-0002, the sample policies, and D-01 a department manager) and
/// south (S-02, B-0001 with one customer); S-01, S-02 and D-01 have passwords. Returns north's
/// customer ids and B-0001's.
fn two_teams(dir: &TempDir, data: &std::path::Path) -> (Vec<String>, String) {
    let north = north_team(data);
    admin(
        data,
        &[
            "user",
            "add",
            "--team",
            "north",
            "--user",
            "D-01",
            "--role",
            "department_manager",
        ],
    );
    admin(data, &["team", "create", "south"]);
    for (user, role) in [("S-02", "supervisor"), ("B-0001", "agent")] {
        admin(
            data,
            &[
                "user", "add", "--team", "south", "--user", user, "--role", role,
            ],
        );
    }
    let csv = dir.path().join("south.csv");
    std::fs::write(
        &csv,
        "customer_name,phone,postcode,policy_number,product,premium,due_date,agent\n\
         Ma Li,13000130000,100001,S-1,Term Life 30,1200.00,2026-07-01,B-0001\n",
    )
    .unwrap();
    let south = admin(
        data,
        &["import", "--team", "south", "--csv", csv.to_str().unwrap()],
    );
    for s in ["S-01", "S-02", "D-01"] {
        admin(
            data,
            &["user", "password", "--user", s, "--password", PASSWORD],
        );
    }
    (north, south["customers"][0].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_supervisor_sees_the_team_through_every_view_and_writes_reach_the_phone() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let (north, b1_customer) = two_teams(&dir, &data);
    let a1_token = token_for(&data, "A-0001");
    let s1_token = token_for(&data, "S-01");
    let server = Server::start(&data);
    let url = server.url.clone();

    // The agent's phone: customers down, then a visit, a log and a report with a problem.
    let mut phone = Phone::new("A-0001", Role::Agent, a1_token.clone());
    let http = http();
    phone.sync(&http, &url).await;
    let customer: CustomerId = north[0].parse().unwrap();
    let visit = phone
        .store
        .record_visit(customer, paid_visit(&phone))
        .unwrap();
    let date: NaiveDate = visit.start.date_naive();
    phone
        .store
        .write_log(date, "Visited Li Wei: paid.")
        .unwrap();
    phone
        .store
        .submit_report(
            date,
            "Good day",
            vec![("Zhang's bank refuses the deduction".into(), None)],
        )
        .unwrap();
    phone.sync(&http, &url).await;

    // Login: wrong password, an agent, then the supervisor.
    assert_eq!(
        Browser::login(&url, "S-01", "wrong password")
            .await
            .err()
            .unwrap()
            .0,
        401
    );
    assert_eq!(
        Browser::login(&url, "nobody", PASSWORD)
            .await
            .err()
            .unwrap()
            .0,
        401
    );
    let s1 = Browser::login(&url, "S-01", PASSWORD).await.unwrap();
    let (status, me) = s1.get("/v1/session").await;
    assert_eq!((status, me["team"].as_str()), (200, Some("north")));

    // Today: A-0001 synced with one effective visit, log and report; A-0002 never synced.
    let (status, today) = s1.get(&format!("/v1/views/today?date={date}")).await;
    assert_eq!(status, 200, "{today}");
    let rows = today["agents"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        2,
        "north's two agents, nobody from south: {today}"
    );
    let a1 = rows.iter().find(|r| r["agent"] == "A-0001").unwrap();
    // Synced today, during the day: what was done after the sync is not known yet.
    assert_eq!(a1["freshness"], "partial");
    assert!(a1["last_sync"].is_string(), "{a1}");
    assert_eq!(a1["today"]["effective_visits"]["actual"], 1);
    assert_eq!(a1["today"]["effective_visits"]["target"], 3);
    assert_eq!(a1["today"]["work_log"], true);
    assert_eq!(a1["today"]["evening_report"], true);
    let a2 = rows.iter().find(|r| r["agent"] == "A-0002").unwrap();
    assert_eq!(a2["freshness"], "never");
    // Who has not synced comes first; the team total adds the rows up.
    assert_eq!(rows[0]["agent"], "A-0002", "{today}");
    let total = &today["total"];
    assert_eq!(
        (total["agents"].as_u64(), total["synced"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        total["effective_visits"],
        json!({ "actual": 1, "target": 6 })
    );
    assert_eq!(
        (
            total["work_logs"].as_u64(),
            total["evening_reports"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(a1["done_pct"].as_f64().unwrap() > a2["done_pct"].as_f64().unwrap());

    // The playbook's vocabulary for the dashboard's forms: the phone library's answer.
    let (status, voc) = s1.get("/v1/team/playbook/vocabulary?lang=en").await;
    assert_eq!(status, 200, "{voc}");
    assert_eq!(
        (voc["playbook"].as_str(), voc["language"].as_str()),
        (Some("insurance"), Some("en"))
    );
    let paid = voc["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["code"] == "paid")
        .unwrap();
    // English asked, English labels (the playbook's `label_en`), as docs/api.md says.
    assert_eq!(
        (paid["requires_amount"].as_bool(), paid["label"].as_str()),
        (Some(true), Some("Paid"))
    );
    assert_eq!(voc["visit_kinds"][0]["code"], "collection");
    // Chinese, the playbook's primary labels, when asked for.
    let (_, zh) = s1.get("/v1/team/playbook/vocabulary?lang=zh").await;
    assert_eq!(zh["visit_kinds"][0]["label"], "收费访", "{zh}");
    let (status, bad) = s1.get("/v1/team/playbook/vocabulary?lang=fr").await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("invalid")),
        "{bad}"
    );

    // Week and month: every agent's targets, the ratios and a trend of weeks.
    for period in ["week", "month"] {
        let (status, v) = s1.get(&format!("/v1/views/{period}?date={date}")).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["agents"].as_array().unwrap().len(), 2);
        assert_eq!(v["ratios"]["agents"], 2);
        let active = v["ratios"]["ratios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["measure"] == "active")
            .unwrap();
        assert_eq!(active["agents"], json!(["A-0001"]), "{period}: {active}");
        let points = v["trend"].as_array().unwrap().len();
        match period {
            "week" => assert!(points >= 5, "{period}: {points}"),
            _ => assert_eq!(points, 2, "{period}: one point per month"),
        }
    }

    // Pipeline on a June day of the sample policies: June's policies are due, one difficult.
    let (status, p) = s1.get("/v1/views/pipeline?date=2026-06-10").await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["calendar"], "monthly");
    let due = p["months"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["phase"] == "due")
        .unwrap();
    assert!(due["total"].as_u64().unwrap() >= 2, "{due}");
    assert!(due["target"]["target"].as_f64().is_some(), "{due}");
    assert!(
        ["met", "missed"].contains(&due["target"]["standing"].as_str().unwrap()),
        "{due}"
    );
    // Issue 13, item 7: a month with no policy has no rate (null, "n/a"), never 0% missed:
    // the same client-core rule as the agent's week on the phone. In October none of the
    // sample policies is due: this month's pool is empty, and it has its every-week target.
    let (_, october) = s1.get("/v1/views/pipeline?date=2026-10-10").await;
    let empty: Vec<&Value> = october["months"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["total"] == 0)
        .collect();
    assert!(
        empty
            .iter()
            .any(|m| m["phase"] == "due" && !m["target"].is_null()),
        "{october}"
    );
    for m in empty {
        assert!(m["rate_pct"].is_null(), "{m}");
        if !m["target"].is_null() {
            assert_eq!(
                (
                    m["target"]["standing"].as_str(),
                    m["target"]["met"].as_bool()
                ),
                (Some("n/a"), Some(false)),
                "{m}"
            );
        }
    }
    let difficult = p["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["status"] == "difficult")
        .unwrap();
    assert!(difficult["policies"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["number"] == "P-2020-002231"));

    // The agent's day: the visit in the timeline; a comment goes to the phone.
    let (status, day) = s1.get(&format!("/v1/agents/A-0001/day?date={date}")).await;
    assert_eq!(status, 200, "{day}");
    assert_eq!(day["timeline"][0]["id"], visit.id.to_string());
    assert_eq!(day["timeline"][0]["effective"], true);
    assert_eq!(day["day"]["log"]["text"], "Visited Li Wei: paid.");
    let (status, c) = s1
        .post(
            &format!("/v1/visits/{}/comments", visit.id),
            json!({ "text": "Well done — ask for a referral next time." }),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        (c["author"].as_str(), c["role"].as_str()),
        (Some("S-01"), Some("supervisor"))
    );

    // Problems: the open problem, with its chain; S-01 answers and closes it.
    let (status, probs) = s1.get("/v1/views/problems").await;
    assert_eq!(status, 200, "{probs}");
    let row = &probs["problems"][0];
    assert_eq!(row["can_act"], true);
    assert_eq!(row["chain"][0]["state"], "waiting");
    let pid = row["problem"]["id"].as_str().unwrap().to_string();
    let (status, answered) = s1
        .post(
            &format!("/v1/problems/{pid}/answer"),
            json!({ "text": "Call the bank with the customer tomorrow.", "action": "resolve" }),
        )
        .await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["status"], "resolved");

    // Both reach the agent's phone at its next sync, under the supervisor's name.
    phone.sync(&http, &url).await;
    let view = phone.store.customer_view(customer).unwrap();
    let comment = view
        .comments
        .iter()
        .find(|c| c.visit == visit.id)
        .expect("the comment reached the phone");
    assert_eq!(comment.author.as_str(), "S-01");
    let problems = phone.store.problems(None).unwrap();
    assert_eq!(problems[0].problem.status, ProblemStatus::Resolved);
    assert_eq!(problems[0].problem.answers[0].author.as_str(), "S-01");

    // The supervisor's desk wrote from copies of those two documents only, not the whole
    // team's (a desk that pulled every document stalled on a large team).
    assert!(
        north.len() > 2,
        "north has more customers than the desk needs"
    );
    let desk = client_core::Store::open(
        data.join("desks").join("S-01.db"),
        client_core::Options::default(),
    )
    .unwrap();
    let mut held: Vec<String> = desk
        .doc_ids()
        .unwrap()
        .iter()
        .map(|d| d.to_string())
        .collect();
    held.sort();
    let mut written = vec![
        client_core::DocId::Customer(customer).to_string(),
        client_core::DocId::Day("A-0001".parse().unwrap(), date).to_string(),
    ];
    written.sort();
    assert_eq!(held, written);
    drop(desk);

    // The customer: card, visits, comments and the history naming who changed what.
    let (status, cust) = s1.get(&format!("/v1/customers/{customer}")).await;
    assert_eq!(status, 200);
    let users: Vec<&str> = cust["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["user"].as_str())
        .collect();
    assert!(
        users.contains(&"A-0001") && users.contains(&"S-01"),
        "{users:?}"
    );

    // Spot check: 30% of two agents is one agent, with their records of the week.
    let (status, spot) = s1.get(&format!("/v1/views/spot-check?date={date}")).await;
    assert_eq!(status, 200, "{spot}");
    assert_eq!(spot["agents"].as_array().unwrap().len(), 1);
    let (_, again) = s1.get(&format!("/v1/views/spot-check?date={date}")).await;
    assert_eq!(
        spot["agents"][0]["agent"], again["agents"][0]["agent"],
        "same draw all week"
    );

    // CSV exports: UTF-8 with the byte-order mark Excel needs, names beside ids, yuan beside
    // cents; `bom=false` leaves the mark out.
    let (status, ctype, csv) = s1
        .text(&format!("/v1/exports/visits.csv?from={date}&to={date}"))
        .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    assert!(
        csv.starts_with("\u{feff}id,agent,agent_name,customer,customer_name,kind"),
        "{csv}"
    );
    assert!(csv.contains(&visit.id.to_string()) && csv.contains("premium_collected"));
    let (_, detail) = s1.get(&format!("/v1/customers/{customer}")).await;
    let row = csv.lines().nth(1).unwrap();
    assert!(
        row.contains(&format!(
            ",{customer},{},",
            detail["customer"]["name"].as_str().unwrap()
        )) && row.contains(",680000,6800.00,"),
        "{row}"
    );
    assert_eq!(csv.lines().count(), 2);
    let (_, _, plain) = s1
        .text(&format!(
            "/v1/exports/visits.csv?from={date}&to={date}&bom=false"
        ))
        .await;
    assert!(plain.starts_with("id,agent,"), "{plain}");
    let (status, _, csv) = s1.text("/v1/exports/contacts.csv").await;
    assert_eq!((status, csv.lines().count()), (200, 1), "{csv}");
    assert!(
        csv.starts_with("\u{feff}id,agent,agent_name,customer,customer_name"),
        "{csv}"
    );
    let (status, _, csv) = s1.text("/v1/exports/pipeline.csv?date=2026-06-10").await;
    assert_eq!(status, 200);
    assert!(
        csv.contains("difficult,") && csv.contains("P-2020-002231"),
        "{csv}"
    );
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains(",agent,agent_name,due_date,premium_cents,premium_yuan,"),
        "{csv}"
    );
    let (status, _, _) = s1
        .text("/v1/exports/visits.csv?from=2026-07-01&to=2026-06-01")
        .await;
    assert_eq!(status, 400);

    // The supervisor's device token opens the same views; an agent's token does not.
    let (status, _) = get(&http, &url, &s1_token, "/v1/views/today").await;
    assert_eq!(status, 200);
    for path in [
        "/v1/views/today".to_string(),
        "/v1/views/week".into(),
        "/v1/views/problems".into(),
        "/v1/agents/A-0002/day".into(),
        "/v1/exports/visits.csv".into(),
        "/v1/events".into(),
    ] {
        let (status, body) = get(&http, &url, &a1_token, &path).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    let (status, _) = get(&http, &url, "not-a-token", "/v1/views/today").await;
    assert_eq!(status, 401);
    let (status, _) = http
        .get(format!("{url}/v1/views/today"))
        .header("cookie", "doorstep_session=forged")
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401);

    // Team B's supervisor reaches nothing of team A, and the reverse.
    let s2 = Browser::login(&url, "S-02", PASSWORD).await.unwrap();
    for path in [
        format!("/v1/customers/{customer}"),
        format!("/v1/agents/A-0001/day?date={date}"),
        format!("/v1/agents/A-0001/visits?date={date}"),
    ] {
        let (status, body) = s2.get(&path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = s2
        .post(
            &format!("/v1/visits/{}/comments", visit.id),
            json!({ "text": "not mine" }),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = s2
        .post(
            &format!("/v1/problems/{pid}/answer"),
            json!({ "text": "not mine", "action": "note" }),
        )
        .await;
    assert_eq!(status, 404);
    let (_, south_today) = s2.get(&format!("/v1/views/today?date={date}")).await;
    assert_eq!(south_today["agents"][0]["agent"], "B-0001");
    assert_eq!(south_today["agents"].as_array().unwrap().len(), 1);
    let (status, _) = s1.get(&format!("/v1/customers/{b1_customer}")).await;
    assert_eq!(status, 404);

    // Logging out ends the session.
    let resp = s1
        .http
        .delete(format!("{url}/v1/session"))
        .header("cookie", &s1.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(s1.get("/v1/session").await.0, 401);

    // Nothing secret in the data directory or the log.
    assert!(!server.log_text().contains(PASSWORD));
    let db = std::fs::read(data.join("server.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(PASSWORD));
}

#[tokio::test]
async fn a_login_link_works_once_and_only_for_managers() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    two_teams(&dir, &data);
    let server = Server::start(&data);
    let link = admin(
        &data,
        &["login-link", "--user", "S-01", "--base-url", &server.url],
    )["url"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, refused) = admin_run(&data, &["login-link", "--user", "A-0001"]);
    assert_eq!(
        (code, refused["error"]["code"].as_str()),
        (2, Some("invalid"))
    );

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects.get(&link).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let me: Value = http()
        .get(format!("{}/v1/session", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"], "S-01");
    // A second use is refused: a script gets the JSON error, a person a page in words.
    let again = no_redirects.get(&link).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 401);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["error"]["code"], "unauthorized", "{again}");
    let page = no_redirects
        .get(&link)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 401);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("此登录链接已失效") && !page.contains("\"error\""),
        "{page}"
    );
    // A path that is not there: the same not-found page for a person, JSON for the API.
    let html = |path: &'static str, lang: &'static str| {
        let url = format!("{}{path}", server.url);
        async move {
            let r = http()
                .get(url)
                .header("accept", "text/html")
                .header("accept-language", lang)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = html("/no/such/page", "en").await;
    assert_eq!(status, 404);
    assert!(
        body.contains("id=\"not-found\"") && body.contains("Not found"),
        "{body}"
    );
    let (status, body) = html("/v1/no-such-endpoint", "en").await;
    assert_eq!(status, 404);
    assert!(
        body.contains("\"not_found\""),
        "the API answers JSON: {body}"
    );
    let plain = http()
        .get(format!("{}/no/such/page", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status().as_u16(), 404);
    assert!(plain.text().await.unwrap().contains("\"not_found\""));
    // The dashboard page itself is served by the same server.
    let page = http().get(&server.url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("/app.js"));
}

#[tokio::test]
async fn a_sync_that_lands_reaches_an_open_event_stream_within_two_seconds() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let (north, _) = two_teams(&dir, &data);
    let a1_token = token_for(&data, "A-0001");
    let b1_token = token_for(&data, "B-0001");
    let server = Server::start(&data);
    let url = server.url.clone();
    let http = http();
    let mut phone = Phone::new("A-0001", Role::Agent, a1_token);
    phone.sync(&http, &url).await;
    let s1 = Browser::login(&url, "S-01", PASSWORD).await.unwrap();
    let s2 = Browser::login(&url, "S-02", PASSWORD).await.unwrap();
    let open = |b: &Browser| {
        b.http
            .get(format!("{url}/v1/events"))
            .header("cookie", &b.cookie)
            .send()
    };
    let mut north_events = open(&s1).await.unwrap();
    let mut south_events = open(&s2).await.unwrap();
    assert_eq!(
        north_events.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let first = north_events.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: ready"));
    south_events.chunk().await.unwrap().unwrap();

    // A sync without changes tells nobody.
    phone.sync(&http, &url).await;
    let quiet = tokio::time::timeout(Duration::from_millis(300), north_events.chunk()).await;
    assert!(quiet.is_err(), "no event for a sync that changed nothing");

    let customer: CustomerId = north[0].parse().unwrap();
    phone
        .store
        .record_visit(customer, paid_visit(&phone))
        .unwrap();
    let synced = Instant::now();
    phone.sync(&http, &url).await;
    let chunk = tokio::time::timeout(Duration::from_secs(2), north_events.chunk())
        .await
        .expect("a change event within 2 s of the sync")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&chunk).to_string();
    assert!(
        text.contains("event: change") && text.contains("north"),
        "{text}"
    );
    eprintln!("change event {:?} after the sync began", synced.elapsed());
    // Team south heard nothing.
    let south = tokio::time::timeout(Duration::from_millis(300), south_events.chunk()).await;
    assert!(south.is_err(), "south's dashboard is not told about north");
    // A south agent's token cannot listen at all.
    let (status, _) = get(&http, &url, &b1_token, "/v1/events").await;
    assert_eq!(status, 403);

    // The server still stops promptly with streams open.
    let stopping = Instant::now();
    let status = server.terminate();
    assert!(status.success());
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
}

#[tokio::test]
async fn the_playbook_in_force_changes_what_the_views_count() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    two_teams(&dir, &data);
    let server = Server::start(&data);
    let s1 = Browser::login(&server.url, "S-01", PASSWORD).await.unwrap();
    let playbooks = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/playbooks");
    let (_, built_in) = s1.get("/v1/team/playbook").await;
    assert_eq!(built_in["name"], "insurance");
    let (_, today) = s1.get("/v1/views/today?date=2026-06-10").await;
    assert_eq!(today["agents"][0]["today"]["effective_visits"]["target"], 3);

    let car = std::fs::read_to_string(format!("{playbooks}/car-insurance.toml")).unwrap();
    // A supervisor previews it (in the asked language) but may not put it in force for the
    // whole team: that is a department manager's decision.
    let (status, preview) = s1
        .post_text("/v1/team/playbook/preview?lang=en", car.clone())
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        (preview["name"].as_str(), preview["title"].as_str()),
        (Some("car-insurance"), Some("Car-insurance renewal desk"))
    );
    assert_eq!(preview["may_apply"], false);
    assert_eq!(preview["daily"]["calls"], 40);
    assert_eq!(preview["labels"]["outcomes"]["renewed"], "Renewed");
    assert!(preview["targets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["label"] == "25 renewals per ten days" && t["unit"] == "count"));
    let (status, refused) = s1.put_text("/v1/team/playbook", car.clone()).await;
    assert_eq!(status, 403, "{refused}");
    let (_, still) = s1.get("/v1/team/playbook").await;
    assert_eq!(
        still["name"], "insurance",
        "nothing applied by a preview or a refusal"
    );
    let d1 = Browser::login(&server.url, "D-01", PASSWORD).await.unwrap();
    let (_, preview) = d1.post_text("/v1/team/playbook/preview", car.clone()).await;
    assert_eq!(preview["may_apply"], true);
    assert_eq!(preview["title"], "车险续保");
    let (status, p) = d1.put_text("/v1/team/playbook", car).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["name"], "car-insurance");
    let (_, today) = s1.get("/v1/views/today?date=2026-06-10").await;
    assert_eq!(today["playbook"]["name"], "car-insurance");
    assert_eq!(today["agents"][0]["today"]["effective_visits"]["target"], 2);
    assert_eq!(today["agents"][0]["today"]["calls"]["target"], 40);
    let (_, pipe) = s1.get("/v1/views/pipeline?date=2026-06-10").await;
    assert_eq!(pipe["calendar"], "cadence");
    assert_eq!(pipe["months"].as_array().unwrap().len(), 1);

    // The admin command does the same for the home-improvement team's file.
    admin(
        &data,
        &[
            "playbook",
            "--team",
            "north",
            "--file",
            &format!("{playbooks}/home-improvement.toml"),
        ],
    );
    let (_, today) = s1.get("/v1/views/today?date=2026-06-10").await;
    assert_eq!(today["agents"][0]["today"]["effective_visits"]["target"], 8);
    let (_, pipe) = s1.get("/v1/views/pipeline?date=2026-06-10").await;
    assert_eq!(pipe["calendar"], "none");
    assert!(pipe["months"].as_array().unwrap().is_empty());

    // A broken file is refused with the reason, in the preview and when put in force, and
    // the playbook in force stays.
    let broken = "name = \"x\"\nnot_a_field = 1\n".to_string();
    let (status, err) = s1
        .post_text("/v1/team/playbook/preview", broken.clone())
        .await;
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not_a_field"),
        "{err}"
    );
    let (status, err) = d1.put_text("/v1/team/playbook", broken).await;
    assert_eq!(status, 400, "{err}");
    let (_, still) = s1.get("/v1/team/playbook").await;
    assert_eq!(still["name"], "home-improvement");
    // Another team's playbook is untouched.
    let s2 = Browser::login(&server.url, "S-02", PASSWORD).await.unwrap();
    let (_, south) = s2.get("/v1/team/playbook").await;
    assert_eq!(south["name"], "insurance");
}

/// The views, the playbook and the page come in the asked language (`?lang=`, else the
/// `doorstep_lang` cookie, else `Accept-Language`, else Chinese), with the same numbers; the
/// month view has its own ratios and a trend of months, not the week's.
#[tokio::test]
async fn labels_come_in_the_asked_language_and_the_month_is_its_own() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    two_teams(&dir, &data);
    let server = Server::start(&data);
    let s1 = Browser::login(&server.url, "S-01", PASSWORD).await.unwrap();
    let week = "/v1/views/week?date=2026-06-10";
    let ratio = |v: &Value, measure: &str| {
        v["ratios"]["ratios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["measure"] == measure)
            .unwrap()["label"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (status, zh) = s1.get(week).await;
    assert_eq!(status, 200, "{zh}");
    assert_eq!(ratio(&zh, "healthy"), "健康人力占比");
    assert_eq!(zh["playbook"]["title"], "人寿保险续期收费");
    let (_, en) = s1.get(&format!("{week}&lang=en")).await;
    assert_eq!(ratio(&en, "healthy"), "Healthy agents");
    assert_eq!(en["playbook"]["title"], "Life-insurance renewal collection");
    let shares = |v: &Value| {
        v["ratios"]["ratios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["actual_pct"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        shares(&zh),
        shares(&en),
        "the same numbers in both languages"
    );
    let (_, v) = s1.get_in(week, Some("en-US,en;q=0.9,zh;q=0.5"), None).await;
    assert_eq!(ratio(&v, "healthy"), "Healthy agents", "Accept-Language");
    let (_, v) = s1.get_in(week, Some("en-US,en;q=0.9"), Some("zh-CN")).await;
    assert_eq!(
        ratio(&v, "healthy"),
        "健康人力占比",
        "the member's choice wins"
    );
    let (_, v) = s1
        .get_in(&format!("{week}&lang=en"), None, Some("zh-CN"))
        .await;
    assert_eq!(ratio(&v, "healthy"), "Healthy agents", "?lang= wins");

    // The grid's columns: the week's targets with their units, in each agent's order.
    let columns = zh["columns"].as_array().unwrap();
    let units: Vec<&str> = columns
        .iter()
        .map(|c| c["unit"].as_str().unwrap())
        .collect();
    assert!(
        units.contains(&"count") && units.contains(&"percent"),
        "{units:?}"
    );
    let labels: Vec<&Value> = columns.iter().map(|c| &c["label"]).collect();
    let first: Vec<&Value> = zh["agents"][0]["progress"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["label"])
        .collect();
    assert_eq!(labels, first);
    assert!(
        en["columns"][0]["label"].as_str().unwrap().is_ascii(),
        "{}",
        en["columns"]
    );

    // The month: its own ratios (as of the day asked about) and one trend point per month.
    let (status, month) = s1.get("/v1/views/month?date=2026-06-10").await;
    assert_eq!(status, 200, "{month}");
    let froms: Vec<&str> = month["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["from"].as_str().unwrap())
        .collect();
    assert_eq!(froms, ["2026-05-01", "2026-06-01"]);
    assert_eq!(month["trend"][1]["to"], "2026-06-10");
    assert_eq!(month["trend"][0]["to"], "2026-05-31");
    assert_ne!(month["trend"], zh["trend"]);
    let month_targets: Vec<&Value> = month["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["label"])
        .collect();
    assert!(
        month_targets.iter().any(|l| *l == "难收客户电联80次"),
        "{month_targets:?}"
    );

    // The playbook's labels and the pipeline's months.
    let (_, pb) = s1.get("/v1/team/playbook?lang=en").await;
    assert_eq!(pb["lang"], "en");
    assert_eq!(
        pb["labels"]["visit_kinds"]["collection"],
        "Collection visit"
    );
    assert_eq!(pb["labels"]["outcomes"]["paid"], "Paid");
    let (_, pb) = s1.get("/v1/team/playbook").await;
    assert_eq!(pb["labels"]["visit_kinds"]["collection"], "收费访");
    let due = |v: &Value| {
        v["months"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["phase"] == "due")
            .unwrap()["label"]
            .clone()
    };
    let (_, p) = s1.get("/v1/views/pipeline?date=2026-06-10&lang=en").await;
    assert_eq!(due(&p), "Due month");
    let (_, p) = s1.get("/v1/views/pipeline?date=2026-06-10").await;
    assert_eq!(due(&p), "本月");

    // Today: a past day's missing report is missed; a day ahead's is still pending.
    let (_, past) = s1.get("/v1/views/today?date=2026-06-10").await;
    assert_eq!(
        (
            past["evening_pending"].as_bool(),
            past["evening_deadline"].as_str()
        ),
        (Some(false), Some("21:00"))
    );
    let ahead = (chrono::Local::now().date_naive() + Span::days(2)).to_string();
    let (_, next) = s1.get(&format!("/v1/views/today?date={ahead}")).await;
    assert_eq!(next["evening_pending"], true);

    // The page itself: its language and its words.
    let http = http();
    let page = |accept: &'static str| {
        let http = http.clone();
        let url = server.url.clone();
        async move {
            let resp = http
                .get(format!("{url}/"))
                .header("accept-language", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.headers()["content-language"],
                if accept.starts_with("en") {
                    "en"
                } else {
                    "zh-CN"
                }
            );
            resp.text().await.unwrap()
        }
    };
    let en_page = page("en-GB,en;q=0.8").await;
    assert!(
        en_page.contains("<html lang=\"en\">")
            && en_page.contains("\"nav.pipeline\": \"Renewal pipeline\"")
    );
    let zh_page = page("zh-CN,zh;q=0.9").await;
    assert!(
        zh_page.contains("<html lang=\"zh-CN\">")
            && zh_page.contains("\"nav.pipeline\": \"续期进度\"")
    );
    assert!(
        !zh_page.contains("http://") && !zh_page.contains("https://"),
        "no other host"
    );
}

/// The spot check flags a visit recorded far from the customer's known location, and keeps a
/// manager's "checked" mark with its note for the week (with the
/// whole team drawn, so that the agent is in it whatever the week).
#[tokio::test]
async fn the_spot_check_flags_far_visits_and_keeps_the_managers_marks() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let (north, _) = two_teams(&dir, &data);
    let a1_token = token_for(&data, "A-0001");
    let server = Server::start(&data);
    let url = server.url.clone();
    let s1 = Browser::login(&url, "S-01", PASSWORD).await.unwrap();
    let d1 = Browser::login(&url, "D-01", PASSWORD).await.unwrap();
    let everyone = include_str!("../../docs/playbooks/insurance.toml")
        .replace("spot_check_pct = 30 ", "spot_check_pct = 100");
    assert_eq!(d1.put_text("/v1/team/playbook", everyone).await.0, 200);

    let mut phone = Phone::new("A-0001", Role::Agent, a1_token);
    let http = http();
    phone.sync(&http, &url).await;
    let customer: CustomerId = north[0].parse().unwrap();
    let home = client_core::model::GeoPoint {
        lat: 31.2304,
        lon: 121.4737,
    };
    phone
        .store
        .edit_customer(
            customer,
            client_core::model::CustomerPatch {
                location: Some(Some(home)),
                ..Default::default()
            },
        )
        .unwrap();
    let template = paid_visit(&phone);
    let at = |lat: f64| NewVisit {
        location: Some(client_core::model::GeoPoint { lat, lon: home.lon }),
        ..template.clone()
    };
    let near = phone.store.record_visit(customer, at(31.2310)).unwrap();
    let mut far = at(31.3304);
    far.start = near.start - Span::minutes(30);
    far.end = near.start - Span::minutes(20);
    let far = phone.store.record_visit(customer, far).unwrap();
    phone.sync(&http, &url).await;

    let date = near.start.date_naive();
    let (status, spot) = s1.get(&format!("/v1/views/spot-check?date={date}")).await;
    assert_eq!(status, 200, "{spot}");
    assert_eq!(spot["far_from_m"], 1000.0);
    let a1 = spot["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "A-0001")
        .expect("everyone is drawn");
    let flagged = a1["far"].as_array().unwrap();
    assert_eq!(flagged.len(), 1, "{a1}");
    assert_eq!(flagged[0]["visit"], far.id.to_string());
    let m = flagged[0]["distance_m"].as_f64().unwrap();
    assert!((m - 11_120.0).abs() < 50.0, "{m}");
    assert_eq!(
        spot["customer_names"][customer.to_string()],
        s1.get(&format!("/v1/customers/{customer}")).await.1["customer"]["name"]
    );
    assert_eq!(a1["checked"], Value::Null);

    // The supervisor marks the week checked, with a note; the view shows who, when and what.
    let mark = format!("/v1/agents/A-0001/spot-check?date={date}");
    let (status, m) = s1
        .post(&mark, json!({ "note": "核对了远距离的拜访" }))
        .await;
    assert_eq!(status, 200, "{m}");
    let (_, spot) = s1.get(&format!("/v1/views/spot-check?date={date}")).await;
    let a1 = spot["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "A-0001")
        .unwrap();
    assert_eq!(a1["checked"]["by"], "S-01");
    assert_eq!(a1["checked"]["note"], "核对了远距离的拜访");
    // Marking again replaces the note; another day of the same week is the same week.
    let (status, _) = d1
        .post(
            &format!("/v1/agents/A-0001/spot-check?date={date}"),
            json!({ "note": "again" }),
        )
        .await;
    assert_eq!(status, 200);
    let (_, spot) = s1.get(&format!("/v1/views/spot-check?date={date}")).await;
    let checked: Vec<&Value> = spot["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["checked"].as_object().map(|_| &a["checked"]))
        .collect();
    assert_eq!(checked.len(), 1, "{spot}");
    assert_eq!(
        (checked[0]["by"].as_str(), checked[0]["note"].as_str()),
        (Some("D-01"), Some("again"))
    );
    // Not a manager's, not another team's, not a manager to be checked.
    let s2 = Browser::login(&url, "S-02", PASSWORD).await.unwrap();
    let (status, body) = s2.post(&mark, json!({ "note": "x" })).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = s1
        .post("/v1/agents/D-01/spot-check", json!({ "note": "x" }))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = s1.post(&mark, json!({ "note": "长".repeat(2001) })).await;
    assert_eq!(status, 400, "{body}");
    let a1_token = token_for(&data, "A-0001");
    let resp = http
        .post(format!("{url}{mark}"))
        .bearer_auth(a1_token)
        .json(&json!({ "note": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
}

/// Every `/v1` route the server registers is in `/openapi.json`, and every path there answers
/// (something other than the "no such path" fallback).
#[tokio::test]
async fn the_openapi_document_lists_every_v1_route() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    two_teams(&dir, &data);
    let s1_token = token_for(&data, "S-01");
    let server = Server::start(&data);
    let http = http();
    let doc: Value = http
        .get(format!("{}/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();

    // The routes in the source: every `path = "…"` of a `#[utoipa::path]`, and no plain
    // `.route("/…")` registering a /v1 path beside them.
    let http_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut declared = vec![];
    for entry in std::fs::read_dir(http_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for part in text.split("path = \"").skip(1) {
            declared.push(format!("/v1{}", part.split('"').next().unwrap()));
        }
        for part in text.split(".route(\"").skip(1) {
            let route = part.split('"').next().unwrap();
            assert!(
                !route.starts_with("/v1")
                    && !["/sync", "/team", "/views", "/customers", "/agents"]
                        .iter()
                        .any(|p| route.starts_with(p)),
                "{}: {route} is registered without utoipa",
                path.display()
            );
        }
    }
    assert!(declared.len() >= 20, "{declared:?}");
    for d in &declared {
        assert!(paths.contains_key(d), "{d} is missing from /openapi.json");
    }
    let user: UserId = "A-0001".parse().unwrap();
    for (path, item) in paths {
        assert!(path.starts_with("/v1/"), "{path}");
        let concrete = path
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{user}", user.as_str());
        for method in item.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = http
                .request(m, format!("{}{concrete}", server.url))
                .bearer_auth(&s1_token)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .unwrap();
            if path == "/v1/events" {
                assert_eq!(resp.status().as_u16(), 200);
                continue;
            }
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let fallback = status == 404 && body["error"]["message"] == "unknown path requested";
            assert!(!fallback, "{method} {path}: not routed");
        }
    }
}
