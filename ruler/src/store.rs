//! Rule groups in a local directory laid out as Loki's local rule store:
//! `<dir>/<tenant>/<namespace>`, one YAML rule file per namespace (the
//! namespace is the file name, e.g. `alerts.yaml`). Groups written through
//! the API are stored here too, so they survive restarts. Files are written
//! to a temporary name and renamed, so a reader never sees half a file.
//! With object storage this directory is a cache the ruler keeps equal to
//! the object store's rule files ([`LocalStore::mirror`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::rules::{self, Group, RuleFile, RuleGroup};

/// What changed on disk is noticed by comparing these.
pub type Signature = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// One namespace file as loaded: its groups, or why it was rejected.
pub struct LoadedNamespace {
    pub tenant: String,
    pub namespace: String,
    pub groups: Result<Vec<Group>>,
}

#[derive(Clone, Debug)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    pub fn new(dir: PathBuf) -> Self {
        LocalStore { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every rule file with its modification time and size.
    pub fn signature(&self) -> Signature {
        let mut out = Vec::new();
        for (_, _, path) in self.files() {
            let meta = std::fs::metadata(&path).ok();
            let mtime = meta.as_ref().and_then(|m| m.modified().ok());
            out.push((path, mtime, meta.map_or(0, |m| m.len())));
        }
        out
    }

    /// (tenant, namespace, path) of every rule file, sorted.
    fn files(&self) -> Vec<(String, String, PathBuf)> {
        let mut out = Vec::new();
        for tenant in list(&self.dir, true) {
            let tdir = self.dir.join(&tenant);
            for ns in list(&tdir, false) {
                let path = tdir.join(&ns);
                out.push((tenant.clone(), ns, path));
            }
        }
        out
    }

    /// Loads and validates every namespace file.
    pub fn load(&self) -> Vec<LoadedNamespace> {
        self.files()
            .into_iter()
            .map(|(tenant, namespace, path)| {
                let groups = std::fs::read_to_string(&path)
                    .map_err(|e| Error::io(&path, e))
                    .and_then(|text| rules::parse_file(&path.display().to_string(), &text));
                LoadedNamespace {
                    tenant,
                    namespace,
                    groups,
                }
            })
            .collect()
    }

    fn path(&self, tenant: &str, namespace: &str) -> Result<PathBuf> {
        check_name("tenant", tenant)?;
        check_name("namespace", namespace)?;
        Ok(self.dir.join(tenant).join(namespace))
    }

    fn read_file(&self, path: &Path) -> Result<RuleFile> {
        match std::fs::read_to_string(path) {
            Ok(text) => parse_stored(&path.display().to_string(), &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RuleFile::default()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn write_file(&self, path: &Path, file: &RuleFile) -> Result<()> {
        self.write_bytes(path, encode(file)?.as_deref().map(str::as_bytes))
    }

    /// Writes `bytes` to `path` through a temporary file and a rename, or
    /// removes the file when `None`.
    fn write_bytes(&self, path: &Path, bytes: Option<&[u8]>) -> Result<()> {
        let Some(bytes) = bytes else {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
                _ => Ok(()),
            };
        };
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("rules");
        let tmp = parent.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    /// Replaces one namespace file with `bytes` as stored elsewhere (the
    /// object store), or removes it when `None`.
    pub fn write_namespace(
        &self,
        tenant: &str,
        namespace: &str,
        bytes: Option<&[u8]>,
    ) -> Result<()> {
        let path = self.path(tenant, namespace)?;
        self.write_bytes(&path, bytes)
    }

    /// Makes the directory hold exactly `want` ((tenant, namespace) →
    /// file bytes): changed files are rewritten, files not in `want` are
    /// removed, unchanged ones are left alone (so their mtime, and with it
    /// the reload signature, stays the same).
    pub fn mirror(&self, want: &BTreeMap<(String, String), Vec<u8>>) -> Result<()> {
        for ((tenant, namespace), bytes) in want {
            let path = self.path(tenant, namespace)?;
            if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
                self.write_bytes(&path, Some(bytes))?;
            }
        }
        for (tenant, namespace, path) in self.files() {
            if !want.contains_key(&(tenant, namespace)) {
                self.write_bytes(&path, None)?;
            }
        }
        Ok(())
    }

    /// Adds or replaces a group of a namespace (validated by the caller).
    pub fn put_group(&self, tenant: &str, namespace: &str, group: RuleGroup) -> Result<()> {
        let path = self.path(tenant, namespace)?;
        let mut file = self.read_file(&path)?;
        put_in(&mut file, group);
        self.write_file(&path, &file)
    }

    /// Removes one group; `NotFound` if it is not there.
    pub fn delete_group(&self, tenant: &str, namespace: &str, group: &str) -> Result<()> {
        let path = self.path(tenant, namespace)?;
        let mut file = self.read_file(&path)?;
        delete_in(&mut file, group)?;
        self.write_file(&path, &file)
    }

    /// Removes a namespace with all its groups; `NotFound` if absent.
    pub fn delete_namespace(&self, tenant: &str, namespace: &str) -> Result<()> {
        let path = self.path(tenant, namespace)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::NotFound("namespace does not exist".into()))
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}

/// A stored namespace file (`what` names it in errors), as written.
pub(crate) fn parse_stored(what: &str, text: &str) -> Result<RuleFile> {
    serde_yaml::from_str(text)
        .map_err(|e| Error::Invalid(format!("{what}: stored rule file is not valid: {e}")))
}

/// The file's YAML, or `None` when it holds no group (it is removed then).
pub(crate) fn encode(file: &RuleFile) -> Result<Option<String>> {
    if file.groups.is_empty() {
        return Ok(None);
    }
    serde_yaml::to_string(file)
        .map(Some)
        .map_err(|e| Error::Invalid(format!("encoding rule file: {e}")))
}

/// Adds `group` to `file`, replacing the group of the same name.
pub(crate) fn put_in(file: &mut RuleFile, group: RuleGroup) {
    match file.groups.iter_mut().find(|g| g.name == group.name) {
        Some(g) => *g = group,
        None => file.groups.push(group),
    }
}

/// Removes group `name` from `file`; `NotFound` if it is not there.
pub(crate) fn delete_in(file: &mut RuleFile, name: &str) -> Result<()> {
    let before = file.groups.len();
    file.groups.retain(|g| g.name != name);
    if file.groups.len() == before {
        return Err(Error::NotFound("group does not exist".into()));
    }
    Ok(())
}

/// Names of directories (`dirs`) or files in `dir`, hidden ones skipped.
fn list(dir: &Path, dirs: bool) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_type()
                .is_ok_and(|t| if dirs { t.is_dir() } else { t.is_file() })
        })
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    out.sort();
    out
}

pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        return Err(Error::Invalid(format!(
            "invalid {what} {name:?}: must be non-empty, not start with '.' and contain no '/'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const GOOD: &str =
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(rate({a=\"b\"}[1m])) > 1\n";

    #[test]
    fn loads_per_tenant_and_rejects_bad_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("t1")).unwrap();
        std::fs::write(dir.path().join("t1/good.yaml"), GOOD).unwrap();
        std::fs::write(
            dir.path().join("t1/bad.yaml"),
            "groups:\n- name: b\n  rules:\n  - alert: B\n    expr: '{a=\"b\"}'\n",
        )
        .unwrap();
        let store = LocalStore::new(dir.path().to_path_buf());
        let loaded = store.load();
        assert_eq!(loaded.len(), 2);
        let bad = loaded.iter().find(|l| l.namespace == "bad.yaml").unwrap();
        let err = bad.groups.as_ref().err().unwrap().to_string();
        assert!(
            err.contains("bad.yaml") && err.contains("group \"b\"") && err.contains("rule \"B\""),
            "{err}"
        );
        let good = loaded.iter().find(|l| l.namespace == "good.yaml").unwrap();
        assert_eq!(good.tenant, "t1");
        assert_eq!(good.groups.as_ref().unwrap()[0].name, "g");
    }

    #[test]
    fn put_and_delete_groups() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().to_path_buf());
        let g: RuleGroup = serde_yaml::from_str(
            "name: g\nrules:\n- record: a:b\n  expr: sum(rate({a=\"b\"}[1m]))\n",
        )
        .unwrap();
        store.put_group("t", "ns", g.clone()).unwrap();
        let mut g2 = g.clone();
        g2.name = "g2".into();
        store.put_group("t", "ns", g2).unwrap();
        store.put_group("t", "ns", g.clone()).unwrap();
        let file = store.read_file(&dir.path().join("t/ns")).unwrap();
        assert_eq!(file.groups.len(), 2);
        assert_eq!(file.groups[0], g);
        store.delete_group("t", "ns", "g").unwrap();
        assert!(matches!(
            store.delete_group("t", "ns", "g"),
            Err(Error::NotFound(_))
        ));
        store.delete_group("t", "ns", "g2").unwrap();
        assert!(
            !dir.path().join("t/ns").exists(),
            "an empty namespace file is removed"
        );
        assert!(store.put_group("t", "../x", g).is_err());
    }
}
