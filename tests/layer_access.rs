//! Layer ownership and access (issue 22): layers × principals × every route that
//! reveals layer data, against a real server on a real PostGIS.
//!
//! Four layers at the same spot — `open_pois` (the server's default: public),
//! `users_pois` (`users`), `police_points` (`departments:police`, owned by police) and
//! `dispatch_points` (`roles:dispatcher;departments:land`) — read by anonymous, a
//! police user, a land user, a dispatcher, an admin and an API key of police narrowed
//! to `police_points`. Every route answers 404 (never 403) for a layer the caller may
//! not read, listings leave it out, a composite tile leaves it out (decoded), and the
//! tile cache never hands one caller's tile to another. Then the `cases` layer's
//! public view, layer management through the admin API and the command line, and a
//! delete seen by a second server within a second.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::tiles::tile_at;
use common::{cli_ok, cli_refused, http, TestDb, TestServer};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";
const LON: f64 = 24.9384;
const LAT: f64 = 60.1699;
const Z: u32 = 14;
const LAYERS: [&str; 4] = [
    "open_pois",
    "users_pois",
    "police_points",
    "dispatch_points",
];

async fn sql(db: &TestDb, statement: &str) {
    sqlx::query(statement)
        .execute(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// A point layer `id` with two features at the test spot.
async fn make_layer(db: &TestDb, id: &str) {
    sql(
        db,
        &format!(
            "CREATE TABLE layers.\"{id}\" AS SELECT g AS fid, \
             ST_SetSRID(ST_MakePoint({LON} + g * 0.0001, {LAT}), 4326) AS geom, \
             'zyxmarker {id} ' || g AS name, g AS rank FROM generate_series(1, 2) g"
        ),
    )
    .await;
    sql(
        db,
        &format!("ALTER TABLE layers.\"{id}\" ADD PRIMARY KEY (fid)"),
    )
    .await;
    sqlx::query(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         VALUES ($1, $1, 'vector', 'Point', \
                 '[{\"name\":\"name\",\"type\":\"text\"},{\"name\":\"rank\",\"type\":\"integer\"}]'::jsonb, \
                 2, ARRAY[$2, $3, $2 + 0.001, $3 + 0.001])",
    )
    .bind(id)
    .bind(LON)
    .bind(LAT)
    .execute(&db.pool)
    .await
    .expect("catalogue row");
}

/// How a principal sends its credentials.
#[derive(Clone)]
enum Cred {
    None,
    Bearer(String),
    Key(String),
}

struct Caller {
    name: &'static str,
    cred: Cred,
    /// Which of [`LAYERS`] it may read.
    reads: BTreeSet<&'static str>,
}

async fn get(server: &TestServer, cred: &Cred, path: &str) -> reqwest::Response {
    let mut r = http().get(server.url(path));
    match cred {
        Cred::None => {}
        Cred::Bearer(t) => r = r.bearer_auth(t),
        Cred::Key(k) => r = r.header("x-api-key", k),
    }
    r.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

async fn get_json(server: &TestServer, cred: &Cred, path: &str) -> Value {
    let r = get(server, cred, path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.expect("json")
}

async fn login(server: &TestServer, user: &str) -> String {
    let r: Value = http()
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    r["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login {user}: {r}"))
        .to_string()
}

/// Waits until every layer of [`LAYERS`] is loaded on `server` (as admin).
async fn wait_loaded(server: &TestServer, admin: &Cred, layers: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in layers {
        loop {
            let s = get(server, admin, &format!("/ogc/collections/{id}/items"))
                .await
                .status();
            if s == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "{id} not loaded: {s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The ids of [`LAYERS`] among `ids`.
fn ours<'a>(ids: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'static str> {
    let ids: BTreeSet<&str> = ids.into_iter().collect();
    LAYERS.into_iter().filter(|l| ids.contains(l)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn layers_by_principal_on_every_route() {
    let db = TestDb::new().await;
    sql(
        &db,
        "INSERT INTO departments (code, name) VALUES ('police', '公安局'), ('land', '自然资源局')",
    )
    .await;
    for id in LAYERS {
        make_layer(&db, id).await;
    }
    common::add_user(&db, "pol", "inspector", Some("police"), PASSWORD);
    common::add_user(&db, "lan", "inspector", Some("land"), PASSWORD);
    common::add_user(&db, "disp", "dispatcher", None, PASSWORD);
    common::add_user(&db, "boss", "admin", None, PASSWORD);
    // access through the command line
    cli_ok(
        &db,
        &["layer", "set-access", "users_pois", "--read", "users"],
    );
    let out = cli_ok(
        &db,
        &[
            "layer",
            "set-access",
            "police_points",
            "--read",
            "departments:police",
            "--owner",
            "police",
        ],
    );
    assert!(
        out.contains("owner police, read departments:police"),
        "{out}"
    );
    cli_ok(
        &db,
        &[
            "layer",
            "set-access",
            "dispatch_points",
            "--read",
            "roles:dispatcher;departments:land",
            "--edit",
            "departments:land",
        ],
    );
    let key = cli_ok(
        &db,
        &[
            "key",
            "create",
            "--name",
            "police-embed",
            "--department",
            "police",
            "--layers",
            "police_points",
        ],
    )
    .trim()
    .to_string();
    assert!(key.starts_with("cgk_"), "{key}");

    let server = TestServer::start(&db);
    let admin = Cred::Bearer(login(&server, "boss").await);
    wait_loaded(&server, &admin, &LAYERS).await;
    let set = |ids: &[&'static str]| ids.iter().copied().collect::<BTreeSet<_>>();
    // admin first: its composite tile (every layer) is cached before the others ask
    let callers = vec![
        Caller {
            name: "admin",
            cred: admin.clone(),
            reads: set(&LAYERS),
        },
        Caller {
            name: "anonymous",
            cred: Cred::None,
            reads: set(&["open_pois"]),
        },
        Caller {
            name: "police user",
            cred: Cred::Bearer(login(&server, "pol").await),
            reads: set(&["open_pois", "users_pois", "police_points"]),
        },
        Caller {
            name: "land user",
            cred: Cred::Bearer(login(&server, "lan").await),
            reads: set(&["open_pois", "users_pois", "dispatch_points"]),
        },
        Caller {
            name: "dispatcher",
            cred: Cred::Bearer(login(&server, "disp").await),
            reads: set(&["open_pois", "users_pois", "dispatch_points"]),
        },
        Caller {
            name: "police key narrowed to police_points",
            cred: Cred::Key(key.clone()),
            reads: set(&["police_points"]),
        },
    ];
    let (z, x, y) = tile_at(LON, LAT, Z);
    let all = LAYERS.join(",");
    for c in &callers {
        let who = c.name;
        // listings
        let catalog = get_json(&server, &c.cred, "/catalog").await;
        let listed = ours(
            catalog["layers"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|l| l["id"].as_str()),
        );
        assert_eq!(listed, c.reads, "{who}: /catalog");
        let collections = get_json(&server, &c.cred, "/ogc/collections").await;
        let listed = ours(
            collections["collections"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|l| l["id"].as_str()),
        );
        assert_eq!(listed, c.reads, "{who}: /ogc/collections");
        let style = get_json(&server, &c.cred, "/styles/default.json").await;
        let drawn = ours(
            style["layers"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|l| l["source-layer"].as_str()),
        );
        assert_eq!(drawn, c.reads, "{who}: style layers");
        let search = get_json(&server, &c.cred, "/api/search?q=zyxmarker&limit=50").await;
        let found = ours(
            search["groups"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|g| g["hits"].as_array().unwrap().iter())
                .filter_map(|h| h["layer"].as_str()),
        );
        assert_eq!(found, c.reads, "{who}: search {search}");
        // one layer at a time, on every route: 200 (204 for an empty tile) or 404
        for id in LAYERS {
            let readable = c.reads.contains(id);
            let paths = [
                format!("/catalog/{id}"),
                format!("/tiles/{id}.json"),
                format!("/tiles/{id}/{z}/{x}/{y}"),
                format!("/ogc/collections/{id}"),
                format!("/ogc/collections/{id}/queryables"),
                format!("/ogc/collections/{id}/items"),
                format!("/ogc/collections/{id}/items/1"),
                format!("/ogc/collections/{id}/tiles"),
                format!("/ogc/collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}"),
                format!("/api/nearest?layer={id}&lon={LON}&lat={LAT}&k=1"),
                format!("/embed/map?layers={id}"),
            ];
            for path in &paths {
                let status = get(&server, &c.cred, path).await.status().as_u16();
                if readable {
                    assert!(
                        status == 200 || status == 204,
                        "{who} reads {path}: {status}"
                    );
                } else {
                    assert_eq!(status, 404, "{who} may not read {path}");
                }
            }
            let mut query = http().post(server.url("/api/query")).json(&json!({
                "geometry": {"type": "Polygon", "coordinates": [[
                    [LON - 0.01, LAT - 0.01], [LON + 0.01, LAT - 0.01],
                    [LON + 0.01, LAT + 0.01], [LON - 0.01, LAT + 0.01], [LON - 0.01, LAT - 0.01]]]},
                "layers": [id],
            }));
            match &c.cred {
                Cred::None => {}
                Cred::Bearer(t) => query = query.bearer_auth(t),
                Cred::Key(k) => query = query.header("x-api-key", k),
            }
            let status = query.send().await.expect("query").status().as_u16();
            assert_eq!(
                status,
                if readable { 200 } else { 404 },
                "{who}: /api/query on {id}"
            );
        }
        // the composite tile of every layer: the readable ones only, decoded
        let r = get(&server, &c.cred, &format!("/tiles/{all}/{z}/{x}/{y}")).await;
        assert_eq!(r.status(), 200, "{who}: composite tile");
        let cache_control = r
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = r.bytes().await.unwrap();
        let layers_in_tile: BTreeSet<String> = common::mvt::decode(&bytes)
            .into_iter()
            .map(|f| f.layer)
            .collect();
        assert_eq!(
            ours(layers_in_tile.iter().map(String::as_str)),
            c.reads,
            "{who}: layers in the composite tile"
        );
        let public = c.reads.iter().all(|l| *l == "open_pois");
        assert!(
            cache_control.starts_with(if public { "public" } else { "private" }),
            "{who}: {cache_control}"
        );
        // its TileJSON names the same layers
        let tilejson = get_json(&server, &c.cred, &format!("/tiles/{all}.json")).await;
        let named = ours(
            tilejson["vector_layers"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|l| l["id"].as_str()),
        );
        assert_eq!(named, c.reads, "{who}: TileJSON");
        let tiles_url = tilejson["tiles"][0].as_str().unwrap();
        for id in LAYERS {
            assert_eq!(
                tiles_url.contains(id),
                c.reads.contains(id),
                "{who}: {tiles_url}"
            );
        }
    }
    // the same 404 body for a layer that does not exist and one the caller may not read
    let hidden: Value = get(&server, &Cred::None, "/catalog/police_points")
        .await
        .json()
        .await
        .unwrap();
    let missing: Value = get(&server, &Cred::None, "/catalog/no_such_layer")
        .await
        .json()
        .await
        .unwrap();
    let shape = |v: &Value| {
        v.to_string()
            .replace("police_points", "X")
            .replace("no_such_layer", "X")
    };
    assert_eq!(shape(&hidden), shape(&missing));

    // the cases layer: hidden from anonymous callers by default, listed to users
    let anon = get_json(&server, &Cred::None, "/ogc/collections").await;
    assert!(!anon.to_string().contains("\"id\":\"cases\""), "{anon}");
    assert_eq!(
        get(&server, &Cred::None, "/ogc/collections/cases/items")
            .await
            .status(),
        404
    );
    assert_eq!(
        get(&server, &Cred::None, "/tiles/cases.json")
            .await
            .status(),
        404
    );
    let signed_in = get_json(&server, &callers[2].cred, "/ogc/collections").await;
    assert!(
        signed_in.to_string().contains("\"id\":\"cases\""),
        "{signed_in}"
    );
    let status_view = TestServer::start_with(&db, &[("CITYGRID_CASES_PUBLIC_VIEW", "status")]);
    let anon = get_json(&status_view, &Cred::None, "/ogc/collections").await;
    assert!(anon.to_string().contains("\"id\":\"cases\""), "{anon}");
}

#[tokio::test(flavor = "multi_thread")]
async fn layer_management_through_the_api_and_the_command_line() {
    let db = TestDb::new().await;
    sql(
        &db,
        "INSERT INTO departments (code, name) VALUES ('police', '公安局'), ('land', '自然资源局')",
    )
    .await;
    for id in ["parcels", "wells", "scratch"] {
        make_layer(&db, id).await;
    }
    common::add_user(&db, "boss", "admin", None, PASSWORD);
    common::add_user(&db, "pol", "department", Some("police"), PASSWORD);

    // the command line refuses bad input with one line
    cli_refused(
        &db,
        &["layer", "set-access", "parcels", "--read", "everyone"],
        "unknown read policy",
    );
    cli_refused(
        &db,
        &["layer", "set-access", "parcels", "--read", "roles:root"],
        "unknown role",
    );
    cli_refused(
        &db,
        &[
            "layer",
            "set-access",
            "parcels",
            "--read",
            "departments:fire",
        ],
        "no department \"fire\": the departments are land, police",
    );
    cli_refused(
        &db,
        &[
            "layer",
            "set-access",
            "parcels",
            "--edit",
            "departments:Fire Dept",
        ],
        "not a department code",
    );
    cli_refused(
        &db,
        &["layer", "set-access", "nope", "--read", "users"],
        "no layer \"nope\"",
    );
    cli_refused(
        &db,
        &["layer", "set-access", "parcels"],
        "nothing to change",
    );
    cli_refused(
        &db,
        &["layer", "set-access", "Bad;Id", "--read", "users"],
        "not a layer id",
    );
    cli_refused(&db, &["layer", "delete", "parcels"], "--yes");
    cli_refused(
        &db,
        &["layer", "delete", "nope", "--yes"],
        "no layer \"nope\"",
    );
    cli_refused(
        &db,
        &["layer", "delete", "cases", "--yes"],
        "belongs to grid management",
    );
    let list = cli_ok(&db, &["layer", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("parcels\tvector\t2\towner -, read public (default)")),
        "{list}"
    );
    let show = cli_ok(&db, &["layer", "show", "parcels"]);
    assert!(
        show.contains("access: owner -, read public (default)"),
        "{show}"
    );
    let out = cli_ok(
        &db,
        &[
            "layer",
            "set-access",
            "wells",
            "--read",
            "users",
            "--owner",
            "police",
        ],
    );
    assert!(
        out.contains("wells: owner police, read users, edit -"),
        "{out}"
    );
    let list = cli_ok(&db, &["layer", "list"]);
    assert!(
        list.contains("wells\tvector\t2\towner police, read users, edit -\twells"),
        "{list}"
    );
    let json: Value = serde_json::from_str(&cli_ok(&db, &["layer", "list", "--json"])).unwrap();
    assert!(
        json["layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == "wells" && l["access"]["owner"] == "police"),
        "{json}"
    );

    // two servers on one database
    let one = TestServer::start(&db);
    let two = TestServer::start(&db);
    let admin_one = Cred::Bearer(login(&one, "boss").await);
    let admin_two = Cred::Bearer(login(&two, "boss").await);
    wait_loaded(&one, &admin_one, &["parcels", "wells", "scratch"]).await;
    wait_loaded(&two, &admin_two, &["parcels", "wells", "scratch"]).await;
    let (z, x, y) = tile_at(LON, LAT, Z);
    for id in ["parcels", "wells", "scratch"] {
        // cached on server two before the changes
        let r = get(&two, &admin_two, &format!("/tiles/{id}/{z}/{x}/{y}")).await;
        assert_eq!(r.status(), 200, "{id}");
    }
    let r = get(&two, &Cred::None, &format!("/tiles/parcels/{z}/{x}/{y}")).await;
    assert_eq!(r.status(), 200, "parcels is public so far");
    let Cred::Bearer(token) = &admin_one else {
        unreachable!()
    };
    let put = |path: String, body: Value| {
        http()
            .put(one.url(&path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    // bad bodies: 422 with the reason
    for (body, says) in [
        (json!({"read": "everyone"}), "unknown read policy"),
        (
            json!({"read": "departments:fire"}),
            "the departments are land, police",
        ),
        (json!({"edit": [1]}), "list of department codes"),
        (json!({"owner": "a,b"}), "one department code"),
        (json!({"colour": "red"}), "unknown field"),
        (json!({}), "nothing to change"),
    ] {
        let r = put("/api/admin/layers/parcels/access".into(), body.clone())
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{body}");
        let text = r.text().await.unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
    let r = put(
        "/api/admin/layers/nope/access".into(),
        json!({"read": "users"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
    // a non-admin may not manage layers
    let pol = login(&one, "pol").await;
    let r = http()
        .delete(one.url("/api/admin/layers/scratch"))
        .bearer_auth(&pol)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // access set on server one: server two applies it within a second
    let r = put(
        "/api/admin/layers/parcels/access".into(),
        json!({"read": "departments:land", "edit": ["land"], "owner": "land"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["access"]["read"], "departments:land", "{body}");
    assert_eq!(body["access"]["owner"], "land", "{body}");
    let listed = get_json(&one, &admin_one, "/api/admin/layers").await;
    let parcels = listed["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "parcels")
        .cloned()
        .expect("parcels listed");
    assert_eq!(parcels["access"]["edit"], json!(["land"]), "{parcels}");
    within_a_second("parcels hidden on server two", || async {
        get(&two, &Cred::None, &format!("/tiles/parcels/{z}/{x}/{y}"))
            .await
            .status()
            == 404
    })
    .await;

    // delete through the API on server one: gone on server two within a second
    let r = http()
        .delete(one.url("/api/admin/layers/wells"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    within_a_second("wells gone from server two", || async {
        let tile = get(&two, &admin_two, &format!("/tiles/wells/{z}/{x}/{y}"))
            .await
            .status();
        let catalog = get_json(&two, &admin_two, "/catalog").await.to_string();
        tile == 404 && !catalog.contains("\"wells\"")
    })
    .await;
    let r = http()
        .delete(one.url("/api/admin/layers/wells"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "deleted twice");
    let r = http()
        .delete(one.url("/api/admin/layers/cases"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "a layer of grid management");

    // delete through the command line: gone on both servers within a second
    let out = cli_ok(&db, &["layer", "delete", "scratch", "--yes"]);
    assert!(out.contains("layer scratch deleted"), "{out}");
    for server in [&one, &two] {
        within_a_second("scratch gone", || async {
            get(server, &Cred::None, &format!("/tiles/scratch/{z}/{x}/{y}"))
                .await
                .status()
                == 404
                && get(server, &Cred::None, "/ogc/collections/scratch/items")
                    .await
                    .status()
                    == 404
        })
        .await;
    }
    // the tables are gone, and every change is in the audit trail
    for id in ["wells", "scratch"] {
        let table: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(format!("layers.\"{id}\""))
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(table, None, "{id}");
    }
    let audit: Vec<(String, Value)> =
        sqlx::query_as("SELECT action, detail FROM audit_log ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let actions: BTreeMap<String, usize> = audit.iter().fold(BTreeMap::new(), |mut m, (a, _)| {
        *m.entry(a.clone()).or_default() += 1;
        m
    });
    assert!(actions.contains_key("layer_delete"), "{actions:?}");
    assert!(actions.contains_key("layer_access"), "{actions:?}");
    assert!(
        audit.iter().any(|(a, d)| a == "admin_write"
            && d["method"] == "DELETE"
            && d["path"] == "/api/admin/layers/wells"),
        "{audit:?}"
    );
    assert!(
        audit.iter().any(|(a, d)| a == "admin_write"
            && d["method"] == "PUT"
            && d["path"] == "/api/admin/layers/parcels/access"),
        "{audit:?}"
    );
}

/// Polls `check` every 50 ms for at most a second.
async fn within_a_second<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not within a second");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The home view (`/api/home` and the default style's centre) is built from layers
/// the caller may read: a restricted layer, even the largest, does not reveal where
/// it lies to a caller who may not read it.
#[tokio::test(flavor = "multi_thread")]
async fn the_home_view_does_not_reveal_a_restricted_layer() {
    let db = TestDb::new().await;
    make_layer(&db, "small_public").await;
    // the largest layer, far away, readable by admins only
    sql(
        &db,
        "CREATE TABLE layers.\"big_secret\" AS SELECT g AS fid, \
         ST_SetSRID(ST_MakePoint(10 + g * 0.0001, 50), 4326) AS geom, 'x' AS name, g AS rank \
         FROM generate_series(1, 50) g",
    )
    .await;
    sql(
        &db,
        "ALTER TABLE layers.\"big_secret\" ADD PRIMARY KEY (fid)",
    )
    .await;
    sqlx::query(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         VALUES ('big_secret', 'big_secret', 'vector', 'Point', \
                 '[{\"name\":\"name\",\"type\":\"text\"},{\"name\":\"rank\",\"type\":\"integer\"}]'::jsonb, \
                 50, ARRAY[10, 50, 10.005, 50]::float8[])",
    )
    .execute(&db.pool)
    .await
    .expect("catalogue row");
    cli_ok(
        &db,
        &["layer", "set-access", "big_secret", "--read", "admins"],
    );
    common::add_user(&db, "home_admin", "admin", None, PASSWORD);
    let server = TestServer::start(&db);
    let admin = Cred::Bearer(login(&server, "home_admin").await);
    wait_loaded(&server, &admin, &["small_public", "big_secret"]).await;
    let anonymous = get_json(&server, &Cred::None, "/api/home").await;
    assert_eq!(anonymous["source"], "layer:small_public", "{anonymous}");
    let style = get_json(&server, &Cred::None, "/styles/default.json").await;
    assert!(
        style["center"][0]
            .as_f64()
            .is_some_and(|lon| (lon - LON).abs() < 0.1),
        "the anonymous style opens at the public layer: {}",
        style["center"]
    );
    let signed_in = get_json(&server, &admin, "/api/home").await;
    assert_eq!(signed_in["source"], "layer:big_secret", "{signed_in}");
}

/// The geocoder answers anyone, so it takes road names only from road layers anyone
/// may read: restricting a road layer takes its names out of `/api/geocode`.
#[tokio::test(flavor = "multi_thread")]
async fn the_geocoder_uses_only_public_road_layers() {
    let db = TestDb::new().await;
    sql(
        &db,
        &format!(
            "CREATE TABLE layers.\"city_roads\" AS SELECT 1::bigint AS fid, \
             ST_SetSRID(ST_MakeLine(ST_MakePoint({LON}, {LAT}), ST_MakePoint({LON} + 0.004, {LAT})), 4326) AS geom, \
             'Zyxwarda Avenue'::text AS name"
        ),
    )
    .await;
    sql(
        &db,
        "ALTER TABLE layers.\"city_roads\" ADD PRIMARY KEY (fid)",
    )
    .await;
    sqlx::query(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         VALUES ('city_roads', 'City roads', 'vector', 'LineString', \
                 '[{\"name\":\"name\",\"type\":\"text\"}]'::jsonb, 1, ARRAY[$1, $2, $1 + 0.004, $2])",
    )
    .bind(LON)
    .bind(LAT)
    .execute(&db.pool)
    .await
    .expect("catalogue row");
    let server = TestServer::start(&db);
    let found = |server: &TestServer| {
        let url = server.url("/api/geocode?q=Zyxwarda%20Avenue&limit=5");
        async move {
            let v: Value = http()
                .get(url)
                .send()
                .await
                .expect("geocode")
                .json()
                .await
                .expect("json");
            v["candidates"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|x| x["label"].as_str().unwrap_or("").contains("Zyxwarda"))
            })
        }
    };
    within(
        "the public road is geocoded",
        Duration::from_secs(20),
        || found(&server),
    )
    .await;
    cli_ok(
        &db,
        &["layer", "set-access", "city_roads", "--read", "users"],
    );
    let gone = || async { !found(&server).await };
    within(
        "the restricted road leaves the geocoder",
        Duration::from_secs(20),
        gone,
    )
    .await;
}

/// Waits until `check` holds, at most `limit`.
async fn within<F, Fut>(what: &str, limit: Duration, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
