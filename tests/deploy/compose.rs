//! `deploy/docker-compose.yaml` and the `Dockerfile` it builds: references
//! between services, volumes and ports, and every sluice service started
//! with its command, environment and bind mounts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::sluice::{
    check_members, check_process, check_query_path, check_rules, resolve, Launch, Printed, Reach,
};
use crate::{http_urls, scalar, strings, yaml_docs};

/// A volume entry in short syntax: (source, target, read-only).
fn volume(v: &Value) -> (String, String, bool) {
    if let Some(s) = v.as_str() {
        let parts: Vec<&str> = s.split(':').collect();
        let ro = parts
            .get(2)
            .is_some_and(|o| o.split(',').any(|o| o == "ro"));
        return (
            parts[0].into(),
            parts.get(1).unwrap_or(&parts[0]).to_string(),
            ro,
        );
    }
    (
        scalar(&v["source"]).unwrap_or_default(),
        scalar(&v["target"]).unwrap(),
        v["read_only"].as_bool().unwrap_or(false),
    )
}

fn is_bind(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

/// `depends_on` as a list or a map: (service, condition).
fn depends_on(svc: &Value) -> Vec<(String, String)> {
    match &svc["depends_on"] {
        Value::Sequence(s) => s
            .iter()
            .map(|d| (scalar(d).unwrap(), "service_started".into()))
            .collect(),
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                let cond = scalar(&v["condition"]).unwrap_or_else(|| "service_started".into());
                (scalar(k).unwrap(), cond)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `environment` as a map or a `KEY=VALUE` list.
fn environment(svc: &Value) -> BTreeMap<String, String> {
    match &svc["environment"] {
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| (scalar(k).unwrap(), scalar(v).unwrap_or_default()))
            .collect(),
        Value::Sequence(s) => s
            .iter()
            .filter_map(|e| {
                let (k, v) = e.as_str()?.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The published host ports of a service.
fn published(svc: &Value) -> Vec<String> {
    svc["ports"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|p| match p {
            Value::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                (parts.len() >= 2).then(|| parts[parts.len() - 2].to_string())
            }
            Value::Mapping(_) => scalar(&p["published"]),
            _ => None,
        })
        .collect()
}

/// A JSON-array instruction (`ENTRYPOINT ["..."]`) of the Dockerfile.
fn dockerfile_exec(dockerfile: &str, instruction: &str) -> Vec<String> {
    let line = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{instruction} ")))
        .unwrap_or_else(|| panic!("Dockerfile has no {instruction}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("Dockerfile {instruction}: {e}"))
}

pub fn check(path: &Path) {
    let base = path.parent().unwrap();
    let doc = &yaml_docs(path)[0];
    let raw = std::fs::read_to_string(path).unwrap();
    assert!(
        !raw.replace("$$", "").contains('$'),
        "compose interpolates ${{...}} itself; escape $ as $$"
    );
    let services = doc["services"].as_mapping().expect("services");
    let names: BTreeSet<String> = services.keys().map(|k| scalar(k).unwrap()).collect();
    let declared: BTreeSet<String> = doc["volumes"]
        .as_mapping()
        .map(|m| m.keys().map(|k| scalar(k).unwrap()).collect())
        .unwrap_or_default();
    let mut ports = BTreeMap::new();
    let mut named_users: BTreeMap<String, String> = BTreeMap::new();
    for (name, svc) in services {
        let name = scalar(name).unwrap();
        for (dep, cond) in depends_on(svc) {
            assert!(
                names.contains(&dep),
                "{name}: depends_on unknown service {dep}"
            );
            assert!(
                [
                    "service_started",
                    "service_healthy",
                    "service_completed_successfully"
                ]
                .contains(&cond.as_str()),
                "{name}: depends_on {dep}: condition {cond}"
            );
            if cond == "service_healthy" {
                assert!(
                    !services[dep.as_str()]["healthcheck"].is_null(),
                    "{name}: waits for {dep} to be healthy, which has no healthcheck"
                );
            }
        }
        for v in svc["volumes"].as_sequence().into_iter().flatten() {
            let (source, _, _) = volume(v);
            if is_bind(&source) {
                assert!(
                    base.join(&source).exists(),
                    "{name}: bind mount {source} does not exist"
                );
            } else {
                assert!(
                    declared.contains(&source),
                    "{name}: volume {source} is not declared"
                );
                if let Some(other) = named_users.insert(source.clone(), name.clone()) {
                    panic!("volume {source} is used by both {other} and {name}");
                }
            }
        }
        let replicas = svc["deploy"]["replicas"].as_u64().unwrap_or(1);
        for p in published(svc) {
            assert!(
                replicas == 1,
                "{name}: {replicas} replicas cannot all publish port {p}"
            );
            if let Some(other) = ports.insert(p.clone(), name.clone()) {
                panic!("host port {p} is published by both {other} and {name}");
            }
        }
        let build = &svc["build"];
        if !build.is_null() {
            let ctx = base.join(scalar(&build["context"]).unwrap_or_else(|| ".".into()));
            let file = scalar(&build["dockerfile"]).unwrap_or_else(|| "Dockerfile".into());
            assert!(
                ctx.join(&file).is_file(),
                "{name}: no {file} in the build context"
            );
        }
        // every URL in a command or a mounted file names a service
        let mut texts = strings(&svc["command"]);
        texts.extend(strings(&svc["entrypoint"]));
        for v in svc["volumes"].as_sequence().into_iter().flatten() {
            let (source, _, _) = volume(v);
            let p = base.join(&source);
            if is_bind(&source) && p.is_file() {
                texts.push(std::fs::read_to_string(p).unwrap());
            }
        }
        for (host, _) in texts.iter().flat_map(|t| http_urls(t)) {
            assert!(
                host == "localhost" || names.contains(&host),
                "{name}: refers to http://{host}, which is no service"
            );
        }
    }
    for v in &declared {
        assert!(
            named_users.contains_key(v),
            "volume {v} is declared but unused"
        );
    }
    check_sluice_services(base, doc);
}

fn check_sluice_services(base: &Path, doc: &Value) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let entrypoint = dockerfile_exec(&dockerfile, "ENTRYPOINT");
    assert_eq!(
        entrypoint,
        ["/usr/local/bin/sluice"],
        "Dockerfile ENTRYPOINT"
    );
    assert!(
        dockerfile.contains("COPY --from=build /usr/local/bin/sluice /usr/local/bin/sluice"),
        "the runtime stage must copy the binary the ENTRYPOINT runs"
    );
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l.trim() == "target"),
        ".dockerignore must leave out target/"
    );
    let cmd = dockerfile_exec(&dockerfile, "CMD");
    let services = doc["services"].as_mapping().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut all: Vec<(String, Printed)> = Vec::new();
    let mut rules = 0;
    for (name, svc) in services {
        let name = scalar(name).unwrap();
        if !svc["image"].as_str().unwrap_or("").starts_with("sluice") {
            continue;
        }
        assert!(
            !svc["build"].is_null(),
            "{name}: the sluice image is built here"
        );
        let mut argv = entrypoint.clone();
        argv.extend(match strings(&svc["command"]) {
            c if c.is_empty() => cmd.clone(),
            c => c,
        });
        // bind mounts are copied (as the container sees them); named
        // volumes become empty directories
        let mut mounts = Vec::new();
        let mut persistent = Vec::new();
        for (i, v) in svc["volumes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let (source, target, _) = volume(v);
            let local: PathBuf = if is_bind(&source) {
                base.join(&source)
            } else {
                let d = tmp.path().join(&name).join(format!("vol{i}"));
                std::fs::create_dir_all(&d).unwrap();
                persistent.push(target.clone());
                d
            };
            mounts.push((target, local));
        }
        let what = format!("compose service {name}");
        let p = Launch {
            what: what.clone(),
            argv,
            env: environment(svc),
            mounts: mounts.clone(),
        }
        .run();
        check_process(&what, &p, |path| {
            persistent.iter().any(|t| path.starts_with(t))
        });
        if p.runs("ingester") {
            assert_eq!(
                p.instance_addr, name,
                "{what}: instance_addr must be its service name"
            );
        }
        let health = strings(&svc["healthcheck"]["test"]).join(" ");
        assert!(
            health.contains(&format!("http://localhost:{}/ready", p.http_port)),
            "{what}: healthcheck {health:?} is not /ready on port {}",
            p.http_port
        );
        if let Some(endpoint) = &p.s3_endpoint {
            let (host, _) = http_urls(endpoint)[0].clone();
            assert!(
                services.contains_key(host.as_str()),
                "{what}: S3 endpoint {endpoint} is no service"
            );
        }
        if p.runs("ruler") {
            let local = resolve(&mounts, &p.rules_dir.to_string_lossy())
                .unwrap_or_else(|| panic!("{what}: rules directory is not mounted"));
            rules += check_rules(&what, &local);
        }
        all.push((name, p));
    }
    assert!(rules > 0, "compose: no ruler with rule files");
    let http: BTreeMap<String, u16> = all.iter().map(|(n, p)| (n.clone(), p.http_port)).collect();
    check_members("compose", &all, |name| format!("{name}:{}", http[name]));
    let replicas = |name: &str| services[name]["deploy"]["replicas"].as_u64().unwrap_or(1) as usize;
    let grpc: BTreeMap<String, u16> = all.iter().map(|(n, p)| (n.clone(), p.grpc_port)).collect();
    check_query_path(
        "compose",
        &all,
        |host, port| match http.get(host) {
            Some(p) if *p == port => vec![(host.to_string(), replicas(host))],
            _ => Vec::new(),
        },
        // Docker's DNS answers a service name with every replica's address
        |host, port| Reach {
            processes: match grpc.get(host) {
                Some(p) if *p == port => vec![(host.to_string(), replicas(host))],
                _ => Vec::new(),
            },
            resolves_each: true,
        },
    );
    let gateway = std::fs::read_to_string(base.join("microservices/nginx.conf")).unwrap();
    for (host, port) in http_urls(&gateway) {
        assert_eq!(
            http.get(&host),
            Some(&port),
            "nginx.conf: http://{host}:{port} is not a sluice service's HTTP port"
        );
    }
    let routes = nginx_routes(&gateway);
    let printed: BTreeMap<&str, &Printed> = all.iter().map(|(n, p)| (n.as_str(), p)).collect();
    for (location, target) in [
        ("= /loki/api/v1/push", "distributor"),
        ("= /loki/api/v1/tail", "querier"),
        ("/loki/api/v1/rules", "ruler"),
        ("/loki/api/", "query-frontend"),
        ("/api/prom/", "query-frontend"),
    ] {
        let host = routes
            .get(location)
            .unwrap_or_else(|| panic!("nginx.conf: no proxied location {location}"));
        assert!(
            printed.get(host.as_str()).is_some_and(|p| p.runs(target)),
            "nginx.conf: location {location} goes to {host}, which does not run the {target}"
        );
    }
}

/// nginx.conf's `location <pattern> { proxy_pass $var; }` blocks: pattern →
/// the host `$var` is `set` to.
fn nginx_routes(conf: &str) -> BTreeMap<String, String> {
    let vars: BTreeMap<&str, String> = conf
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("set ")?.trim_end_matches(';');
            let (var, url) = rest.split_once(char::is_whitespace)?;
            Some((var, http_urls(url.trim()).first()?.0.clone()))
        })
        .collect();
    conf.split("location ")
        .skip(1)
        .filter_map(|block| {
            let (pattern, body) = block.split_once('{')?;
            let body = body.split('}').next()?;
            let var = body.split("proxy_pass ").nth(1)?.split(';').next()?.trim();
            Some((pattern.trim().to_string(), vars.get(var)?.clone()))
        })
        .collect()
}

#[test]
fn nginx_routes_are_read() {
    let conf = "set $a http://one:1;\n set $b  http://two:2;\n\
                location = /x { proxy_pass $a; }\n location /y/ {\n proxy_pass $b;\n proxy_set_header A b;\n}\n\
                location / { return 404; }";
    let r = nginx_routes(conf);
    assert_eq!(r.get("= /x").map(String::as_str), Some("one"));
    assert_eq!(r.get("/y/").map(String::as_str), Some("two"));
    assert_eq!(r.len(), 2);
}
