//! Rule groups in the object store the chunks use, under
//! `rules/<tenant>/<namespace>` (one YAML rule file per namespace, as in
//! the local layout). The ruler copies this tree into its local rules
//! directory every `poll_interval` and loads rules from there; the API's
//! changes are written here first, so every ruler sharing the store sees
//! them after its next sync.

use std::collections::BTreeMap;

use bytes::Bytes;
use sluice_storage::store::Store;

use crate::error::{Error, Result};
use crate::rules::{RuleFile, RuleGroup};
use crate::store::{check_name, delete_in, encode, parse_stored, put_in};

/// Key prefix of the rule files in the object store.
pub const RULES_PREFIX: &str = "rules";

/// (tenant, namespace) → the namespace file's bytes.
pub type RuleObjects = BTreeMap<(String, String), Vec<u8>>;

/// The rule files of an object store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ObjectRules {
    store: Store,
}

fn storage(e: sluice_storage::error::Error) -> Error {
    Error::Storage(e.to_string())
}

fn key(tenant: &str, namespace: &str) -> Result<String> {
    check_name("tenant", tenant)?;
    check_name("namespace", namespace)?;
    Ok(format!("{RULES_PREFIX}/{tenant}/{namespace}"))
}

impl ObjectRules {
    pub fn new(store: Store) -> Self {
        ObjectRules { store }
    }

    /// Every rule file in the store. Keys that are not
    /// `rules/<tenant>/<namespace>` with valid names are skipped (logged).
    pub async fn fetch_all(&self) -> Result<RuleObjects> {
        let keys = self
            .store
            .list_prefix(RULES_PREFIX)
            .await
            .map_err(storage)?;
        let mut out = BTreeMap::new();
        for k in keys {
            let rest = k
                .strip_prefix(RULES_PREFIX)
                .and_then(|r| r.strip_prefix('/'))
                .unwrap_or("");
            let parsed = rest.split_once('/').filter(|(t, n)| {
                !n.contains('/') && check_name("tenant", t).is_ok() && check_name("ns", n).is_ok()
            });
            let Some((tenant, namespace)) = parsed else {
                tracing::warn!(key = %k, "ignoring object that is not rules/<tenant>/<namespace>");
                continue;
            };
            // gone since the listing: deleted, so left out
            if let Some(bytes) = self.store.get_raw(&k).await.map_err(storage)? {
                out.insert((tenant.to_string(), namespace.to_string()), bytes.to_vec());
            }
        }
        Ok(out)
    }

    async fn read(&self, key: &str) -> Result<Option<RuleFile>> {
        let Some(bytes) = self.store.get_raw(key).await.map_err(storage)? else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::Invalid(format!("{key}: stored rule file is not UTF-8")))?;
        parse_stored(key, text).map(Some)
    }

    /// Writes `file` (or deletes the object when it holds no group);
    /// returns the bytes now stored.
    async fn write(&self, key: &str, file: &RuleFile) -> Result<Option<Vec<u8>>> {
        match encode(file)? {
            Some(text) => {
                let bytes = text.into_bytes();
                self.store
                    .put_raw(key, Bytes::from(bytes.clone()))
                    .await
                    .map_err(storage)?;
                Ok(Some(bytes))
            }
            None => {
                self.store.delete_raw(key).await.map_err(storage)?;
                Ok(None)
            }
        }
    }

    /// Adds or replaces a group of a namespace (validated by the caller);
    /// returns the namespace file as now stored.
    pub async fn put_group(
        &self,
        tenant: &str,
        namespace: &str,
        group: RuleGroup,
    ) -> Result<Option<Vec<u8>>> {
        let key = key(tenant, namespace)?;
        let mut file = self.read(&key).await?.unwrap_or_default();
        put_in(&mut file, group);
        self.write(&key, &file).await
    }

    /// Removes one group (`NotFound` if it is not there); returns the
    /// namespace file as now stored (`None` once it is empty).
    pub async fn delete_group(
        &self,
        tenant: &str,
        namespace: &str,
        group: &str,
    ) -> Result<Option<Vec<u8>>> {
        let key = key(tenant, namespace)?;
        let mut file = self.read(&key).await?.unwrap_or_default();
        delete_in(&mut file, group)?;
        self.write(&key, &file).await
    }

    /// Removes a namespace with all its groups; `NotFound` if absent.
    pub async fn delete_namespace(&self, tenant: &str, namespace: &str) -> Result<()> {
        let key = key(tenant, namespace)?;
        if self.store.get_raw(&key).await.map_err(storage)?.is_none() {
            return Err(Error::NotFound("namespace does not exist".into()));
        }
        self.store.delete_raw(&key).await.map_err(storage)
    }
}

#[cfg(test)]
#[path = "object_tests.rs"]
mod tests;
