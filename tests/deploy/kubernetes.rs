//! `deploy/kubernetes/`: references between objects, and every sluice pod
//! started (pod by pod for the StatefulSet) with the env and mounts its
//! manifest gives it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml::Value;

use crate::{scalar, strings, yaml_docs};

mod pods;

/// Every object of the directory, by (kind, name).
pub(super) struct Objects(BTreeMap<(String, String), Value>);

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

    pub(super) fn get(&self, kind: &str, name: &str) -> Option<&Value> {
        self.0.get(&(kind.to_string(), name.to_string()))
    }

    pub(super) fn of_kind<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.0
            .iter()
            .filter(move |((k, _), _)| k == kind)
            .map(|((_, n), v)| (n.as_str(), v))
    }

    /// (kind, name, object) of every Deployment and StatefulSet.
    pub(super) fn workloads(&self) -> Vec<(&str, &str, &Value)> {
        let mut out = Vec::new();
        for kind in ["Deployment", "StatefulSet"] {
            out.extend(self.of_kind(kind).map(|(n, v)| (kind, n, v)));
        }
        out
    }
}

pub(super) fn labels(v: &Value) -> BTreeMap<String, String> {
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
pub(super) fn container_port(containers: &Value, port: &Value) -> Option<u16> {
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
    pods::check_sluice_pods(&objs, dir);
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
