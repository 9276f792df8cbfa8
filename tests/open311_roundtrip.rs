//! An Open311 GeoReport v2 client posts a request (form-encoded, with an API key from
//! `citygrid key create`) and reads it back by id and by token, in JSON and XML.

mod common;
mod mgmt_common;

use common::http;
use mgmt_common::{cli, env};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn open311_client_posts_and_reads_back_in_json_and_xml() {
    let e = env("open311", &[], &[]).await;
    e.wait_grids().await;
    let seeded = cli(&e.db, &["grid", "seed-reference"]);
    assert!(seeded.contains("categories"), "{seeded}");
    let key = cli(
        &e.db,
        &[
            "key",
            "create",
            "--name",
            "civic-app",
            "--scopes",
            "open311:write",
        ],
    )
    .trim()
    .to_string();
    let base = e.server.url("/open311/v2");

    // discovery and services
    let d: Value = http()
        .get(format!("{base}/discovery.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["endpoints"][0]["formats"]
        .to_string()
        .contains("text/xml"));
    let services: Value = http()
        .get(format!("{base}/services.json?locale=en"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_code"] == "E0102")
        .cloned()
        .unwrap();
    assert_eq!(s["service_name"], "Exposed rubbish");
    let r = http()
        .get(format!("{base}/services.xml"))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    let xml = r.text().await.unwrap();
    assert!(
        xml.contains("<service_code>P0101</service_code>"),
        "{}",
        &xml[..300.min(xml.len())]
    );
    let def: Value = http()
        .get(format!("{base}/services/P0101.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(def["attributes"][0]["code"], "condition");

    // POST a request (form-encoded), JSON answer
    let form = format!(
        "api_key={key}&service_code=E0102&lat=30.5911&long=114.3012&description=Rubbish+bags+%E5%9E%83%E5%9C%BE&first_name=Li&email=li%40example.org"
    );
    let r = http()
        .post(format!("{base}/requests.json"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = created[0]["token"].as_str().unwrap().to_string();
    assert!(id.contains('-'));

    // read back by id: JSON and XML
    let got: Value = http()
        .get(format!("{base}/requests/{id}.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got[0]["service_request_id"], id.as_str());
    assert_eq!(got[0]["status"], "open");
    assert_eq!(got[0]["service_code"], "E0102");
    assert_eq!(got[0]["description"], "Rubbish bags 垃圾");
    assert!((got[0]["lat"].as_f64().unwrap() - 30.5911).abs() < 1e-9);
    let xml = http()
        .get(format!("{base}/requests/{id}.xml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        xml.contains(&format!("<service_request_id>{id}</service_request_id>")),
        "{xml}"
    );
    assert!(xml.contains("<status>open</status>"));
    // by token
    let t: Value = http()
        .get(format!("{base}/tokens/{token}.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t[0]["service_request_id"], id.as_str());
    let xml = http()
        .get(format!("{base}/tokens/{token}.xml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        xml.contains(&format!("<service_request_id>{id}</service_request_id>")),
        "{xml}"
    );
    // in the list, with filters
    let list: Value = http()
        .get(format!(
            "{base}/requests.json?service_code=E0102&status=open"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let list: Value = http()
        .get(format!("{base}/requests.json?status=closed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0);

    // POST with an XML answer; the same intake path: the case is in the console with its source
    let r = http()
        .post(format!("{base}/requests.xml"))
        .body(format!(
            "api_key={key}&service_code=E0102&lat=30.5912&long=114.3022"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let xml = r.text().await.unwrap();
    assert!(
        xml.contains("<service_request_id>") && xml.contains("<token>"),
        "{xml}"
    );
    let case = e.get("admin", &format!("/api/cases/{id}")).await;
    assert_eq!(case["source"], "open311");
    assert_eq!(case["reporter_name"], "Li");

    // closing the case shows as closed, with the public note
    let cid = case["id"].as_i64().unwrap();
    e.step(
        "acceptor",
        cid,
        serde_json::json!({"action": "void", "note": "already cleared", "public_note": true}),
    )
    .await;
    let got: Value = http()
        .get(format!("{base}/requests/{id}.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got[0]["status"], "closed");
    assert_eq!(got[0]["status_notes"], "already cleared");

    // errors in the spec's format
    let r = http()
        .post(format!("{base}/requests.json"))
        .body("api_key=wrong&service_code=E0102&lat=30.5911&long=114.3012")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err[0]["code"], 403);
    let r = http()
        .post(format!("{base}/requests.json"))
        .body("service_code=E0102&lat=30.5911&long=114.3012")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http()
        .post(format!("{base}/requests.xml"))
        .body(format!("api_key={key}&lat=30.5911&long=114.3012"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("<error>"));
    let r = http()
        .post(format!("{base}/requests.json"))
        .body(format!(
            "api_key={key}&service_code=E9999&lat=30.5911&long=114.3012"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http()
        .post(format!("{base}/requests.json"))
        .body(format!(
            "api_key={key}&service_code=E0102&lat=31.5&long=114.3"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "outside every grid");
    let r = http()
        .get(format!("{base}/requests/1999-999999.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http()
        .get(format!("{base}/tokens/nope.xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
