//! Every sluice pod of the manifests started as kubelet would start it:
//! environment (downward API, Secrets, `$(VAR)`), command and args, and
//! its ConfigMap mounts written out locally.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::{container_port, labels, selects, Objects};
use crate::deploy::sluice::{
    check_members, check_process, check_query_path, check_rules, resolve, Launch, Printed, Reach,
};
use crate::{scalar, strings};

/// kubelet's `$(VAR)` expansion of env values, command and args: `$$` is
/// `$`, an undefined `$(VAR)` stays as written.
fn kube_expand(s: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let (Some(body), Some(end)) = (after.strip_prefix('('), after.find(')')) {
            let name = &body[..end - 1];
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The environment kubelet gives container `c` of pod `pod`.
fn pod_env(
    objs: &Objects,
    c: &Value,
    pod: &str,
    ordinal: Option<usize>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for e in c["envFrom"].as_sequence().into_iter().flatten() {
        for (key, kind) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
            let Some(n) = scalar(&e[key]["name"]) else {
                continue;
            };
            let obj = objs.get(kind, &n).unwrap();
            assert!(
                obj["data"].is_null(),
                "{kind} {n}: use stringData (the test does not decode base64)"
            );
            for (k, v) in obj["stringData"].as_mapping().into_iter().flatten() {
                env.insert(scalar(k).unwrap(), scalar(v).unwrap_or_default());
            }
        }
    }
    for e in c["env"].as_sequence().into_iter().flatten() {
        let name = scalar(&e["name"]).unwrap();
        let value = if let Some(v) = scalar(&e["value"]) {
            kube_expand(&v, &env)
        } else if let Some(f) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match f {
                "metadata.name" => pod.to_string(),
                "metadata.namespace" => "sluice".to_string(),
                "status.podIP" => format!("10.1.0.{}", ordinal.unwrap_or(99) + 10),
                "metadata.labels['apps.kubernetes.io/pod-index']" => ordinal
                    .expect("pod-index label on a StatefulSet pod")
                    .to_string(),
                other => panic!("{pod}: env {name}: fieldRef {other} not modelled"),
            }
        } else {
            let r = &e["valueFrom"]["secretKeyRef"];
            let r = if r.is_null() {
                &e["valueFrom"]["configMapKeyRef"]
            } else {
                r
            };
            let kind = if e["valueFrom"]["secretKeyRef"].is_null() {
                "ConfigMap"
            } else {
                "Secret"
            };
            let obj = objs.get(kind, r["name"].as_str().unwrap()).unwrap();
            let key = r["key"].as_str().unwrap();
            scalar(&obj["stringData"][key])
                .or_else(|| scalar(&obj["data"][key]))
                .unwrap_or_else(|| panic!("{pod}: env {name}: no value"))
        };
        env.insert(name, value);
    }
    env.insert("HOSTNAME".into(), pod.to_string());
    env
}

/// Mount paths of a container and whether the volume there outlives the pod.
type Persistence = Vec<(String, bool)>;

/// Container paths of a pod → local copies (ConfigMaps written out; other
/// volumes become empty local directories) and whether each persists.
fn pod_mounts(
    objs: &Objects,
    w: &Value,
    c: &Value,
    tmp: &Path,
) -> (Vec<(String, PathBuf)>, Persistence) {
    let spec = &w["spec"]["template"]["spec"];
    let mut files = Vec::new();
    let mut persistent = Vec::new();
    for (i, m) in c["volumeMounts"]
        .as_sequence()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = scalar(&m["mountPath"]).unwrap();
        let vname = scalar(&m["name"]).unwrap();
        let local = tmp.join(format!("mount{i}"));
        std::fs::create_dir_all(&local).unwrap();
        let vol = spec["volumes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|v| v["name"].as_str() == Some(vname.as_str()));
        let from_claim = vol.is_none();
        if let Some(cm) = vol.and_then(|v| v["configMap"]["name"].as_str()) {
            let obj = objs.get("ConfigMap", cm).unwrap();
            let items: Vec<(String, String)> = match v_items(vol.unwrap()) {
                Some(items) => items,
                None => obj["data"]
                    .as_mapping()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| (scalar(k).unwrap(), scalar(k).unwrap()))
                    .collect(),
            };
            for (key, path) in items {
                let dest = local.join(path);
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::write(&dest, obj["data"][key.as_str()].as_str().unwrap()).unwrap();
            }
        }
        files.push((at.clone(), local));
        persistent.push((at, from_claim));
    }
    (files, persistent)
}

fn v_items(vol: &Value) -> Option<Vec<(String, String)>> {
    let items = vol["configMap"]["items"].as_sequence()?;
    Some(
        items
            .iter()
            .map(|i| (scalar(&i["key"]).unwrap(), scalar(&i["path"]).unwrap()))
            .collect(),
    )
}

/// Whether container path `p` lies on a persistent mount (the longest
/// mount containing it decides).
fn on_persistent(mounts: &[(String, bool)], p: &Path) -> bool {
    let p = p.to_string_lossy();
    mounts
        .iter()
        .filter(|(at, _)| p == at.as_str() || p.starts_with(&format!("{at}/")))
        .max_by_key(|(at, _)| at.len())
        .is_some_and(|(_, persists)| *persists)
}

pub(super) fn check_sluice_pods(objs: &Objects, dir: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let mut pods: Vec<(String, Printed)> = Vec::new();
    // pod name → (headless service of its StatefulSet, HTTP port)
    let mut stable: BTreeMap<String, String> = BTreeMap::new();
    let mut rules_checked = 0;
    // workload name → its pods started here, each with the replicas it stands for
    let mut started: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
    for (kind, name, w) in objs.workloads() {
        let replicas = w["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
        let spec = &w["spec"]["template"]["spec"];
        let pod_names: Vec<(String, Option<usize>)> = if kind == "StatefulSet" {
            (0..replicas)
                .map(|i| (format!("{name}-{i}"), Some(i)))
                .collect()
        } else {
            vec![(format!("{name}-7d4b9c-x2x9q"), None)]
        };
        for c in spec["containers"].as_sequence().unwrap() {
            if !c["image"].as_str().unwrap_or("").starts_with("sluice") {
                continue;
            }
            for (pod, ordinal) in &pod_names {
                let env = pod_env(objs, c, pod, *ordinal);
                let mut argv: Vec<String> = strings(&c["command"]);
                if argv.is_empty() {
                    argv.push("sluice".into()); // the image's ENTRYPOINT
                }
                argv.extend(strings(&c["args"]));
                let argv = argv.iter().map(|a| kube_expand(a, &env)).collect();
                let scratch = tmp.path().join(pod);
                let (mounts, persist) = pod_mounts(objs, w, c, &scratch);
                let what = format!("{kind} {name} pod {pod}");
                let printed = Launch {
                    what: what.clone(),
                    argv,
                    env,
                    mounts: mounts.clone(),
                }
                .run();
                check_process(&what, &printed, |p| on_persistent(&persist, p));
                let containers = Value::Sequence(vec![c.clone()]);
                for port in [printed.http_port, printed.grpc_port] {
                    assert!(
                        container_port(&containers, &Value::from(u64::from(port))).is_some(),
                        "{what}: listens on {port}, not a declared containerPort"
                    );
                }
                let ready = &c["readinessProbe"]["httpGet"];
                assert_eq!(
                    ready["path"].as_str(),
                    Some("/ready"),
                    "{what}: readinessProbe"
                );
                assert_eq!(
                    container_port(&containers, &ready["port"]),
                    Some(printed.http_port),
                    "{what}: readinessProbe is not on the HTTP port"
                );
                if printed.node_id.is_some() {
                    assert_eq!(
                        kind, "StatefulSet",
                        "{what}: a raft voter needs a stable name"
                    );
                    let svc = scalar(&w["spec"]["serviceName"]).unwrap();
                    let headless = objs.get("Service", &svc).unwrap();
                    assert_eq!(
                        headless["spec"]["publishNotReadyAddresses"].as_bool(),
                        Some(true),
                        "{what}: raft peers must resolve before they are ready: \
                         Service {svc} needs publishNotReadyAddresses"
                    );
                    assert_eq!(
                        w["spec"]["podManagementPolicy"].as_str(),
                        Some("Parallel"),
                        "{what}: voters wait for a quorum; OrderedReady would never start the second"
                    );
                    let port = service_port_to(headless, &containers, printed.http_port)
                        .unwrap_or_else(|| panic!("{what}: Service {svc} has no port to HTTP"));
                    stable.insert(pod.clone(), format!("{pod}.{svc}:{port}"));
                }
                if printed.runs("ruler") {
                    let local = resolve(&mounts, &printed.rules_dir.to_string_lossy())
                        .unwrap_or_else(|| panic!("{what}: rules directory is not mounted"));
                    rules_checked += check_rules(&what, &local);
                }
                let weight = if ordinal.is_some() { 1 } else { replicas };
                started
                    .entry(name.to_string())
                    .or_default()
                    .push((pod.clone(), weight));
                pods.push((pod.clone(), printed));
            }
        }
    }
    assert!(
        rules_checked > 0,
        "{}: no ruler with rule files",
        dir.display()
    );
    check_members("kubernetes", &pods, |pod| {
        stable.get(pod).cloned().unwrap_or_default()
    });
    let http: BTreeMap<&str, u16> = pods
        .iter()
        .map(|(n, p)| (n.as_str(), p.http_port))
        .collect();
    let grpc: BTreeMap<&str, u16> = pods
        .iter()
        .map(|(n, p)| (n.as_str(), p.grpc_port))
        .collect();
    check_query_path(
        "kubernetes",
        &pods,
        |host, port| service_reach(objs, &started, &http, host, port),
        // a headless Service resolves to every ready pod's address
        |host, port| Reach {
            processes: service_reach(objs, &started, &grpc, host, port),
            resolves_each: objs
                .get("Service", host)
                .is_some_and(|svc| svc["spec"]["clusterIP"].as_str() == Some("None")),
        },
    );
    let ingesters: Vec<&Printed> = pods
        .iter()
        .map(|p| &p.1)
        .filter(|p| p.runs("ingester"))
        .collect();
    let ids: BTreeSet<&str> = ingesters.iter().map(|p| p.instance_id.as_str()).collect();
    assert_eq!(
        ids.len(),
        ingesters.len(),
        "ingester instance ids are not unique"
    );
    assert!(
        ingesters.len() >= ingesters[0].replication_factor,
        "fewer ingesters than the replication factor"
    );
}

/// The pods (with the replicas each stands for) whose port in `ports` (HTTP
/// or gRPC, by pod) Service `host` port `port` reaches.
fn service_reach(
    objs: &Objects,
    started: &BTreeMap<String, Vec<(String, usize)>>,
    ports: &BTreeMap<&str, u16>,
    host: &str,
    port: u16,
) -> Vec<(String, usize)> {
    let Some(svc) = objs.get("Service", host) else {
        return Vec::new();
    };
    let Some(sp) = svc["spec"]["ports"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|p| p["port"].as_u64() == Some(u64::from(port)))
    else {
        return Vec::new();
    };
    let target = if sp["targetPort"].is_null() {
        &sp["port"]
    } else {
        &sp["targetPort"]
    };
    let sel = labels(&svc["spec"]["selector"]);
    let mut out = Vec::new();
    for (_, name, w) in objs.workloads() {
        if !selects(&sel, &labels(&w["spec"]["template"]["metadata"]["labels"])) {
            continue;
        }
        let containers = &w["spec"]["template"]["spec"]["containers"];
        let to = container_port(containers, target);
        for (pod, weight) in started.get(name).into_iter().flatten() {
            if to.is_some() && to == ports.get(pod.as_str()).copied() {
                out.push((pod.clone(), *weight));
            }
        }
    }
    out
}

/// The port of `svc` that reaches `http_port` of the pod's container.
fn service_port_to(svc: &Value, containers: &Value, http_port: u16) -> Option<u64> {
    svc["spec"]["ports"].as_sequence()?.iter().find_map(|p| {
        let target = if p["targetPort"].is_null() {
            &p["port"]
        } else {
            &p["targetPort"]
        };
        (container_port(containers, target) == Some(http_port)).then(|| p["port"].as_u64())?
    })
}

#[test]
fn kubelet_expansion() {
    let env: BTreeMap<String, String> = [("A".to_string(), "x".to_string())].into();
    for (input, want) in [
        ("$(A)-$(B)", "x-$(B)"),
        ("$$(A) $$ $", "$(A) $ $"),
        ("$(( ${P##*-} + 1 ))", "$(( ${P##*-} + 1 ))"),
        ("$(A", "$(A"),
    ] {
        assert_eq!(kube_expand(input, &env), want, "{input}");
    }
}
