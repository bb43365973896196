//! `deploy/kubernetes/`: references between objects, and every sluice pod
//! started (pod by pod for the StatefulSet) with the env and mounts its
//! manifest gives it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::sluice::{check_members, check_process, check_rules, resolve, Launch, Printed};
use crate::{scalar, strings, yaml_docs};

/// Every object of the directory, by (kind, name).
struct Objects(BTreeMap<(String, String), Value>);

impl Objects {
    fn load(dir: &Path) -> Objects {
        let kust = &yaml_docs(&dir.join("kustomization.yaml"))[0];
        let listed: BTreeSet<String> = strings(&kust["resources"]).into_iter().collect();
        let mut files = BTreeSet::new();
        let mut all = BTreeMap::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.ends_with(".yaml") || name == "kustomization.yaml" {
                continue;
            }
            files.insert(name.clone());
            for doc in yaml_docs(&path) {
                let kind = scalar(&doc["kind"]).unwrap_or_else(|| panic!("{name}: no kind"));
                let n = scalar(&doc["metadata"]["name"])
                    .unwrap_or_else(|| panic!("{name}: a {kind} without metadata.name"));
                assert!(
                    doc["apiVersion"].is_string(),
                    "{name}: {kind} {n}: no apiVersion"
                );
                let dup = all.insert((kind.clone(), n.clone()), doc);
                assert!(dup.is_none(), "{name}: {kind} {n} declared twice");
            }
        }
        assert_eq!(
            listed, files,
            "kustomization.yaml resources vs. the manifests in the directory"
        );
        Objects(all)
    }

    fn get(&self, kind: &str, name: &str) -> Option<&Value> {
        self.0.get(&(kind.to_string(), name.to_string()))
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.0
            .iter()
            .filter(move |((k, _), _)| k == kind)
            .map(|((_, n), v)| (n.as_str(), v))
    }

    /// (kind, name, object) of every Deployment and StatefulSet.
    fn workloads(&self) -> Vec<(&str, &str, &Value)> {
        let mut out = Vec::new();
        for kind in ["Deployment", "StatefulSet"] {
            out.extend(self.of_kind(kind).map(|(n, v)| (kind, n, v)));
        }
        out
    }
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (scalar(k).unwrap(), scalar(v).unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

fn selects(selector: &BTreeMap<String, String>, pod: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| pod.get(k) == Some(v))
}

/// The containerPort a Service's or probe's port (a name or a number) means.
fn container_port(containers: &Value, port: &Value) -> Option<u16> {
    let ports = containers
        .as_sequence()?
        .iter()
        .flat_map(|c| c["ports"].as_sequence().cloned().unwrap_or_default());
    for p in ports {
        let number = p["containerPort"].as_u64()? as u16;
        let matches = match port {
            Value::String(name) => p["name"].as_str() == Some(name.as_str()),
            Value::Number(n) => n.as_u64() == Some(u64::from(number)),
            _ => false,
        };
        if matches {
            return Some(number);
        }
    }
    None
}

pub fn check(dir: &Path) {
    let objs = Objects::load(dir);
    let workloads = objs.workloads();
    assert!(!workloads.is_empty(), "no Deployment or StatefulSet");
    for (kind, name, w) in &workloads {
        let pod = labels(&w["spec"]["template"]["metadata"]["labels"]);
        let sel = labels(&w["spec"]["selector"]["matchLabels"]);
        assert!(
            selects(&sel, &pod),
            "{kind} {name}: selector does not match its own pod labels"
        );
        check_pod_spec(&objs, &format!("{kind} {name}"), w);
    }
    for (name, svc) in objs.of_kind("Service") {
        check_service(&objs, name, svc);
    }
    for (name, pdb) in objs.of_kind("PodDisruptionBudget") {
        let sel = labels(&pdb["spec"]["selector"]["matchLabels"]);
        assert!(
            workloads.iter().any(|(_, _, w)| selects(
                &sel,
                &labels(&w["spec"]["template"]["metadata"]["labels"])
            )),
            "PodDisruptionBudget {name}: selects no workload's pods"
        );
    }
    for (name, sts) in objs.of_kind("StatefulSet") {
        let svc_name = scalar(&sts["spec"]["serviceName"]).unwrap_or_default();
        let svc = objs.get("Service", &svc_name).unwrap_or_else(|| {
            panic!("StatefulSet {name}: serviceName {svc_name:?} is no Service")
        });
        assert_eq!(
            svc["spec"]["clusterIP"].as_str(),
            Some("None"),
            "StatefulSet {name}: its serviceName {svc_name} must be headless"
        );
        assert!(
            selects(
                &labels(&svc["spec"]["selector"]),
                &labels(&sts["spec"]["template"]["metadata"]["labels"])
            ),
            "StatefulSet {name}: Service {svc_name} does not select its pods"
        );
    }
    for (name, _) in objs.of_kind("ConfigMap") {
        let used = workloads.iter().any(|(_, _, w)| {
            let vols = &w["spec"]["template"]["spec"]["volumes"];
            vols.as_sequence().is_some_and(|vs| {
                vs.iter()
                    .any(|v| v["configMap"]["name"].as_str() == Some(name))
            })
        });
        assert!(used, "ConfigMap {name} is mounted by no workload");
    }
    check_sluice_pods(&objs, dir);
}

fn check_service(objs: &Objects, name: &str, svc: &Value) {
    let sel = labels(&svc["spec"]["selector"]);
    let targets: Vec<_> = objs
        .workloads()
        .into_iter()
        .filter(|(_, _, w)| selects(&sel, &labels(&w["spec"]["template"]["metadata"]["labels"])))
        .collect();
    assert!(
        !targets.is_empty(),
        "Service {name}: selector {sel:?} matches no workload's pod labels"
    );
    let ports = svc["spec"]["ports"].as_sequence().expect("Service ports");
    assert!(!ports.is_empty(), "Service {name}: no ports");
    for p in ports {
        let target = if p["targetPort"].is_null() {
            &p["port"]
        } else {
            &p["targetPort"]
        };
        for (kind, wname, w) in &targets {
            let containers = &w["spec"]["template"]["spec"]["containers"];
            assert!(
                container_port(containers, target).is_some(),
                "Service {name}: port {:?} targets {target:?}, which {kind} {wname} does not declare",
                p["port"]
            );
        }
    }
}

/// Volumes, mounts, ConfigMap/Secret references and probe ports of a pod template.
fn check_pod_spec(objs: &Objects, what: &str, w: &Value) {
    let spec = &w["spec"]["template"]["spec"];
    let mut volumes: BTreeMap<String, &Value> = BTreeMap::new();
    let vols = spec["volumes"].as_sequence();
    for v in vols.into_iter().flatten() {
        let n = scalar(&v["name"]).unwrap();
        assert!(
            volumes.insert(n.clone(), v).is_none(),
            "{what}: volume {n} twice"
        );
        for (key, kind) in [("configMap", "ConfigMap"), ("secret", "Secret")] {
            if v[key].is_null() {
                continue;
            }
            let field = if kind == "Secret" {
                "secretName"
            } else {
                "name"
            };
            let ref_name = scalar(&v[key][field]).unwrap_or_default();
            let obj = objs.get(kind, &ref_name).unwrap_or_else(|| {
                panic!("{what}: volume {n} refers to missing {kind} {ref_name:?}")
            });
            for item in v[key]["items"].as_sequence().into_iter().flatten() {
                let k = scalar(&item["key"]).unwrap();
                assert!(
                    has_key(obj, &k),
                    "{what}: volume {n}: {kind} {ref_name} has no key {k}"
                );
            }
        }
    }
    let claims: BTreeSet<String> = w["spec"]["volumeClaimTemplates"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|c| scalar(&c["metadata"]["name"]).unwrap())
        .collect();
    let containers = spec["containers"].as_sequence().expect("containers");
    for c in containers {
        let cname = scalar(&c["name"]).unwrap();
        let mut mounts: Vec<(String, String)> = Vec::new();
        for m in c["volumeMounts"].as_sequence().into_iter().flatten() {
            let n = scalar(&m["name"]).unwrap();
            assert!(
                volumes.contains_key(&n) || claims.contains(&n),
                "{what}: container {cname} mounts {n}, which is no volume or volumeClaimTemplate"
            );
            mounts.push((scalar(&m["mountPath"]).unwrap(), n));
        }
        // a mount inside a ConfigMap or Secret mount needs a directory
        // created in a read-only volume
        for (path, _) in &mounts {
            for (outer, vol) in &mounts {
                let projected = volumes
                    .get(vol)
                    .is_some_and(|v| !v["configMap"].is_null() || !v["secret"].is_null());
                assert!(
                    !(projected && path.starts_with(&format!("{outer}/"))),
                    "{what}: {path} is mounted inside the read-only volume at {outer}"
                );
            }
        }
        for e in c["env"].as_sequence().into_iter().flatten() {
            for (key, kind) in [("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")] {
                let r = &e["valueFrom"][key];
                if r.is_null() {
                    continue;
                }
                let (n, k) = (scalar(&r["name"]).unwrap(), scalar(&r["key"]).unwrap());
                let obj = objs.get(kind, &n);
                assert!(
                    obj.is_some_and(|o| has_key(o, &k)),
                    "{what}: env {:?} refers to missing {kind} {n} key {k}",
                    e["name"]
                );
            }
        }
        for e in c["envFrom"].as_sequence().into_iter().flatten() {
            for (key, kind) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
                if let Some(n) = scalar(&e[key]["name"]) {
                    assert!(
                        objs.get(kind, &n).is_some(),
                        "{what}: envFrom missing {kind} {n}"
                    );
                }
            }
        }
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let port = &c[probe]["httpGet"]["port"];
            if !port.is_null() {
                assert!(
                    container_port(&Value::Sequence(vec![c.clone()]), port).is_some(),
                    "{what}: {probe} port {port:?} is no containerPort of {cname}"
                );
            }
        }
    }
}

fn has_key(obj: &Value, key: &str) -> bool {
    ["data", "stringData", "binaryData"]
        .iter()
        .any(|d| !obj[*d][key].is_null())
}

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

fn check_sluice_pods(objs: &Objects, dir: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let mut pods: Vec<(String, Printed)> = Vec::new();
    // pod name → (headless service of its StatefulSet, HTTP port)
    let mut stable: BTreeMap<String, String> = BTreeMap::new();
    let mut rules_checked = 0;
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
