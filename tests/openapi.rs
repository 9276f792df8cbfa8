//! `GET /openapi.json`: one OpenAPI 3.1 document of every route the running server
//! has (as its own route table at `/api/routes` lists them), each operation with the
//! security of its route's access policy, valid by an independent validator (the
//! Python `openapi-spec-validator`, installed by `scripts/install-deps.sh` into
//! `target/pytools`); `/ogc/api` keeps answering its OpenAPI 3.0 document. The
//! schema-driven fuzzer that uses the document runs in `make fuzz`
//! (`scripts/api_fuzz.sh`).

mod common;

use std::process::Command;

use common::{TestDb, TestServer};
use serde_json::{json, Value};

/// Validates `doc` with openapi-spec-validator; Err(message) when it is invalid.
fn validate(doc: &Value, tag: &str) -> Result<(), String> {
    let file = common::temp_dir(tag).join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(doc).expect("serialise")).expect("write");
    let out = Command::new(common::pmtiles::python())
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             validate(json.load(open(sys.argv[1])))\n\
             print('valid')",
        ])
        .arg(&file)
        .output()
        .expect("run python (make deps installs openapi-spec-validator into target/pytools)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && stdout.trim() == "valid" {
        Ok(())
    } else {
        Err(format!(
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(8)
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_documents_every_route_with_its_security() {
    let db = TestDb::new().await;
    common::add_user(&db, "oa_admin", "admin", None, "openapi-admin-pw-1");
    let server = TestServer::start(&db);
    let client = common::http();

    // Public: no credentials.
    let r = client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .expect("openapi");
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");

    // The server's own route table.
    let login: Value = client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "oa_admin", "password": "openapi-admin-pw-1"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let token = login["token"].as_str().expect("token").to_string();
    let table: Value = client
        .get(server.url("/api/routes"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("routes")
        .json()
        .await
        .expect("routes json");
    let routes = table["routes"].as_array().expect("routes");
    assert!(routes.len() > 70, "{} routes", routes.len());
    for prefix in [
        "/api/",
        "/open311/",
        "/tiles/",
        "/styles/",
        "/ogc/",
        "/catalog",
        "/health",
        "/metrics",
    ] {
        assert!(
            routes
                .iter()
                .any(|r| r["path"].as_str().unwrap().starts_with(prefix)),
            "{prefix}"
        );
    }
    let mut operations = 0;
    for route in routes {
        let method = route["method"].as_str().unwrap().to_ascii_lowercase();
        let path = route["path"].as_str().unwrap().replace("{*", "{");
        let access = route["access"].as_str().unwrap();
        let op = &doc["paths"][&path][&method];
        assert!(op.is_object(), "{method} {path} is not in /openapi.json");
        operations += 1;
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path}: no security"));
        let schemes: Vec<String> = security
            .iter()
            .flat_map(|s| s.as_object().unwrap().keys().cloned())
            .collect();
        match access {
            "public" => assert!(security.is_empty(), "{method} {path}: {security:?}"),
            a if a.starts_with("map data") => {
                assert_eq!(
                    schemes,
                    ["bearer", "api_key", "api_key_query"],
                    "{method} {path}"
                );
                // public_layers is on by default: anonymous reads are allowed too.
                assert!(security.iter().any(|s| s.as_object().unwrap().is_empty()));
            }
            _ => assert_eq!(schemes, ["bearer"], "{method} {path} ({access})"),
        }
        assert_eq!(op["x-access"], access, "{method} {path}");
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "patch", "put", "delete"].contains(&k.as_str()))
                .count()
        })
        .sum();
    assert_eq!(documented, operations, "operations without a route");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["api_key_query"]["in"], "query");
    // The handlers' own body types.
    assert_eq!(
        doc["paths"]["/api/cases"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/NewCase"
    );

    // Valid OpenAPI 3.1 by an independent validator, which does refuse a broken one.
    validate(&doc, "openapi").unwrap_or_else(|e| panic!("/openapi.json is not valid: {e}"));
    let mut broken = doc.clone();
    broken["paths"]["/health"]["get"]["responses"]["200"] = json!({"content": 5});
    assert!(
        validate(&broken, "openapi-broken").is_err(),
        "the validator accepts anything"
    );

    // The OGC API's own document (OpenAPI 3.0, for OGC clients) still answers, valid too.
    let ogc: Value = client
        .get(server.url("/ogc/api"))
        .send()
        .await
        .expect("ogc api")
        .json()
        .await
        .expect("ogc json");
    assert_eq!(ogc["openapi"], "3.0.3");
    assert!(ogc["paths"]["/collections/{collectionId}/items"]["get"].is_object());
    // Part 4: the editing operations, If-Match required where a feature changes.
    assert!(ogc["paths"]["/collections/{collectionId}/items"]["post"].is_object());
    for method in ["put", "patch", "delete"] {
        let op = &ogc["paths"]["/collections/{collectionId}/items/{featureId}"][method];
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "If-Match" && p["required"] == true),
            "{method}: {op}"
        );
        assert!(op["responses"]["412"].is_object() && op["responses"]["428"].is_object());
    }
    assert!(
        doc["paths"]["/ogc/collections/{id}/items/{fid}"]["patch"]["requestBody"]["content"]
            ["application/merge-patch+json"]
            .is_object()
    );
    validate(&ogc, "ogc-openapi").unwrap_or_else(|e| panic!("/ogc/api is not valid: {e}"));
}
