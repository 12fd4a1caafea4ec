//! The authorisation matrix over a real server: every read endpoint × role (agent,
//! supervisor) × own or foreign team × own or foreign customer, each with its expected status
//! (`404` for what is outside the caller's reach, `403` for what the role may not use), and
//! what each device's sync brings down.

mod support;

use client_core::model::Role;
use std::collections::BTreeSet;
use support::*;
use tempfile::TempDir;

#[tokio::test]
async fn every_read_endpoint_by_role_team_and_owner() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let north = north_team(&data);
    admin(&data, &["team", "create", "south"]);
    for (user, role) in [("S-02", "supervisor"), ("B-0001", "agent")] {
        admin(
            &data,
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
        &data,
        &["import", "--team", "south", "--csv", csv.to_str().unwrap()],
    );
    let b1_customer = south["customers"][0].as_str().unwrap().to_string();
    let (a1_customer, a2_customer) = (north[0].clone(), north[4].clone());
    let tokens: Vec<(&str, String)> = ["A-0001", "A-0002", "S-01", "B-0001", "S-02"]
        .into_iter()
        .map(|u| (u, token_for(&data, u)))
        .collect();
    let token = |u: &str| tokens.iter().find(|(x, _)| *x == u).unwrap().1.clone();
    let server = Server::start(&data);
    let http = http();

    let c = |id: &str| format!("/v1/customers/{id}");
    let v = |u: &str| format!("/v1/agents/{u}/visits?date=2026-06-15");
    let unknown = "/v1/customers/7f0c1a43-52a0-4d33-9a8e-0a0b1c2d3e4f".to_string();
    let matrix: Vec<(&str, String, u16)> = vec![
        // agent: own customer, a colleague's, another team's
        ("A-0001", c(&a1_customer), 200),
        ("A-0001", c(&a2_customer), 404),
        ("A-0001", c(&b1_customer), 404),
        ("A-0002", c(&a1_customer), 404),
        ("B-0001", c(&b1_customer), 200),
        ("B-0001", c(&a1_customer), 404),
        // supervisor: own team's customers, another team's
        ("S-01", c(&a1_customer), 200),
        ("S-01", c(&a2_customer), 200),
        ("S-01", c(&b1_customer), 404),
        ("S-02", c(&b1_customer), 200),
        ("S-02", c(&a1_customer), 404),
        ("S-01", unknown, 404),
        ("S-01", "/v1/customers/not-a-uuid".into(), 404),
        // visits: own, a colleague's (role-forbidden), another team's, nobody
        ("A-0001", v("A-0001"), 200),
        ("A-0001", v("A-0002"), 403),
        ("A-0001", v("B-0001"), 404),
        ("A-0001", v("NOBODY"), 404),
        ("S-01", v("A-0002"), 200),
        ("S-01", v("B-0001"), 404),
        ("S-02", v("B-0001"), 200),
        ("S-02", v("A-0001"), 404),
        (
            "S-01",
            "/v1/agents/A-0001/visits?date=15-06-2026".into(),
            400,
        ),
        // the team's day: managers only
        ("A-0001", "/v1/team/today?date=2026-06-15".into(), 403),
        ("B-0001", "/v1/team/today".into(), 403),
        ("S-01", "/v1/team/today?date=2026-06-15".into(), 200),
        ("S-02", "/v1/team/today?date=2026-06-15".into(), 200),
        // the team list: everyone, their own team
        ("A-0001", "/v1/team/members".into(), 200),
        ("S-02", "/v1/team/members".into(), 200),
    ];
    let mut failures = vec![];
    for (user, path, expected) in &matrix {
        let (status, body) = get(&http, &server.url, &token(user), path).await;
        if status != *expected {
            failures.push(format!(
                "{user} GET {path}: {status}, expected {expected}: {body}"
            ));
        }
        if status >= 400 && body["error"]["code"].as_str().is_none() {
            failures.push(format!("{user} GET {path}: no JSON error body: {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let (_, members) = get(&http, &server.url, &token("S-01"), "/v1/team/members").await;
    let names: BTreeSet<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["A-0001", "A-0002", "S-01"]));
    let (_, today) = get(
        &http,
        &server.url,
        &token("S-02"),
        "/v1/team/today?date=2026-06-15",
    )
    .await;
    assert_eq!(
        today.as_array().unwrap().len(),
        1,
        "south has one agent: {today}"
    );

    // Sync brings each device exactly what it may hold.
    for (user, role, count) in [
        ("A-0001", Role::Agent, 4),
        ("A-0002", Role::Agent, 4),
        ("S-01", Role::Supervisor, 8),
        ("B-0001", Role::Agent, 1),
        ("S-02", Role::Supervisor, 1),
    ] {
        let mut phone = Phone::new(user, role, token(user));
        phone.sync(&http, &server.url).await;
        let held = phone.store.customers().unwrap();
        assert_eq!(held.len(), count, "{user}");
        if role == Role::Agent {
            assert!(held
                .iter()
                .all(|c| c.agent.as_ref().unwrap().as_str() == user));
        }
    }
}

/// Reassigning a customer from the dashboard (`POST /v1/customers/{id}/assign`): who may, whom
/// to, and what the agents' reach is afterwards.
#[tokio::test]
async fn reassigning_a_customer_by_role_team_and_target() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let north = north_team(&data);
    admin(&data, &["team", "create", "south"]);
    for (user, role) in [("S-02", "supervisor"), ("B-0001", "agent")] {
        admin(
            &data,
            &[
                "user", "add", "--team", "south", "--user", user, "--role", role,
            ],
        );
    }
    let tokens: Vec<(&str, String)> = ["A-0001", "A-0002", "S-01", "S-02"]
        .into_iter()
        .map(|u| (u, token_for(&data, u)))
        .collect();
    let token = |u: &str| tokens.iter().find(|(x, _)| *x == u).unwrap().1.clone();
    let server = Server::start(&data);
    let http = http();
    let customer = north[0].clone();
    let assign = |user: &'static str, id: String, agent: &'static str| {
        let http = http.clone();
        let url = server.url.clone();
        let token = token(user);
        async move {
            let resp = http
                .post(format!("{url}/v1/customers/{id}/assign"))
                .bearer_auth(token)
                .json(&serde_json::json!({ "agent": agent }))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            (status, body)
        }
    };
    let cases: Vec<(&str, String, &str, u16)> = vec![
        // an agent may not hand customers around, not even their own
        ("A-0001", customer.clone(), "A-0002", 403),
        // another team's supervisor does not see the customer
        ("S-02", customer.clone(), "B-0001", 404),
        // not to another team's agent, nor to nobody, nor to a manager
        ("S-01", customer.clone(), "B-0001", 404),
        ("S-01", customer.clone(), "NOBODY", 404),
        ("S-01", customer.clone(), "S-01", 400),
        // no such customer
        (
            "S-01",
            "7f0c1a43-52a0-4d33-9a8e-0a0b1c2d3e4f".into(),
            "A-0002",
            404,
        ),
        ("S-01", "not-a-uuid".into(), "A-0002", 404),
    ];
    for (user, id, agent, expected) in cases {
        let (status, body) = assign(user, id.clone(), agent).await;
        assert_eq!(status, expected, "{user} {id} → {agent}: {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    // Nothing moved.
    let path = format!("/v1/customers/{customer}");
    assert_eq!(
        get(&http, &server.url, &token("A-0001"), &path).await.0,
        200
    );
    assert_eq!(
        get(&http, &server.url, &token("A-0002"), &path).await.0,
        404
    );

    // The supervisor hands it to A-0002: A-0002 reaches it now, A-0001 no longer.
    let (status, card) = assign("S-01", customer.clone(), "A-0002").await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["agent"], "A-0002");
    assert_eq!(
        get(&http, &server.url, &token("A-0002"), &path).await.0,
        200
    );
    assert_eq!(
        get(&http, &server.url, &token("A-0001"), &path).await.0,
        404
    );
    let (_, detail) = get(&http, &server.url, &token("S-01"), &path).await;
    assert_eq!(detail["customer"]["agent"], "A-0002");
}

/// Putting a playbook in force changes the whole team's targets: a department manager's
/// decision. Any manager may preview a file; an agent may do neither.
#[tokio::test]
async fn putting_a_playbook_in_force_by_role() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    admin(
        &data,
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
    let server = Server::start(&data);
    let http = http();
    let car = include_str!("../../docs/playbooks/car-insurance.toml");
    let send = |method: reqwest::Method, user: &'static str, path: &'static str| {
        let http = http.clone();
        let url = server.url.clone();
        let token = token_for(&data, user);
        async move {
            let resp = http
                .request(method, format!("{url}{path}"))
                .bearer_auth(token)
                .header("content-type", "text/plain")
                .body(car)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            (status, body)
        }
    };
    use reqwest::Method;
    let preview = "/v1/team/playbook/preview";
    let put = "/v1/team/playbook";
    for (method, user, path, expected) in [
        (Method::POST, "A-0001", preview, 403),
        (Method::PUT, "A-0001", put, 403),
        (Method::POST, "S-01", preview, 200),
        (Method::PUT, "S-01", put, 403),
        (Method::POST, "D-01", preview, 200),
    ] {
        let (status, body) = send(method.clone(), user, path).await;
        assert_eq!(status, expected, "{user} {method} {path}: {body}");
    }
    let (_, p) = get(&http, &server.url, &token_for(&data, "S-01"), put).await;
    assert_eq!(p["name"], "insurance", "nothing applied yet");
    let (status, body) = send(Method::PUT, "D-01", put).await;
    assert_eq!(status, 200, "{body}");
    let (_, p) = get(&http, &server.url, &token_for(&data, "A-0001"), put).await;
    assert_eq!(p["name"], "car-insurance");
}

/// Revoking a phone from the dashboard (`POST /v1/devices/{id}/revoke`): a manager revokes the
/// phones of the members below them in their team; the revoked phone's next sync is refused
/// with the wipe flag. The list (`GET /v1/team/devices`) shows the team's phones only.
#[tokio::test]
async fn revoking_a_device_by_role_and_team() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    admin(&data, &["team", "create", "south"]);
    for (team, user, role) in [
        ("north", "S-09", "supervisor"),
        ("north", "D-01", "department_manager"),
        ("south", "S-02", "supervisor"),
    ] {
        admin(
            &data,
            &[
                "user", "add", "--team", team, "--user", user, "--role", role,
            ],
        );
    }
    let issue = |user: &str| {
        let d = admin(&data, &["device", "issue", "--user", user]);
        (
            d["device"].as_str().unwrap().to_string(),
            d["token"].as_str().unwrap().to_string(),
        )
    };
    let (a1_phone, a1_token) = issue("A-0001");
    let (s1_phone, s1_token) = issue("S-01");
    let (s9_phone, _) = issue("S-09");
    let (_, a2_token) = issue("A-0002");
    let (_, s2_token) = issue("S-02");
    let (_, d1_token) = issue("D-01");
    let server = Server::start(&data);
    let http = http();
    let revoke = |token: &str, device: &str| {
        let req = http
            .post(format!("{}/v1/devices/{device}/revoke", server.url))
            .bearer_auth(token)
            .send();
        async move {
            let resp = req.await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            (status, body)
        }
    };
    for (who, token, device, expected) in [
        ("an agent", &a2_token, &a1_phone, 403),
        ("another team's supervisor", &s2_token, &a1_phone, 404),
        ("a supervisor, their own phone", &s1_token, &s1_phone, 403),
        ("a supervisor, a peer's", &s1_token, &s9_phone, 403),
        (
            "nobody's",
            &s1_token,
            &"00000000-0000-4000-8000-000000000000".to_string(),
            404,
        ),
        ("not an id", &s1_token, &"not-an-id".to_string(), 404),
    ] {
        let (status, body) = revoke(token, device).await;
        assert_eq!(status, expected, "{who}: {body}");
        assert!(body["error"]["code"].is_string(), "{who}: {body}");
    }
    // The list: north's phones, who may revoke which; south's are not there.
    let (status, list) = get(&http, &server.url, &s1_token, "/v1/team/devices").await;
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 5, "A-0001, S-01, S-09, A-0002, D-01: {list:?}");
    let may = |device: &str| list.iter().find(|d| d["id"] == device).unwrap()["may_revoke"].clone();
    assert_eq!(
        (may(&a1_phone), may(&s1_phone), may(&s9_phone)),
        (true.into(), false.into(), false.into())
    );
    assert_eq!(
        get(&http, &server.url, &a1_token, "/v1/team/devices")
            .await
            .0,
        403
    );

    // The supervisor revokes A-0001's phone: its next request is refused with the wipe flag.
    let (status, body) = revoke(&s1_token, &a1_phone).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revoked"], true);
    let (status, body) = get(&http, &server.url, &a1_token, "/v1/team/members").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["wipe"], true, "{body}");
    // A department manager revokes a supervisor's phone.
    assert_eq!(revoke(&d1_token, &s9_phone).await.0, 200);
}

/// Adding a member from the dashboard (`POST /v1/team/members`): below the caller's role, into
/// the caller's team only.
#[tokio::test]
async fn adding_a_member_by_role() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    admin(&data, &["team", "create", "south"]);
    for (team, user, role) in [
        ("north", "D-01", "department_manager"),
        ("south", "S-02", "supervisor"),
    ] {
        admin(
            &data,
            &[
                "user", "add", "--team", team, "--user", user, "--role", role,
            ],
        );
    }
    let server = Server::start(&data);
    let http = http();
    let add = |user: &str, body: serde_json::Value| {
        let req = http
            .post(format!("{}/v1/team/members", server.url))
            .bearer_auth(token_for(&data, user))
            .json(&body)
            .send();
        async move {
            let resp = req.await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            (status, body)
        }
    };
    use serde_json::json;
    for (who, body, expected) in [
        ("A-0001", json!({ "user": "A-0100", "role": "agent" }), 403),
        (
            "S-01",
            json!({ "user": "S-0100", "role": "supervisor" }),
            403,
        ),
        ("S-01", json!({ "user": "A-0001", "role": "agent" }), 409),
        ("S-01", json!({ "user": "A-0100", "role": "boss" }), 400),
        (
            "S-01",
            json!({ "user": "A-0100", "role": "agent", "reports_to": "S-02" }),
            400,
        ),
        ("S-01", json!({ "user": "", "role": "agent" }), 400),
    ] {
        let (status, res) = add(who, body.clone()).await;
        assert_eq!(status, expected, "{who} {body}: {res}");
        assert!(res["error"]["code"].is_string(), "{res}");
    }
    let (status, m) = add(
        "S-01",
        json!({ "user": "A-0100", "name": "赵敏", "role": "agent" }),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        (m["team"].as_str(), m["reports_to"].as_str()),
        (Some("north"), Some("S-01"))
    );
    let (status, m) = add("D-01", json!({ "user": "S-0100", "role": "supervisor" })).await;
    assert_eq!(status, 200, "{m}");
    let users = |token: String| {
        let req = http
            .get(format!("{}/v1/team/members", server.url))
            .bearer_auth(token)
            .send();
        async move {
            let v: serde_json::Value = req.await.unwrap().json().await.unwrap();
            v.as_array()
                .unwrap()
                .iter()
                .map(|m| m["user"].as_str().unwrap().to_string())
                .collect::<BTreeSet<String>>()
        }
    };
    let north = users(token_for(&data, "S-01")).await;
    assert!(
        north.contains("A-0100") && north.contains("S-0100"),
        "{north:?}"
    );
    let south = users(token_for(&data, "S-02")).await;
    assert!(!south.contains("A-0100"), "{south:?}");
}

/// Issuing a phone from the dashboard (`POST /v1/team/devices`): like revoking, a manager
/// issues phones to the members below them in their team (`403` for their own, a peer's or
/// an agent caller, `404` for another team's member or nobody). The answer's one-time link
/// enrols a real phone home, which then syncs its customers; the server stored only the
/// token's hash and logged no token.
#[tokio::test]
async fn issuing_a_phone_by_role_and_team_and_the_phone_enrols() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    north_team(&data);
    admin(&data, &["team", "create", "south"]);
    for (team, user, role) in [
        ("north", "S-09", "supervisor"),
        ("north", "D-01", "department_manager"),
        ("south", "S-02", "supervisor"),
        ("south", "B-0001", "agent"),
    ] {
        admin(
            &data,
            &[
                "user", "add", "--team", team, "--user", user, "--role", role,
            ],
        );
    }
    let server = Server::start(&data);
    let http = http();
    let issue = |user: &str, body: serde_json::Value| {
        let req = http
            .post(format!("{}/v1/team/devices", server.url))
            .bearer_auth(token_for(&data, user))
            .json(&body)
            .send();
        async move {
            let resp = req.await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            (status, body)
        }
    };
    use serde_json::json;
    let devices_before = admin(&data, &["device", "list"]).as_array().unwrap().len();
    for (who, caller, body, expected) in [
        ("an agent", "A-0002", json!({ "user": "A-0001" }), 403),
        (
            "a supervisor, themselves",
            "S-01",
            json!({ "user": "S-01" }),
            403,
        ),
        (
            "a supervisor, a peer",
            "S-01",
            json!({ "user": "S-09" }),
            403,
        ),
        (
            "a supervisor, a superior",
            "S-01",
            json!({ "user": "D-01" }),
            403,
        ),
        (
            "another team's agent",
            "S-01",
            json!({ "user": "B-0001" }),
            404,
        ),
        (
            "another team's supervisor",
            "S-02",
            json!({ "user": "A-0001" }),
            404,
        ),
        ("nobody", "S-01", json!({ "user": "A-9999" }), 404),
        ("not a staff number", "S-01", json!({ "user": "" }), 404),
        (
            "a bad server address",
            "S-01",
            json!({ "user": "A-0001", "server": "ftp://x" }),
            400,
        ),
    ] {
        let (status, res) = issue(caller, body.clone()).await;
        assert_eq!(status, expected, "{who} {body}: {res}");
        assert!(res["error"]["code"].is_string(), "{who}: {res}");
    }
    // Each call above issued the caller's own token through `token_for` (9 of them); none
    // of the refused requests issued a phone.
    let devices_after = admin(&data, &["device", "list"]).as_array().unwrap().len();
    assert_eq!(
        devices_after,
        devices_before + 9,
        "a refused request issued nothing"
    );

    // A department manager issues a supervisor's phone; the address is the request's own
    // when the body names none.
    let (status, d) = issue("D-01", json!({ "user": "S-09" })).await;
    assert_eq!(status, 200, "{d}");
    assert!(
        d["link"].as_str().unwrap().starts_with(&format!(
            "doorstep://enrol?server={}",
            server.url.replace(':', "%3A").replace('/', "%2F")
        )),
        "{d}"
    );

    // A supervisor issues their agent's phone: a link, an SVG QR code, no bare token.
    let (status, d) = issue("S-01", json!({ "user": "A-0001", "server": server.url })).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["user"], "A-0001");
    assert!(d.get("token").is_none(), "{d}");
    let link = d["link"].as_str().unwrap().to_string();
    let svg = d["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
    let token = link.split("token=").nth(1).unwrap().to_string();
    assert_eq!(token.len(), 43, "{link}");
    // The server keeps the hash, never the token, and its log never names it.
    let db = std::fs::read(data.join("server.db")).unwrap();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));
    assert!(!server.log_text().contains(&token));

    // The link enrols a real phone home, which syncs A-0001's customers down.
    let home = dir.path().join("phone");
    let ok = |args: &[&str]| {
        let (code, v) = agent_run(&home, args);
        assert_eq!(code, 0, "{args:?}: {v}");
        v
    };
    ok(&["init", "--user", "A-0001"]);
    assert_eq!(ok(&["enrol", &link])["server"], server.url.as_str());
    ok(&["sync"]);
    assert_eq!(ok(&["status"])["pending_documents"], 0);
    let customers = ok(&["customer", "list"]);
    assert_eq!(customers.as_array().map(Vec::len), Some(4), "{customers}");
    let listed = admin(&data, &["device", "list"]);
    let phone = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == d["device"])
        .unwrap();
    assert!(phone["last_sync"].is_string(), "{phone}");
}

/// Deactivating a member (`POST /v1/team/members/{user}/deactivate`, `…/reactivate`): the
/// members below the caller in their team. A deactivated agent's phone is told to wipe, they
/// leave Today, Week and Month (their customers stay readable), no customer goes to them and
/// no phone is issued to them; a deactivated manager can no longer log in, and their open
/// session ends. Reactivated, they are back in the lists and a new phone may be issued.
#[tokio::test]
async fn deactivating_a_member_by_role_and_team() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    admin(&data, &["team", "create", "south"]);
    for (team, user, role) in [
        ("north", "S-09", "supervisor"),
        ("north", "D-01", "department_manager"),
        ("south", "S-02", "supervisor"),
    ] {
        admin(
            &data,
            &[
                "user", "add", "--team", team, "--user", user, "--role", role,
            ],
        );
    }
    admin(
        &data,
        &[
            "user",
            "password",
            "--user",
            "S-09",
            "--password",
            "s9 secret",
        ],
    );
    let a1_token = token_for(&data, "A-0001");
    let s1_token = token_for(&data, "S-01");
    let d1_token = token_for(&data, "D-01");
    let server = Server::start(&data);
    let http = http();
    let post = |token: &str, path: String, body: serde_json::Value| {
        let req = http
            .post(format!("{}{path}", server.url))
            .bearer_auth(token)
            .json(&body)
            .send();
        async move {
            let resp = req.await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            (status, body)
        }
    };
    let set = |token: String, user: &str, what: &str| {
        post_owned(
            &http,
            &server.url,
            token,
            format!("/v1/team/members/{user}/{what}"),
        )
    };
    for (who, caller, user, expected) in [
        ("an agent", "A-0002", "A-0001", 403),
        ("a supervisor, themselves", "S-01", "S-01", 403),
        ("a supervisor, a peer", "S-01", "S-09", 403),
        ("a supervisor, a superior", "S-01", "D-01", 403),
        ("another team's supervisor", "S-02", "A-0001", 404),
        ("nobody", "S-01", "A-9999", 404),
    ] {
        for what in ["deactivate", "reactivate"] {
            let (status, res) = set(token_for(&data, caller), user, what).await;
            assert_eq!(status, expected, "{who} {what}: {res}");
            assert!(res["error"]["code"].is_string(), "{who}: {res}");
        }
    }
    let (_, today) = get(&http, &server.url, &s1_token, "/v1/team/today").await;
    assert_eq!(today.as_array().unwrap().len(), 2, "{today}");

    // The supervisor deactivates A-0001 (twice: nothing more happens).
    for _ in 0..2 {
        let (status, m) = set(s1_token.clone(), "A-0001", "deactivate").await;
        assert_eq!(status, 200, "{m}");
        assert_eq!(m["active"], false, "{m}");
    }
    let (status, body) = get(&http, &server.url, &a1_token, "/v1/team/members").await;
    assert_eq!((status, body["wipe"].clone()), (403, true.into()), "{body}");
    let agents = |v: &serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["agent"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (_, today) = get(&http, &server.url, &s1_token, "/v1/team/today").await;
    assert_eq!(agents(&today), ["A-0002"]);
    for view in ["today", "week", "month"] {
        let (status, v) = get(&http, &server.url, &s1_token, &format!("/v1/views/{view}")).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(agents(&v["agents"]), ["A-0002"], "{view}");
    }
    let (_, members) = get(&http, &server.url, &s1_token, "/v1/team/members").await;
    let a1 = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"] == "A-0001")
        .unwrap();
    assert_eq!(
        (a1["active"].clone(), a1["devices"].clone()),
        (false.into(), 0.into())
    );
    // Their history stays; nothing goes to them, no phone is issued to them.
    let (status, c) = get(
        &http,
        &server.url,
        &s1_token,
        &format!("/v1/customers/{}", customers[0]),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    let (status, res) = post(
        &s1_token,
        format!("/v1/customers/{}/assign", customers[4]),
        serde_json::json!({ "agent": "A-0001" }),
    )
    .await;
    assert_eq!(status, 400, "{res}");
    let (status, res) = post(
        &s1_token,
        "/v1/team/devices".into(),
        serde_json::json!({ "user": "A-0001" }),
    )
    .await;
    assert_eq!(status, 400, "{res}");

    // Reactivated: back in the lists, and a new phone may be issued.
    let (status, m) = set(s1_token.clone(), "A-0001", "reactivate").await;
    assert_eq!((status, m["active"].clone()), (200, true.into()), "{m}");
    let (_, today) = get(&http, &server.url, &s1_token, "/v1/team/today").await;
    assert_eq!(agents(&today), ["A-0001", "A-0002"]);
    let (status, res) = post(
        &s1_token,
        "/v1/team/devices".into(),
        serde_json::json!({ "user": "A-0001" }),
    )
    .await;
    assert_eq!(status, 200, "{res}");

    // A department manager deactivates a supervisor: their password and session stop working.
    let login = || {
        let req = http
            .post(format!("{}/v1/session", server.url))
            .json(&serde_json::json!({ "user": "S-09", "password": "s9 secret" }))
            .send();
        async move { req.await.unwrap() }
    };
    let resp = login().await;
    assert_eq!(resp.status().as_u16(), 200);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session = |cookie: String| {
        let req = http
            .get(format!("{}/v1/session", server.url))
            .header("cookie", cookie)
            .send();
        async move { req.await.unwrap().status().as_u16() }
    };
    assert_eq!(session(cookie.clone()).await, 200);
    let link = |user: &str| {
        admin(
            &data,
            &["login-link", "--user", user, "--base-url", &server.url],
        )["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let s9_link = link("S-09");
    let (status, m) = set(d1_token.clone(), "S-09", "deactivate").await;
    assert_eq!((status, m["active"].clone()), (200, false.into()), "{m}");
    assert_eq!(session(cookie).await, 401);
    assert_eq!(login().await.status().as_u16(), 401);
    let used = no_redirects.get(&s9_link).send().await.unwrap();
    assert_eq!(
        used.status().as_u16(),
        401,
        "a link made before still logs in"
    );
    // An active manager's link still works (its check of the member is no deadlock).
    let d1_link = link("D-01");
    let used = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        no_redirects.get(&d1_link).send(),
    )
    .await
    .expect("the login link answers")
    .unwrap();
    assert_eq!(used.status().as_u16(), 303);

    // `doorstep admin` does the same on the server's directory.
    let m = admin(&data, &["user", "deactivate", "--user", "A-0002"]);
    assert_eq!(m["active"], false, "{m}");
    let (_, today) = get(&http, &server.url, &s1_token, "/v1/team/today").await;
    assert_eq!(agents(&today), ["A-0001"]);
    assert_eq!(
        admin(&data, &["user", "reactivate", "--user", "A-0002"])["active"],
        true
    );
}

/// Posts with no body: (status, JSON).
async fn post_owned(
    http: &reqwest::Client,
    url: &str,
    token: String,
    path: String,
) -> (u16, serde_json::Value) {
    let resp = http
        .post(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

/// The reassigning list (`GET /v1/team/customers`): managers only, their team's customers,
/// orphans (agent deactivated) first; handing an orphan to an agent makes its normal policies
/// orphan policies (孤儿保单) and takes it off the orphans.
#[tokio::test]
async fn listing_customers_orphans_first() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let customers = north_team(&data);
    admin(&data, &["team", "create", "south"]);
    admin(
        &data,
        &[
            "user",
            "add",
            "--team",
            "south",
            "--user",
            "S-02",
            "--role",
            "supervisor",
        ],
    );
    let s1_token = token_for(&data, "S-01");
    let server = Server::start(&data);
    let http = http();
    let list = || get(&http, &server.url, &s1_token, "/v1/team/customers");
    assert_eq!(
        get(
            &http,
            &server.url,
            &token_for(&data, "A-0001"),
            "/v1/team/customers"
        )
        .await
        .0,
        403
    );
    let (_, south) = get(
        &http,
        &server.url,
        &token_for(&data, "S-02"),
        "/v1/team/customers",
    )
    .await;
    assert_eq!(south.as_array().map(Vec::len), Some(0), "{south}");
    let (status, all) = list().await;
    assert_eq!(status, 200, "{all}");
    let all = all.as_array().unwrap().clone();
    assert_eq!(all.len(), customers.len(), "{all:?}");
    assert!(all.iter().all(|c| c["orphan"].is_null()), "{all:?}");

    // A-0002 leaves: their four customers come first, as orphans.
    let a2: BTreeSet<String> = customers[4..8].iter().cloned().collect();
    admin(&data, &["user", "deactivate", "--user", "A-0002"]);
    let (_, now) = list().await;
    let now = now.as_array().unwrap().clone();
    let first: BTreeSet<String> = now[..4]
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(first, a2);
    assert!(
        now[..4].iter().all(|c| c["orphan"] == "deactivated"),
        "{now:?}"
    );
    assert!(now[4..].iter().all(|c| c["orphan"].is_null()), "{now:?}");

    // One goes to A-0001: off the orphans, its normal policies now orphan policies.
    let orphan = now[0]["id"].as_str().unwrap().to_string();
    let resp = http
        .post(format!("{}/v1/customers/{orphan}/assign", server.url))
        .bearer_auth(&s1_token)
        .json(&serde_json::json!({ "agent": "A-0001" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, after) = list().await;
    let after = after.as_array().unwrap().clone();
    assert_eq!(after.iter().filter(|c| !c["orphan"].is_null()).count(), 3);
    let moved = after.iter().find(|c| c["id"] == orphan.as_str()).unwrap();
    assert_eq!(moved["agent"], "A-0001");
    assert!(moved["orphan_policies"].as_u64().unwrap() > 0, "{moved}");
    assert_eq!(moved["orphan_policies"], moved["policies"], "{moved}");
}
