//! Changing the stored rule groups (the ruler API's POST and DELETE) and
//! refreshing the local rules directory from the object store. With object
//! storage a change goes to the object store first, then the namespace
//! file as stored there is written to the local cache and the rules are
//! reloaded; other rulers pick it up on their next refresh.

use super::Ruler;
use crate::error::{Error, Result};
use crate::rules::RuleGroup;

/// Runs `f` off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Storage(format!("rules task failed: {e}")))?
}

impl Ruler {
    /// With object storage, makes the local rules directory a copy of the
    /// object store's `rules/` tree (nothing to do with local storage).
    /// On an object store error the cache is left as it was.
    pub async fn pull(&self) -> Result<()> {
        let Some(objects) = &self.inner.objects else {
            return Ok(());
        };
        let want = objects.fetch_all().await?;
        let r = self.clone();
        blocking(move || r.inner.store.mirror(&want)).await
    }

    /// [`Ruler::pull`], then reloads what changed ([`Ruler::sync`]); the
    /// poll loop's step. A failed pull is logged and the cache kept.
    pub async fn refresh(&self) {
        if let Err(e) = self.pull().await {
            tracing::error!(error = %e, "syncing rule groups from the object store");
        }
        let r = self.clone();
        let _ = blocking(move || {
            r.sync(false);
            Ok(())
        })
        .await;
    }

    /// Writes the namespace file the object store now holds (`None`:
    /// removed) to the local cache and reloads the rules.
    async fn cache(&self, tenant: String, namespace: String, bytes: Option<Vec<u8>>) -> Result<()> {
        let r = self.clone();
        blocking(move || {
            r.inner
                .store
                .write_namespace(&tenant, &namespace, bytes.as_deref())?;
            r.sync(true);
            Ok(())
        })
        .await
    }

    /// Runs a local-store change, then reloads the rules.
    async fn local(
        &self,
        f: impl FnOnce(&crate::store::LocalStore) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let r = self.clone();
        blocking(move || {
            f(&r.inner.store)?;
            r.sync(true);
            Ok(())
        })
        .await
    }

    /// Adds or replaces a group of a namespace (validated by the caller).
    pub async fn put_group(&self, tenant: &str, namespace: &str, group: RuleGroup) -> Result<()> {
        let (t, ns) = (tenant.to_string(), namespace.to_string());
        match &self.inner.objects {
            Some(o) => {
                let bytes = o.put_group(tenant, namespace, group).await?;
                self.cache(t, ns, bytes).await
            }
            None => self.local(move |s| s.put_group(&t, &ns, group)).await,
        }
    }

    /// Removes one group; `NotFound` if it is not there.
    pub async fn delete_group(&self, tenant: &str, namespace: &str, group: &str) -> Result<()> {
        let (t, ns, g) = (tenant.to_string(), namespace.to_string(), group.to_string());
        match &self.inner.objects {
            Some(o) => {
                let bytes = o.delete_group(tenant, namespace, group).await?;
                self.cache(t, ns, bytes).await
            }
            None => self.local(move |s| s.delete_group(&t, &ns, &g)).await,
        }
    }

    /// Removes a namespace with all its groups; `NotFound` if absent.
    pub async fn delete_namespace(&self, tenant: &str, namespace: &str) -> Result<()> {
        let (t, ns) = (tenant.to_string(), namespace.to_string());
        match &self.inner.objects {
            Some(o) => {
                o.delete_namespace(tenant, namespace).await?;
                self.cache(t, ns, None).await
            }
            None => self.local(move |s| s.delete_namespace(&t, &ns)).await,
        }
    }
}
