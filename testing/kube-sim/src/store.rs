//! The object store: every object of every kind as JSON, one global resourceVersion counter,
//! and a bounded event history that watches replay from (older versions answer 410 Gone).

use crate::meta;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, broadcast};

/// A change to one object, as watches deliver it.
#[derive(Debug, Clone)]
pub struct Event {
    /// resourceVersion of this change.
    pub rv: u64,
    /// Store key of the resource (`apps/deployments`).
    pub key: String,
    /// Namespace of the object ("" for cluster-scoped).
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The object after the change (before, for deletions, with the deletion's rv).
    pub object: Value,
}

/// Why a watch cannot start.
#[derive(Debug)]
pub struct TooOld {
    /// The oldest resourceVersion still replayable.
    pub oldest: u64,
}

type Objects = BTreeMap<String, BTreeMap<(String, String), Value>>;

struct Inner {
    rv: u64,
    objects: Objects,
    history: VecDeque<Arc<Event>>,
    /// Highest resourceVersion dropped from `history`.
    compacted: u64,
    /// Last applied configuration per (uid, field manager), for server-side apply.
    applied: HashMap<(String, String), Value>,
}

/// Shared object store; cheap to clone through `Arc`.
pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Event>>,
    capacity: usize,
    /// Woken on every change, so controllers react without polling hard.
    pub changed: Notify,
}

impl Store {
    /// An empty store keeping `capacity` events for watch resumption.
    pub fn new(capacity: usize) -> Arc<Store> {
        let (events, _) = broadcast::channel(4096);
        Arc::new(Store {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted: 0,
                applied: HashMap::new(),
            }),
            events,
            capacity: capacity.max(1),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written map (all writes are
        // single inserts), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// One object, if present.
    pub fn get(&self, key: &str, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(key)
            .and_then(|m| m.get(&(namespace.to_string(), name.to_string())))
            .cloned()
    }

    /// Every object of a resource (in one namespace when given) and the list's resourceVersion.
    pub fn list(&self, key: &str, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .get(key)
            .map(|m| {
                m.iter()
                    .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default();
        (items, inner.rv)
    }

    /// Every namespaced object in a namespace, as (key, object) pairs.
    pub fn in_namespace(&self, namespace: &str) -> Vec<(String, Value)> {
        let inner = self.lock();
        let mut out = Vec::new();
        for (key, m) in &inner.objects {
            for ((ns, _), v) in m {
                if ns == namespace {
                    out.push((key.clone(), v.clone()));
                }
            }
        }
        out
    }

    /// Every object of every kind (for garbage collection).
    pub fn all(&self) -> Vec<(String, Value)> {
        let inner = self.lock();
        inner
            .objects
            .iter()
            .flat_map(|(k, m)| m.values().map(move |v| (k.clone(), v.clone())))
            .collect()
    }

    /// Writes an object (insert or replace) under a new resourceVersion; returns it as stored.
    /// `expect_rv`: when Some, the write fails with `Err(current)` unless the stored object
    /// has exactly that resourceVersion (None in the Option = must not exist).
    pub fn put(
        &self,
        key: &str,
        mut obj: Value,
        expect: Option<Option<&str>>,
    ) -> Result<Value, Option<Value>> {
        let ns = meta::namespace(&obj).to_string();
        let name = meta::name(&obj).to_string();
        let mut inner = self.lock();
        let existing = inner
            .objects
            .get(key)
            .and_then(|m| m.get(&(ns.clone(), name.clone())))
            .cloned();
        if let Some(expect) = expect {
            match (&existing, expect) {
                (None, None) => {}
                (Some(cur), Some(rv))
                    if cur
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        == Some(rv) => {}
                _ => return Err(existing),
            }
        }
        inner.rv += 1;
        let rv = inner.rv;
        meta::metadata_mut(&mut obj).insert("resourceVersion".into(), rv.to_string().into());
        inner
            .objects
            .entry(key.to_string())
            .or_default()
            .insert((ns.clone(), name), obj.clone());
        let kind = if existing.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.record(&mut inner, key, ns, kind, obj.clone());
        Ok(obj)
    }

    /// Removes an object; returns it (with the deletion's resourceVersion) if it existed.
    pub fn remove(&self, key: &str, namespace: &str, name: &str) -> Option<Value> {
        let mut inner = self.lock();
        let mut obj = inner
            .objects
            .get_mut(key)?
            .remove(&(namespace.to_string(), name.to_string()))?;
        inner.rv += 1;
        let rv = inner.rv;
        let uid = meta::uid(&obj).to_string();
        inner.applied.retain(|(u, _), _| *u != uid);
        meta::metadata_mut(&mut obj).insert("resourceVersion".into(), rv.to_string().into());
        self.record(
            &mut inner,
            key,
            namespace.to_string(),
            "DELETED",
            obj.clone(),
        );
        Some(obj)
    }

    fn record(
        &self,
        inner: &mut Inner,
        key: &str,
        namespace: String,
        kind: &'static str,
        object: Value,
    ) {
        let ev = Arc::new(Event {
            rv: inner.rv,
            key: key.to_string(),
            namespace,
            kind,
            object,
        });
        inner.history.push_back(ev.clone());
        while inner.history.len() > self.capacity {
            if let Some(old) = inner.history.pop_front() {
                inner.compacted = old.rv;
            }
        }
        // No receivers is fine: nobody watches.
        let _ = self.events.send(ev);
        self.changed.notify_waiters();
    }

    /// Starts a watch after `from_rv`: returns the events to replay and a live receiver
    /// subscribed atomically with the replay (no gap, no duplicate).
    pub fn watch_from(
        &self,
        from_rv: u64,
    ) -> Result<(Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>), TooOld> {
        let inner = self.lock();
        if from_rv < inner.compacted {
            let oldest = inner.history.front().map(|e| e.rv).unwrap_or(inner.rv);
            return Err(TooOld { oldest });
        }
        let replay = inner
            .history
            .iter()
            .filter(|e| e.rv > from_rv)
            .cloned()
            .collect();
        Ok((replay, self.events.subscribe()))
    }

    /// A live receiver plus a consistent snapshot of one resource (for watches from "now").
    pub fn snapshot_and_watch(
        &self,
        key: &str,
        namespace: Option<&str>,
    ) -> (Vec<Value>, u64, broadcast::Receiver<Arc<Event>>) {
        let inner = self.lock();
        let items = inner
            .objects
            .get(key)
            .map(|m| {
                m.iter()
                    .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default();
        (items, inner.rv, self.events.subscribe())
    }

    /// The configuration a field manager last applied to an object.
    pub fn last_applied(&self, uid: &str, manager: &str) -> Option<Value> {
        self.lock()
            .applied
            .get(&(uid.to_string(), manager.to_string()))
            .cloned()
    }

    /// Records what a field manager applied (server-side apply removes what it drops later).
    pub fn set_last_applied(&self, uid: &str, manager: &str, applied: Value) {
        self.lock()
            .applied
            .insert((uid.to_string(), manager.to_string()), applied);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn put_checks_resource_version_and_history_compacts() {
        let s = Store::new(2);
        let a = s
            .put(
                "/configmaps",
                json!({"metadata": {"name": "a", "namespace": "n"}}),
                Some(None),
            )
            .unwrap();
        let rv = a["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(s.put("/configmaps", a.clone(), Some(Some("999"))).is_err());
        assert!(s.put("/configmaps", a.clone(), Some(Some(&rv))).is_ok());
        s.put("/configmaps", a, None).unwrap();
        assert!(
            s.watch_from(1).is_err(),
            "history of 2 no longer holds rv 2"
        );
        let (replay, _) = s.watch_from(s.current_rv() - 1).unwrap();
        assert_eq!(replay.len(), 1);
    }
}
